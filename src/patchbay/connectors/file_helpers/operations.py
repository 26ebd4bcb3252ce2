"""file-helpers operations. A file is Tray's file object ``{name, url, mime_type, expires}``
(services/workflows/files.py): its bytes sit in the run's payload store, streamed in and
out chunk by chunk, never held whole, except by ``read_file`` (bounded by ``max_bytes``).

Files exist in workflow runs only (a Call Connector request has no run to keep them in).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from ...payload_refs import PayloadTooLarge
from ..sdk import ConnectorError, Context, field, operation
from ..sdk.files import FileObject, file_store, mime_of, name_from, open_file
from ..sdk.outbound import OutboundBlocked

MB = 1024 * 1024
MAX_FILE_BYTES = 50 * MB  # a downloaded file, at most
DEFAULT_READ_BYTES = 1 * MB
MAX_READ_BYTES = 10 * MB  # read_file's text is carried inline in the run
DOWNLOAD_TIMEOUT = 300.0


def _fail(message: str) -> ConnectorError:
    return ConnectorError(message, "connector_error")


# -- models -----------------------------------------------------------------------------
class FileOutput(BaseModel):
    file: FileObject = field(title="File")


class CreateFileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = field(
        title="URL", description="Where to download the file from (http or https).", format="uri"
    )
    name: str | None = field(
        None, title="File name", description="Defaults to the URL's last path segment."
    )
    mime_type: str | None = field(
        None, title="MIME type", description="Defaults to the response's content type."
    )
    headers: dict[str, str] | None = field(None, title="Headers", advanced=True)


class DownloadFileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = field(title="URL", description="Where to download the file from.", format="uri")
    filename: str | None = field(
        None, title="File name", description="Defaults to the URL's last path segment."
    )
    headers: dict[str, str] | None = field(None, title="Headers", advanced=True)


class ReadFileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: FileObject = field(title="File")
    max_bytes: int = field(
        DEFAULT_READ_BYTES,
        title="Maximum size (bytes)",
        description="Reading fails when the file is larger; at most 10 MB.",
        ge=1,
        le=MAX_READ_BYTES,
        advanced=True,
    )


class ReadFileOutput(BaseModel):
    content: str = field(title="Content", description="The file's text (UTF-8)")


class WriteFileInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = field(title="Content", format="text")
    name: str = field("file.txt", title="File name")
    mime_type: str = field("text/plain", title="MIME type")


# -- helpers ----------------------------------------------------------------------------
async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


# -- operations -------------------------------------------------------------------------
@operation(
    "create_file",
    title="Create file from URL",
    description="Download a URL into a new file (streamed into the store, at most 50 MB).",
    input=CreateFileInput,
    output=FileOutput,
    timeout=DOWNLOAD_TIMEOUT,
    payloads=True,
)
async def create_file(ctx: Context, params: CreateFileInput) -> dict[str, Any]:
    return await _download(ctx, params.url, params.headers, params.name, params.mime_type)


@operation(
    "download_file",
    title="Download file",
    description="create_file under the name Tray's 2.x exports use (filename for name).",
    input=DownloadFileInput,
    output=FileOutput,
    timeout=DOWNLOAD_TIMEOUT,
    payloads=True,
)
async def download_file(ctx: Context, params: DownloadFileInput) -> dict[str, Any]:
    return await _download(ctx, params.url, params.headers, params.filename, None)


async def _download(
    ctx: Context, url: str, headers: dict[str, str] | None, name: str | None, mime: str | None
) -> dict[str, Any]:
    """GET ``url`` through the connector's outbound-guarded client, streamed into a file."""
    payloads = file_store(ctx)
    try:
        request = ctx.http.build_request("GET", url, headers=headers or {})
    except (httpx.InvalidURL, ValueError) as exc:
        raise _fail(f"The URL is invalid: {exc}") from None
    where = str(request.url.copy_with(query=None, fragment=None, username=None, password=None))
    try:
        response = await ctx.http.send(request, stream=True, follow_redirects=True)
    except OutboundBlocked as exc:
        raise _fail(str(exc)) from None
    except httpx.TimeoutException:
        raise ConnectorError(f"Downloading {where} timed out", "timeout") from None
    except httpx.HTTPError as exc:
        raise _fail(f"Could not download {where}: {exc.__class__.__name__}") from None
    try:
        if not response.is_success:
            raise ConnectorError(
                f"Downloading {where} answered {response.status_code}",
                "api_error",
                status_code=response.status_code,
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FILE_BYTES:
            raise _fail(f"The file is larger than {MAX_FILE_BYTES} bytes")
        name = name or name_from(response)
        mime = mime or mime_of(response.headers.get("content-type", ""))
        try:
            file = await payloads.store_file(
                response.aiter_bytes(), name, mime, max_bytes=MAX_FILE_BYTES
            )
        except httpx.HTTPError as exc:
            raise _fail(f"Could not download {where}: {exc.__class__.__name__}") from None
        except PayloadTooLarge:
            raise _fail(f"The file is larger than {MAX_FILE_BYTES} bytes") from None
    finally:
        await response.aclose()
    return {"file": file}


@operation(
    "read_file",
    title="Read file content",
    description="A file's content as text (UTF-8), up to max_bytes.",
    input=ReadFileInput,
    output=ReadFileOutput,
    payloads=True,
)
async def read_file(ctx: Context, params: ReadFileInput) -> dict[str, Any]:
    size, chunks = await open_file(ctx, params.file)
    if size > params.max_bytes:
        raise _fail(f"The file is {size} bytes, more than max_bytes ({params.max_bytes})")
    data = bytearray()
    async for chunk in chunks:
        data += chunk
    return {"content": bytes(data).decode("utf-8", "replace")}


@operation(
    "write_file",
    title="Create file from content",
    description="A new file holding the given text (UTF-8).",
    input=WriteFileInput,
    output=FileOutput,
    payloads=True,
)
async def write_file(ctx: Context, params: WriteFileInput) -> dict[str, Any]:
    payloads = file_store(ctx)
    data = params.content.encode("utf-8")
    return {"file": await payloads.store_file(_one(data), params.name, params.mime_type)}


OPERATIONS = [create_file, download_file, read_file, write_file]
