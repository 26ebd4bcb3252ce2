"""The rules every API request meets before any endpoint sees it, in one place.

- **Content-Type**: a request body is JSON, sent with ``Content-Type: application/json``
  (or ``text/json``, ``application/*+json``); a body without a Content-Type is read as
  JSON. The workflow endpoints (create, replace, import) also take YAML
  (``application/yaml``). Any other type is refused ``415 unsupported_media_type``,
  the message naming the type received and the one to send. ``curl -d`` sends
  ``application/x-www-form-urlencoded``: add ``-H 'Content-Type: application/json'``.
- **NUL characters** (``%00`` in a path or query, ``\\u0000`` in a body's strings) are
  refused ``400 invalid_request`` naming where: PostgreSQL cannot store them in text, and
  both databases answer alike.

The public intake and workflow webhook URLs (``/intake/...``, ``/hooks/...``) take what
services send as it is, and are answered before this runs.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..services.workflows.tray_import import UnsupportedMediaType, media_kind
from .asgi import JSON_TYPE, BodyRefused, read_body, send_error

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The endpoints that read YAML as well as JSON (see tray_import.parse_body).
YAML_PATHS = re.compile(r"^/core/v1/workflows(/[^/]+)?/?$")
_NUL_ESCAPE = b"\\u0000"


def _json_only(content_type: str) -> BodyRefused:
    media = content_type.split(";", 1)[0].strip().lower()
    return BodyRefused(
        415,
        f"Unsupported Content-Type {media!r}: send the body as JSON, with "
        "Content-Type: application/json",
        "unsupported_media_type",
    )


def check_content_type(path: str, content_type: str | None) -> str:
    """``"json"`` or ``"yaml"``: how the body is read; :class:`BodyRefused` 415 unless the
    body's type is one ``path`` reads."""
    try:
        kind = media_kind(content_type)
    except UnsupportedMediaType as exc:
        if YAML_PATHS.match(path):
            raise BodyRefused(415, exc.message, "unsupported_media_type") from None
        raise _json_only(content_type or "") from None
    if kind == "yaml" and not YAML_PATHS.match(path):
        raise _json_only(content_type or "")
    return kind


def _nul_refused(where: str, spelled: str) -> BodyRefused:
    return BodyRefused(
        400,
        f"Invalid request: {where}: must not contain NUL characters ({spelled})",
        "invalid_request",
    )


def _nul_at(value: Any, where: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where (keys and indexes) the first string holding a NUL is, in a JSON value."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return (*where, key)
            found = _nul_at(item, (*where, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, (*where, str(index)))
            if found is not None:
                return found
    return None


def check_body_strings(body: bytes) -> None:
    """:class:`BodyRefused` 400 naming the field when a JSON body's strings hold a NUL. A
    byte search first: only a body that spells ``\\u0000`` is parsed."""
    if _NUL_ESCAPE not in body:
        return
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # not JSON: the endpoint says so
    where = _nul_at(document)
    if where is not None:
        raise _nul_refused(".".join(where).replace("\x00", "\\u0000") or "body", "\\u0000")


def check_path_and_query(path: str, query: bytes) -> None:
    """:class:`BodyRefused` 400 when the path or a query parameter holds a NUL."""
    if "\x00" in path:
        raise _nul_refused("path", "%00")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                raise _nul_refused(f"query parameter {name.replace(chr(0), '%00')!r}", "%00")


def _public(path: str) -> bool:
    return path.startswith(("/intake/", "/hooks/"))


class RequestEdge:
    """ASGI middleware applying the module's rules; what passes goes on with its body as
    it came (read once here, handed on) and a JSON body labelled ``application/json``."""

    def __init__(self, app, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or _public(scope["path"]):
            return await self.app(scope, receive, send)
        try:
            check_path_and_query(scope["path"], scope.get("query_string", b""))
            if scope["method"] in _BODY_METHODS:
                has_body, content_type = _body_headers(scope["headers"])
                if has_body and content_type != "application/json":  # else: JSON already
                    if check_content_type(scope["path"], content_type) == "json":
                        # Every JSON spelling, and none, as the one endpoints read as JSON.
                        scope = {**scope, "headers": _as_json(scope["headers"])}
                if has_body:
                    body = await read_body(scope, receive, self.max_body_bytes)
                    check_body_strings(body)
                    receive = _replay(body, receive)
        except BodyRefused as refused:
            return await send_error(send, refused.status, refused.message, refused.code)
        return await self.app(scope, receive, send)


def _as_json(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [*(h for h in headers if h[0] != b"content-type"), JSON_TYPE]


def _body_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bool, str | None]:
    """Whether the request has a body (a non-zero Content-Length, or Transfer-Encoding),
    and its Content-Type, in one pass over the headers."""
    has_body, content_type = False, None
    for name, value in headers:
        if name == b"content-length":
            has_body = value.strip() not in (b"0", b"")
        elif name == b"transfer-encoding":
            has_body = True
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    return has_body, content_type


def _replay(body: bytes, receive):
    """``receive`` giving ``body`` first, then what the client sends (its disconnect)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
