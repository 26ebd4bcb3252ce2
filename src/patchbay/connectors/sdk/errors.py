"""Patchbay's standardized connector error: one shape for every third-party failure."""

from __future__ import annotations

from typing import Any, Literal

from .headers import visible_headers

ErrorKind = Literal["api_error", "rate_limited", "auth_error", "timeout", "connector_error"]
ERROR_KINDS: tuple[str, ...] = (
    "api_error",
    "rate_limited",
    "auth_error",
    "timeout",
    "connector_error",
)


class ConnectorError(Exception):
    """A failure of the third party (or of reaching it) during an operation.

    The Connectivity API turns it into ``200 {"outcome": "error", "output": to_output()}``.
    ``code`` and ``message`` keep the service's own error code and text.
    """

    def __init__(
        self,
        message: str,
        kind: ErrorKind = "connector_error",
        *,
        status_code: int | None = None,
        headers: Any = None,
        body: Any = None,
        retry_after: float | None = None,
        code: str | int | None = None,
    ) -> None:
        super().__init__(message)
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        self.message = message
        self.kind = kind
        self.status_code = status_code
        self.headers = visible_headers(headers)
        self.body = body
        self.retry_after = retry_after
        self.code = code

    def to_output(self) -> dict[str, Any]:
        output: dict[str, Any] = {
            "response": None
            if self.status_code is None
            else {"statusCode": self.status_code, "headers": self.headers, "body": self.body},
            "message": self.message,
            "kind": self.kind,
        }
        if self.code is not None:
            output["code"] = self.code
        if self.retry_after is not None:
            output["retryAfter"] = self.retry_after
        return output
