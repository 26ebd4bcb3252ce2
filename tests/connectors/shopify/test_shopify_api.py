"""The Shopify connector through Call Connector (``POST /core/v1/connectors/shopify/versions/
1.0/call``), as end users with their own authentications, against the loopback Shopify fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from patchbay.connectors.shopify.connector import TOKEN_ENVIRONMENT_ID
from patchbay.connectors.shopify.fake import FakeShopify, create_app
from patchbay.testing.fakeserver import serve_in_thread

CALL = "/core/v1/connectors/shopify/versions/1.0/call"
TOKEN = FakeShopify.access_token
FIRST_ORDER = 5_000_000_001
FIRST_CUSTOMER = 7_000_000_001


class _Switch:
    """An ASGI app forwarding to the current test's fake: one server for the module."""

    app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[_Switch, str]]:
    switch = _Switch()
    with serve_in_thread(switch) as url:
        yield switch, url


@dataclass
class Shop:
    state: FakeShopify
    url: str

    def queries(self, resource: str, method: str = "GET") -> list[dict[str, str]]:
        return [r.query for r in self.state.requests_to(resource, method)]

    def tokens(self) -> list[str | None]:
        return [r.headers.get("x-shopify-access-token") for r in self.state.requests]


@pytest.fixture
def shop(server) -> Shop:
    switch, url = server
    state = FakeShopify()
    switch.app = create_app(state)
    return Shop(state, url)


@dataclass
class User:
    headers: dict[str, str]
    auth_id: str


async def shopify_user(api, shop: Shop, token: str = TOKEN, **user_data: Any) -> User:
    """A new end user with their own Shopify authentication pointing at the fake."""
    _, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers,
        TOKEN_ENVIRONMENT_ID,
        {"access_token": token},
        userData={"shop": f"{FakeShopify.shop}.myshopify.com", "base_url": shop.url, **user_data},
    )
    return User(headers, auth_id)


async def call(api, user: User, operation: str, input: dict[str, Any]):
    body = {"operation": operation, "input": input, "authId": user.auth_id}
    return await api.client.post(CALL, json=body, headers=user.headers)


def success(r) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"outcome", "output"}
    assert body["outcome"] == "success", body
    return body["output"]


def error(r, kind: str, status: int) -> dict[str, Any]:
    """A Shopify failure: HTTP 200, outcome error, Shopify's answer kept in the output."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "error", body
    output = body["output"]
    assert output["kind"] == kind, output
    assert output["code"] == status
    assert output["response"]["statusCode"] == status
    assert set(output["response"]) == {"statusCode", "headers", "body"}
    assert "errors" in output["response"]["body"]
    assert output["message"].startswith(f"Shopify answered {status}")
    assert TOKEN not in r.text
    return output


# -- success, and the contract: outputs match the published output schemas -------------------


async def test_every_operation_output_matches_its_schema(api, shop):
    r = await api.client.get(
        "/core/v1/connectors/shopify/versions/1.0/operations", headers=api.master
    )
    assert r.status_code == 200, r.text
    schemas = {op["name"]: op["outputSchema"] for op in r.json()["elements"]}
    assert set(schemas) == {
        "list_orders",
        "get_order",
        "get_customer",
        "search_customers",
        "raw_http_request",
    }
    user = await shopify_user(api, shop)
    email = shop.state.customer(FIRST_CUSTOMER)["email"]
    calls = [
        ("list_orders", {}),
        ("list_orders", {"limit": 2, "fields": "id,name,customer", "status": "closed"}),
        ("list_orders", {"all_pages": True, "limit": 10, "max_results": 25}),
        ("get_order", {"order_id": FIRST_ORDER}),
        ("get_order", {"order_id": FIRST_ORDER + 3, "fields": "id,cancelled_at"}),
        ("get_customer", {"customer_id": FIRST_CUSTOMER}),
        ("search_customers", {"query": f"email:{email}"}),
        ("search_customers", {"query": "nobody-matches-this"}),
        ("raw_http_request", {"method": "GET", "url": "shop.json"}),
    ]
    for operation, input in calls:
        output = success(await call(api, user, operation, input))
        schema = {k: v for k, v in schemas[operation].items() if k != "$schema"}
        jsonschema.Draft4Validator.check_schema(schema)
        jsonschema.Draft4Validator(schema).validate(output)
    assert set(shop.tokens()) == {TOKEN}


# -- list_orders -------------------------------------------------------------------------------


async def test_list_orders_pages(api, shop):
    user = await shopify_user(api, shop)
    output = success(await call(api, user, "list_orders", {"limit": 4, "fields": "id"}))
    assert output["orders"] == [{"id": FIRST_ORDER + i} for i in (29, 28, 27, 26)]
    assert output["has_more"] is True and output["previous_page_info"] is None
    # The next page by page_info: the first call's filters ride inside it.
    data = {"page_info": output["next_page_info"], "limit": 4, "fields": "id"}
    output = success(await call(api, user, "list_orders", data))
    assert output["orders"] == [{"id": FIRST_ORDER + i} for i in (25, 24, 23, 22)]
    assert output["previous_page_info"]
    # Every page in one call: follow-ups send only page_info, limit and fields.
    data = {"financial_status": "paid", "limit": 2, "fields": "id,financial_status"}
    output = success(await call(api, user, "list_orders", {**data, "all_pages": True}))
    paid = [o["id"] for o in shop.state.orders if o["financial_status"] == "paid"]
    assert sorted(o["id"] for o in output["orders"]) == sorted(paid)
    assert output["has_more"] is False and output["next_page_info"] is None
    pages = shop.queries("orders.json")[2:]
    assert len(pages) == 3  # 5 paid orders, 2 a page
    assert pages[0] == {"status": "any", **{k: str(v) for k, v in data.items()}}
    assert all(set(p) == {"page_info", "limit", "fields"} for p in pages[1:])


async def test_list_orders_errors_and_429(api, shop):
    user = await shopify_user(api, shop)
    # Shopify's 400 for a page_info it does not know.
    output = error(await call(api, user, "list_orders", {"page_info": "bogus"}), "api_error", 400)
    assert output["response"]["body"] == {"errors": {"page_info": "Invalid value."}}
    assert "page_info: Invalid value." in output["message"]
    # A short Retry-After is waited for and the call succeeds...
    shop.state.rate_limit_next(1, retry_after=0)
    assert len(success(await call(api, user, "list_orders", {"limit": 1}))["orders"]) == 1
    # ...a long one ends the call as rate_limited, Shopify's headers kept.
    shop.state.rate_limit_next(1, retry_after="60.0")
    output = error(await call(api, user, "list_orders", {}), "rate_limited", 429)
    assert output["retryAfter"] == 60.0
    assert output["response"]["headers"]["retry-after"] == "60.0"
    assert output["response"]["headers"]["x-shopify-shop-api-call-limit"] == "40/40"
    assert "Exceeded 2 calls per second" in output["message"]
    assert "API call limit 40/40" in output["message"]


# -- get_order / get_customer -------------------------------------------------------------------


async def test_get_order(api, shop):
    user = await shopify_user(api, shop)
    output = success(await call(api, user, "get_order", {"order_id": FIRST_ORDER + 1}))
    assert output == {"order": shop.state.order(FIRST_ORDER + 1)}
    output = error(await call(api, user, "get_order", {"order_id": 99}), "api_error", 404)
    assert output["response"]["body"] == {"errors": "Not Found"}
    shop.state.rate_limit_next(2, retry_after=0)
    output = success(await call(api, user, "get_order", {"order_id": FIRST_ORDER}))
    assert output["order"]["name"] == "#1001"
    assert len(shop.state.requests_to(f"orders/{FIRST_ORDER}.json")) == 3
    shop.state.rate_limit_next(1, retry_after=45)
    output = error(
        await call(api, user, "get_order", {"order_id": FIRST_ORDER}), "rate_limited", 429
    )
    assert output["retryAfter"] == 45.0


async def test_get_customer(api, shop):
    user = await shopify_user(api, shop)
    data = {"customer_id": FIRST_CUSTOMER, "fields": "id,email,orders_count"}
    output = success(await call(api, user, "get_customer", data))
    customer = shop.state.customer(FIRST_CUSTOMER)
    assert output == {"customer": {k: customer[k] for k in ("id", "email", "orders_count")}}
    output = error(await call(api, user, "get_customer", {"customer_id": 5}), "api_error", 404)
    assert output["message"] == "Shopify answered 404 Not Found"
    shop.state.rate_limit_next(3, retry_after=0)  # every attempt throttled
    output = error(
        await call(api, user, "get_customer", {"customer_id": FIRST_CUSTOMER}),
        "rate_limited",
        429,
    )
    assert output["retryAfter"] == 0.0


# -- search_customers ---------------------------------------------------------------------------


async def test_search_customers(api, shop):
    user = await shopify_user(api, shop)
    output = success(await call(api, user, "search_customers", {"query": "tag:vip", "limit": 2}))
    vip = [c["id"] for c in shop.state.customers if c["tags"] == "vip"]
    assert len(vip) == 4
    assert len(output["customers"]) == 2 and output["has_more"] is True
    data = {"query": "tag:vip", "limit": 2, "page_info": output["next_page_info"]}
    second = success(await call(api, user, "search_customers", data))
    assert sorted(c["id"] for c in output["customers"] + second["customers"]) == sorted(vip)
    assert second["has_more"] is False
    assert shop.queries("customers/search.json")[1] == {
        "page_info": data["page_info"],
        "limit": "2",
    }
    # A token without read_customers: Shopify's 403 is an auth error.
    shop.state.add_token("shpat_orders_only", scopes=["read_orders"])
    narrow = await shopify_user(api, shop, "shpat_orders_only")
    output = error(await call(api, narrow, "search_customers", {"query": "Ada"}), "auth_error", 403)
    assert "read_customers scope" in output["message"]
    # 429 on the search.
    shop.state.rate_limit_next(1, retry_after=20, resource="customers/search.json")
    output = error(await call(api, user, "search_customers", {"query": "Ada"}), "rate_limited", 429)
    assert output["retryAfter"] == 20.0


# -- raw_http_request ---------------------------------------------------------------------------


async def test_raw_http_request(api, shop):
    user = await shopify_user(api, shop, api_version="2025-01")
    body = {"json": {"customer": {"email": "grace@example.com", "first_name": "Grace"}}}
    data = {"method": "POST", "url": "customers.json", "body": body}
    output = success(await call(api, user, "raw_http_request", data))
    assert output["response"]["status_code"] == 201
    assert output["response"]["body"]["customer"]["first_name"] == "Grace"
    (sent,) = shop.state.requests_to("customers.json", "POST")
    assert sent.version == "2025-01"
    assert sent.body == body["json"]
    # The same again: Shopify's 422 with field errors.
    output = error(await call(api, user, "raw_http_request", data), "api_error", 422)
    assert output["response"]["body"] == {"errors": {"email": ["has already been taken"]}}
    assert output["message"].endswith("email: has already been taken")
    # A POST throttled by Shopify is not retried (it might not be idempotent).
    shop.state.rate_limit_next(1, retry_after=0, resource="customers.json")
    data["body"] = {"json": {"customer": {"email": "heidi@example.com"}}}
    output = error(await call(api, user, "raw_http_request", data), "rate_limited", 429)
    assert len(shop.state.requests_to("customers.json", "POST")) == 3


# -- authentications ----------------------------------------------------------------------------


async def test_each_user_their_own_token_never_shown(api, shop):
    bad = "shpat_revoked_token_9876543210"
    good, revoked = await shopify_user(api, shop), await shopify_user(api, shop, bad)
    output = error(await call(api, revoked, "list_orders", {}), "auth_error", 401)
    assert output["response"]["body"] == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }
    assert bad not in json.dumps(output)
    success(await call(api, good, "list_orders", {"limit": 1}))
    assert shop.tokens() == [bad, TOKEN]
    # The shop must be a myshopify.com shop name: the token goes nowhere else.
    _, headers = await api.new_user()
    r = await api.client.post(
        "/core/v1/authentications",
        json={
            "name": "auth",
            "serviceEnvironmentId": TOKEN_ENVIRONMENT_ID,
            "credentials": {"access_token": TOKEN},
            "userData": {"shop": "evil.example.com"},
        },
        headers=headers,
    )
    api.expect_error(r, 400, "invalid_userData")
