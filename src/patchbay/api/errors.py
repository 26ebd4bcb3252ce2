"""Every error leaves the API as ``{"message": str, "code": str | null}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ..services.errors import ServiceError
from .responses import error_response

log = logging.getLogger("patchbay.api")

_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def describe_validation_errors(errors: list[dict]) -> tuple[str, str]:
    if any(e.get("type") == "json_invalid" for e in errors):
        return "Malformed JSON body", "malformed_json"
    parts = []
    for e in errors:
        where = _location(tuple(e.get("loc", ())))
        msg = e.get("msg", "invalid")
        if e.get("type") == "missing" and where == "body":
            msg = "A JSON object body is required"
        parts.append(f"{where}: {msg}")
    return "Invalid request: " + "; ".join(parts), "invalid_request"


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError):
        return error_response(exc.status, exc.message, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        message, code = describe_validation_errors(list(exc.errors()))
        return error_response(400, message, code)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "Error"
        if exc.status_code == 404 and message == "Not Found":
            message = "Not found"
        return error_response(
            exc.status_code, message, _STATUS_CODES.get(exc.status_code), dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "Internal error", "internal_error")
