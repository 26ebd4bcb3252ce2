"""Signing a member in from a route: a new session in the ``patchbay_session`` cookie
(HttpOnly, SameSite=Lax, Secure over https or as configured) and the answer that carries
the session's CSRF token."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from ..services.identity.members import member_to_api
from ..services.identity.sessions import StartedSession
from ..services.platform import Platform
from ..storage.models import Member
from .cookies import set_session_cookie
from .responses import json_response


async def sign_in(request: Request, pf: Platform, member: Member, method: str) -> Response:
    started = await pf.sessions.start(
        member.org_id,
        member.id,
        method=method,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    return signed_in_answer(request, pf, member, started)


def signed_in_answer(
    request: Request, pf: Platform, member: Member, started: StartedSession
) -> Response:
    """The answer of a sign-in: the member, the CSRF token, and the session cookie."""
    response = json_response(
        {
            "member": member_to_api(member),
            "csrfToken": started.csrf_token,
            "expiresAt": started.expires_at,
        }
    )
    set_session_cookie(response, request, pf.settings, started)
    return response
