"""Call Connector's hot path as plain ASGI.

Call Connector is the one endpoint under sustained load (every workflow step and every
embedded call goes through it). Through the framework's routing, dependency injection and
middleware stack it spent more CPU than the operation's own outbound request, so it is
answered here, in front of the app, by the same service code; the FastAPI route keeps
documenting it in the OpenAPI schema and answers with the same function should the request
reach it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from ..services.errors import ServiceError
from ..services.identity.principal import BUILD, Principal
from ..services.platform import Platform
from .asgi import JSON_TYPE, BodyRefused, read_body, send_answer
from .deps import admit, authenticate_header
from .errors import describe_validation_errors
from .responses import error_body

log = logging.getLogger("patchbay.api")

CALL_PATH = re.compile(r"^/core/v1/connectors/([^/]+)/versions/([^/]+)/call/?$")


Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]


class CallBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    operation: StrictStr = Field(description="The operation's name")
    authId: StrictStr | None = Field(default=None, description="The authentication to use")
    input: dict[str, Any] = Field(description="Input matching the operation's inputSchema")
    returnOutputSchema: StrictBool = False


async def answer_call(
    platform: Platform,
    name: str,
    version: str,
    *,
    authorization: str | None,
    body: bytes,
    idempotency_key: str | None,
    principal: Principal | None = None,
) -> Answer:
    """Status, JSON body and extra headers of a Call Connector request. The caller is
    ``principal`` when the route's ``allow(BUILD, end_users=True)`` already admitted it,
    else the one ``authorization`` names, admitted here the same way (cached principal:
    no database round trip)."""
    try:
        if principal is None:
            principal = admit(
                await authenticate_header(platform, authorization), BUILD, end_users=True
            )
        try:
            call = CallBody.model_validate_json(body)
        except ValidationError as exc:
            message, code = describe_validation_errors(list(exc.errors()))
            return 400, error_body(message, code), []
        result = await platform.calls.call(
            principal,
            name,
            version,
            operation=call.operation,
            input=call.input,
            auth_id=call.authId,
            return_output_schema=call.returnOutputSchema,
            idempotency_key=idempotency_key,
        )
        return 200, orjson.dumps(result), []
    except ServiceError as exc:
        headers = [(k.lower().encode(), str(v).encode()) for k, v in exc.headers.items()]
        return exc.status, error_body(exc.message, exc.code), headers


class CallConnectorFastPath:
    """ASGI middleware answering ``POST .../call`` itself; everything else passes on."""

    def __init__(self, app, platform: Platform, max_body_bytes: int) -> None:
        self.app = app
        self.platform = platform
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        match = CALL_PATH.match(scope["path"])
        if match is None:
            return await self.app(scope, receive, send)
        headers: dict[bytes, bytes] = {}
        for key, value in scope["headers"]:
            headers[key] = value
        try:
            answer = await self._answer(match, headers, scope, receive)
        except Exception:  # never a bare 500 page: the flat error body, and a log line
            log.exception("unhandled error in Call Connector")
            answer = 500, error_body("Internal error", "internal_error"), []
        status, body, extra = answer
        await send_answer(send, status, body, [JSON_TYPE, *extra])

    async def _answer(self, match: re.Match, headers: dict[bytes, bytes], scope, receive) -> Answer:
        try:
            body = await read_body(scope, receive, self.max_body_bytes)
        except BodyRefused as refused:
            return refused.status, error_body(refused.message, refused.code), []
        authorization = headers.get(b"authorization")
        idempotency_key = headers.get(b"idempotency-key")
        return await answer_call(
            self.platform,
            match.group(1),
            match.group(2),
            authorization=authorization.decode("latin-1") if authorization else None,
            body=body,
            idempotency_key=idempotency_key.decode("latin-1") if idempotency_key else None,
        )
