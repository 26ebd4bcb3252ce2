"""Errors a use case can end in. The API maps each to its status and the flat body
``{"message": str, "code": str | null}``."""

from __future__ import annotations

from typing import Any

_DEFAULT: Any = object()  # "no code given": use the class's default_code


class ServiceError(Exception):
    status = 500
    default_code: str | None = "internal_error"

    def __init__(
        self, message: str, code: str | None = _DEFAULT, headers: dict | None = None
    ) -> None:
        """``code=None`` gives an explicit null code (Tray's input-validation 400)."""
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is _DEFAULT else code
        self.headers = headers or {}


class BadRequest(ServiceError):
    status = 400
    default_code = "invalid_request"


class Unauthorized(ServiceError):
    status = 401
    default_code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    default_code = "forbidden"


class NotFound(ServiceError):
    status = 404
    default_code = "not_found"


class Conflict(ServiceError):
    status = 409
    default_code = "conflict"


class Gone(ServiceError):
    status = 410
    default_code = "gone"


class PayloadTooLarge(ServiceError):
    status = 413
    default_code = "payload_too_large"


class Unprocessable(ServiceError):
    status = 422
    default_code = "unprocessable"


class TooManyRequests(ServiceError):
    status = 429
    default_code = "rate_limited"
