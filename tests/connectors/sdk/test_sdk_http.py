"""What every connector gets from the SDK: retries with backoff and Retry-After, rate
budgets per authentication, declared pagination, raw HTTP access and the OAuth refresh hook,
exercised through a small connector against a loopback service."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from patchbay.connectors.sdk import (
    AuthEnvironment,
    Connector,
    Context,
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    RateBudget,
    RetryPolicy,
    Service,
    field,
    operation,
    raw_http_request,
)
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.outbound import OutboundPolicy
from patchbay.connectors.sdk.runner import run_operation
from patchbay.testing.fakeserver import serve_in_thread


class Service_:
    """A loopback service whose answers the tests script."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []  # (status, headers) to answer next
        self.hits: list[tuple[str, str, float, str | None]] = []  # method, path+query, t, auth

    async def endpoint(self, request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        self.hits.append(
            (
                request.method,
                request.url.path + query,
                time.monotonic(),
                request.headers.get("authorization"),
            )
        )
        path = request.url.path
        if self.script:
            status, headers = self.script.pop(0)
            return JSONResponse({"error": "scripted"}, status_code=status, headers=headers)
        if path == "/cursor":
            cursor = int(request.query_params.get("cursor") or 0)
            nxt = "" if cursor >= 2 else str(cursor + 1)
            return JSONResponse({"items": [cursor * 2, cursor * 2 + 1], "next": nxt})
        if path == "/link":
            page = int(request.query_params.get("page_info") or 0)
            headers = {}
            if page < 2:
                headers["Link"] = f'<{request.base_url}link?page_info={page + 1}>; rel="next"'
            return JSONResponse({"rows": [f"p{page}"]}, headers=headers)
        if path in ("/big", "/big-chunked"):  # 3 MB, with or without a Content-Length
            chunk = b"x" * (1024 * 1024)
            if path == "/big":
                return Response(chunk * 3)

            async def chunks():
                for _ in range(3):
                    yield chunk

            return StreamingResponse(chunks())
        if request.url.path.startswith("/raw-path/"):
            return JSONResponse({"raw_path": request.scope["raw_path"].decode()})
        if path == "/evil":
            return JSONResponse({"data": [1], "next_page_uri": "http://127.0.0.2:1/steal"})
        if path == "/html":
            return Response("<html>not json</html>", media_type="text/html")
        if path == "/echo-headers":
            return JSONResponse({"content_type": request.headers.getlist("content-type")})
        if path.startswith("/v1/next"):
            page = int(request.query_params.get("page") or 0)
            nxt = None if page >= 2 else f"/v1/next?page={page + 1}"  # origin-relative
            return JSONResponse({"data": [page], "next_page_uri": nxt})
        return JSONResponse({"ok": True, "method": request.method, "path": path})


class Empty(BaseModel):
    pass


class Mode(BaseModel):
    mode: str = field(title="Mode")
    max_items: int | None = field(None, title="Max items")


@operation(title="Get", input=Empty)
async def get(ctx: Context, data: Empty) -> dict[str, Any]:
    return (await ctx.request("GET", "thing")).json()


@operation(title="Post", input=Empty)
async def post(ctx: Context, data: Empty) -> dict[str, Any]:
    return (await ctx.request("POST", "thing", json={"a": 1})).json()


@operation(title="List", input=Mode)
async def listing(ctx: Context, data: Mode) -> dict[str, Any]:
    kinds = {
        "cursor": ("cursor", CursorPagination(cursor_param="cursor", next_path="next"), "items"),
        "link": ("link", LinkHeaderPagination(), "rows"),
        "next": ("v1/next", NextUrlPagination(next_path="next_page_uri"), "data"),
        "evil": ("evil", NextUrlPagination(next_path="next_page_uri"), "data"),
        "html": ("html", NextUrlPagination(next_path="next_page_uri"), "data"),
    }
    path, pagination, items_path = kinds[data.mode]
    items, more = await ctx.collect(
        "GET", path, pagination=pagination, items_path=items_path, max_items=data.max_items
    )
    return {"items": items, "more": more}


def make_connector(*more_operations: Any, **extra: Any) -> Connector:
    return Connector(
        name="svc",
        title="Svc",
        version="1.0",
        service=Service(id="11111111-2222-4333-8444-555555555555", name="svc", version=1),
        environments=[AuthEnvironment(id="e", title="Token", authentication_type="token")],
        authorize=lambda ctx: {"Authorization": f"Bearer {ctx.credentials['token']}"},
        operations=[get, post, listing, raw_http_request(), *more_operations],
        **extra,
    )


@pytest.fixture
def service():
    state = Service_()
    app = Starlette(routes=[Route("/{path:path}", state.endpoint, methods=["GET", "POST"])])
    with serve_in_thread(app) as url:
        state.url = url
        yield state


async def run(connector, name, data, service, clients, credentials=None, **kwargs):
    return await run_operation(
        connector,
        connector.operation(name),
        data,
        clients=clients,
        credentials=credentials or {"token": "t0"},
        user_data={"base_url": service.url},
        auth_id="auth-1",
        **kwargs,
    )


async def test_idempotent_request_retried_after_retry_after(service, clients):
    service.script = [(429, {"Retry-After": "0"}), (503, {})]
    result = await run(make_connector(), "get", {}, service, clients)
    assert result.outcome == "success"
    assert len(service.hits) == 3


async def test_retries_stop_after_the_policy_attempts(service, clients):
    service.script = [(503, {})] * 5
    connector = make_connector(retry=RetryPolicy(attempts=2, backoff=0.01))
    result = await run(connector, "get", {}, service, clients)
    assert result.outcome == "error" and result.output["kind"] == "api_error"
    assert result.output["response"]["statusCode"] == 503
    assert len(service.hits) == 2


async def test_long_retry_after_is_surfaced_not_waited(service, clients):
    service.script = [(429, {"Retry-After": "120"})]
    result = await run(make_connector(), "get", {}, service, clients)
    assert result.output["kind"] == "rate_limited"
    assert result.output["retryAfter"] == 120.0
    assert len(service.hits) == 1


async def test_post_is_not_retried_unless_the_service_says_it_is_safe(service, clients):
    service.script = [(429, {"Retry-After": "0"})]
    result = await run(make_connector(), "post", {}, service, clients)
    assert result.output["kind"] == "rate_limited" and len(service.hits) == 1

    service.hits.clear()
    service.script = [(429, {"Retry-After": "0"})]
    safe = make_connector(retry=RetryPolicy(retry_post_on=frozenset({429})))
    result = await run(safe, "post", {}, service, clients)
    assert result.outcome == "success" and len(service.hits) == 2


async def test_connection_refused_is_retried_then_reported(clients):
    connector = make_connector(retry=RetryPolicy(attempts=2, backoff=0.01))

    class Nowhere:
        url = "http://127.0.0.1:9"  # discard port: nothing listens

    result = await run(connector, "get", {}, Nowhere, clients)
    assert result.outcome == "error" and result.output["kind"] == "connector_error"
    assert result.output["message"] == (
        "Could not reach Svc: the connection to 127.0.0.1:9 was refused (nothing listens there)"
    )


async def test_a_failed_connection_names_its_cause_and_host(service, clients):
    """Not "Could not reach Svc: ConnectError": why, and where."""
    connector = make_connector()
    port = service.url.rsplit(":", 1)[1]

    class Unresolved:
        url = "http://patchbay-test.invalid"

    result = await run(connector, "get", {}, Unresolved, clients)
    message = result.output["message"]
    assert message.startswith("Could not reach Svc: the name patchbay-test.invalid could not"), (
        message
    )

    class PlainHttp:  # TLS spoken to a server that speaks plain HTTP
        url = f"https://127.0.0.1:{port}"

    result = await run(connector, "get", {}, PlainHttp, clients)
    message = result.output["message"]
    assert message.startswith(f"Could not reach Svc: the TLS handshake with 127.0.0.1:{port}"), (
        message
    )
    assert result.output["kind"] == "connector_error"


async def test_rate_budget_spaces_requests_per_authentication(service, clients):
    connector = make_connector(rate_budget=RateBudget(per_second=4, burst=2))
    await asyncio.gather(*(run(connector, "get", {}, service, clients) for _ in range(6)))
    times = sorted(t for _, _, t, _ in service.hits)
    # Two go at once (the burst); the other four wait their turn at 4/s.
    assert times[-1] - times[0] >= 4 / 4 * 0.8
    # Another authentication has its own budget: while auth-1's next request waits for
    # its empty bucket (~0.25 s), auth-2's goes through at once and arrives first.
    service.hits.clear()
    other = run_operation(
        connector,
        connector.operation("get"),
        {},
        clients=clients,
        credentials={"token": "t1"},
        user_data={"base_url": service.url},
        auth_id="auth-2",
    )
    await asyncio.gather(run(connector, "get", {}, service, clients), other)
    assert [h[3] for h in service.hits] == ["Bearer t1", "Bearer t0"]


@pytest.mark.parametrize("mode", ["cursor", "link", "next"])
async def test_declared_pagination_follows_every_page(service, clients, mode):
    result = await run(make_connector(), "listing", {"mode": mode}, service, clients)
    assert result.outcome == "success", result.output
    assert len(result.output["items"]) == {"cursor": 6, "link": 3, "next": 3}[mode]
    assert result.output["more"] is False
    assert len(service.hits) == 3
    if mode == "next":  # an origin-relative next URL resolves against the service's origin
        assert [h[1] for h in service.hits] == ["/v1/next", "/v1/next?page=1", "/v1/next?page=2"]


async def test_collect_stops_at_max_items_and_says_more_remain(service, clients):
    result = await run(
        make_connector(), "listing", {"mode": "cursor", "max_items": 3}, service, clients
    )
    assert result.output == {"items": [0, 1, 2], "more": True}
    assert len(service.hits) == 2  # no page fetched beyond what was needed


async def test_raw_http_request_applies_auth_and_stays_on_the_host(service, clients):
    body = {"method": "POST", "url": "custom/path", "body": {"json": {"x": 1}}}
    result = await run(make_connector(), "raw_http_request", body, service, clients)
    assert result.outcome == "success"
    assert result.output["response"]["status_code"] == 200
    assert result.output["response"]["body"]["path"] == "/custom/path"
    assert service.hits[-1][3] == "Bearer t0"

    elsewhere = {"method": "GET", "url": "http://127.0.0.1:1/steal"}
    result = await run(make_connector(), "raw_http_request", elsewhere, service, clients)
    assert result.outcome == "error" and "own host" in result.output["message"]
    assert len(service.hits) == 1


async def test_a_401_refreshes_credentials_once_and_retries(service, clients):
    service.script = [(401, {})]
    refreshes = []

    async def refresh():
        refreshes.append(1)
        return {"token": "fresh"}

    result = await run(make_connector(), "get", {}, service, clients, refresh=refresh)
    assert result.outcome == "success"
    assert refreshes == [1]
    assert [h[3] for h in service.hits] == ["Bearer t0", "Bearer fresh"]

    # A second 401 after the refresh is the answer: no loop.
    service.hits.clear()
    service.script = [(401, {}), (401, {})]
    result = await run(make_connector(), "get", {}, service, clients, refresh=refresh)
    assert result.output["kind"] == "auth_error"
    assert len(service.hits) == 2


async def test_a_next_page_on_another_host_is_not_followed(service, clients):
    result = await run(make_connector(), "listing", {"mode": "evil"}, service, clients)
    assert result.output["kind"] == "connector_error"
    assert "another host" in result.output["message"]
    assert len(service.hits) == 1


async def test_a_page_that_is_not_json_is_a_connector_error(service, clients):
    result = await run(make_connector(), "listing", {"mode": "html"}, service, clients)
    assert result.output["kind"] == "connector_error"
    assert "not JSON" in result.output["message"]


async def test_the_connector_error_mapper_shapes_every_failure(service, clients):
    def mapper(ctx, response):
        return ctx.api_error(response, "mapped by the connector", code="E42")

    connector = make_connector(error_mapper=mapper, retry=RetryPolicy(attempts=1))
    for name, data in (
        ("get", {}),
        ("listing", {"mode": "cursor"}),
        ("raw_http_request", {"method": "GET", "url": "x"}),
    ):
        service.script = [(418, {})]
        result = await run(connector, name, data, service, clients)
        assert result.output["message"] == "mapped by the connector", name
        assert result.output["code"] == "E42"
        assert result.output["response"]["statusCode"] == 418


async def test_caller_headers_replace_connector_headers_whatever_their_case(service, clients):
    @operation(title="Echo headers", input=Empty)
    async def echo_headers(ctx: Context, data: Empty) -> dict[str, Any]:
        response = await ctx.request(
            "POST", "echo-headers", json={}, headers={"content-type": "application/vnd.x+json"}
        )
        return response.json()

    connector = make_connector(echo_headers)
    result = await run(connector, "echo_headers", {}, service, clients)
    assert result.output == {"content_type": ["application/vnd.x+json"]}


async def test_urls_are_sent_exactly_as_encoded(service, clients):
    """An encoded dot segment in a user-supplied id must not be normalised into another
    path on the host."""
    data = {"method": "GET", "url": "raw-path/%2E%2E/admin%2Fx?q=a%20b"}
    result = await run(make_connector(), "raw_http_request", data, service, clients)
    assert result.output["response"]["body"] == {"raw_path": "/raw-path/%2E%2E/admin%2Fx"}


@operation(title="Big", input=Mode)
async def big(ctx: Context, data: Mode) -> dict[str, Any]:
    response = await ctx.request("GET", data.mode)
    return {"size": len(response.content)}


@operation(title="Big through httpx", input=Mode)
async def big_httpx(ctx: Context, data: Mode) -> dict[str, Any]:
    response = await ctx.request("GET", data.mode, follow_redirects=False)  # the httpx path
    return {"size": len(response.content)}


@pytest.mark.parametrize("name", ["big", "big_httpx"])
@pytest.mark.parametrize("path", ["big", "big-chunked"])
async def test_no_response_is_read_past_the_pools_cap(service, name, path):
    """A service answering more than PATCHBAY_CONNECTOR_MAX_RESPONSE_BYTES is a
    connector_error, read no further (memory stays bounded), with or without Content-Length."""
    from patchbay.connectors.sdk.http import HttpClientPool
    from patchbay.connectors.sdk.outbound import OutboundPolicy

    pool = HttpClientPool(OutboundPolicy.from_setting("127.0.0.1/32"), max_response_bytes=2**20)
    try:
        connector = make_connector(big, big_httpx)
        result = await run(connector, name, {"mode": path}, service, pool)
        assert result.outcome == "error", result.output
        assert result.output["kind"] == "connector_error"
        assert "larger than 1048576 bytes" in result.output["message"]
        roomy = HttpClientPool(OutboundPolicy.from_setting("127.0.0.1/32"))
        try:
            result = await run(connector, name, {"mode": path}, service, roomy)
            assert result.output == {"size": 3 * 2**20}
        finally:
            await roomy.aclose()
    finally:
        await pool.aclose()


async def test_client_pool_drops_the_least_recently_used_base_url_only():
    pool = HttpClientPool(OutboundPolicy.from_setting("127.0.0.1/32"), max_clients=2)
    try:
        a, b = pool.client("http://a.test"), pool.client("http://b.test")
        assert pool.client("http://a.test") is a  # a used again: b is the least recent
        pool.client("http://c.test")
        assert pool.client("http://a.test") is a  # kept, with its pooled connections
        assert pool.client("http://b.test") is not b  # evicted: a new client
    finally:
        await pool.aclose()
