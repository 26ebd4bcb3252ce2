"""The Shopify connector, run through the real SDK path against the loopback Shopify fake."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx
import jsonschema
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from patchbay.connectors.sdk import RateBudget
from patchbay.connectors.sdk.context import Context
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid, run_operation
from patchbay.connectors.shopify import connector as shopify_connector
from patchbay.connectors.shopify.connector import CONNECTORS, SHOPIFY, TOKEN_ENVIRONMENT_ID
from patchbay.connectors.shopify.fake import FakeShopify, create_app
from patchbay.connectors.shopify.operations import api_base
from patchbay.testing import connectors as testing
from patchbay.testing.connectors import make_call
from patchbay.testing.fakeserver import serve_in_thread

TOKEN = FakeShopify.access_token
SHOP = FakeShopify.shop
FIRST_ORDER = 5_000_000_001
FIRST_CUSTOMER = 7_000_000_001


@pytest.fixture
def shopify(request: pytest.FixtureRequest) -> FakeShopify:
    """The fake's state; parametrize indirectly with FakeShopify's keyword arguments."""
    return FakeShopify(**getattr(request, "param", {}))


class _Switch:
    """An ASGI app forwarding to the current test's fake: one server for the module."""

    app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server():
    switch = _Switch()
    with serve_in_thread(switch) as url:
        yield switch, url


@pytest.fixture
def shopify_url(shopify: FakeShopify, server) -> str:
    switch, url = server
    switch.app = create_app(shopify)
    return url


@pytest.fixture
def call(shopify_url: str, clients: HttpClientPool):
    run = make_call(SHOPIFY, clients, user_data={"shop": SHOP, "base_url": shopify_url})

    async def call(
        name: str, data: dict[str, Any], *, token: str = TOKEN, **kwargs: Any
    ) -> CallResult:
        return await run(name, data, credentials={"access_token": token}, **kwargs)

    return call


assert_output_valid = partial(testing.assert_output_valid, SHOPIFY)


def assert_error(result: CallResult, kind: str, status: int) -> dict[str, Any]:
    assert result.outcome == "error", result.output
    output = result.output
    assert output["kind"] == kind
    assert output["code"] == status
    assert output["response"]["statusCode"] == status
    assert "errors" in output["response"]["body"]
    assert output["message"].startswith(f"Shopify answered {status}")
    assert TOKEN not in json.dumps(output)
    return output


def queries(shopify: FakeShopify, resource: str = "orders.json") -> list[dict[str, str]]:
    return [r.query for r in shopify.requests_to(resource)]


# -- the declaration ----------------------------------------------------------------------


def test_declaration() -> None:
    assert CONNECTORS == [SHOPIFY]
    assert shopify_connector.CONNECTORS[0] is SHOPIFY
    assert SHOPIFY.to_api() == {
        "name": "shopify",
        "title": "Shopify",
        "description": SHOPIFY.description,
        "version": "1.0",
        "service": {"id": "8b2d4f61-9a3c-4e7d-b5f0-2c1d0e9f8a73", "name": "shopify", "version": 1},
    }
    assert SHOPIFY.base_url is None
    assert SHOPIFY.rate_budget == RateBudget(2, 40)
    (env,) = (e.to_api() for e in SHOPIFY.environments)
    assert (env["id"], env["authenticationType"], env["title"]) == (
        TOKEN_ENVIRONMENT_ID,
        "token",
        "Shopify Admin API access token",
    )
    assert env["credentialsSchema"]["required"] == ["access_token"]
    user_data = env["userDataSchema"]
    assert user_data["required"] == ["shop"]
    assert user_data["properties"]["api_version"]["default"] == "2024-10"
    assert user_data["properties"]["base_url"]["format"] == "uri"
    for schema in (env["credentialsSchema"], user_data):
        jsonschema.Draft4Validator.check_schema(schema)
    shop = jsonschema.Draft4Validator(user_data)
    for good in ("acme", "acme.myshopify.com", "https://acme-2.myshopify.com/"):
        assert shop.is_valid({"shop": good}), good
    for bad in ("evil.com", "acme.myshopify.com.evil.com", "acme/x", "", "a b"):
        assert not shop.is_valid({"shop": bad}), bad
    assert [op.name for op in SHOPIFY.operations] == [
        "list_orders",
        "get_order",
        "get_customer",
        "search_customers",
        "raw_http_request",
    ]
    assert [op.title for op in SHOPIFY.operations] == [
        "List Orders",
        "Get Order",
        "Get Customer",
        "Search Customers",
        "Raw HTTP Request",
    ]
    for operation in SHOPIFY.operations:
        jsonschema.Draft4Validator.check_schema(operation.input_schema)
        jsonschema.Draft4Validator.check_schema(operation.output_schema)
        assert operation.output_schema["type"] == "object"


def test_list_orders_schema() -> None:
    schema = SHOPIFY.operation("list_orders").input_schema
    assert schema["additionalProperties"] is False
    assert "required" not in schema
    assert schema["properties"]["status"]["enum"] == ["any", "open", "closed", "cancelled"]
    assert schema["properties"]["status"]["default"] == "any"
    assert schema["properties"]["limit"]["maximum"] == 250
    assert schema["properties"]["created_at_min"]["format"] == "date-time"
    assert schema["advanced"] == [
        "fulfillment_status",
        "updated_at_max",
        "since_id",
        "ids",
        "fields",
        "page_info",
    ]
    output = SHOPIFY.operation("list_orders").output_schema
    assert output["required"] == ["next_page_info", "previous_page_info", "has_more", "orders"]
    order = output["properties"]["orders"]["items"]
    assert order["properties"]["closed_at"]["type"] == ["string", "null"]
    assert order["properties"]["customer"]["type"] == ["object", "null"]
    assert "required" not in order  # `fields` may leave any of them out


def _context(user_data: dict[str, Any], clients: HttpClientPool) -> Context:
    return Context(
        connector=SHOPIFY,
        operation=SHOPIFY.operation("get_order"),
        credentials={"access_token": TOKEN},
        user_data=user_data,
        clients=clients,
        base_url=user_data.get("base_url"),
    )


@pytest.mark.parametrize(
    ("user_data", "expected"),
    [
        ({"shop": "acme"}, "https://acme.myshopify.com/admin/api/2024-10"),
        ({"shop": "Acme.myshopify.com"}, "https://acme.myshopify.com/admin/api/2024-10"),
        (
            {"shop": "https://acme.myshopify.com/", "api_version": "2025-01"},
            "https://acme.myshopify.com/admin/api/2025-01",
        ),
        (
            {"shop": "acme", "base_url": "http://127.0.0.1:9000/"},
            "http://127.0.0.1:9000/admin/api/2024-10",
        ),
    ],
)
async def test_api_base(clients, user_data, expected) -> None:
    assert api_base(_context(user_data, clients)) == expected


@pytest.mark.parametrize(
    ("user_data", "words"),
    [
        ({"shop": "evil.com/x?"}, "userData.shop"),
        ({}, "userData.shop"),
        ({"shop": "acme", "api_version": "latest"}, "userData.api_version"),
    ],
)
async def test_bad_user_data(call, user_data, words) -> None:
    result = await call("get_order", {"order_id": FIRST_ORDER}, user_data=user_data)
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert words in result.output["message"]
    assert result.output["response"] is None


# -- list_orders ----------------------------------------------------------------------------


async def test_list_orders_one_page(call, shopify: FakeShopify) -> None:
    result = await call("list_orders", {"limit": 3})
    output = assert_output_valid("list_orders", result)
    assert [o["id"] for o in output["orders"]] == [
        FIRST_ORDER + 29,
        FIRST_ORDER + 28,
        FIRST_ORDER + 27,
    ]
    assert output["orders"][0]["customer"]["email"]
    assert output["has_more"] is True
    assert output["next_page_info"] and output["previous_page_info"] is None
    (sent,) = shopify.requests_to("orders.json")
    assert sent.query == {"status": "any", "limit": "3"}
    assert sent.headers["x-shopify-access-token"] == TOKEN
    assert sent.version == "2024-10"

    # The next page: only page_info, limit and fields go to Shopify, never the filters.
    data = {"limit": 3, "fields": "id,name", "financial_status": "paid", "page_info": ""}
    data["page_info"] = output["next_page_info"]
    output = assert_output_valid("list_orders", await call("list_orders", data))
    assert output["orders"] == [
        {"id": FIRST_ORDER + 26, "name": "#1027"},
        {"id": FIRST_ORDER + 25, "name": "#1026"},
        {"id": FIRST_ORDER + 24, "name": "#1025"},
    ]
    assert output["previous_page_info"] and output["next_page_info"]
    assert queries(shopify)[-1] == {
        "page_info": data["page_info"],
        "limit": "3",
        "fields": "id,name",
    }


async def test_list_orders_all_pages(call, shopify: FakeShopify) -> None:
    data = {"limit": 7, "fields": "id", "financial_status": "any", "all_pages": True}
    output = assert_output_valid("list_orders", await call("list_orders", data))
    assert [o["id"] for o in output["orders"]] == [FIRST_ORDER + i for i in range(29, -1, -1)]
    assert output == {
        "orders": output["orders"],
        "next_page_info": None,
        "previous_page_info": None,
        "has_more": False,
    }
    sent = queries(shopify)
    assert len(sent) == 5  # 7 + 7 + 7 + 7 + 2
    assert sent[0] == {"status": "any", "financial_status": "any", "limit": "7", "fields": "id"}
    for follow_up in sent[1:]:
        assert set(follow_up) == {"page_info", "limit", "fields"}
        assert (follow_up["limit"], follow_up["fields"]) == ("7", "id")


async def test_list_orders_all_pages_default_limit_is_250(call, shopify: FakeShopify) -> None:
    output = assert_output_valid("list_orders", await call("list_orders", {"all_pages": True}))
    assert len(output["orders"]) == 30
    assert queries(shopify) == [{"status": "any", "limit": "250"}]


async def test_list_orders_max_results(call, shopify: FakeShopify) -> None:
    # Cut in the middle of a page: no exact resume point.
    data = {"limit": 7, "fields": "id", "all_pages": True, "max_results": 10}
    output = assert_output_valid("list_orders", await call("list_orders", data))
    assert len(output["orders"]) == 10
    assert output["has_more"] is True and output["next_page_info"] is None
    assert len(queries(shopify)) == 2
    # Cut at a page's end: next_page_info resumes exactly there.
    data = {"limit": 5, "fields": "id", "all_pages": True, "max_results": 10}
    output = assert_output_valid("list_orders", await call("list_orders", data))
    assert [o["id"] for o in output["orders"]] == [FIRST_ORDER + i for i in range(29, 19, -1)]
    assert output["has_more"] is True and output["next_page_info"]
    rest = {"page_info": output["next_page_info"], "fields": "id", "all_pages": True, "limit": 5}
    output = assert_output_valid("list_orders", await call("list_orders", rest))
    assert [o["id"] for o in output["orders"]] == [FIRST_ORDER + i for i in range(19, -1, -1)]
    assert output["has_more"] is False


async def test_list_orders_filters(call, shopify: FakeShopify) -> None:
    data = {
        "status": "open",
        "financial_status": "paid",
        "created_at_min": "2024-01-05T00:00:00-05:00",
        "created_at_max": "2024-01-25T00:00:00-05:00",
    }
    output = assert_output_valid("list_orders", await call("list_orders", data))
    expected = [
        o["id"]
        for o in sorted(shopify.orders, key=lambda o: -o["id"])
        if o["financial_status"] == "paid"
        and not o["closed_at"]
        and not o["cancelled_at"]
        and "2024-01-05" <= o["created_at"][:10] < "2024-01-25"
    ]
    assert expected and [o["id"] for o in output["orders"]] == expected
    assert all(o["financial_status"] == "paid" for o in output["orders"])
    assert queries(shopify)[-1] == {**data, "status": "open"}

    data = {"since_id": FIRST_ORDER + 25, "ids": [FIRST_ORDER + 27, FIRST_ORDER + 3]}
    output = assert_output_valid("list_orders", await call("list_orders", data))
    assert [o["id"] for o in output["orders"]] == [FIRST_ORDER + 27]
    assert queries(shopify)[-1]["ids"] == f"{FIRST_ORDER + 27},{FIRST_ORDER + 3}"

    output = assert_output_valid("list_orders", await call("list_orders", {"status": "cancelled"}))
    assert output["orders"] and all(o["cancelled_at"] for o in output["orders"])


async def test_list_orders_input_validation(call) -> None:
    with pytest.raises(InputInvalid) as caught:
        await call("list_orders", {"limit": 251})
    assert caught.value.errors == ["#/limit: 251 is not less or equal to 250"]
    with pytest.raises(InputInvalid, match="created_at_min"):
        await call("list_orders", {"created_at_min": "yesterday"})
    with pytest.raises(InputInvalid, match="status"):
        await call("list_orders", {"status": "pending"})


async def test_list_orders_bad_page_info(call) -> None:
    result = await call("list_orders", {"page_info": "not-a-cursor"})
    output = assert_error(result, "api_error", 400)
    assert output["response"]["body"] == {"errors": {"page_info": "Invalid value."}}
    assert output["message"] == "Shopify answered 400 Bad Request: page_info: Invalid value."


async def test_list_orders_rate_limited_on_a_later_page(call, shopify: FakeShopify) -> None:
    # Page 1 passes; page 2 is throttled for longer than the SDK waits.
    output = assert_output_valid("list_orders", await call("list_orders", {"limit": 10}))
    shopify.rate_limit_next(1, retry_after=30, resource="orders.json")
    shopify.requests.clear()
    result = await call(
        "list_orders", {"limit": 10, "page_info": output["next_page_info"], "all_pages": True}
    )
    output = assert_error(result, "rate_limited", 429)
    assert output["retryAfter"] == 30.0
    assert "(API call limit 40/40)" in output["message"]
    assert output["response"]["headers"]["x-shopify-shop-api-call-limit"] == "40/40"


async def test_list_orders_retries_a_short_429(call, shopify: FakeShopify) -> None:
    shopify.rate_limit_next(2, retry_after=0)
    output = assert_output_valid("list_orders", await call("list_orders", {"limit": 1}))
    assert len(output["orders"]) == 1
    assert len(queries(shopify)) == 3  # two 429s, then the answer


async def test_next_link_off_the_shop_is_not_followed(clients) -> None:
    seen: list[str] = []

    async def orders(request: Request) -> JSONResponse:
        seen.append(str(request.url))
        link = '<http://127.0.0.2:1/admin/api/2024-10/orders.json?page_info=x>; rel="next"'
        return JSONResponse({"orders": [{"id": 1}]}, headers={"Link": link})

    app = Starlette(routes=[Route("/admin/api/2024-10/orders.json", orders)])
    with serve_in_thread(app) as url:
        result = await run_operation(
            SHOPIFY,
            SHOPIFY.operation("list_orders"),
            {"all_pages": True},
            clients=clients,
            credentials={"access_token": TOKEN},
            user_data={"shop": SHOP, "base_url": url},
        )
    assert result.outcome == "error"
    assert result.output["kind"] == "api_error"
    assert "points away from the shop" in result.output["message"]
    assert len(seen) == 1


async def test_answer_without_the_resource(clients) -> None:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse("<html>Shop is closed</html>")

    app = Starlette(routes=[Route("/admin/api/2024-10/orders/1.json", page)])
    with serve_in_thread(app) as url:
        result = await run_operation(
            SHOPIFY,
            SHOPIFY.operation("get_order"),
            {"order_id": 1},
            clients=clients,
            credentials={"access_token": TOKEN},
            user_data={"shop": SHOP, "base_url": url},
        )
    assert result.outcome == "error"
    assert result.output["kind"] == "api_error"
    assert result.output["message"] == "Shopify answered without 'order'"
    assert result.output["response"]["statusCode"] == 200
    assert result.output["response"]["body"] == "<html>Shop is closed</html>"


# -- get_order / get_customer ------------------------------------------------------------------


async def test_get_order(call, shopify: FakeShopify) -> None:
    output = assert_output_valid("get_order", await call("get_order", {"order_id": FIRST_ORDER}))
    assert output == {"order": shopify.order(FIRST_ORDER)}
    result = await call("get_order", {"order_id": FIRST_ORDER, "fields": "id,total_price"})
    assert assert_output_valid("get_order", result) == {
        "order": {"id": FIRST_ORDER, "total_price": "10.00"}
    }
    assert shopify.requests_to(f"orders/{FIRST_ORDER}.json")[-1].query == {
        "fields": "id,total_price"
    }


async def test_get_order_not_found(call) -> None:
    output = assert_error(await call("get_order", {"order_id": 42}), "api_error", 404)
    assert output["response"]["body"] == {"errors": "Not Found"}
    assert output["message"] == "Shopify answered 404 Not Found"


async def test_get_customer(call, shopify: FakeShopify) -> None:
    result = await call("get_customer", {"customer_id": FIRST_CUSTOMER})
    output = assert_output_valid("get_customer", result)
    assert output == {"customer": shopify.customer(FIRST_CUSTOMER)}
    assert output["customer"]["addresses"][0]["default"] is True
    output = assert_error(await call("get_customer", {"customer_id": 1}), "api_error", 404)
    assert output["response"]["body"] == {"errors": "Not Found"}


async def test_get_customer_rate_limited(call, shopify: FakeShopify) -> None:
    shopify.rate_limit_next(3, retry_after=0)  # more than the SDK's 3 attempts allow
    result = await call("get_customer", {"customer_id": FIRST_CUSTOMER})
    output = assert_error(result, "rate_limited", 429)
    assert output["retryAfter"] == 0.0
    assert "Exceeded 2 calls per second" in output["message"]
    assert len(shopify.requests_to(f"customers/{FIRST_CUSTOMER}.json")) == 3


# -- search_customers ------------------------------------------------------------------------


async def test_search_customers(call, shopify: FakeShopify) -> None:
    email = shopify.customer(FIRST_CUSTOMER + 1)["email"]
    result = await call("search_customers", {"query": f"email:{email}"})
    output = assert_output_valid("search_customers", result)
    assert [c["id"] for c in output["customers"]] == [FIRST_CUSTOMER + 1]
    assert output["has_more"] is False and output["next_page_info"] is None
    assert queries(shopify, "customers/search.json") == [{"query": f"email:{email}"}]

    result = await call("search_customers", {"query": "tag:vip", "fields": "id,tags"})
    output = assert_output_valid("search_customers", result)
    assert output["customers"] and all(c["tags"] == "vip" for c in output["customers"])
    assert all(set(c) == {"id", "tags"} for c in output["customers"])


async def test_search_customers_pages(call, shopify: FakeShopify) -> None:
    data = {"query": "country:canada", "order": "id ASC", "limit": 5, "all_pages": True}
    output = assert_output_valid("search_customers", await call("search_customers", data))
    assert [c["id"] for c in output["customers"]] == [FIRST_CUSTOMER + i for i in range(12)]
    sent = queries(shopify, "customers/search.json")
    assert len(sent) == 3
    assert sent[0] == {"query": "country:canada", "order": "id ASC", "limit": "5"}
    assert all(set(q) == {"page_info", "limit"} for q in sent[1:])


async def test_search_customers_needs_the_scope(call, shopify: FakeShopify) -> None:
    shopify.add_token("shpat_orders_only", scopes=["read_orders"])
    result = await call("search_customers", {"query": "Ada"}, token="shpat_orders_only")
    output = assert_error(result, "auth_error", 403)
    assert "requires merchant approval for read_customers scope" in output["message"]


# -- errors ---------------------------------------------------------------------------------


async def test_invalid_token(call) -> None:
    bad = "shpat_not_a_valid_token_0123456789"
    result = await call("list_orders", {}, token=bad)
    output = assert_error(result, "auth_error", 401)
    assert output["message"] == (
        "Shopify answered 401 Unauthorized: [API] Invalid API key or access token "
        "(unrecognized login or wrong password)"
    )
    assert bad not in json.dumps(output)


async def test_server_errors(call, shopify: FakeShopify) -> None:
    shopify.fail_next(503, "Service Unavailable", n=1)  # retried, then fine
    assert_output_valid("get_order", await call("get_order", {"order_id": FIRST_ORDER}))
    shopify.fail_next(500, "Internal Server Error")  # not retried
    output = assert_error(await call("get_order", {"order_id": FIRST_ORDER}), "api_error", 500)
    assert output["response"]["body"] == {"errors": "Internal Server Error"}
    shopify.fail_next(423, "This shop is unavailable")
    output = assert_error(await call("get_order", {"order_id": FIRST_ORDER}), "api_error", 423)
    assert output["message"] == "Shopify answered 423 Locked: This shop is unavailable"


# -- raw_http_request -------------------------------------------------------------------------


async def test_raw_http_request(call, shopify: FakeShopify) -> None:
    result = await call("raw_http_request", {"method": "GET", "url": "shop.json"})
    output = assert_output_valid("raw_http_request", result)
    assert output["response"]["status_code"] == 200
    assert output["response"]["body"]["shop"]["myshopify_domain"] == f"{SHOP}.myshopify.com"
    assert output["response"]["headers"]["x-shopify-shop-api-call-limit"] == "1/40"
    assert shopify.requests_to("shop.json")[0].headers["x-shopify-access-token"] == TOKEN

    body = {"json": {"customer": {"email": "new@example.com", "first_name": "New"}}}
    result = await call(
        "raw_http_request", {"method": "POST", "url": "/customers.json", "body": body}
    )
    output = assert_output_valid("raw_http_request", result)
    assert output["response"]["status_code"] == 201
    assert output["response"]["body"]["customer"]["email"] == "new@example.com"


async def test_raw_http_request_errors(call, shopify: FakeShopify, shopify_url: str) -> None:
    email = shopify.customer(FIRST_CUSTOMER)["email"]
    body = {"json": {"customer": {"email": email}}}
    result = await call(
        "raw_http_request", {"method": "POST", "url": "customers.json", "body": body}
    )
    output = assert_error(result, "api_error", 422)
    assert output["response"]["body"] == {"errors": {"email": ["has already been taken"]}}
    assert output["message"] == (
        "Shopify answered 422 Unprocessable Entity: email: has already been taken"
    )
    # An absolute URL must stay on the shop's host.
    result = await call("raw_http_request", {"method": "GET", "url": "https://example.com/x"})
    assert result.outcome == "error" and result.output["kind"] == "connector_error"
    url = f"{shopify_url}/admin/api/2024-10/shop.json"
    result = await call("raw_http_request", {"method": "GET", "url": url})
    assert assert_output_valid("raw_http_request", result)["response"]["status_code"] == 200
    # Without base_url, the shop's own host is the only one.
    result = await call(
        "raw_http_request",
        {"method": "GET", "url": "https://other.myshopify.com/admin/api/2024-10/shop.json"},
        user_data={"shop": "acme"},
    )
    assert result.outcome == "error"
    assert "acme.myshopify.com" in result.output["message"]
    # A 429 is retried like any other request.
    shopify.rate_limit_next(1, retry_after=0, resource="shop.json")
    result = await call("raw_http_request", {"method": "GET", "url": "shop.json"})
    assert assert_output_valid("raw_http_request", result)["response"]["status_code"] == 200


# -- the fake's wire format -------------------------------------------------------------------


async def test_fake_wire_format(shopify: FakeShopify, shopify_url: str) -> None:
    headers = {"X-Shopify-Access-Token": TOKEN}
    base = f"{shopify_url}/admin/api/2024-10/"
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        response = await http.get("nothing.json")
        assert (response.status_code, response.json()) == (404, {"errors": "Not Found"})
        response = await http.get(f"{shopify_url}/admin/api/latest/orders.json")
        assert response.status_code == 404
        response = await http.get("orders.json", headers={"X-Shopify-Access-Token": "nope"})
        assert response.status_code == 401
        # Shopify's default status is open; Link pages carry opaque page_info.
        response = await http.get("orders.json", params={"limit": 4})
        assert response.headers["x-shopify-shop-api-call-limit"] == "1/40"
        assert response.headers["x-shopify-api-version"] == "2024-10"
        assert all(not o["closed_at"] and not o["cancelled_at"] for o in response.json()["orders"])
        following = response.links["next"]["url"]
        assert following.startswith(base + "orders.json?limit=4&page_info=")
        response = await http.get(following + "&status=any")
        assert response.status_code == 400
        assert response.json()["errors"]["status"].startswith(
            "status cannot be passed when page_info is present"
        )
        response = await http.get(following)
        assert set(response.links) == {"previous", "next"}
        # The leaky bucket: full means 429 with Retry-After 2.0 until it leaks.
        shopify.fill_bucket()
        response = await http.get("shop.json")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2.0"
        assert response.headers["x-shopify-shop-api-call-limit"] == "40/40"
        assert response.json() == {
            "errors": "Exceeded 2 calls per second for api client. Reduce request rates to "
            "resume uninterrupted service."
        }


@pytest.mark.parametrize("shopify", [{"bucket_size": 3, "leak_rate": 0.01}], indirect=True)
async def test_fake_bucket_fills(shopify: FakeShopify, shopify_url: str) -> None:
    headers = {"X-Shopify-Access-Token": TOKEN}
    async with httpx.AsyncClient(base_url=shopify_url, headers=headers) as http:
        limits = [
            (r.status_code, r.headers["x-shopify-shop-api-call-limit"])
            for r in [await http.get("/admin/api/2024-10/shop.json") for _ in range(4)]
        ]
    assert limits == [(200, "1/3"), (200, "2/3"), (200, "3/3"), (429, "3/3")]
