"""Invitations (Tray's ``POST /core/v1/invites``) and accepting one (the page
``/accept-invite`` posts to ``/core/v1/invites/accept``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ...services.identity.principal import MANAGE, Principal
from ...services.platform import Platform
from ..deps import org_level, platform
from ..responses import json_response
from ..schemas import account_links as L
from ..schemas.common import errors
from ..session_cookie import sign_in

router = APIRouter(prefix="/core/v1/invites", tags=["users"])


class InviteUser(BaseModel):
    """Tray's InviteUserExternalEndpointBody."""

    model_config = ConfigDict(extra="forbid")
    email: StrictStr = Field(max_length=320, pattern=L.EMAIL_PATTERN)
    organizationRoleId: StrictStr = Field(
        description="An organisation role's id (GET /core/v1/roles): owner, admin or member"
    )


class AcceptInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: StrictStr = Field(min_length=1, max_length=200, description="From the link")
    name: StrictStr = Field(
        min_length=1, max_length=255, pattern=r"\S", description="How you are shown"
    )
    password: StrictStr = Field(min_length=1, max_length=1024)


@router.post(
    "",
    summary="Invite a person to the organisation",
    description="Emails a one-time link (valid `PATCHBAY_INVITE_TTL_SECONDS`, 7 days by "
    "default) that creates the member with this organisation role. Owners, admins and "
    "organisation master tokens; only an owner (or a master token) invites an owner. "
    "Inviting an address again replaces its earlier invitation.",
    response_model=L.InviteCreated,
    responses=errors(400, 401, 403, 409, 413, 429),
)
async def invite(
    body: InviteUser,
    p: Principal = Depends(org_level(MANAGE)),
    pf: Platform = Depends(platform),
):
    sent = await pf.invitations.invite(p, body.email, body.organizationRoleId)
    return json_response(
        {"inviteId": sent.id, "expires": sent.expires_at, "emailSent": sent.email_sent}
    )


@router.post(
    "/accept",
    summary="Accept an invitation",
    description="Creates the invited member with a name and a password (the password "
    "rules: 400 `weak_password` naming the one broken) and signs them in: the session is "
    "in the `patchbay_session` cookie. An expired or used link is 410.",
    response_model=L.SignedIn,
    responses=errors(400, 404, 409, 410, 413, 429),
)
async def accept(body: AcceptInvite, request: Request, pf: Platform = Depends(platform)):
    member = await pf.invitations.accept(body.token, name=body.name.strip(), password=body.password)
    return await sign_in(request, pf, member, "password")
