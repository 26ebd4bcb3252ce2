"""Payload references: how a large value travels through a workflow run without being
copied through memory at every step.

A value too large to carry inline (a big webhook body, a step output over
``PATCHBAY_WORKFLOW_INLINE_BYTES``) is stored once, in chunks, in the database, and the run
carries a small reference to it instead::

    {"$payload": "<id>", "size": 52428800, "contentType": "application/json",
     "encoding": "json"}

``encoding`` says what the stored bytes are: ``json`` (a JSON document: read back, it is the
parsed value), ``text`` (UTF-8 text: a string) or ``binary`` (read back as base64 text).

Who sees what:

- Data mapping hands the reference on as it is (``$.steps.trigger.body``), and reads the
  stored value only when a path goes *into* it (``$.steps.trigger.body.items[0]``) or a string
  interpolates it.
- Operations that declare ``payloads=True`` (the HTTP client's bodies, the data mapper)
  receive references and stream them (``ctx.payloads``); every other step receives the value.

This module is the shape of a reference only; the store is ``services/workflows/payload_store.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

PAYLOAD_KEY = "$payload"


class PayloadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The payload exceeds {limit} bytes")
        self.limit = limit


class FileInvalid(ValueError):
    """Not a file object Patchbay made (no stored id in its URL)."""


class FileExpired(LookupError):
    """A file object past its expiry."""


def is_ref(value: Any) -> bool:
    return type(value) is dict and PAYLOAD_KEY in value


def is_file(value: Any) -> bool:
    """Whether ``value`` has the shape of Tray's file object (name, url, mime_type)."""
    return (
        type(value) is dict
        and isinstance(value.get("url"), str)
        and isinstance(value.get("name"), str)
        and "mime_type" in value
    )


def make_ref(payload_id: str, size: int, content_type: str, encoding: str) -> dict[str, Any]:
    return {
        PAYLOAD_KEY: payload_id,
        "size": size,
        "contentType": content_type,
        "encoding": encoding,
    }


def encoding_for(content_type: str) -> str:
    """How a body of ``content_type`` is stored: json, text or binary."""
    media = content_type.split(";", 1)[0].strip().lower()
    if "json" in media:
        return "json"
    if media.startswith("text/") or media in (
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/javascript",
        "",
    ):
        return "text"
    if media.endswith("+xml"):
        return "text"
    return "binary"


def has_refs(value: Any) -> bool:
    """Whether ``value`` holds a reference anywhere."""
    if type(value) is dict:
        if PAYLOAD_KEY in value:
            return True
        return any(has_refs(v) for v in value.values())
    if type(value) is list:
        return any(has_refs(v) for v in value)
    return False


async def replace_refs(value: Any, load: Callable[[dict[str, Any]], Awaitable[Any]]) -> Any:
    """``value`` with every reference replaced by ``await load(ref)`` (containers without
    references are returned as they are, not copied). One walk over ``value``."""
    if type(value) is dict:
        if PAYLOAD_KEY in value:
            return await load(value)
        items = {k: await replace_refs(v, load) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if type(value) is list:
        listed = [await replace_refs(v, load) for v in value]
        return value if all(a is b for a, b in zip(listed, value, strict=True)) else listed
    return value


class PayloadAccess(Protocol):
    """What an operation declared with ``payloads=True`` gets as ``ctx.payloads``: the run's
    stored payloads (of its organisation only)."""

    @property
    def inline_bytes(self) -> int:
        """Values larger than this are better stored than carried inline."""
        ...

    async def size(self, ref: dict[str, Any]) -> int:
        """The stored size in bytes (LookupError for an unknown reference)."""
        ...

    async def open(self, ref: dict[str, Any]) -> AsyncIterator[bytes]:
        """The stored bytes, chunk by chunk (LookupError for an unknown reference)."""
        ...

    async def load(self, ref: dict[str, Any]) -> Any:
        """The stored value (parsed JSON, text, or base64 text for binary)."""
        ...

    async def store(
        self, chunks: AsyncIterator[bytes], content_type: str, encoding: str
    ) -> dict[str, Any]:
        """Store ``chunks`` (consumed as they come) and return their reference."""
        ...

    async def store_file(
        self,
        chunks: AsyncIterator[bytes],
        name: str,
        mime_type: str,
        *,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """Store ``chunks`` as a file; its file object ``{name, url, mime_type, expires}``."""
        ...

    async def open_file(self, file: Any) -> tuple[int, AsyncIterator[bytes]]:
        """A file object's size and bytes (ValueError: not a file object; LookupError:
        unknown here; another exception when expired)."""
        ...
