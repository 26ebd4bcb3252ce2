"""The public intake URLs (``/intake/{id}``) as plain ASGI, in front of the framework.

Senders (Segment, Shopify, Twilio, the TMU Platform, any webhook) post here without a
bearer token: the unguessable id names the subscription and the trigger verifies the
request itself. Intake is the busiest endpoint under load and must answer fast (Segment
gives 5 s, and counts), so it skips routing, dependency injection and the middleware stack.
Any method is accepted (some services verify an endpoint with a GET); the body is limited
to ``intake_max_body_bytes`` (413 above).
"""

from __future__ import annotations

import logging
import re

from ..connectors.sdk import IncomingRequest
from ..services.platform import Platform
from ..services.triggers.intake import IntakeAnswer, error
from .asgi import BodyRefused, read_body, send_answer

log = logging.getLogger("patchbay.api")

INTAKE_PATH = re.compile(r"^/intake/([A-Za-z0-9_-]{16,64})/?$")


class IntakeEndpoint:
    def __init__(self, app, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self.max_body_bytes = platform.settings.intake_max_body_bytes
        self.public_url = platform.settings.effective_public_url

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/intake/"):
            return await self.app(scope, receive, send)
        match = INTAKE_PATH.match(scope["path"])
        if match is None:
            answer = error(404, "No subscription receives events at this URL", "not_found")
        else:
            try:
                answer = await self._answer(match.group(1), scope, receive)
            except Exception:
                log.exception("unhandled error in intake")
                answer = error(500, "Internal error", "internal_error")
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        await send_answer(send, answer.status, answer.body, headers)

    async def _answer(self, intake_id: str, scope, receive) -> IntakeAnswer:
        try:
            body = await read_body(scope, receive, self.max_body_bytes)
        except BodyRefused as refused:
            return error(refused.status, refused.message, refused.code)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.public_url + raw_path.decode("latin-1") + (f"?{query}" if query else "")
        request = IncomingRequest.build(
            scope["method"],
            scope["path"],
            query=query,
            headers=headers,
            body=body,
            url=url,
        )
        return await self.platform.intake.receive(intake_id, request)
