"""Request dependencies: the platform, the authenticated caller and what the route does.

A caller is named by an ``Authorization: Bearer`` token, or (a member in the console) by
the session cookie; a cookie-authenticated write must carry the session's CSRF token in
``X-CSRF-Token`` (403 ``csrf_missing`` / ``csrf_invalid`` otherwise). Every route that acts
for a caller declares its action with ``allow`` (checked by ``tests/api/test_access.py``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from ..services.errors import Forbidden, Unauthorized
from ..services.identity.principal import BUILD, MANAGE, READ, Principal
from ..services.identity.sessions import COOKIE, CSRF_HEADER, csrf_matches
from ..services.platform import Platform

bearer = HTTPBearer(
    auto_error=False,
    description="A master token, an end user's token or a member's personal token",
)
session_cookie = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    description="A member's session (the console); writes also need the X-CSRF-Token header",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def platform(request: Request) -> Platform:
    return request.app.state.platform


async def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    cookie: str | None = Depends(session_cookie),
) -> Principal:
    pf: Platform = request.app.state.platform
    if credentials is not None:
        p = await pf.identity.authenticate(credentials.credentials)
    elif request.headers.get("authorization"):
        raise Unauthorized("Authorization must be 'Bearer <token>'", "invalid_token")
    elif cookie:
        p = await pf.identity.authenticate_session(cookie)
        # Known before the CSRF check: a refused cross-site write is in the audit log too.
        request.state.principal = p
        check_csrf(request, cookie)
    else:
        raise Unauthorized("Missing bearer token", "missing_token")
    request.state.principal = p  # the audit log's actor
    return p


def check_csrf(request: Request, cookie: str) -> None:
    """A cookie-authenticated write must carry the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        raise Forbidden(f"A signed-in write needs the {CSRF_HEADER} header", "csrf_missing")
    if not csrf_matches(cookie, sent):
        raise Forbidden(f"The {CSRF_HEADER} header does not match", "csrf_invalid")


async def signed_in(
    request: Request, cookie: str | None = Depends(session_cookie)
) -> tuple[Principal, str]:
    """The member of the session cookie, and the cookie (routes about the session itself:
    a bearer token is no session). CSRF checked on writes."""
    if not cookie:
        raise Unauthorized("You are not signed in", "not_signed_in")
    p = await request.app.state.platform.identity.authenticate_session(cookie)
    check_csrf(request, cookie)
    request.state.principal = p
    return p, cookie


async def member_self(p: Principal = Depends(principal)) -> Principal:
    """A member acting on their own account (password, personal tokens), by session or
    personal token: a master or end user's token has no account of its own (403)."""
    if not p.is_member:
        raise Forbidden("This endpoint is for a signed-in member", "member_required")
    return p


member_self.self_service = True  # type: ignore[attr-defined]
signed_in.self_service = True  # type: ignore[attr-defined]


def allow(action: str, *, end_users: bool = False) -> Callable:
    """The dependency of a route that performs ``action`` (READ, BUILD or MANAGE) in a
    workspace: the caller, refused (403) when no role of theirs allows it anywhere; the
    services then check each row's workspace. ``end_users``: an end user's token may call
    it (on their own things)."""

    async def dependency(p: Principal = Depends(principal)) -> Principal:
        return admit(p, action, end_users=end_users)

    dependency.action = action  # type: ignore[attr-defined]
    dependency.end_users = end_users  # type: ignore[attr-defined]
    return dependency


def admit(p: Principal, action: str, *, end_users: bool = False) -> Principal:
    """What ``allow`` does with the caller (Call Connector's fast path, which answers in
    front of the framework, calls it itself)."""
    if p.is_end_user and not end_users:
        raise Forbidden("This endpoint needs a master token", "master_token_required")
    if not p.may_somewhere(action):
        raise Forbidden(_refusal(action), "insufficient_role")
    return p.acting(action)


def _refusal(action: str) -> str:
    return {
        READ: "You have no role in any workspace",
        BUILD: "Your roles do not allow building or running (contributor or admin needed)",
        MANAGE: "Managing members and secrets needs a workspace admin",
    }[action]


def org_level(action: str = READ) -> Callable:
    """The dependency of an organisation-level route (members, roles, invites, audit log)."""

    async def dependency(p: Principal = Depends(principal)) -> Principal:
        p.require_org(action)
        return p.acting(action)

    dependency.org_action = action  # type: ignore[attr-defined]
    return dependency


async def authenticate_header(platform: Platform, header: str | None) -> Principal:
    """The caller named by an ``Authorization: Bearer`` header value."""
    if not header:
        raise Unauthorized("Missing bearer token", "missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'", "invalid_token")
    return await platform.identity.authenticate(token.strip())


# The actions, and the shapes of the routes' dependencies (kept for readability there).
reader = allow(READ)
builder = allow(BUILD)
manager = allow(MANAGE)
any_reader = allow(READ, end_users=True)
any_builder = allow(BUILD, end_users=True)
any_manager = allow(MANAGE, end_users=True)
