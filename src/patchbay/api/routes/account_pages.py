"""The small pages people sign in with: the ones one-time links open (``/accept-invite``,
``/reset-password``, ``/setup``: they read the token from the URL's fragment), ``/sign-in``
and the home page ``/`` (who is signed in, and signing out; until the web console takes its
place), with their script and style sheet. Static files of the package, served with a
strict Content-Security-Policy (scripts and styles of this origin only, no inline ones,
nothing framed, forms and requests to this origin only); they post JSON to the API and are
not part of the API document. ``/`` is the exact path only: the API's own paths (``/docs``,
``/openapi.json``, ``/health``, ``/hooks/...``, ``/intake/...``) are untouched."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import Response

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
PAGES = {
    "/": "home.html",
    "/sign-in": "sign-in.html",
    "/accept-invite": "accept-invite.html",
    "/reset-password": "reset-password.html",
    "/setup": "setup.html",
}
ASSETS = {
    "/pages/account.js": ("account.js", "text/javascript; charset=utf-8"),
    "/pages/account.css": ("account.css", "text/css; charset=utf-8"),
}

router = APIRouter(include_in_schema=False)


def _serve(path: str, filename: str, media_type: str) -> None:
    body = (PAGES_DIR / filename).read_bytes()  # read once: small, and shipped in the wheel

    async def page() -> Response:
        return Response(body, media_type=media_type, headers=HEADERS)

    page.__name__ = "page_" + filename.replace("-", "_").replace(".", "_")
    router.add_api_route(path, page, methods=["GET"])


for _path, _file in PAGES.items():
    _serve(_path, _file, "text/html; charset=utf-8")
for _path, (_file, _type) in ASSETS.items():
    _serve(_path, _file, _type)
