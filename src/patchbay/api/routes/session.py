"""A member signs in and out (``/core/v1/session``), changes their password and manages
their personal API tokens.

The session lives in the ``patchbay_session`` cookie (HttpOnly, SameSite=Lax, Secure over
https); every cookie-authenticated write carries the CSRF token this API hands out in
``X-CSRF-Token`` (``deps.check_csrf``). Signing in needs no credential: it is limited per
client address and per member instead (``services/identity/sign_in.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ...services.errors import Unauthorized
from ...services.identity.members import member_to_api
from ...services.identity.principal import Principal
from ...services.identity.sessions import COOKIE, csrf_token
from ...services.identity.tokens import DEFAULT_ORG
from ...services.platform import Platform
from ...storage.models import ApiToken
from ..cookies import clear_cookie, set_session_cookie
from ..deps import member_self, platform, signed_in
from ..responses import json_response
from ..schemas import session as S
from ..schemas.common import errors
from ..session_cookie import signed_in_answer

router = APIRouter(prefix="/core/v1/session", tags=["session"])


class SignInBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: StrictStr = Field(min_length=1, max_length=320)
    password: StrictStr = Field(min_length=1, max_length=1024)
    org: StrictStr = Field(
        default=DEFAULT_ORG, min_length=1, max_length=200, description="Organisation name"
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currentPassword: StrictStr = Field(min_length=1, max_length=1024)
    newPassword: StrictStr = Field(min_length=1, max_length=1024)


class CreatePersonalToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=200)
    expiresIn: int | None = Field(
        default=None,
        ge=60,
        le=366 * 24 * 3600,
        description="Lifetime in seconds (default: until revoked)",
    )


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "",
    summary="Sign in with email and password",
    response_model=S.Session,
    responses=errors(400, 401, 403, 413, 429),
)
async def sign_in(body: SignInBody, request: Request, pf: Platform = Depends(platform)):
    signed = await pf.sign_in.with_password(
        body.email,
        body.password,
        org=body.org,
        ip=_client(request),
        user_agent=request.headers.get("user-agent"),
    )
    previous = request.cookies.get(COOKIE)
    if previous:  # this browser's earlier session, if any, ends here
        await pf.sessions.end(previous)
    # The audit log's actor: the member just signed in.
    request.state.principal = await pf.identity.authenticate_session(signed.session.token)
    return signed_in_answer(request, pf, signed.member, signed.session)


@router.get(
    "",
    summary="The signed-in member and the session's CSRF token",
    response_model=S.Session,
    responses=errors(400, 401, 429),
)
async def get_session(
    session: tuple[Principal, str] = Depends(signed_in), pf: Platform = Depends(platform)
):
    p, cookie = session
    member = await pf.members.get(p.org_id, p.member_id)
    row = await pf.sessions.find(cookie)
    if row is None:  # ended a moment ago, by another request
        raise Unauthorized("Your session has ended", "session_ended")
    return json_response(
        {
            "member": member_to_api(member),
            "csrfToken": csrf_token(cookie),
            "expiresAt": row.expires_at,
        }
    )


@router.delete(
    "",
    status_code=204,
    summary="Sign out",
    responses=errors(400, 401, 403, 429),
)
async def sign_out(
    request: Request,
    session: tuple[Principal, str] = Depends(signed_in),
    pf: Platform = Depends(platform),
):
    await pf.sessions.end(session[1])
    response = Response(status_code=204)
    clear_cookie(response, request, pf.settings, COOKIE)
    return response


@router.put(
    "/password",
    status_code=204,
    summary="Change your password",
    description="Ends all your sessions; when called with a session cookie, a new session "
    "starts in its place (new cookie: read its CSRF token from GET /core/v1/session).",
    responses=errors(400, 401, 403, 413, 429),
)
async def change_password(
    body: PasswordChange,
    request: Request,
    p: Principal = Depends(member_self),
    pf: Platform = Depends(platform),
):
    await pf.sign_in.change_password(p.member_id, body.currentPassword, body.newPassword)
    response = Response(status_code=204)
    if p.via == "session":
        started = await pf.sessions.start(
            p.org_id,
            p.member_id,
            ip=_client(request),
            user_agent=request.headers.get("user-agent"),
        )
        set_session_cookie(response, request, pf.settings, started)
    return response


# -- personal API tokens ------------------------------------------------------------------


def _token(row: ApiToken) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "createdAt": row.created_at,
        "expiresAt": row.expires_at,
    }


@router.post(
    "/tokens",
    status_code=201,
    summary="Create a personal API token",
    description="A bearer token acting as you, with your roles (whatever they are when it "
    "is used). The token is in this answer only.",
    response_model=S.NewPersonalToken,
    responses=errors(400, 401, 403, 413, 429),
)
async def create_token(
    body: CreatePersonalToken,
    p: Principal = Depends(member_self),
    pf: Platform = Depends(platform),
):
    issued = await pf.identity.create_personal_token(
        p.org_id, p.member_id, body.name, body.expiresIn
    )
    return json_response(
        {"id": issued.id, "name": body.name, "token": issued.token, "expiresAt": issued.expires_at},
        201,
    )


@router.get(
    "/tokens",
    summary="List your personal API tokens",
    response_model=S.PersonalTokens,
    responses=errors(400, 401, 403, 429),
)
async def list_tokens(p: Principal = Depends(member_self), pf: Platform = Depends(platform)):
    rows = await pf.identity.list_personal_tokens(p.member_id)
    return json_response({"elements": [_token(row) for row in rows]})


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Revoke a personal API token",
    responses=errors(400, 401, 403, 404, 429),
)
async def revoke_token(
    token_id: str, p: Principal = Depends(member_self), pf: Platform = Depends(platform)
):
    await pf.identity.revoke_personal_token(p.member_id, token_id)
