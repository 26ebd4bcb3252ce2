"""``raw_http_request``: any method and path of a service, with the authentication applied,
offered by every HTTP connector so users are never stuck on a missing operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from .context import response_body
from .errors import ConnectorError
from .files import FileObject, as_file, multipart_for
from .operation import Operation, operation
from .schema import field

if TYPE_CHECKING:
    from .context import Context

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class KeyValue(BaseModel):
    key: str = field(title="Key")
    value: str = field(title="Value")


class RawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    json_body: Any = field(None, title="JSON", alias="json", description="Sent as JSON")
    raw: str | None = field(None, title="Raw", description="Sent as it is")
    file: FileObject | None = field(
        None,
        title="File",
        description="In a workflow, a file object sent as multipart/form-data (streamed).",
    )
    field_name: str = field("file", title="File field name", advanced=True)
    form: list[KeyValue] | None = field(
        None, title="Other form fields", description="Beside the file.", advanced=True
    )
    content_type: str | None = field(None, title="Content type", advanced=True)


class RawHttpInput(BaseModel):
    method: Method = field(
        title="Method", enum_labels=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    )
    url: str = field(
        title="URL",
        description="A path relative to the service's API base URL, or an absolute URL "
        "on the same host",
        min_length=1,
    )
    query_parameters: list[KeyValue] | None = field(None, title="Query parameters")
    headers: list[KeyValue] | None = field(None, title="Headers")
    body: RawBody | None = field(None, title="Body")


class RawResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    status_code: int = field(title="Status code")
    headers: dict[str, str] = field(title="Headers")
    body: Any = field(None, title="Body")


class RawHttpOutput(BaseModel):
    response: RawResponse = field(title="Response")


BaseUrl = Callable[["Context"], str | None]


def raw_http_request(base_url: BaseUrl | None = None) -> Operation:
    """The shared operation. ``base_url(ctx)`` gives the service's API base for connectors
    whose base depends on the authentication (a shop, a region); by default the
    connector's (or the authentication's ``userData.base_url``)."""

    @operation(
        "raw_http_request",
        title="Raw HTTP Request",
        description="Call any endpoint of the service with the authentication applied.",
        input=RawHttpInput,
        output=RawHttpOutput,
        timeout=120,
    )
    async def handler(ctx: Context, data: RawHttpInput) -> dict[str, Any]:
        base = (base_url(ctx) if base_url else None) or ctx.base_url
        url = _within(base, data.url)
        headers = {h.key: h.value for h in data.headers or []}
        kwargs: dict[str, Any] = {}
        if data.body is not None and data.body.file is not None:
            fields = [(f.key, f.value) for f in data.body.form or []]
            upload = await multipart_for(ctx, data.body.file, data.body.field_name, fields)
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            headers["Content-Type"] = upload.content_type
            headers["Content-Length"] = str(upload.size)
            kwargs["content"] = upload
        elif data.body is not None:
            if data.body.raw is not None:
                kwargs["content"] = data.body.raw
            elif data.body.json_body is not None:
                kwargs["json"] = data.body.json_body
            if data.body.content_type:
                headers["Content-Type"] = data.body.content_type
        response = await ctx.request(
            data.method,
            url,
            params=[(q.key, q.value) for q in data.query_parameters or []],
            headers=headers,
            **kwargs,
        )
        file = await as_file(ctx, response, url)  # a binary body, in a workflow
        return {
            "response": {
                "status_code": response.status_code,
                "headers": dict(response.headers),
                "body": response_body(response) if file is None else file,
            }
        }

    return handler


def _within(base: str | None, url: str) -> str:
    """The absolute URL to call; an absolute ``url`` must stay on the service's host, so the
    authentication is never sent elsewhere."""
    if "://" not in url:
        if not base:
            raise ConnectorError("This connector has no base URL: give an absolute URL")
        return base.rstrip("/") + "/" + url.lstrip("/")
    target, own = urlsplit(url), urlsplit(base or "")
    if (target.scheme, target.netloc) != (own.scheme, own.netloc):
        raise ConnectorError(
            f"raw_http_request only reaches the service's own host ({own.netloc or 'unset'})",
            "connector_error",
        )
    return url
