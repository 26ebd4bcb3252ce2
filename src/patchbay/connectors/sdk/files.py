"""Tray's file objects in connectors: reading one from the run's store, naming a downloaded
one, and a multipart/form-data body that streams one (the store is
services/workflows/files.py; the shape ``{name, url, mime_type, expires}``)."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from ...payload_refs import FileExpired, FileInvalid, encoding_for
from .errors import ConnectorError
from .schema import field


class FileObject(BaseModel):
    model_config = ConfigDict(extra="allow", title="File")

    name: str = field(title="Name")
    url: str = field(title="URL", description="The signed download URL")
    mime_type: str | None = field(None, title="MIME type")
    expires: int | None = field(None, title="Expires", description="Seconds since the epoch")


def _fail(message: str) -> ConnectorError:
    return ConnectorError(message, "connector_error")


def file_store(ctx: Any) -> Any:
    """The run's store (``ctx.payloads``), or the error saying files need a run."""
    if ctx.payloads is None:
        raise _fail("Files exist in workflow runs only (there is no run to keep this one in)")
    return ctx.payloads


async def open_file(ctx: Any, file: FileObject) -> tuple[int, AsyncIterator[bytes]]:
    """A file object's size and bytes, or the connector error saying why not."""
    try:
        return await file_store(ctx).open_file(file.model_dump())
    except (FileInvalid, FileExpired) as exc:
        raise _fail(str(exc)) from None
    except LookupError:
        raise _fail(f"The file {file.name} is not stored (or not in this organisation)") from None


def name_from(response: httpx.Response, url: str | None = None) -> str:
    """A downloaded file's name: Content-Disposition's, else the last segment of ``url``
    (by default the response's own: a response read by the SDK's transport has none)."""
    disposition = response.headers.get("content-disposition", "")
    found = re.search(r"filename\*=UTF-8''([^;]+)", disposition, re.I) or re.search(
        r'filename="?([^";]+)"?', disposition, re.I
    )
    if found:
        return unquote(found.group(1)).strip()
    url = url if url is not None else str(response.url)
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "file"


def mime_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip() or "application/octet-stream"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def as_file(ctx: Any, response: httpx.Response, url: str) -> Any:
    """A read response's body as a file object when it is binary (neither JSON nor text)
    and there is a run to keep it in; ``None`` otherwise (the caller keeps its JSON/text)."""
    content_type = response.headers.get("content-type", "")
    if ctx.payloads is None or not response.content or encoding_for(content_type) != "binary":
        return None
    return await ctx.payloads.store_file(
        _one(response.content), name_from(response, url), mime_of(content_type)
    )


async def multipart_for(
    ctx: Any, file: FileObject, field_name: str, fields: list[tuple[str, str]]
) -> Multipart:
    """A multipart body of ``fields`` and ``file`` (checked readable now)."""
    size, chunks = await open_file(ctx, file)
    await chunks.aclose()  # opened to check it; each send opens its own stream
    return Multipart(fields, field_name, file, size, lambda: open_file(ctx, file))


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


class Multipart:
    """A multipart/form-data body of text fields and one file, streamed from the store
    (a fresh stream per :meth:`stream` call: a 307/308 redirect sends it again), with its
    exact length known up front."""

    def __init__(
        self,
        fields: list[tuple[str, str]],
        field_name: str,
        file: FileObject,
        size: int,
        reopen: Callable[[], Any],
    ) -> None:
        self.boundary = secrets.token_hex(16)
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quoted(k)}"'
            f"\r\n\r\n".encode()
            + v.encode()
            + b"\r\n"
            for k, v in fields
        )
        self.head = (
            head
            + (
                f"--{self.boundary}\r\nContent-Disposition: form-data; "
                f'name="{_quoted(field_name)}"; filename="{_quoted(file.name)}"\r\n'
                f"Content-Type: {file.mime_type or 'application/octet-stream'}\r\n\r\n"
            ).encode()
        )
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.size = len(self.head) + size + len(self.tail)
        self._reopen = reopen

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Iterable again and again (not a generator): a retried request (a 401 refreshed,
        a retried PUT) sends the whole body anew."""
        return self.stream()

    def stream(self) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            yield self.head
            _, body = await self._reopen()
            async for chunk in body:
                yield chunk
            yield self.tail

        return chunks()
