"""Password reset and the first owner's setup: the endpoints behind the pages
``/reset-password`` and ``/setup`` (no credentials: the one-time link is the credential)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ...services.platform import Platform
from ..deps import platform
from ..responses import json_response
from ..schemas import account_links as L
from ..schemas.common import errors
from ..session_cookie import sign_in

router = APIRouter(prefix="/core/v1", tags=["sign-in"])

Token = Field(min_length=1, max_length=200, description="From the link")
Email = Field(max_length=320, pattern=L.EMAIL_PATTERN)


class RequestReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: StrictStr = Field(max_length=320)


class CompleteReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: StrictStr = Token
    password: StrictStr = Field(min_length=1, max_length=1024)


class FirstOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: StrictStr = Token
    email: StrictStr = Email
    name: StrictStr = Field(min_length=1, max_length=255, pattern=r"\S")
    password: StrictStr = Field(min_length=1, max_length=1024)


@router.post(
    "/password-resets",
    status_code=202,
    summary="Ask for a password reset link",
    description="Always 202, whether or not the address is a member's (and as fast): when "
    "it is, a one-time link to `/reset-password` is emailed (valid "
    "`PATCHBAY_PASSWORD_RESET_TTL_SECONDS`, an hour by default). Limited per address asked "
    "about and per client (429 with Retry-After).",
    response_model=L.ResetRequested,
    responses=errors(400, 413, 429),
)
async def request_reset(body: RequestReset, request: Request, pf: Platform = Depends(platform)):
    pf.password_resets.request(
        pf.default_org_id, body.email, request.client.host if request.client else None
    )
    return json_response(
        {"message": "If this address is a member's, a link to reset the password is on its way"},
        202,
    )


@router.post(
    "/password-resets/complete",
    summary="Set a new password with a reset link",
    description="Sets the password (400 `weak_password` naming the rule broken), clears "
    "failed sign-ins and a lock, ends every session of the member, and signs them in "
    "(`patchbay_session` cookie). An expired or used link is 410.",
    response_model=L.SignedIn,
    responses=errors(400, 404, 410, 413, 429),
)
async def complete_reset(body: CompleteReset, request: Request, pf: Platform = Depends(platform)):
    member = await pf.password_resets.complete(body.token, body.password)
    return await sign_in(request, pf, member, "password")


@router.post(
    "/setup",
    summary="Create the first owner with the setup link",
    description="The link the server prints on start while the organisation has no "
    "member. Creates the owner (admin of the default workspace too) and signs them in. "
    "Once the organisation has a member every setup link is 410.",
    response_model=L.SignedIn,
    responses=errors(400, 404, 409, 410, 413, 429),
)
async def setup(body: FirstOwner, request: Request, pf: Platform = Depends(platform)):
    member = await pf.first_owner.complete(
        body.token, email=body.email, name=body.name.strip(), password=body.password
    )
    return await sign_in(request, pf, member, "password")
