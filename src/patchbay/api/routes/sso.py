"""Single sign-on with OpenID Connect (``/core/v1/sso``): whether it is on, the start (a
redirect to the identity provider) and the provider's callback, which signs the member in.

No bearer token anywhere here: the callback is authenticated by the state the start left
in this browser's cookie (encrypted with the platform key ring, 10 minutes, Path
``/core/v1/sso``). Every failure answers ``{"message", "code"}`` and clears that cookie: a
sign-in's state is used once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from ...services.errors import ServiceError
from ...services.identity.sso import COOKIE, COOKIE_PATH, STATE_TTL_SECONDS
from ...services.platform import Platform
from ..cookies import clear_cookie, set_cookie, set_session_cookie
from ..deps import platform
from ..responses import error_response, json_response
from ..schemas import sso as S
from ..schemas.common import errors

router = APIRouter(prefix="/core/v1/sso", tags=["sso"])

NO_STORE = {"Cache-Control": "no-store"}


def _query(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


@router.get(
    "",
    summary="Single sign-on: whether it is on",
    response_model=S.SsoStatus,
    responses=errors(400),
)
async def sso_status(pf: Platform = Depends(platform)):
    """Public: the sign-in page shows its single sign-on button (and hides the password
    form when ``ssoOnly``) by this."""
    return json_response(pf.sso.status())


@router.get(
    "/start",
    status_code=302,
    response_class=RedirectResponse,
    summary="Single sign-on: go to the identity provider",
    responses=errors(400, 404, 502),
    openapi_extra={
        "responses": {
            "302": {
                "description": "To the identity provider's authorization endpoint; sets "
                "the patchbay_sso cookie (10 minutes)"
            },
            "404": {"description": "Single sign-on is not configured"},
            "502": {"description": "The identity provider is unreachable or unusable"},
        }
    },
)
async def sso_start(
    request: Request,
    next: str | None = Query(
        default=None,
        description="Where to land after signing in: a path of this site (anything else: /)",
    ),
    pf: Platform = Depends(platform),
) -> Response:
    url, state = await pf.sso.start(next)
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    set_cookie(
        response, request, pf.settings, COOKIE, state, max_age=STATE_TTL_SECONDS, path=COOKIE_PATH
    )
    return response


@router.get(
    "/callback",
    status_code=302,
    response_class=RedirectResponse,
    summary="Single sign-on: the identity provider's answer (it redirects here)",
    responses=errors(400, 401, 403, 404, 502),
    openapi_extra={
        "parameters": [
            _query("state", "The state given at the start"),
            _query("code", "The authorization code (on success)"),
            _query("error", "The provider's error (on refusal)"),
            _query("error_description", "The provider's explanation of the error"),
        ],
        "responses": {
            "302": {
                "description": "Signed in: to the start's next path, with the "
                "patchbay_session cookie"
            },
            "400": {"description": "No sign-in in progress in this browser, or another one"},
            "401": {
                "description": "The identity provider refused the sign-in or the code, or "
                "its ID token is invalid"
            },
            "403": {"description": "The email is not verified, or no member has it"},
            "404": {"description": "Single sign-on is not configured"},
            "502": {
                "description": "The identity provider is unreachable, failed, or answered "
                "something unusable"
            },
        },
    },
)
async def sso_callback(request: Request, pf: Platform = Depends(platform)) -> Response:
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    try:
        signed_in = await pf.sso.callback(
            params,
            request.cookies.get(COOKIE),
            org_id=pf.default_org_id or "",
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
    except ServiceError as exc:
        response = error_response(exc.status, exc.message, exc.code, {**exc.headers, **NO_STORE})
        if request.cookies.get(COOKIE) is not None:
            clear_cookie(response, request, pf.settings, COOKIE, path=COOKIE_PATH)
        return response
    # The audit log's actor: the member who just signed in.
    request.state.principal = await pf.identity.authenticate_session(signed_in.session.token)
    response = RedirectResponse(signed_in.next, status_code=302, headers=NO_STORE)
    set_session_cookie(response, request, pf.settings, signed_in.session)
    clear_cookie(response, request, pf.settings, COOKIE, path=COOKIE_PATH)
    return response
