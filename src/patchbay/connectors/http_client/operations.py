"""The HTTP Client's operations: one input model family and one handler, six HTTP methods.

Every request goes through ``ctx.http`` (the outbound-guarded client). Redirects are
followed here, hop by hop, so that each hop passes the guard, credentials never travel to
another origin, and cookies never leak between calls through the shared client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ...payload_refs import PAYLOAD_KEY, encoding_for, is_ref
from ..sdk import ConnectorError, Context, Operation, field, operation
from ..sdk.files import FileObject, Multipart, mime_of, multipart_for, name_from
from ..sdk.headers import is_secret_header, visible_headers
from ..sdk.outbound import OutboundBlocked

MB = 1024 * 1024
DEFAULT_TIMEOUT = 45.0
MAX_TIMEOUT = 900.0  # Tray's HTTP client allows 15 minutes
DEFAULT_MAX_RESPONSE_BYTES = 10 * MB
MAX_RESPONSE_BYTES = 50 * MB
CONNECT_TIMEOUT = 10.0
REDACTED = "[redacted]"

# "200-299", "200, 201, 304", "2xx", "200-204,404"
_STATUS_ITEM = r"(\d{3}(\s*-\s*\d{3})?|[1-5][xX][xX])"
STATUS_ITEM_PATTERN = rf"^\s*{_STATUS_ITEM}\s*$"
STATUS_SPEC_PATTERN = rf"^\s*{_STATUS_ITEM}(\s*,\s*{_STATUS_ITEM})*\s*$"
URL_PATTERN = r"^[hH][tT][tT][pP][sS]?://[^\s/?#]+([/?#]\S*)?$"

Scalar = str | int | float | bool | None


# -- input ------------------------------------------------------------------------------
class KeyValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = field(title="Key", min_length=1)
    value: Scalar = field("", title="Value")


class JsonBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="JSON")

    json_: Any = field(
        title="JSON",
        description="Any JSON value, sent as is. In a workflow, a stored JSON payload's "
        "reference is streamed as it was stored.",
        alias="json",
    )
    content_type: str | None = field(
        None, title="Content type", description="Defaults to application/json."
    )


class FormBody(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Form")

    form: list[KeyValue] = field(title="Form fields")
    content_type: Literal["application/x-www-form-urlencoded", "multipart/form-data"] = field(
        "application/x-www-form-urlencoded",
        title="Encoding",
        enum_labels=["URL-encoded", "Multipart"],
    )


class PayloadRef(BaseModel):
    """A stored payload's reference (``patchbay.payload_refs``), sent by streaming its bytes."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, title="Stored payload")

    payload: str = field(title="Stored payload id", alias=PAYLOAD_KEY)


class RawBody(BaseModel):
    model_config = ConfigDict(extra="forbid", title="Raw")

    raw: str | PayloadRef = field(
        title="Raw text",
        description="Text, or (in a workflow) a stored payload's reference, whose bytes are "
        "streamed as the body.",
    )
    content_type: str | None = field(
        None, title="Content type", description="Defaults to text/plain."
    )


class FileBody(BaseModel):
    model_config = ConfigDict(extra="forbid", title="File (multipart)")

    file: FileObject = field(
        title="File", description="A file object from an earlier step, streamed as it is sent."
    )
    field_name: str = field("file", title="File field name")
    form: list[KeyValue] = field([], title="Other form fields")


Body = JsonBody | FormBody | RawBody | FileBody
# The patterns keep a bad spec a schema violation (a 400), not a failure of the call.
StatusSpec = (
    Annotated[str, StringConstraints(pattern=STATUS_SPEC_PATTERN)]
    | Annotated[
        list[
            Annotated[int, Field(ge=100, le=599)]
            | Annotated[str, StringConstraints(pattern=STATUS_ITEM_PATTERN)]
        ],
        Field(min_length=1),
    ]
)
Pairs = list[KeyValue] | dict[str, Scalar | list[Scalar]]


# Field order in the form follows the reversed MRO: _Target, then _WithBody, then _Options.
class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = field(
        title="URL",
        description="The full URL, starting with http:// or https://.",
        format="uri",
        pattern=URL_PATTERN,
    )
    query_parameters: Pairs | None = field(
        None,
        title="Query parameters",
        description="A list of key/value pairs (keys may repeat) or an object; added to "
        "the URL's own query string.",
    )
    headers: Pairs | None = field(
        None,
        title="Headers",
        description="Request headers. They take precedence over the authentication's.",
    )


class _WithBody(BaseModel):
    body: Body | None = field(
        None,
        title="Body",
        description='One of {"json": ...}, {"form": [{"key", "value"}]}, {"raw": "..."} '
        '(with an optional content_type) or {"file": <file object>} (multipart/form-data, '
        "with field_name and other form fields).",
    )


class _Options(BaseModel):
    follow_redirects: bool = field(True, title="Follow redirects", advanced=True)
    parse_response: Literal["auto", "json", "text", "file"] = field(
        "auto",
        title="Parse response",
        description="auto parses the body as JSON when its content type is JSON, and makes "
        "a binary body (not JSON, not text) a file object in a workflow; file always does.",
        enum_labels=["Automatic", "JSON", "Text", "File"],
        advanced=True,
    )
    status_code_ok: StatusSpec = field(
        "200-299",
        title="Successful status codes",
        description='A range spec such as "200-299", "2xx" or "200, 201, 304", or a list of '
        "codes and ranges. Any other status is an error.",
        advanced=True,
    )
    timeout_seconds: float = field(
        DEFAULT_TIMEOUT,
        title="Timeout (seconds)",
        description="How long the whole request may take, at most 900 (15 minutes).",
        gt=0,
        le=MAX_TIMEOUT,
        advanced=True,
    )
    max_response_bytes: int = field(
        DEFAULT_MAX_RESPONSE_BYTES,
        title="Maximum response size (bytes)",
        description="The call fails when the response body is larger; at most 50 MB.",
        ge=1,
        le=MAX_RESPONSE_BYTES,
        advanced=True,
    )


class RequestInput(_Options, _Target):
    """Input of GET and HEAD requests."""


class RequestWithBodyInput(_Options, _WithBody, _Target):
    """Input of POST, PUT, PATCH and DELETE requests."""


# -- output -----------------------------------------------------------------------------
class HttpResponse(BaseModel):
    status_code: int = field(title="Status code")
    headers: dict[str, str] = field(title="Headers", description="Lower-cased names.")
    body: Any = field(title="Body", description="Parsed JSON, text, or null when there is none.")


class HttpOutput(BaseModel):
    response: HttpResponse = field(title="Response")


# -- helpers ----------------------------------------------------------------------------
def _text(value: Scalar) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pairs(value: Any) -> list[tuple[str, str]]:
    """Key/value pairs from a list of {key, value} or an object (list values repeat)."""
    if not value:
        return []
    if isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            items = item if isinstance(item, list) else [item]
            pairs.extend((key, _text(v)) for v in items)
        return pairs
    return [(kv.key, _text(kv.value)) for kv in value]


def parse_status_spec(spec: str | list[int | str]) -> list[tuple[int, int]]:
    """Accepted status codes as inclusive ranges."""
    items = spec.split(",") if isinstance(spec, str) else spec
    ranges = []
    for item in items:
        if isinstance(item, int):
            ranges.append((item, item))
            continue
        text = item.strip().lower()
        if text.endswith("xx"):
            low = int(text[0]) * 100
            ranges.append((low, low + 99))
        elif "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            ranges.append((min(low, high), max(low, high)))
        else:
            ranges.append((int(text), int(text)))
    return ranges


def _describe_spec(spec: str | list[int | str]) -> str:
    return spec.strip() if isinstance(spec, str) else ", ".join(str(s) for s in spec)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _keeps_credentials(old: httpx.URL, new: httpx.URL) -> bool:
    """Same origin, or the same host upgraded from http to https (as httpx decides)."""
    if _origin(old) == _origin(new):
        return True
    return (
        old.scheme == "http"
        and new.scheme == "https"
        and old.host == new.host
        and old.port in (80, None)
        and new.port in (443, None)
    )


def _where(url: httpx.URL) -> str:
    """The URL without userinfo, query or fragment: safe to put in a message."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))


class _Redactor:
    """Removes secrets (credentials, auth header values) from an error before it leaves."""

    MIN_LENGTH = 4  # shorter values would mangle unrelated text

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: Any) -> None:
        if isinstance(value, str) and len(value.strip()) >= self.MIN_LENGTH:
            self._secrets.add(value.strip())
            scheme, _, rest = value.strip().partition(" ")
            if rest and len(rest.strip()) >= self.MIN_LENGTH:  # "Bearer xyz" -> also "xyz"
                self._secrets.add(rest.strip())
                if scheme.lower() == "basic":
                    self._add_basic(rest.strip())

    def _add_basic(self, encoded: str) -> None:
        try:
            user_pass = base64.b64decode(encoded, validate=True).decode("utf-8")
        except ValueError:
            return
        self.add(user_pass)
        self.add(user_pass.partition(":")[2])

    def text(self, value: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        return value

    def error(self, exc: ConnectorError) -> ConnectorError:
        if self._secrets:
            exc.message = self.text(exc.message)
            exc.args = (exc.message,)
            exc.headers = self.value(exc.headers)
            exc.body = self.value(exc.body)
        return exc


def _is_json_type(content_type: str) -> bool:
    """application/json, application/vnd.api+json, text/json, ..."""
    return "json" in content_type.split(";", 1)[0].lower()


def _decode(response: httpx.Response) -> str:
    try:
        return response.text
    except LookupError:  # an unknown charset
        return response.content.decode("utf-8", "replace")


# -- the request ------------------------------------------------------------------------
class _Call:
    """One HTTP call: builds the request, follows redirects, reads a capped body."""

    def __init__(
        self, ctx: Context, method: str, params: RequestInput | RequestWithBodyInput
    ) -> None:
        self.ctx = ctx
        self.method = method
        self.params = params
        self.redactor = _Redactor()
        for value in ctx.credentials.values():
            self.redactor.add(value)
        self.auth_header_names: set[str] = set()  # headers the authentication added
        self.user_cookie: str | None = None  # a Cookie header the call itself set
        self.payload: dict[str, Any] | None = None  # a stored payload sent as the body
        self.payload_size = 0
        self.upload: Multipart | None = None  # a file sent as multipart/form-data

    async def run(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.params.timeout_seconds):
                return await self._run()
        except TimeoutError:
            err = self.ctx.fail(
                f"The request did not finish within {self.params.timeout_seconds:g} s", "timeout"
            )
            raise self.redactor.error(err) from None
        except ConnectorError as exc:
            raise self.redactor.error(exc) from None

    async def _run(self) -> dict[str, Any]:
        try:
            self.accepted = parse_status_spec(self.params.status_code_ok)
        except ValueError:
            raise self.ctx.fail(
                f"status_code_ok is not a valid status spec: {self.params.status_code_ok!r}"
            ) from None
        if self.ctx.payloads is not None:
            await self._find_payload()
        await self._find_upload()
        request, auth = self._build()
        self.start_url = request.url
        response = await self._send(request, auth)
        try:
            data = await self._read(response)
        finally:
            await response.aclose()
        return self._result(response, data)

    # -- building ----------------------------------------------------------------------
    def _build(self) -> tuple[httpx.Request, httpx.Auth | None]:
        params = self.params
        headers = _pairs(params.headers)
        for name, value in headers:
            if is_secret_header(name):
                self.redactor.add(value)
        given = {name.lower() for name, _ in headers}

        auth = self.ctx.auth_headers()
        if isinstance(auth, dict):
            for name, value in auth.items():
                self.redactor.add(value)
                self.auth_header_names.add(name.lower())
                if name.lower() not in given:  # the call's own headers take precedence
                    headers.append((name, value))
            auth = None
        elif auth is not None and "authorization" in given:
            auth = None

        content, files = self._body(headers)
        if self.payload is not None:
            headers.append(("Content-Length", str(self.payload_size)))
        if self.upload is not None:
            headers.append(("Content-Length", str(self.upload.size)))
        timeout = httpx.Timeout(
            params.timeout_seconds, connect=min(params.timeout_seconds, CONNECT_TIMEOUT)
        )
        query = _pairs(params.query_parameters)
        try:
            url = httpx.URL(params.url)
            if query:  # added to the URL's own query (httpx's params= would replace it)
                url = url.copy_with(params=httpx.QueryParams([*url.params.multi_items(), *query]))
            request = self.ctx.http.build_request(
                self.method,
                url,
                headers=headers,
                content=content,
                files=files,
                timeout=timeout,
            )
        except (httpx.InvalidURL, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise self.ctx.fail(f"The request is invalid: {exc}") from None
        if request.url.password:
            self.redactor.add(request.url.password)
        if "cookie" not in given:  # the shared client's cookie jar is not this call's
            request.headers.pop("cookie", None)
        self.user_cookie = request.headers.get("cookie")
        return request, auth

    async def _find_payload(self) -> None:
        """Note a stored payload given as the JSON or raw body (streamed when sent)."""
        body = getattr(self.params, "body", None)
        ref: Any = None
        if isinstance(body, JsonBody) and is_ref(body.json_):
            ref = body.json_
        elif isinstance(body, RawBody) and isinstance(body.raw, PayloadRef):
            ref = body.raw.model_dump(by_alias=True)
        if ref is None:
            return
        try:
            self.payload_size = await self.ctx.payloads.size(ref)
        except LookupError as exc:
            raise self.ctx.fail(str(exc.args[0] if exc.args else exc)) from None
        self.payload = ref

    async def _find_upload(self) -> None:
        """Prepare a file body (multipart/form-data, the file streamed from the store)."""
        body = getattr(self.params, "body", None)
        if not isinstance(body, FileBody):
            return
        fields = [(kv.key, _text(kv.value)) for kv in body.form]
        self.upload = await multipart_for(self.ctx, body.file, body.field_name, fields)

    def _payload_stream(self) -> Any:
        """A fresh stream of the payload's bytes (one per hop: a 307/308 sends it again)."""
        payloads, ref = self.ctx.payloads, self.payload

        async def chunks():
            async for chunk in await payloads.open(ref):
                yield chunk

        return chunks()

    def _body(
        self, headers: list[tuple[str, str]]
    ) -> tuple[Any, list[tuple[str, tuple[None, str]]] | None]:
        """The encoded body; sets the content type on ``headers`` unless given there."""
        body = getattr(self.params, "body", None)
        if body is None:
            return None, None
        if self.upload is not None:
            headers[:] = [(k, v) for k, v in headers if k.lower() != "content-type"]
            headers.append(("Content-Type", self.upload.content_type))
            return self.upload.stream(), None
        if self.payload is not None:
            default = self.payload.get("contentType") or "application/octet-stream"
            if isinstance(body, JsonBody):
                default = "application/json"
            self._content_type(headers, body.content_type, default)
            return self._payload_stream(), None
        if isinstance(body, RawBody) and not isinstance(body.raw, str):
            raise self.ctx.fail("A stored payload can only be sent by a workflow step")
        if isinstance(body, FormBody) and body.content_type == "multipart/form-data":
            # httpx writes the content type with its boundary
            headers[:] = [(k, v) for k, v in headers if k.lower() != "content-type"]
            return None, [(kv.key, (None, _text(kv.value))) for kv in body.form]
        if isinstance(body, JsonBody):
            content = json.dumps(body.json_, ensure_ascii=False, separators=(",", ":"))
            default_type = "application/json"
        elif isinstance(body, FormBody):
            content = urlencode([(kv.key, _text(kv.value)) for kv in body.form])
            default_type = "application/x-www-form-urlencoded"
        else:
            content = body.raw
            default_type = "text/plain; charset=utf-8"
        self._content_type(headers, body.content_type, default_type)
        return content.encode("utf-8"), None

    @staticmethod
    def _content_type(headers: list[tuple[str, str]], given: str | None, default: str) -> None:
        has_type = any(k.lower() == "content-type" for k, _ in headers)
        if given or not has_type:
            headers[:] = [(k, v) for k, v in headers if k.lower() != "content-type"]
            headers.append(("Content-Type", given or default))

    # -- sending -----------------------------------------------------------------------
    async def _send(self, request: httpx.Request, auth: httpx.Auth | None) -> httpx.Response:
        """Send, following redirects hop by hop (each hop goes through the guard)."""
        jar = httpx.Cookies()
        hops = 0
        while True:
            response = await self._send_one(request, auth)
            jar.extract_cookies(response)
            following = response.next_request
            if following is None or not self.params.follow_redirects:
                return response
            await response.aclose()
            hops += 1
            if hops > self.ctx.http.max_redirects:
                raise self.ctx.fail(
                    f"Too many redirects (more than {self.ctx.http.max_redirects}) from "
                    f"{_where(self.start_url)}"
                )
            # httpx drops Authorization when leaving the origin and adds the shared
            # client's cookies: drop the other credentials too, and use this call's cookies.
            following.headers.pop("cookie", None)
            if _keeps_credentials(request.url, following.url):
                if self.user_cookie:
                    following.headers["cookie"] = self.user_cookie
            else:
                for name in list(following.headers.keys()):
                    if name in self.auth_header_names or is_secret_header(name):
                        following.headers.pop(name, None)
                self.user_cookie = None
            jar.set_cookie_header(following)
            streamed = self.payload is not None or self.upload is not None
            if streamed and following.method not in ("GET", "HEAD"):
                following = httpx.Request(
                    following.method,
                    following.url,
                    headers=following.headers,
                    content=self.upload.stream() if self.upload else self._payload_stream(),
                    extensions=following.extensions,
                )
            request, auth = following, None  # BasicAuth already sits in the headers

    async def _send_one(self, request: httpx.Request, auth: httpx.Auth | None) -> httpx.Response:
        kwargs: dict[str, Any] = {"stream": True, "follow_redirects": False}
        if auth is not None:
            kwargs["auth"] = auth
        try:
            return await self.ctx.http.send(request, **kwargs)
        except OutboundBlocked as exc:
            raise self.ctx.fail(str(exc), "connector_error") from None
        except httpx.TimeoutException:
            raise self.ctx.fail(
                f"The request to {_where(request.url)} timed out", "timeout"
            ) from None
        except httpx.HTTPError as exc:
            detail = f": {exc}" if str(exc) else ""
            raise self.ctx.fail(
                f"Could not complete the request to {_where(request.url)}: "
                f"{exc.__class__.__name__}{detail}"
            ) from None
        except httpx.InvalidURL as exc:  # httpx reads a redirect's Location, followed or not
            raise self.ctx.fail(
                f"{_where(request.url)} answered a redirect whose Location is not a valid "
                f"URL ({exc})"
            ) from None

    async def _read(self, response: httpx.Response) -> bytes | dict[str, Any]:
        cap = self.params.max_response_bytes

        def too_large() -> ConnectorError:
            return self.ctx.fail(
                f"The response is larger than the maximum of {cap} bytes "
                "(raise max_response_bytes, up to 50 MB)",
                status_code=response.status_code,
                headers=response.headers,
            )

        if self.method == "HEAD":  # no body, whatever Content-Length announces
            return b""
        declared = response.headers.get("content-length", "")
        if (
            declared.isdigit()
            and int(declared) > cap
            and not response.headers.get("content-encoding")
        ):
            raise too_large()
        if self._as_file(response):
            return await self._file(response, cap, too_large)
        data = bytearray()
        with self._reading(response):
            chunks = response.aiter_bytes()
            async for chunk in chunks:
                data += chunk
                if len(data) > cap:
                    raise too_large()
                if self._store_response(response, len(data)):
                    return await self._stored(response, bytes(data), chunks, cap, too_large)
        return bytes(data)

    def _as_file(self, response: httpx.Response) -> bool:
        """Whether a successful response becomes a file object: in a workflow step, when
        asked (parse_response "file"), or in auto mode when its body is binary (neither
        JSON nor text: an image, a PDF, an archive)."""
        mode = self.params.parse_response
        content_type = response.headers.get("content-type", "")
        return (
            self.ctx.payloads is not None
            and (mode == "file" or (mode == "auto" and encoding_for(content_type) == "binary"))
            and any(low <= response.status_code <= high for low, high in self.accepted)
        )

    async def _file(self, response: httpx.Response, cap: int, too_large) -> dict[str, Any]:
        """The body streamed into a new file of the run; its file object."""
        size = 0

        async def body():
            nonlocal size
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise too_large()
                yield chunk

        content_type = mime_of(response.headers.get("content-type", ""))
        with self._reading(response):
            return await self.ctx.payloads.store_file(body(), name_from(response), content_type)

    @contextlib.contextmanager
    def _reading(self, response: httpx.Response):
        """A failure while reading ``response``'s body, as the step's connector error."""
        try:
            yield
        except httpx.TimeoutException:
            raise self.ctx.fail(
                f"Reading the response from {_where(response.request.url)} timed out", "timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise self.ctx.fail(
                f"Could not read the response from {_where(response.request.url)}: "
                f"{exc.__class__.__name__}"
            ) from None

    def _store_response(self, response: httpx.Response, size: int) -> bool:
        """Whether the body goes to the payload store: in a workflow step, a successful
        response larger than the inline threshold (its output is then a reference)."""
        payloads = self.ctx.payloads
        return (
            payloads is not None
            and size > payloads.inline_bytes
            and self.params.parse_response == "auto"
            and any(low <= response.status_code <= high for low, high in self.accepted)
        )

    async def _stored(self, response, head: bytes, chunks, cap: int, too_large) -> dict:
        """The rest of the body streamed into the payload store, after ``head``."""
        size = len(head)

        async def body():
            nonlocal size
            yield head
            async for chunk in chunks:
                size += len(chunk)
                if size > cap:
                    raise too_large()
                yield chunk

        content_type = response.headers.get("content-type", "application/octet-stream")
        return await self.ctx.payloads.store(body(), content_type, encoding_for(content_type))

    # -- the result --------------------------------------------------------------------
    def _result(self, response: httpx.Response, data: bytes | dict) -> dict[str, Any]:
        if isinstance(data, dict):  # stored by reference, or a file object
            body = data
            headers = dict(response.headers.items())
            return {
                "response": {"status_code": response.status_code, "headers": headers, "body": body}
            }
        # A buffered copy of the (already decoded) response, for text and error helpers.
        buffered = httpx.Response(
            response.status_code,
            headers=[  # as bytes: str values would be encoded as ASCII again
                (k, v)
                for k, v in response.headers.raw
                if k.lower() not in (b"content-encoding", b"content-length", b"transfer-encoding")
            ],
            content=data,
            request=response.request,
            extensions={"reason_phrase": response.reason_phrase.encode("ascii", "replace")},
        )
        headers = dict(response.headers.items())
        status = response.status_code
        if not any(low <= status <= high for low, high in self.accepted):
            err = self.ctx.api_error(
                buffered,
                f"{self.method} {_where(response.request.url)} answered {status} "
                f"{response.reason_phrase}".rstrip()
                + f" (accepted: {_describe_spec(self.params.status_code_ok)})",
            )
            err.headers = visible_headers(response.headers)
            err.body = self._body_of(buffered, lenient=True)
            raise err
        try:
            body = self._body_of(buffered, lenient=False)
        except ValueError:
            raise self.ctx.fail(
                "The response body is not valid JSON (set parse_response to text or auto)",
                status_code=status,
                headers=response.headers,
                body=_decode(buffered),
            ) from None
        return {"response": {"status_code": status, "headers": headers, "body": body}}

    def _body_of(self, response: httpx.Response, *, lenient: bool) -> Any:
        if self.method == "HEAD" or not response.content:
            return None
        mode = self.params.parse_response
        if mode == "json" or (
            mode == "auto" and _is_json_type(response.headers.get("content-type", ""))
        ):
            try:
                return json.loads(response.content)
            except ValueError:
                if mode == "json" and not lenient:
                    raise
        return _decode(response)


# -- the operations ---------------------------------------------------------------------
METHODS_WITH_BODY = ("POST", "PUT", "PATCH", "DELETE")


def request_operation(method: str) -> Operation:
    """The ``<method>_request`` operation: all six share this handler and input family."""
    has_body = method in METHODS_WITH_BODY

    async def handler(ctx: Context, params: RequestInput | RequestWithBodyInput) -> dict[str, Any]:
        return await _Call(ctx, method, params).run()

    return operation(
        f"{method.lower()}_request",
        title=f"{method} request",
        description=f"Send an HTTP {method} request to any URL"
        + (" with a JSON, form or raw body" if has_body else "")
        + ' and return {"response": {"status_code", "headers", "body"}}.',
        input=RequestWithBodyInput if has_body else RequestInput,
        output=HttpOutput,
        timeout=MAX_TIMEOUT,  # the per-call timeout_seconds is enforced inside
        payloads=True,
    )(handler)


OPERATIONS = [
    request_operation(method) for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
]
