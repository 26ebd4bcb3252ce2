"""Pieces shared by the endpoints answered as plain ASGI in front of the framework (Call
Connector, intake URLs, workflow webhooks): reading a body under a size limit, and sending
an answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import ijson

from .responses import error_body

JSON_TYPE = (b"content-type", b"application/json")


class BodyRefused(Exception):
    """The request body cannot be read: answered ``status`` with ``message`` and ``code``."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


async def read_body(scope, receive, max_bytes: int) -> bytes:
    """The whole body; :class:`BodyRefused` for a bad or too large Content-Length, a body
    that grows past ``max_bytes`` while streaming (413), or a client that went away."""
    body, _ = await read_head(scope, receive, max_bytes, max_bytes + 1)
    return body


async def read_head(scope, receive, max_bytes: int, head_bytes: int) -> tuple[bytes, bool]:
    """The body's first bytes: all of it when it ends (``more`` False), else the bytes
    received until they passed ``head_bytes`` (``more`` True: :func:`body_rest` reads the
    rest). Refused as :func:`read_body` refuses; ``max_bytes`` caps the head."""
    too_large = BodyRefused(413, f"Request body exceeds {max_bytes} bytes", "payload_too_large")
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise BodyRefused(400, "Invalid Content-Length", "invalid_request")
            if int(value) > max_bytes:
                raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyRefused(400, "Client disconnected", "invalid_request")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > head_bytes:
            return b"".join(chunks), True


async def body_rest(receive, head: bytes, more: bool) -> AsyncIterator[bytes]:
    """``head``, then (``more``) the rest of the body :func:`read_head` began, as it comes."""
    yield head
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyRefused(400, "Client disconnected", "invalid_request")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        more = message.get("more_body", False)


# How deeply arrays and objects may nest: orjson's limit, which refuses a small body, so a
# streamed one is refused alike (a deeper one would crash whatever reads it later).
MAX_JSON_DEPTH = 1024


class _TooDeep(ijson.JSONError):
    pass


@ijson.utils.coroutine
def _depth_checked():
    """An ijson event sink that keeps nothing but the nesting depth."""
    depth = 0
    while True:
        event, _ = yield
        if event == "start_map" or event == "start_array":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _TooDeep(f"depth limit exceeded (more than {MAX_JSON_DEPTH} levels)")
        elif event == "end_map" or event == "end_array":
            depth -= 1


async def json_checked(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks``, checked to make one JSON document, nested at most ``MAX_JSON_DEPTH``
    deep, as they pass (an incremental parser, events thrown away: nothing is held);
    :class:`BodyRefused` 400 ``invalid_json`` at the first chunk that makes it invalid, or
    at the end when it is incomplete."""
    parser = ijson.basic_parse_coro(_depth_checked())
    try:
        async for chunk in chunks:
            parser.send(chunk)
            yield chunk
        parser.close()
    except ijson.JSONError as exc:
        reason = (str(exc).splitlines() or ["malformed"])[0]  # then yajl quotes the text
        raise BodyRefused(400, f"The body is not valid JSON: {reason}", "invalid_json") from None


async def send_answer(
    send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    raw = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send, status: int, message: str, code: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Patchbay's error body (``{"message", "code"}``) as a whole answer."""
    await send_answer(send, status, error_body(message, code), [JSON_TYPE, *headers])
