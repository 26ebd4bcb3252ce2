"""The HTTP Client connector, called through the real SDK path against a loopback server."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jsonschema
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from patchbay.connectors.http_client.connector import (
    CONNECTORS,
)
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid, run_operation
from patchbay.testing.connectors import loopback_clients
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.rawserver import raw_server

CONNECTOR = CONNECTORS[0]
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
TOKEN = "tok-3f9a1c77e2b54d"
PASSWORD = "pw-8c1e2d3f4a5b"
API_KEY = "key-b6a7c8d9e0f1"


# -- the fake server --------------------------------------------------------------------
async def _echo_data(request: Request) -> dict[str, Any]:
    body = await request.body()
    return {
        "method": request.method,
        "path": request.url.path,
        "query": [list(item) for item in request.query_params.multi_items()],
        "headers": dict(request.headers),
        "body": body.decode("utf-8", "replace"),
    }


async def echo(request: Request) -> Response:
    return JSONResponse(await _echo_data(request), headers={"x-echo": "yes"})


async def status(request: Request) -> Response:
    """Answer with the status in the path; the body echoes the request (headers too)."""
    headers = {}
    if "retry_after" in request.query_params:
        headers["Retry-After"] = request.query_params["retry_after"]
    data = {"error": "nope", "received": await _echo_data(request)}
    return JSONResponse(data, status_code=int(request.path_params["code"]), headers=headers)


async def text(request: Request) -> Response:
    return PlainTextResponse('{"looks": "like json"}')


async def not_json(request: Request) -> Response:
    return Response("this is not json", media_type="application/json")


async def vendor_json(request: Request) -> Response:
    return Response('{"data": [1, 2]}', media_type="application/vnd.api+json")


async def redirect(request: Request) -> Response:
    code = int(request.query_params.get("code", "302"))
    return RedirectResponse(request.query_params["to"], status_code=code)


async def set_cookie(request: Request) -> Response:
    if "to" in request.query_params:
        response: Response = RedirectResponse(request.query_params["to"], status_code=302)
    else:
        response = PlainTextResponse("cookie set")
    response.set_cookie("session", "s3cr3t-session-value")
    return response


async def sleep(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params["seconds"]))
    return PlainTextResponse("awake")


async def large(request: Request) -> Response:
    size = int(request.query_params["size"])
    chunk = b"x" * 65536

    async def chunks() -> AsyncIterator[bytes]:
        left = size
        while left > 0:
            yield chunk[: min(left, len(chunk))]
            left -= len(chunk)

    headers = {"content-length": str(size)} if request.query_params.get("declare") else {}
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)


ANY = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
APP = Starlette(
    routes=[
        Route("/echo", echo, methods=ANY),
        Route("/echo/{rest:path}", echo, methods=ANY),
        Route("/status/{code:int}", status, methods=ANY),
        Route("/text", text),
        Route("/not-json", not_json),
        Route("/vendor-json", vendor_json),
        Route("/redirect", redirect, methods=ANY),
        Route("/set-cookie", set_cookie),
        Route("/sleep", sleep),
        Route("/large", large),
    ]
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_in_thread(APP) as url:
        yield url


@pytest.fixture
def localhost(server: str) -> str:
    """The same server, addressed by the hostname ``localhost``."""
    return server.replace("127.0.0.1", "localhost")


async def call(
    clients: HttpClientPool,
    operation: str,
    data: dict[str, Any],
    *,
    credentials: dict[str, Any] | None = None,
    user_data: dict[str, Any] | None = None,
) -> CallResult:
    op = CONNECTOR.operation(operation)
    assert op is not None
    result = await run_operation(
        CONNECTOR, op, data, clients=clients, credentials=credentials, user_data=user_data
    )
    json.dumps(result.output)  # always JSON-serialisable
    if result.outcome == "success":
        jsonschema.Draft4Validator(op.output_schema).validate(result.output)
    return result


def received(result: CallResult) -> dict[str, Any]:
    assert result.outcome == "success", result.output
    return result.output["response"]["body"]


# -- declaration ------------------------------------------------------------------------
def test_declaration() -> None:
    assert CONNECTOR.name == "http-client"
    assert CONNECTOR.version == "1.0"
    assert CONNECTOR.base_url is None
    assert CONNECTOR.requires_auth is False
    assert CONNECTOR.service.to_api() == {
        "id": "a3d1f9e0-5b7c-4c2e-8f10-7e6d5c4b3a21",
        "name": "http-client",
        "version": 1,
    }
    assert [e.title for e in CONNECTOR.environments] == ["Token", "Basic auth", "API key header"]
    assert [e.authentication_type for e in CONNECTOR.environments] == ["token", "basic", "token"]
    names = [op.name for op in CONNECTOR.operations]
    assert names == [f"{m.lower()}_request" for m in ALL_METHODS]
    for op in CONNECTOR.operations:
        assert op.timeout == 900
        schema = op.input_schema
        jsonschema.Draft4Validator.check_schema(schema)
        jsonschema.Draft4Validator.check_schema(op.output_schema)
        assert schema["required"] == ["url"]
        assert schema["properties"]["url"]["format"] == "uri"
        assert set(schema["advanced"]) == {
            "follow_redirects",
            "parse_response",
            "status_code_ok",
            "timeout_seconds",
            "max_response_bytes",
        }
        assert schema["properties"]["timeout_seconds"]["maximum"] == 900
        assert ("body" in schema["properties"]) == (op.name not in ("get_request", "head_request"))
    # one input model family, not six copies
    assert {op.input_model.__name__ for op in CONNECTOR.operations} == {
        "RequestInput",
        "RequestWithBodyInput",
    }


# -- methods, query, headers, bodies -----------------------------------------------------
@pytest.mark.parametrize("method", ALL_METHODS)
async def test_every_method(clients, server, method) -> None:
    result = await call(clients, f"{method.lower()}_request", {"url": f"{server}/echo"})
    assert result.outcome == "success", result.output
    response = result.output["response"]
    assert response["status_code"] == 200
    assert response["headers"]["x-echo"] == "yes"
    if method == "HEAD":
        assert response["body"] is None
    else:
        assert response["body"]["method"] == method


async def test_query_parameters_list_and_object(clients, server) -> None:
    body = received(
        await call(
            clients,
            "get_request",
            {
                "url": f"{server}/echo?fixed=1",
                "query_parameters": [
                    {"key": "tag", "value": "a"},
                    {"key": "tag", "value": "b c"},
                    {"key": "n", "value": 3},
                    {"key": "flag", "value": True},
                ],
            },
        )
    )
    assert body["query"] == [
        ["fixed", "1"],
        ["tag", "a"],
        ["tag", "b c"],
        ["n", "3"],
        ["flag", "true"],
    ]
    body = received(
        await call(
            clients,
            "get_request",
            {"url": f"{server}/echo", "query_parameters": {"q": "x&y", "ids": [1, 2]}},
        )
    )
    assert body["query"] == [["q", "x&y"], ["ids", "1"], ["ids", "2"]]


async def test_headers(clients, server) -> None:
    body = received(
        await call(
            clients,
            "get_request",
            {
                "url": f"{server}/echo",
                "headers": [{"key": "X-One", "value": "1"}, {"key": "Accept", "value": "a/b"}],
            },
        )
    )
    assert body["headers"]["x-one"] == "1"
    assert body["headers"]["accept"] == "a/b"
    body = received(
        await call(clients, "get_request", {"url": f"{server}/echo", "headers": {"X-Two": "2"}})
    )
    assert body["headers"]["x-two"] == "2"


async def test_json_body(clients, server) -> None:
    payload = {"name": "Ada", "tags": ["x", "ü"], "n": 1.5, "none": None}
    body = received(
        await call(clients, "post_request", {"url": f"{server}/echo", "body": {"json": payload}})
    )
    assert body["headers"]["content-type"] == "application/json"
    assert json.loads(body["body"]) == payload
    # a custom content type, with PUT, and a JSON scalar
    body = received(
        await call(
            clients,
            "put_request",
            {
                "url": f"{server}/echo",
                "body": {"json": [1, 2], "content_type": "application/vnd.api+json"},
            },
        )
    )
    assert body["method"] == "PUT"
    assert body["headers"]["content-type"] == "application/vnd.api+json"
    assert json.loads(body["body"]) == [1, 2]


async def test_form_body(clients, server) -> None:
    form = [{"key": "a", "value": "1 2"}, {"key": "a", "value": "&"}, {"key": "b", "value": 3}]
    body = received(
        await call(clients, "patch_request", {"url": f"{server}/echo", "body": {"form": form}})
    )
    assert body["method"] == "PATCH"
    assert body["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert body["body"] == "a=1+2&a=%26&b=3"
    body = received(
        await call(
            clients,
            "post_request",
            {
                "url": f"{server}/echo",
                "body": {"form": form, "content_type": "multipart/form-data"},
            },
        )
    )
    assert body["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert 'Content-Disposition: form-data; name="a"\r\n\r\n1 2\r\n' in body["body"]
    assert 'name="b"\r\n\r\n3\r\n' in body["body"]


async def test_raw_body(clients, server) -> None:
    body = received(
        await call(
            clients,
            "delete_request",
            {"url": f"{server}/echo", "body": {"raw": "<x>é</x>", "content_type": "text/xml"}},
        )
    )
    assert body["method"] == "DELETE"
    assert body["headers"]["content-type"] == "text/xml"
    assert body["body"] == "<x>é</x>"
    # without a content type: text/plain, unless the headers name one
    body = received(
        await call(clients, "post_request", {"url": f"{server}/echo", "body": {"raw": "hi"}})
    )
    assert body["headers"]["content-type"].startswith("text/plain")
    body = received(
        await call(
            clients,
            "post_request",
            {
                "url": f"{server}/echo",
                "headers": [{"key": "Content-Type", "value": "application/csv"}],
                "body": {"raw": "a,b"},
            },
        )
    )
    assert body["headers"]["content-type"] == "application/csv"


async def test_bad_input_is_rejected(clients, server) -> None:
    for data in (
        {},
        {"url": "ftp://example.com/x"},
        {"url": "/echo"},
        {"url": f"{server}/echo", "status_code_ok": "ok"},
        {"url": f"{server}/echo", "status_code_ok": [99]},
        {"url": f"{server}/echo", "timeout_seconds": 901},
        {"url": f"{server}/echo", "max_response_bytes": 50 * 1024 * 1024 + 1},
        {"url": f"{server}/echo", "body": {"json": 1, "raw": "x"}},
        {"url": f"{server}/echo", "body": {"form": [{"value": "no key"}]}},
    ):
        with pytest.raises(InputInvalid):
            await call(clients, "post_request", data)
    with pytest.raises(InputInvalid):  # GET has no body
        await call(clients, "get_request", {"url": f"{server}/echo", "body": {"raw": "x"}})


# -- authentication ---------------------------------------------------------------------
async def test_token_auth(clients, server) -> None:
    body = received(
        await call(clients, "get_request", {"url": f"{server}/echo"}, credentials={"token": TOKEN})
    )
    assert body["headers"]["authorization"] == f"Bearer {TOKEN}"
    body = received(
        await call(
            clients,
            "get_request",
            {"url": f"{server}/echo"},
            credentials={"token": TOKEN},
            user_data={"header_name": "X-Token", "prefix": ""},
        )
    )
    assert body["headers"]["x-token"] == TOKEN
    assert "authorization" not in body["headers"]


async def test_basic_auth(clients, server) -> None:
    body = received(
        await call(
            clients,
            "get_request",
            {"url": f"{server}/echo"},
            credentials={"username": "ada", "password": PASSWORD},
        )
    )
    expected = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    assert body["headers"]["authorization"] == f"Basic {expected}"


async def test_api_key_header_auth(clients, server) -> None:
    body = received(
        await call(
            clients,
            "get_request",
            {"url": f"{server}/echo"},
            credentials={"value": API_KEY},
            user_data={"header_name": "X-Api-Key"},
        )
    )
    assert body["headers"]["x-api-key"] == API_KEY
    assert "authorization" not in body["headers"]


async def test_no_auth(clients, server) -> None:
    body = received(await call(clients, "get_request", {"url": f"{server}/echo"}))
    assert "authorization" not in body["headers"]


async def test_call_headers_take_precedence_over_auth(clients, server) -> None:
    body = received(
        await call(
            clients,
            "get_request",
            {"url": f"{server}/echo", "headers": {"authorization": "Custom abc"}},
            credentials={"token": TOKEN},
        )
    )
    assert body["headers"]["authorization"] == "Custom abc"


@pytest.mark.parametrize(
    ("credentials", "user_data", "secrets"),
    [
        ({"token": TOKEN}, {}, [TOKEN]),
        (
            {"username": "ada", "password": PASSWORD},
            {},
            [PASSWORD, base64.b64encode(f"ada:{PASSWORD}".encode()).decode()],
        ),
        ({"value": API_KEY}, {"header_name": "X-Api-Key"}, [API_KEY]),
    ],
)
async def test_credentials_never_in_error_output(
    clients, server, credentials, user_data, secrets
) -> None:
    # the server echoes the request headers in its error body
    result = await call(
        clients,
        "post_request",
        {"url": f"{server}/status/400", "body": {"json": {"x": 1}}},
        credentials=credentials,
        user_data=user_data,
    )
    assert result.outcome == "error"
    assert result.output["response"]["statusCode"] == 400
    assert result.output["response"]["body"]["error"] == "nope"  # the body is still shown
    dumped = json.dumps(result.output)
    for secret in secrets:
        assert secret not in dumped
    assert "[redacted]" in dumped
    # a manual Authorization header is a credential too
    result = await call(
        clients,
        "get_request",
        {"url": f"{server}/status/500", "headers": {"Authorization": f"Bearer {TOKEN}"}},
    )
    assert result.outcome == "error"
    assert TOKEN not in json.dumps(result.output)


# -- responses --------------------------------------------------------------------------
async def test_parse_response(clients, server) -> None:
    # auto: JSON content types are parsed, others are text
    result = await call(clients, "get_request", {"url": f"{server}/echo"})
    assert isinstance(received(result), dict)
    assert received(await call(clients, "get_request", {"url": f"{server}/text"})) == (
        '{"looks": "like json"}'
    )
    assert received(await call(clients, "get_request", {"url": f"{server}/vendor-json"})) == {
        "data": [1, 2]
    }
    assert (
        received(await call(clients, "get_request", {"url": f"{server}/not-json"}))
        == "this is not json"
    )
    # json: parsed whatever the content type says
    result = await call(clients, "get_request", {"url": f"{server}/text", "parse_response": "json"})
    assert received(result) == {"looks": "like json"}
    # text: never parsed
    result = await call(clients, "get_request", {"url": f"{server}/echo", "parse_response": "text"})
    assert json.loads(received(result))["method"] == "GET"
    # json that is not JSON is an error that still shows what came back
    result = await call(
        clients, "get_request", {"url": f"{server}/not-json", "parse_response": "json"}
    )
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert result.output["response"]["body"] == "this is not json"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (400, "api_error"),
        (404, "api_error"),
        (500, "api_error"),
        (401, "auth_error"),
        (403, "auth_error"),
    ],
)
async def test_non_2xx_is_an_error(clients, server, code, kind) -> None:
    result = await call(clients, "get_request", {"url": f"{server}/status/{code}"})
    assert result.outcome == "error"
    output = result.output
    assert output["kind"] == kind
    assert output["response"]["statusCode"] == code
    assert output["response"]["body"]["error"] == "nope"
    assert str(code) in output["message"]
    assert "retryAfter" not in output


async def test_rate_limited_with_retry_after(clients, server) -> None:
    result = await call(clients, "get_request", {"url": f"{server}/status/429?retry_after=7"})
    assert result.outcome == "error"
    assert result.output["kind"] == "rate_limited"
    assert result.output["retryAfter"] == 7
    assert result.output["response"]["statusCode"] == 429
    assert result.output["response"]["headers"]["retry-after"] == "7"


async def test_status_code_ok(clients, server) -> None:
    result = await call(
        clients, "get_request", {"url": f"{server}/status/404", "status_code_ok": "200-299, 404"}
    )
    assert result.outcome == "success"
    assert result.output["response"]["status_code"] == 404
    assert result.output["response"]["body"]["error"] == "nope"
    result = await call(
        clients, "get_request", {"url": f"{server}/status/503", "status_code_ok": ["5xx"]}
    )
    assert result.outcome == "success"
    result = await call(
        clients, "post_request", {"url": f"{server}/status/201", "status_code_ok": [200]}
    )
    assert result.outcome == "error"
    assert result.output["kind"] == "api_error"
    assert result.output["response"]["statusCode"] == 201


async def test_timeout(clients, server) -> None:
    result = await call(
        clients, "get_request", {"url": f"{server}/sleep?seconds=1.5", "timeout_seconds": 0.3}
    )
    assert result.outcome == "error"
    assert result.output["kind"] == "timeout"
    # a longer per-call timeout lets it through
    result = await call(
        clients, "get_request", {"url": f"{server}/sleep?seconds=0.2", "timeout_seconds": 5}
    )
    assert received(result) == "awake"


async def test_response_size_cap(clients, server) -> None:
    # within the cap
    result = await call(
        clients, "get_request", {"url": f"{server}/large?size=200000", "max_response_bytes": 200000}
    )
    assert len(received(result)) == 200000
    # streamed past the cap: stopped
    for declare in ("", "&declare=1"):
        result = await call(
            clients,
            "get_request",
            {"url": f"{server}/large?size=3000000{declare}", "max_response_bytes": 100000},
        )
        assert result.outcome == "error"
        assert result.output["kind"] == "connector_error"
        assert "larger than" in result.output["message"]
        assert result.output["response"]["statusCode"] == 200
    # the default cap is 10 MB
    result = await call(clients, "get_request", {"url": f"{server}/large?size={11 * 1024**2}"})
    assert result.outcome == "error"
    assert "10485760" in result.output["message"]


# -- redirects and the outbound guard -----------------------------------------------------
async def test_redirect_followed(clients, server) -> None:
    result = await call(
        clients, "get_request", {"url": f"{server}/redirect?to=/echo/landed&code=302"}
    )
    assert received(result)["path"] == "/echo/landed"
    # 307 keeps the method and the body
    body = received(
        await call(
            clients,
            "post_request",
            {"url": f"{server}/redirect?to=/echo/kept&code=307", "body": {"raw": "same"}},
        )
    )
    assert (body["method"], body["path"], body["body"]) == ("POST", "/echo/kept", "same")


async def test_redirect_not_followed(clients, server) -> None:
    data = {"url": f"{server}/redirect?to=/echo", "follow_redirects": False}
    result = await call(clients, "get_request", data)
    assert result.outcome == "error"
    assert result.output["response"]["statusCode"] == 302
    result = await call(clients, "get_request", {**data, "status_code_ok": "200-399"})
    assert result.output["response"]["status_code"] == 302
    assert result.output["response"]["headers"]["location"] == "/echo"


async def test_redirect_to_blocked_target_refused(server, localhost) -> None:
    async with loopback_clients("localhost") as pool:  # admits the hostname, not 127.0.0.1
        ok = await call(pool, "get_request", {"url": f"{localhost}/echo"})
        assert ok.outcome == "success", ok.output
        result = await call(pool, "get_request", {"url": f"{localhost}/redirect?to={server}/echo"})
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert "refused" in result.output["message"]
    assert "127.0.0.1" in result.output["message"]


async def test_target_blocked_when_policy_admits_nothing(server) -> None:
    async with loopback_clients("") as pool:
        result = await call(
            pool, "post_request", {"url": f"{server}/echo"}, credentials={"token": TOKEN}
        )
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert result.output["response"] is None
    assert "refused" in result.output["message"]
    assert "PATCHBAY_OUTBOUND_ALLOW" in result.output["message"]
    assert TOKEN not in json.dumps(result.output)


async def test_credentials_stay_on_their_origin_across_redirects(server, localhost) -> None:
    async with loopback_clients("127.0.0.1/32,localhost") as pool:
        # same origin: the key goes along
        same = received(
            await call(
                pool,
                "get_request",
                {"url": f"{server}/redirect?to=/echo"},
                credentials={"value": API_KEY},
                user_data={"header_name": "X-Api-Key"},
            )
        )
        assert same["headers"]["x-api-key"] == API_KEY
        # another origin: neither the key header nor a bearer token follows
        for credentials, user_data in (
            ({"value": API_KEY}, {"header_name": "X-Api-Key"}),
            ({"token": TOKEN}, {}),
            ({"token": TOKEN}, {"header_name": "X-Token", "prefix": ""}),
        ):
            other = received(
                await call(
                    pool,
                    "get_request",
                    {"url": f"{server}/redirect?to={localhost}/echo"},
                    credentials=credentials,
                    user_data=user_data,
                )
            )
            assert other["headers"]["host"].startswith("localhost")
            dumped = json.dumps(other["headers"])
            assert API_KEY not in dumped and TOKEN not in dumped


async def test_cookies_do_not_leak_between_calls(clients, server) -> None:
    result = await call(clients, "get_request", {"url": f"{server}/set-cookie"})
    assert result.outcome == "success"
    body = received(await call(clients, "get_request", {"url": f"{server}/echo"}))
    assert "cookie" not in body["headers"]
    # within one call, a cookie set by a redirect is sent to its target
    body = received(await call(clients, "get_request", {"url": f"{server}/set-cookie?to=/echo"}))
    assert body["headers"]["cookie"] == "session=s3cr3t-session-value"
    # and the call's own Cookie header survives a same-origin redirect
    url = f"{server}/redirect?to=/echo"
    body = received(
        await call(clients, "get_request", {"url": url, "headers": {"Cookie": "mine=1"}})
    )
    assert body["headers"]["cookie"] == "mine=1"


async def test_unreachable_target(clients) -> None:
    # a loopback port nothing listens on (admitted by the policy, refused by the OS)
    result = await call(clients, "get_request", {"url": "http://127.0.0.1:9/x"})
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert result.output["response"] is None


async def test_a_stored_payload_outside_a_workflow_is_refused_and_json_is_sent_as_given(
    clients, server
) -> None:
    """A payload reference only means something in a workflow step (ctx.payloads): as a raw
    body elsewhere it is refused; inside a JSON body it is just JSON."""
    ref = {"$payload": "p-1", "size": 3, "contentType": "text/plain", "encoding": "text"}
    result = await call(clients, "post_request", {"url": f"{server}/echo", "body": {"raw": ref}})
    assert result.outcome == "error"
    assert "only be sent by a workflow step" in result.output["message"]
    body = received(
        await call(clients, "post_request", {"url": f"{server}/echo", "body": {"json": ref}})
    )
    assert json.loads(body["body"]) == ref


# -- odd responses --------------------------------------------------------------------------
ODD_ANSWERS = {
    "/utf8-header": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        b'Content-Disposition: attachment; filename="caf\xc3\xa9.pdf"\r\n'
        b"Content-Length: 2\r\nConnection: close\r\n\r\nok"
    ),
    "/latin1-header": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Name: caf\xe9\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\nok"
    ),
    "/bad-location": (
        b"HTTP/1.1 302 Found\r\nLocation: http:\\\\host\\path\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    ),
}


async def test_a_non_ascii_header_byte_is_read(clients) -> None:
    async with raw_server(ODD_ANSWERS) as url:
        utf8 = await call(clients, "get_request", {"url": f"{url}/utf8-header"})
        latin1 = await call(clients, "get_request", {"url": f"{url}/latin1-header"})
    assert utf8.outcome == "success", utf8.output
    headers = utf8.output["response"]["headers"]
    assert headers["content-disposition"] == 'attachment; filename="café.pdf"'
    assert latin1.outcome == "success", latin1.output
    assert latin1.output["response"]["headers"]["x-name"] == "café"


@pytest.mark.parametrize("follow", [True, False])
async def test_a_malformed_location_is_an_error_outcome(clients, follow) -> None:
    async with raw_server(ODD_ANSWERS) as url:
        data = {"url": f"{url}/bad-location", "follow_redirects": follow}
        result = await call(clients, "get_request", data)
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    assert "Location" in result.output["message"] or "location" in result.output["message"]
