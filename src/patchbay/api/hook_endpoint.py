"""Workflows' webhook URLs (``/hooks/{id}``): answered as plain ASGI in front of the
framework (the busiest workflow path), by the same :func:`answer_hook` the documented route
uses.

Fire and forget: 202 ``{"runId"}`` once the run is durably stored. Await and respond: the
``trigger-reply`` step's status, headers and body, or 504 after the trigger's
``timeout_seconds`` (``PATCHBAY_WORKFLOW_REPLY_TIMEOUT_SECONDS``, at most 5 minutes).

A body over ``PATCHBAY_WORKFLOW_INLINE_BYTES`` is not held in memory: it is streamed into the
payload store as it arrives and the trigger's ``body`` is its reference
(``patchbay.payload_refs``); up to ``PATCHBAY_WORKFLOW_MAX_BODY_BYTES`` (413 beyond).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..connectors.sdk.headers import visible_headers
from ..payload_refs import encoding_for, is_ref
from ..services.errors import ServiceError
from ..services.platform import Platform
from ..services.workflows.payload_store import PayloadTooLarge
from .asgi import BodyRefused, body_rest, json_checked, read_head, send_answer
from .responses import error_body

log = logging.getLogger("patchbay.api")

HOOK_PATH = re.compile(r"^/hooks/([A-Za-z0-9_-]{16,64})/?$")
MAX_REPLY_SECONDS = 300.0  # Tray: a reply within 5 minutes
JSON = (("content-type", "application/json"),)

Answer = tuple[int, bytes, tuple[tuple[str, str], ...]]


def _error(status: int, message: str, code: str | None) -> Answer:
    return status, error_body(message, code), JSON


async def answer_hook(
    platform: Platform,
    trigger_id: str,
    *,
    method: str,
    headers: list[tuple[str, str]],
    query: str,
    body: bytes | dict[str, Any],
    run_id: str | None = None,
) -> Answer:
    """``body``: the bytes, or the reference of a body already stored (then ``run_id`` is the
    id the payload was stored for)."""
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    if isinstance(body, dict):
        parsed: Any = body
    elif "json" not in content_type or not body.strip():
        parsed = body.decode("utf-8", "replace")
    else:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, f"The body is not valid JSON: {exc}", "invalid_json")
    trigger_output = {
        "body": parsed,
        "headers": visible_headers(headers),
        "query": dict(parse_qsl(query, keep_blank_values=True)),
        "method": method,
    }
    try:
        started = await platform.runs.start_from_hook(trigger_id, trigger_output, run_id)
    except ServiceError as exc:
        return _error(exc.status, exc.message, exc.code)
    if started is None:
        return _error(404, "No enabled workflow receives requests at this URL", "not_found")
    run_id, settings = started
    if settings.get("mode") != "await_response":
        return 202, orjson.dumps({"runId": run_id}), JSON
    limit = platform.settings.workflow_reply_timeout_seconds
    timeout = min(float(settings.get("timeout_seconds") or limit), MAX_REPLY_SECONDS)
    done = await platform.runs.wait_reply(run_id, timeout)
    if done is None:
        return _error(504, f"The workflow did not reply within {timeout:g} s", "reply_timeout")
    if done.reply is not None:
        reply = done.reply
        content = reply.get("body")
        out = {str(k).lower(): str(v) for k, v in (reply.get("headers") or {}).items()}
        if is_ref(content):  # a stored payload replied as it is
            data = await platform.runs.payloads.read(done.org_id, content)
            out.setdefault("content-type", content.get("contentType") or "application/json")
        elif isinstance(content, str):
            data = content.encode()
            out.setdefault("content-type", "text/plain; charset=utf-8")
        else:
            data = orjson.dumps(content)
            out.setdefault("content-type", "application/json")
        return int(reply.get("status") or 200), data, tuple(out.items())
    if done.status == "succeeded":
        return 200, orjson.dumps({"runId": done.id, "status": done.status}), JSON
    return _error(500, f"The workflow run {done.status} without replying", "run_failed")


class HookEndpoint:
    def __init__(self, app, platform: Platform) -> None:
        self.app = app
        self.platform = platform
        self.max_body_bytes = platform.settings.workflow_max_body_bytes
        self.inline_bytes = platform.settings.workflow_inline_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/hooks/"):
            return await self.app(scope, receive, send)
        match = HOOK_PATH.match(scope["path"])
        try:
            if match is None:
                answer = _error(
                    404, "No enabled workflow receives requests at this URL", "not_found"
                )
            else:
                answer = await self._answer(match.group(1), scope, receive)
        except Exception:
            log.exception("unhandled error in a workflow webhook")
            answer = _error(500, "Internal error", "internal_error")
        status, body, headers = answer
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        await send_answer(send, status, body, raw)

    async def _answer(self, trigger_id: str, scope, receive) -> Answer:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        run_id = None
        try:
            body: bytes | dict[str, Any]
            body, more = await read_head(scope, receive, self.max_body_bytes, self.inline_bytes)
            if more or len(body) > self.inline_bytes:
                stored = await self._store(trigger_id, headers, receive, body, more)
                if stored is None:
                    return _error(
                        404, "No enabled workflow receives requests at this URL", "not_found"
                    )
                run_id, body = stored
        except BodyRefused as refused:
            return _error(refused.status, refused.message, refused.code)
        except PayloadTooLarge as exc:
            return _error(413, f"Request body exceeds {exc.limit} bytes", "payload_too_large")
        return await answer_hook(
            self.platform,
            trigger_id,
            method=scope["method"],
            headers=headers,
            query=scope.get("query_string", b"").decode("latin-1"),
            body=body,
            run_id=run_id,
        )

    async def _store(self, trigger_id: str, headers, receive, head: bytes, more: bool):
        """A large body streamed into the payload store, for the run it will start: (run id,
        reference); None when no enabled workflow is behind ``trigger_id``."""
        target = await self.platform.runs.hook_target(trigger_id)
        if target is None:
            return None
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        run_id = str(uuid.uuid4())
        encoding = encoding_for(content_type)
        chunks = body_rest(receive, head, more)
        if encoding == "json":  # refused as a small body would be, not left for the run
            chunks = json_checked(chunks)
        ref = await self.platform.runs.payloads.store(
            target[1],
            run_id,
            chunks,
            content_type or "application/octet-stream",
            encoding,
            max_bytes=self.max_body_bytes,
        )
        return run_id, ref
