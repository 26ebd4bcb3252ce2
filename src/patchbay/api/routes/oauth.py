"""OAuth 2 authorization (``/core/v1/oauth``): start the flow for the caller, and the
provider's callback, which stores the authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.responses import RedirectResponse, Response

from ...services.credentials.oauth import add_query
from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import any_manager, platform
from ..responses import json_response
from ..schemas import oauth as O
from ..schemas.common import TargetWorkspace, errors

router = APIRouter(prefix="/core/v1/oauth", tags=["oauth"])


def _query(name: str, description: str, required: bool = False) -> dict:
    """A query parameter the callback reads from the raw query string."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


class StartAuthorization(BaseModel):
    model_config = ConfigDict(extra="ignore")
    serviceEnvironmentId: StrictStr = Field(description="An OAuth 2 service environment")
    name: StrictStr = Field(min_length=1, max_length=255, description="The authentication's name")
    scopes: list[StrictStr] | None = Field(
        default=None, description="Scopes to request (default: every scope of the environment)"
    )
    redirectUrl: StrictStr | None = Field(
        default=None,
        max_length=2048,
        description="Where to send the browser afterwards (with ?authenticationId=)",
    )
    userData: dict[str, Any] = Field(
        default_factory=dict, description="The authentication's userData"
    )
    authenticationId: StrictStr | None = Field(
        default=None,
        description="An existing authentication of the caller to re-authorize in place",
    )


@router.post(
    "/authorize",
    summary="Start an OAuth 2 authorization",
    response_model=O.Authorization,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def start_authorization(
    body: StartAuthorization,
    workspace: TargetWorkspace = None,
    p: Principal = Depends(any_manager),
    pf: Platform = Depends(platform),
):
    """The provider URL to send the user's browser to (authorization code with ``state``
    and PKCE). The authentication the callback stores belongs to the caller: the end user
    of a user token, or the organisation."""
    return json_response(await pf.oauth.start(p, body.model_dump(), workspace_id=workspace))


@router.get(
    "/callback",
    summary="OAuth 2 callback (the provider redirects here)",
    response_model=O.Authorized,
    responses=errors(400, 404, 502),
    openapi_extra={
        "parameters": [
            _query("state", "The single-use state given at the start", required=True),
            _query("code", "The authorization code (on success)"),
            _query("error", "The provider's error (on refusal)"),
            _query("error_description", "The provider's explanation of the error"),
        ],
        "responses": {"302": {"description": "To the redirectUrl given at the start"}},
    },
)
async def oauth_callback(request: Request, pf: Platform = Depends(platform)) -> Response:
    """No bearer token: the single-use ``state`` authenticates the request. Redirects to
    the ``redirectUrl`` given at the start with ``?authenticationId=``, else answers
    ``{"authenticationId"}``."""
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    auth_id, redirect_url = await pf.oauth.callback(params)
    if redirect_url:
        return RedirectResponse(
            add_query(redirect_url, {"authenticationId": auth_id}), status_code=302
        )
    return json_response({"authenticationId": auth_id})
