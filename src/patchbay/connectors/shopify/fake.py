"""A loopback fake of the Shopify Admin REST API, for tests, demos and benchmarks.

It reproduces the wire format the connector relies on (see ``services.md``): resources live
at ``/admin/api/{version}/...`` (so an authentication's ``userData.base_url`` is the fake's
origin, standing in for ``https://{shop}.myshopify.com``), the token comes in
``X-Shopify-Access-Token``, errors are ``{"errors": "Not Found"}`` or
``{"errors": {"field": ["msg"]}}``, lists page with ``Link: <...page_info=...>; rel="next"``
(a follow-up may only send ``page_info``, ``limit`` and ``fields``), and every answer
carries ``X-Shopify-Shop-Api-Call-Limit: n/40`` from a leaky bucket (40 requests, 2 leak
per second) that answers 429 with ``Retry-After: 2.0`` when full.

Webhooks: ``GET/POST webhooks.json`` and ``GET/DELETE webhooks/{id}.json`` keep a registry
(422 ``{"errors": {"address": ["for this topic has already been taken"]}}`` for a second
webhook with the same address and topic), and :meth:`FakeShopify.deliver` plays Shopify
sending one: it POSTs a topic's payload to every address registered for it, signed with
``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 under :attr:`FakeShopify.client_secret`) and
carrying ``X-Shopify-Topic``, ``-Shop-Domain``, ``-Webhook-Id``, ``-API-Version``,
``-Triggered-At`` and ``-Event-Id``.

    state = FakeShopify()
    with serve_in_thread(create_app(state)) as url:
        ...  # userData {"shop": state.shop, "base_url": url}, token state.access_token

Standalone: ``patchbay fake shopify --port 9000``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

JSONDict = dict[str, Any]

DEFAULT_LIMIT = 50
MAX_LIMIT = 250
BUCKET_SIZE = 40
LEAK_RATE = 2.0  # requests per second
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume "
    "uninterrupted service."
)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
PAGE_INFO_ONLY = ("page_info", "limit", "fields")
PAGINATION_DOCS = "https://shopify.dev/api/usage/pagination-rest"

VERSION_RE = re.compile(r"^(?:\d{4}-\d{2}|unstable)$")
ALL_SCOPES = frozenset({"read_orders", "read_customers", "write_customers"})

ORDER_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/edited",
    "orders/delete",
)
CUSTOMER_TOPICS = (
    "customers/create",
    "customers/update",
    "customers/delete",
    "customers/enable",
    "customers/disable",
)
WEBHOOK_TOPICS = frozenset(
    {*ORDER_TOPICS, *CUSTOMER_TOPICS, "products/create", "products/update", "app/uninstalled"}
)
WEBHOOK_FORMATS = ("json", "xml")
ADDRESS_TAKEN = "for this topic has already been taken"

ORDER_STATUSES = ("open", "closed", "cancelled", "any")
FINANCIAL_STATUSES = (
    "authorized",
    "pending",
    "paid",
    "partially_paid",
    "refunded",
    "voided",
    "partially_refunded",
    "any",
    "unpaid",
)
FULFILLMENT_STATUSES = ("shipped", "partial", "unshipped", "any", "unfulfilled")

SHOP_TZ = timezone(timedelta(hours=-5))
EPOCH = datetime(2024, 1, 1, 9, 0, tzinfo=SHOP_TZ)


class ShopifyError(Exception):
    """An error answer: ``{"errors": errors}`` at ``status``."""

    def __init__(self, status: int, errors: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(errors))
        self.status = status
        self.errors = errors
        self.headers = headers or {}


@dataclass
class ReceivedRequest:
    """One request the fake received (for tests to inspect)."""

    method: str
    path: str  # the full path, e.g. /admin/api/2024-10/orders.json
    version: str | None
    resource: str  # the part after /admin/api/{version}/, e.g. "orders.json"
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class Delivery:
    """One webhook the fake sent (see :meth:`FakeShopify.deliver`) and how it was answered:
    ``status`` is None when the address could not be reached."""

    webhook: JSONDict
    topic: str
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    status: int | None
    response: bytes = b""


def webhook_signature(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body under the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class _Forced:
    """A queued forced answer (429 or an injected error) for the next ``remaining`` calls."""

    remaining: int
    status: int
    body: JSONDict
    headers: dict[str, str]
    resource: str | None


@dataclass
class _Bucket:
    level: float = 0.0
    updated: float = field(default_factory=time.monotonic)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _address(first: str, last: str, city: str, *, customer_id: int | None = None) -> JSONDict:
    address: JSONDict = {
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "company": None,
        "address1": "1 Patch Street",
        "address2": None,
        "city": city,
        "province": "Ontario",
        "province_code": "ON",
        "country": "Canada",
        "country_code": "CA",
        "zip": "K1A 0B1",
        "phone": None,
    }
    if customer_id is not None:
        address.update(
            {
                "id": customer_id + 1_000,
                "customer_id": customer_id,
                "country_name": "Canada",
                "default": True,
            }
        )
    return address


_FIRST = ["Ada", "Bob", "Carol", "Dan", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"]
_LAST = ["Lovelace", "Builder", "Jones", "Brown", "Smith", "Miller", "Hopper", "Klum"]
_CITIES = ["Ottawa", "Toronto", "Montreal", "Vancouver"]


def default_customers(n: int = 12) -> list[JSONDict]:
    customers = []
    for i in range(n):
        customer_id = 7_000_000_001 + i
        first, last = _FIRST[i % len(_FIRST)], _LAST[i % len(_LAST)]
        created = EPOCH - timedelta(days=100 - i)
        address = _address(first, last, _CITIES[i % len(_CITIES)], customer_id=customer_id)
        customers.append(
            {
                "id": customer_id,
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "created_at": _iso(created),
                "updated_at": _iso(created + timedelta(days=1)),
                "first_name": first,
                "last_name": last,
                "orders_count": 0,
                "state": "enabled" if i % 4 else "disabled",
                "total_spent": "0.00",
                "last_order_id": None,
                "note": None,
                "verified_email": True,
                "multipass_identifier": None,
                "tax_exempt": False,
                "tags": "vip" if i % 3 == 0 else "",
                "last_order_name": None,
                "currency": "CAD",
                "phone": f"+1613555{i:04d}",
                "addresses": [address],
                "tax_exemptions": [],
                "email_marketing_consent": {
                    "state": "subscribed" if i % 2 else "not_subscribed",
                    "opt_in_level": "single_opt_in",
                    "consent_updated_at": None,
                },
                "sms_marketing_consent": None,
                "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
                "default_address": address,
            }
        )
    return customers


_FINANCIAL = ["paid", "pending", "refunded", "partially_paid", "authorized", "voided"]
_FULFILLMENT = [None, "fulfilled", "partial"]


def _embedded_customer(customer: JSONDict) -> JSONDict:
    keys = (
        "id",
        "email",
        "created_at",
        "updated_at",
        "first_name",
        "last_name",
        "state",
        "note",
        "verified_email",
        "multipass_identifier",
        "tax_exempt",
        "phone",
        "email_marketing_consent",
        "sms_marketing_consent",
        "tags",
        "currency",
        "tax_exemptions",
        "admin_graphql_api_id",
        "default_address",
    )
    return {k: customer.get(k) for k in keys}


def default_orders(customers: list[JSONDict], n: int = 30) -> list[JSONDict]:
    orders = []
    for i in range(n):
        order_id = 5_000_000_001 + i
        customer = customers[i % len(customers)] if customers else None
        created = EPOCH + timedelta(days=i)
        closed = created + timedelta(days=3) if i % 5 == 1 else None
        cancelled = created + timedelta(hours=6) if i % 7 == 3 else None
        quantity = 1 + i % 3
        price = 10 + i
        total = price * quantity
        line_items = [
            {
                "id": 9_000_000_001 + i,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{9_000_000_001 + i}",
                "variant_id": 8_000_000_001 + i % 4,
                "product_id": 6_000_000_001 + i % 4,
                "title": f"Patch cable {i % 4 + 1}",
                "variant_title": "1 m",
                "name": f"Patch cable {i % 4 + 1} - 1 m",
                "sku": f"PC-{i % 4 + 1}",
                "vendor": "Patchbay",
                "quantity": quantity,
                "price": f"{price:.2f}",
                "total_discount": "0.00",
                "fulfillment_status": "fulfilled" if _FULFILLMENT[i % 3] else None,
                "fulfillable_quantity": 0 if _FULFILLMENT[i % 3] else quantity,
                "requires_shipping": True,
                "taxable": True,
                "gift_card": False,
                "grams": 120,
                "properties": [],
                "tax_lines": [],
            }
        ]
        shipping = (
            _address(customer["first_name"], customer["last_name"], "Ottawa") if customer else None
        )
        orders.append(
            {
                "id": order_id,
                "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
                "name": f"#{1001 + i}",
                "number": 1 + i,
                "order_number": 1001 + i,
                "email": customer["email"] if customer else "",
                "contact_email": customer["email"] if customer else None,
                "phone": None,
                "created_at": _iso(created),
                "updated_at": _iso(created + timedelta(hours=2 + i)),
                "processed_at": _iso(created),
                "closed_at": _iso(closed) if closed else None,
                "cancelled_at": _iso(cancelled) if cancelled else None,
                "cancel_reason": "customer" if cancelled else None,
                "financial_status": _FINANCIAL[i % len(_FINANCIAL)],
                "fulfillment_status": _FULFILLMENT[i % 3],
                "confirmed": True,
                "test": False,
                "currency": "CAD",
                "presentment_currency": "CAD",
                "subtotal_price": f"{total:.2f}",
                "total_line_items_price": f"{total:.2f}",
                "total_discounts": "0.00",
                "total_tax": "0.00",
                "total_price": f"{total:.2f}",
                "taxes_included": False,
                "total_weight": 120 * quantity,
                "tags": "wholesale" if i % 4 == 0 else "",
                "note": None,
                "note_attributes": [],
                "source_name": "web",
                "gateway": "manual",
                "payment_gateway_names": ["manual"],
                "token": f"tok{order_id:x}",
                "order_status_url": f"https://shop.example/orders/tok{order_id:x}",
                "discount_codes": [],
                "tax_lines": [],
                "shipping_lines": [],
                "customer": _embedded_customer(customer) if customer else None,
                "billing_address": shipping,
                "shipping_address": shipping,
                "line_items": line_items,
                "fulfillments": [],
                "refunds": [],
            }
        )
        if customer:
            customer["orders_count"] += 1
            customer["total_spent"] = f"{float(customer['total_spent']) + total:.2f}"
            customer["last_order_id"] = order_id
            customer["last_order_name"] = f"#{1001 + i}"
    return orders


def _order_status(order: JSONDict) -> set[str]:
    statuses = {"any"}
    if order["cancelled_at"]:
        statuses.add("cancelled")
    if order["closed_at"]:
        statuses.add("closed")
    if not order["closed_at"] and not order["cancelled_at"]:
        statuses.add("open")
    return statuses


def _financial_matches(order: JSONDict, wanted: str) -> bool:
    if wanted == "any":
        return True
    if wanted == "unpaid":
        return order["financial_status"] in ("authorized", "pending")
    return order["financial_status"] == wanted


def _fulfillment_matches(order: JSONDict, wanted: str) -> bool:
    status = order["fulfillment_status"]
    return {
        "any": True,
        "shipped": status == "fulfilled",
        "partial": status == "partial",
        "unshipped": status is None,
        "unfulfilled": status in (None, "partial"),
    }[wanted]


def _parse_time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ShopifyError(400, {name: [f"{value} is not a valid date"]}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _encode_page_info(state: JSONDict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def _decode_page_info(token: str) -> JSONDict:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise ShopifyError(400, {"page_info": "Invalid value."}) from None
    if not isinstance(state, dict) or not isinstance(state.get("offset"), int):
        raise ShopifyError(400, {"page_info": "Invalid value."})
    return state


def _project(item: JSONDict, fields: str | None) -> JSONDict:
    if not fields:
        return item
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    return {k: item[k] for k in wanted if k in item}


class FakeShopify:
    """The fake's whole state, plus knobs for tests.

    ``access_token`` is valid for every scope; :meth:`add_token` makes narrower ones.
    Knobs: :meth:`rate_limit_next` (forced 429s), :meth:`fail_next` (injected errors),
    :meth:`fill_bucket` (a full leaky bucket: the next call is throttled), ``bucket_size``
    and ``leak_rate``, ``webhook_topics`` (the topics a webhook may be created for; others
    are answered 422). Inspect :attr:`requests` / :meth:`requests_to`, :attr:`webhooks`
    and :attr:`deliveries`; :meth:`deliver` sends a signed webhook.
    """

    access_token = "shpat_fake_admin_api_token_0123456789"
    client_secret = "shpss_fake_app_client_secret_0123456789"  # signs webhooks
    shop = "patchbay-demo"

    def __init__(
        self,
        *,
        orders: Iterable[JSONDict] | None = None,
        customers: Iterable[JSONDict] | None = None,
        n_orders: int = 30,
        n_customers: int = 12,
        bucket_size: int = BUCKET_SIZE,
        leak_rate: float = LEAK_RATE,
        max_log: int = 1000,
    ) -> None:
        self.customers: list[JSONDict] = (
            list(customers) if customers is not None else default_customers(n_customers)
        )
        self.orders: list[JSONDict] = (
            list(orders) if orders is not None else default_orders(self.customers, n_orders)
        )
        self.tokens: dict[str, frozenset[str]] = {self.access_token: ALL_SCOPES}
        self.bucket_size = bucket_size
        self.leak_rate = leak_rate
        self.requests: deque[ReceivedRequest] = deque(maxlen=max_log)
        self._buckets: dict[str, _Bucket] = {}
        self._forced: deque[_Forced] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(7_100_000_001)
        self.webhooks: list[JSONDict] = []
        self.deliveries: list[Delivery] = []
        self._webhook_ids = itertools.count(1_100_000_001)
        # The topics the app may subscribe to (Shopify refuses those its scopes do not cover).
        self.webhook_topics: set[str] = set(WEBHOOK_TOPICS)

    # -- knobs ------------------------------------------------------------------------
    def add_token(self, token: str, scopes: Iterable[str] = ALL_SCOPES) -> None:
        self.tokens[token] = frozenset(scopes)

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def rate_limit_next(
        self, n: int = 1, retry_after: str | float = "2.0", *, resource: str | None = None
    ) -> None:
        """Answer the next ``n`` calls (to ``resource``, e.g. "orders.json", or any) with
        Shopify's 429: ``Retry-After`` and a full ``X-Shopify-Shop-Api-Call-Limit``."""
        headers = {"Retry-After": str(retry_after)}
        self._forced.append(_Forced(n, 429, {"errors": THROTTLED}, headers, resource))

    def fail_next(
        self,
        status: int,
        errors: Any = "Internal Server Error",
        *,
        n: int = 1,
        resource: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``n`` calls (to ``resource``, or any) with ``{"errors": errors}``
        at ``status``."""
        self._forced.append(_Forced(n, status, {"errors": errors}, dict(headers or {}), resource))

    def fill_bucket(self, token: str | None = None) -> None:
        """Fill a token's leaky bucket: calls are throttled until it leaks."""
        bucket = self._bucket(token or self.access_token)
        bucket.level = float(self.bucket_size)
        bucket.updated = time.monotonic()

    def requests_to(self, resource: str, method: str = "GET") -> list[ReceivedRequest]:
        """The logged requests to ``resource`` (e.g. "orders.json"), oldest first."""
        return [r for r in self.requests if r.resource == resource and r.method == method]

    def order(self, order_id: int) -> JSONDict | None:
        return next((o for o in self.orders if o["id"] == order_id), None)

    def customer(self, customer_id: int) -> JSONDict | None:
        return next((c for c in self.customers if c["id"] == customer_id), None)

    def webhook(self, webhook_id: int) -> JSONDict | None:
        return next((w for w in self.webhooks if w["id"] == webhook_id), None)

    # -- webhooks ---------------------------------------------------------------------
    def create_webhook(self, body: Any, api_version: str) -> JSONDict:
        data = body.get("webhook") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ShopifyError(400, {"webhook": "Required parameter missing or invalid"})
        topic, address = data.get("topic"), data.get("address")
        fmt = data.get("format") or "json"
        errors: dict[str, list[str]] = {}
        if not topic:
            errors["topic"] = ["can't be blank"]
        elif topic not in self.webhook_topics:
            errors["topic"] = [f"Invalid topic specified: {topic}"]
        if not address:
            errors["address"] = ["can't be blank"]
        elif not isinstance(address, str) or not re.match(r"^https?://[^/\s]+", address):
            errors["address"] = ["is invalid"]
        if fmt not in WEBHOOK_FORMATS:
            errors["format"] = ["is not included in the list"]
        with self._lock:
            if not errors and any(
                w["address"] == address and w["topic"] == topic for w in self.webhooks
            ):
                errors["address"] = [ADDRESS_TAKEN]
            if errors:
                raise ShopifyError(422, errors)
            now = datetime.now(SHOP_TZ).replace(microsecond=0).isoformat()
            webhook_id = next(self._webhook_ids)
            webhook = {
                "id": webhook_id,
                "address": address,
                "topic": topic,
                "created_at": now,
                "updated_at": now,
                "format": fmt,
                "fields": list(data.get("fields") or []),
                "metafield_namespaces": list(data.get("metafield_namespaces") or []),
                "api_version": api_version,
                "private_metafield_namespaces": [],
                "admin_graphql_api_id": f"gid://shopify/WebhookSubscription/{webhook_id}",
            }
            self.webhooks.append(webhook)
        return webhook

    def select_webhooks(self, filters: dict[str, str]) -> list[JSONDict]:
        since_id = int(filters["since_id"]) if filters.get("since_id", "").isdigit() else 0
        return [
            w
            for w in sorted(self.webhooks, key=lambda w: w["id"])
            if w["id"] > since_id
            and filters.get("topic", w["topic"]) == w["topic"]
            and filters.get("address", w["address"]) == w["address"]
        ]

    def delete_webhook(self, webhook_id: int) -> None:
        with self._lock:
            webhook = self.webhook(webhook_id)
            if webhook is None:
                raise ShopifyError(404, "Not Found")
            self.webhooks.remove(webhook)

    def webhook_payload(self, topic: str) -> JSONDict:
        """What Shopify would send for ``topic``: the first order or customer (just its id,
        and for a customer a few empty fields, for a delete)."""
        if topic.startswith("orders/") and self.orders:
            order = self.orders[0]
            return {"id": order["id"]} if topic == "orders/delete" else dict(order)
        if topic.startswith("customers/") and self.customers:
            customer = self.customers[0]
            if topic == "customers/delete":
                return {
                    "id": customer["id"],
                    "phone": None,
                    "addresses": [],
                    "tax_exemptions": [],
                    "email_marketing_consent": None,
                    "sms_marketing_consent": None,
                    "admin_graphql_api_id": customer["admin_graphql_api_id"],
                }
            return dict(customer)
        raise ValueError(f"no default payload for {topic!r}: pass one")

    def deliver(
        self,
        topic: str,
        payload: JSONDict | None = None,
        *,
        webhook_id: str | None = None,
        secret: str | None = None,
        timeout: float = 5.0,
    ) -> list[Delivery]:
        """Send ``payload`` (by default :meth:`webhook_payload`) as Shopify does to every
        address registered for ``topic``, signed with ``secret`` (the app's
        :attr:`client_secret` unless told). ``webhook_id`` repeats a delivery id (a retry).
        Blocking: call it from a thread other than the receiver's event loop."""
        body = orjson.dumps(payload if payload is not None else self.webhook_payload(topic))
        with self._lock:
            targets = [dict(w) for w in self.webhooks if w["topic"] == topic]
        sent: list[Delivery] = []
        with httpx.Client(timeout=timeout) as client:
            for webhook in targets:
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "Shopify-Captain-Hook",
                    "X-Shopify-Topic": topic,
                    "X-Shopify-Hmac-Sha256": webhook_signature(secret or self.client_secret, body),
                    "X-Shopify-Shop-Domain": f"{self.shop}.myshopify.com",
                    "X-Shopify-API-Version": webhook["api_version"],
                    "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
                    "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
                    "X-Shopify-Event-Id": str(uuid.uuid4()),
                }
                try:
                    answer = client.post(webhook["address"], content=body, headers=headers)
                    status, content = answer.status_code, answer.content
                except httpx.HTTPError:
                    status, content = None, b""
                delivery = Delivery(
                    webhook, topic, headers["X-Shopify-Webhook-Id"], headers, body, status, content
                )
                sent.append(delivery)
                self.deliveries.append(delivery)
        return sent

    # -- plumbing ---------------------------------------------------------------------
    def _bucket(self, token: str) -> _Bucket:
        bucket = self._buckets.get(token)
        if bucket is None:
            bucket = self._buckets[token] = _Bucket()
        return bucket

    def _leak(self, bucket: _Bucket) -> None:
        now = time.monotonic()
        bucket.level = max(0.0, bucket.level - (now - bucket.updated) * self.leak_rate)
        bucket.updated = now

    def call_limit(self, token: str | None) -> str:
        level = self._buckets[token].level if token in self._buckets else 0.0
        return f"{min(self.bucket_size, math.ceil(level))}/{self.bucket_size}"

    def _take_forced(self, resource: str) -> _Forced | None:
        for forced in self._forced:
            if forced.resource is None or forced.resource == resource:
                forced.remaining -= 1
                if forced.remaining <= 0:
                    self._forced.remove(forced)
                return forced
        return None

    def _throttle(self, token: str) -> None:
        bucket = self._bucket(token)
        self._leak(bucket)
        if bucket.level + 1 > self.bucket_size:
            raise ShopifyError(429, THROTTLED, {"Retry-After": "2.0"})
        bucket.level += 1

    def _authenticate(self, token: str | None, scope: str | None) -> str:
        if not token or token not in self.tokens:
            raise ShopifyError(401, INVALID_TOKEN)
        if scope is not None and scope not in self.tokens[token]:
            raise ShopifyError(
                403, f"[API] This action requires merchant approval for {scope} scope."
            )
        return token

    # -- lists ------------------------------------------------------------------------
    def _page(
        self,
        url: str,
        key: str,
        query: dict[str, str],
        select: Callable[[JSONDict], list[JSONDict]],
    ) -> tuple[JSONDict, str | None]:
        """One page of a cursor-paginated list: the body and its Link header.

        The filters live inside the opaque ``page_info``; a follow-up naming any other
        parameter is refused with 400, as Shopify does."""
        limit = self._limit(query.get("limit"))
        if "page_info" in query:
            extra = [k for k in query if k not in PAGE_INFO_ONLY]
            if extra:
                name = extra[0]
                raise ShopifyError(
                    400,
                    {
                        name: f"{name} cannot be passed when page_info is present. "
                        f"See {PAGINATION_DOCS} for more information."
                    },
                )
            state = _decode_page_info(query["page_info"])
            filters = state.get("filters") or {}
            offset = max(0, state["offset"])
        else:
            filters = {k: v for k, v in query.items() if k not in PAGE_INFO_ONLY}
            offset = 0
        items = select(filters)
        page = items[offset : offset + limit]
        links = []
        if offset > 0:
            previous = _encode_page_info({"filters": filters, "offset": max(0, offset - limit)})
            links.append(
                f'<{url}?{urlencode({"limit": limit, "page_info": previous})}>; rel="previous"'
            )
        if offset + limit < len(items):
            following = _encode_page_info({"filters": filters, "offset": offset + limit})
            links.append(
                f'<{url}?{urlencode({"limit": limit, "page_info": following})}>; rel="next"'
            )
        fields = query.get("fields")
        return {key: [_project(item, fields) for item in page]}, ", ".join(links) or None

    @staticmethod
    def _limit(value: str | None) -> int:
        if value is None:
            return DEFAULT_LIMIT
        try:
            limit = int(value)
        except ValueError:
            raise ShopifyError(400, {"limit": ["is not a number"]}) from None
        if limit < 1:
            raise ShopifyError(400, {"limit": ["must be greater than 0"]})
        return min(limit, MAX_LIMIT)

    def select_orders(self, filters: dict[str, str]) -> list[JSONDict]:
        status = filters.get("status", "open")
        if status not in ORDER_STATUSES:
            raise ShopifyError(400, {"status": [f"{status} is not a valid status"]})
        financial = filters.get("financial_status")
        if financial is not None and financial not in FINANCIAL_STATUSES:
            raise ShopifyError(400, {"financial_status": [f"{financial} is not valid"]})
        fulfillment = filters.get("fulfillment_status")
        if fulfillment is not None and fulfillment not in FULFILLMENT_STATUSES:
            raise ShopifyError(400, {"fulfillment_status": [f"{fulfillment} is not valid"]})
        bounds = []
        for name, attribute, later in (
            ("created_at_min", "created_at", True),
            ("created_at_max", "created_at", False),
            ("updated_at_min", "updated_at", True),
            ("updated_at_max", "updated_at", False),
            ("processed_at_min", "processed_at", True),
            ("processed_at_max", "processed_at", False),
        ):
            if filters.get(name):
                bounds.append((attribute, _parse_time(name, filters[name]), later))
        since_id = int(filters["since_id"]) if filters.get("since_id", "").isdigit() else None
        ids = {int(i) for i in filters.get("ids", "").split(",") if i.strip().isdigit()}
        selected = []
        for order in self.orders:
            if status not in _order_status(order):
                continue
            if financial and not _financial_matches(order, financial):
                continue
            if fulfillment and not _fulfillment_matches(order, fulfillment):
                continue
            if since_id is not None and order["id"] <= since_id:
                continue
            if ids and order["id"] not in ids:
                continue
            if any(
                (datetime.fromisoformat(order[attr]) < bound)
                if later
                else (datetime.fromisoformat(order[attr]) > bound)
                for attr, bound, later in bounds
            ):
                continue
            selected.append(order)
        # Newest first, except with since_id (ascending from it), like Shopify.
        selected.sort(key=lambda o: o["id"], reverse=since_id is None)
        return selected

    def search_customers(self, filters: dict[str, str]) -> list[JSONDict]:
        terms = _search_terms(filters.get("query", ""))
        found = [c for c in self.customers if all(_customer_matches(c, t) for t in terms)]
        order = (filters.get("order") or "last_order_date DESC").split()
        attribute = {"last_order_date": "last_order_id"}.get(order[0], order[0])
        descending = len(order) > 1 and order[1].upper() == "DESC"
        if found and attribute in found[0]:
            found.sort(key=lambda c: (c.get(attribute) is None, c.get(attribute) or 0))
            if descending:
                found.reverse()
        return found

    def create_customer(self, body: Any) -> JSONDict:
        data = body.get("customer") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ShopifyError(400, {"customer": "Required parameter missing or invalid"})
        errors: dict[str, list[str]] = {}
        email = data.get("email")
        if email is not None:
            if not isinstance(email, str) or "@" not in email:
                errors.setdefault("email", []).append("is invalid")
            elif any((c.get("email") or "").lower() == email.lower() for c in self.customers):
                errors.setdefault("email", []).append("has already been taken")
        if not any(data.get(k) for k in ("email", "phone", "first_name", "last_name")):
            errors.setdefault("customer", []).append(
                "Customer must have a name, phone number or email address"
            )
        if errors:
            raise ShopifyError(422, errors)
        customer_id = next(self._ids)
        now = datetime.now(SHOP_TZ).replace(microsecond=0).isoformat()
        customer = {
            **default_customers(1)[0],
            "id": customer_id,
            "email": email,
            "first_name": data.get("first_name"),
            "last_name": data.get("last_name"),
            "phone": data.get("phone"),
            "tags": data.get("tags") or "",
            "note": data.get("note"),
            "created_at": now,
            "updated_at": now,
            "orders_count": 0,
            "total_spent": "0.00",
            "last_order_id": None,
            "last_order_name": None,
            "addresses": [],
            "default_address": None,
            "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        }
        self.customers.append(customer)
        return customer


_TERM = re.compile(r'(?:(\w+):)?("([^"]*)"|\S+)')


def _search_terms(query: str) -> list[tuple[str | None, str]]:
    terms = []
    for match in _TERM.finditer(query):
        name, raw, quoted = match.group(1), match.group(2), match.group(3)
        value = quoted if quoted is not None else raw
        if value.upper() in ("AND",):
            continue
        terms.append((name, value.lower()))
    return terms


def _customer_matches(customer: JSONDict, term: tuple[str | None, str]) -> bool:
    name, value = term
    address = customer.get("default_address") or {}
    if name is None:
        haystack = [customer.get(k) for k in ("first_name", "last_name", "email", "phone")]
        return any(value in str(v).lower() for v in haystack if v)
    if name == "email":
        return (customer.get("email") or "").lower() == value
    if name == "tag":
        return value in [t.strip().lower() for t in (customer.get("tags") or "").split(",")]
    if name == "country":
        return (address.get("country") or "").lower() == value
    if name in ("id", "orders_count"):
        return str(customer.get(name)) == value
    if name in ("first_name", "last_name", "phone", "state"):
        return (customer.get(name) or "").lower().startswith(value)
    return False


# -- the app --------------------------------------------------------------------------------

_ORDER = re.compile(r"^orders/(\d+)\.json$")
_CUSTOMER = re.compile(r"^customers/(\d+)\.json$")
_WEBHOOK = re.compile(r"^webhooks/(\d+)\.json$")
_API_VERSION = re.compile(r"/admin/api/([^/]+)/")


def _json(
    status: int, body: Any, headers: dict[str, str] | None = None, *, link: str | None = None
) -> Response:
    response = Response(orjson.dumps(body), status, media_type="application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if link:
        response.headers["Link"] = link
    return response


class _Api:
    """``/admin/api/{version}/{resource}``: one endpoint dispatching on the resource."""

    def __init__(self, shopify: FakeShopify) -> None:
        self.shopify = shopify

    async def handle(self, request: Request) -> Response:
        shopify = self.shopify
        version = request.path_params.get("version")
        resource = request.path_params.get("resource", "")
        body: Any = None
        raw = await request.body()
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        token = request.headers.get("x-shopify-access-token")
        shopify.requests.append(
            ReceivedRequest(
                request.method,
                request.url.path,
                version,
                resource,
                query,
                dict(request.headers),
                body,
            )
        )
        headers: dict[str, str] = {}
        try:
            with shopify._lock:
                forced = shopify._take_forced(resource)
            if forced is not None:
                headers.update(forced.headers)
                if forced.status == 429:
                    headers["X-Shopify-Shop-Api-Call-Limit"] = (
                        f"{shopify.bucket_size}/{shopify.bucket_size}"
                    )
                return _json(forced.status, forced.body, headers)
            if version is None or not VERSION_RE.match(version):
                raise ShopifyError(404, "Not Found")
            headers["X-Shopify-API-Version"] = version
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            handler, scope, args = self._route(request.method, resource)
            token = shopify._authenticate(token, scope)
            with shopify._lock:
                shopify._throttle(token)
            headers["X-Shopify-Shop-Api-Call-Limit"] = shopify.call_limit(token)
            status, reply, link = handler(url, query, body, *args)
            return _json(status, reply, headers, link=link)
        except ShopifyError as exc:
            headers.update(exc.headers)
            if exc.status == 429:
                headers["X-Shopify-Shop-Api-Call-Limit"] = shopify.call_limit(token)
            return _json(exc.status, {"errors": exc.errors}, headers)

    def _route(self, method: str, resource: str) -> tuple[Callable[..., Any], str | None, tuple]:
        if method == "GET":
            if resource == "orders.json":
                return self.list_orders, "read_orders", ()
            if match := _ORDER.match(resource):
                return self.get_order, "read_orders", (int(match.group(1)),)
            if resource == "customers/search.json":
                return self.search_customers, "read_customers", ()
            if match := _CUSTOMER.match(resource):
                return self.get_customer, "read_customers", (int(match.group(1)),)
            if resource == "shop.json":
                return self.shop, None, ()
            if resource == "webhooks.json":
                return self.list_webhooks, None, ()
            if match := _WEBHOOK.match(resource):
                return self.get_webhook, None, (int(match.group(1)),)
        if method == "POST" and resource == "customers.json":
            return self.create_customer, "write_customers", ()
        if method == "POST" and resource == "webhooks.json":
            return self.create_webhook, None, ()
        if method == "DELETE" and (match := _WEBHOOK.match(resource)):
            return self.delete_webhook, None, (int(match.group(1)),)
        raise ShopifyError(404, "Not Found")

    # Each handler: (status, body, Link header).
    def list_orders(self, url: str, query: dict[str, str], body: Any) -> tuple:
        page, link = self.shopify._page(url, "orders", query, self.shopify.select_orders)
        return 200, page, link

    def search_customers(self, url: str, query: dict[str, str], body: Any) -> tuple:
        page, link = self.shopify._page(url, "customers", query, self.shopify.search_customers)
        return 200, page, link

    def get_order(self, url: str, query: dict[str, str], body: Any, order_id: int) -> tuple:
        order = self.shopify.order(order_id)
        if order is None:
            raise ShopifyError(404, "Not Found")
        return 200, {"order": _project(order, query.get("fields"))}, None

    def get_customer(self, url: str, query: dict[str, str], body: Any, customer_id: int) -> tuple:
        customer = self.shopify.customer(customer_id)
        if customer is None:
            raise ShopifyError(404, "Not Found")
        return 200, {"customer": _project(customer, query.get("fields"))}, None

    def create_customer(self, url: str, query: dict[str, str], body: Any) -> tuple:
        return 201, {"customer": self.shopify.create_customer(body)}, None

    def list_webhooks(self, url: str, query: dict[str, str], body: Any) -> tuple:
        page, link = self.shopify._page(url, "webhooks", query, self.shopify.select_webhooks)
        return 200, page, link

    def get_webhook(self, url: str, query: dict[str, str], body: Any, webhook_id: int) -> tuple:
        webhook = self.shopify.webhook(webhook_id)
        if webhook is None:
            raise ShopifyError(404, "Not Found")
        return 200, {"webhook": _project(webhook, query.get("fields"))}, None

    def create_webhook(self, url: str, query: dict[str, str], body: Any) -> tuple:
        match = _API_VERSION.search(url)
        version = match.group(1) if match else "unstable"
        return 201, {"webhook": self.shopify.create_webhook(body, version)}, None

    def delete_webhook(self, url: str, query: dict[str, str], body: Any, webhook_id: int) -> tuple:
        self.shopify.delete_webhook(webhook_id)
        return 200, {}, None

    def shop(self, url: str, query: dict[str, str], body: Any) -> tuple:
        name = self.shopify.shop
        return (
            200,
            {
                "shop": {
                    "id": 4_000_000_001,
                    "name": "Patchbay Demo",
                    "email": "owner@example.com",
                    "domain": f"{name}.myshopify.com",
                    "myshopify_domain": f"{name}.myshopify.com",
                    "currency": "CAD",
                    "iana_timezone": "America/Toronto",
                    "plan_name": "partner_test",
                }
            },
            None,
        )


async def _not_found(request: Request) -> Response:
    return _json(404, {"errors": "Not Found"})


def create_app(state: FakeShopify | None = None) -> Starlette:
    """The fake as an ASGI app; ``app.state.shopify`` is its :class:`FakeShopify`."""
    shopify = state if state is not None else FakeShopify()
    api = _Api(shopify)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route("/admin/api/{version}/{resource:path}", api.handle, methods=methods),
            Route("/{path:path}", _not_found, methods=methods),
        ]
    )
    app.state.shopify = shopify
    return app


__all__ = [
    "Delivery",
    "FakeShopify",
    "ReceivedRequest",
    "ShopifyError",
    "create_app",
    "default_customers",
    "default_orders",
    "webhook_signature",
]
