"""Fast JSON responses and Patchbay's flat error body."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, headers=headers, media_type="application/json"
    )


def error_body(message: str, code: str | None) -> bytes:
    return orjson.dumps({"message": message, "code": code})


def error_response(status: int, message: str, code: str | None, headers: dict | None = None):
    return Response(
        error_body(message, code),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )
