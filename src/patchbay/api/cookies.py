"""The cookies Patchbay sets in a browser: always HttpOnly and SameSite=Lax; Secure as
``PATCHBAY_COOKIE_SECURE`` says (``auto``: when the request came over https, as told by
the proxy headers uvicorn trusts; ``always``; ``never``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..config import Settings
from ..services.identity.sessions import COOKIE as SESSION_COOKIE
from ..services.identity.sessions import StartedSession


def secure(request: Request, settings: Settings) -> bool:
    mode = (settings.cookie_secure or "auto").strip().lower()
    if mode == "always":
        return True
    if mode == "never":
        return False
    return request.url.scheme == "https"


def set_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str = "/",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=secure(request, settings),
    )


def clear_cookie(
    response: Response, request: Request, settings: Settings, name: str, *, path: str = "/"
) -> None:
    response.delete_cookie(
        name, path=path, httponly=True, samesite="lax", secure=secure(request, settings)
    )


def set_session_cookie(
    response: Response, request: Request, settings: Settings, session: StartedSession
) -> None:
    """The member's session cookie (``patchbay_session``, Path=/), living as long as the
    session."""
    set_cookie(
        response,
        request,
        settings,
        SESSION_COOKIE,
        session.token,
        max_age=settings.session_ttl_seconds,
    )
