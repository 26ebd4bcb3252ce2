"""The Shopify trigger: order and customer events through the shop's webhooks.

``on_subscribe`` registers one JSON webhook per chosen topic at the subscription's intake URL
(``POST /admin/api/{version}/webhooks.json``; when Shopify answers 422 "for this topic has
already been taken", the existing webhook for that address and topic is looked up and
reused) and keeps their ids and the app's client secret in the state; ``on_unsubscribe``
deletes them (a 404 means already gone).

``on_request`` checks ``X-Shopify-Hmac-Sha256``, the base64 HMAC-SHA256 of the raw body under
the app's client secret (API secret key), then keeps only the topics the subscription chose
(``X-Shopify-Topic``). An event's data is the topic, the delivery's headers and the order or
customer as Shopify sent it; ``X-Shopify-Webhook-Id`` names duplicates (Shopify keeps it
across retries of one delivery).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field

from ..sdk import (
    ConnectorError,
    Context,
    Event,
    IncomingRequest,
    NoTrigger,
    TriggerOperation,
    TriggerRejected,
    field,
)
from .operations import Customer, Order, api_base

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
SHOP_HEADER = "X-Shopify-Shop-Domain"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
API_VERSION_HEADER = "X-Shopify-API-Version"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"
ALREADY_TAKEN = "already been taken"

OrderTopic = Literal[
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/delete",
]
ORDER_TOPICS: tuple[str, ...] = get_args(OrderTopic)
ORDER_TOPIC_LABELS = ["Created", "Updated", "Paid", "Cancelled", "Fulfilled", "Deleted"]

CustomerTopic = Literal[
    "customers/create",
    "customers/update",
    "customers/delete",
    "customers/enable",
    "customers/disable",
]
CUSTOMER_TOPICS: tuple[str, ...] = get_args(CustomerTopic)
CUSTOMER_TOPIC_LABELS = ["Created", "Updated", "Deleted", "Enabled", "Disabled"]


def signature(secret: str, body: bytes) -> str:
    """What Shopify sends in ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256(secret, body)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


# -- settings and events ------------------------------------------------------------------


def _client_secret() -> Any:
    return field(
        None,
        title="Client secret",
        description="The Shopify app's client secret (API secret key), which signs its "
        "webhooks: each request's X-Shopify-Hmac-Sha256 is checked against it.",
        min_length=1,
        format="password",
    )


class OrderEventSettings(BaseModel):
    topics: list[
        Annotated[OrderTopic, Field(json_schema_extra={"enumLabels": ORDER_TOPIC_LABELS})]
    ] = field(
        ["orders/create"],
        title="Topics",
        description="The order events that start the trigger; a webhook is registered for "
        "each. Orders created by default.",
        min_length=1,
    )
    client_secret: str | None = _client_secret()


class CustomerEventSettings(BaseModel):
    topics: list[
        Annotated[CustomerTopic, Field(json_schema_extra={"enumLabels": CUSTOMER_TOPIC_LABELS})]
    ] = field(
        ["customers/create"],
        title="Topics",
        description="The customer events that start the trigger; a webhook is registered "
        "for each. Customers created by default.",
        min_length=1,
    )
    client_secret: str | None = _client_secret()


class _Delivery(BaseModel):
    topic: str = field(title="Topic", description="X-Shopify-Topic, e.g. orders/create")
    shopDomain: str | None = field(
        None, title="Shop domain", description="X-Shopify-Shop-Domain, e.g. acme.myshopify.com"
    )
    webhookId: str | None = field(
        None, title="Webhook ID", description="X-Shopify-Webhook-Id: the delivery's id"
    )
    triggeredAt: str | None = field(
        None, title="Triggered at", description="X-Shopify-Triggered-At"
    )
    apiVersion: str | None = field(
        None, title="API version", description="X-Shopify-API-Version: the body's version"
    )


class OrderEvent(_Delivery):
    order: Order = field(
        title="Order", description="The order as Shopify sent it (orders/delete: its id only)"
    )


class CustomerEvent(_Delivery):
    customer: Customer = field(title="Customer", description="The customer as Shopify sent it")


# -- receiving ----------------------------------------------------------------------------


def _verify(request: IncomingRequest, secret: str | None) -> None:
    if not secret:
        raise TriggerRejected(401, "No client secret is configured to verify Shopify webhooks")
    sent = request.header(HMAC_HEADER)
    if not sent:
        raise TriggerRejected(401, f"The {HMAC_HEADER} header is missing")
    expected = signature(secret, request.body)
    if not hmac.compare_digest(sent.strip().encode(), expected.encode()):
        raise TriggerRejected(401, f"The {HMAC_HEADER} header does not match the body")


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _receiver(key: str):
    def on_request(
        request: IncomingRequest, settings: Any, state: dict[str, Any]
    ) -> list[Event] | NoTrigger:
        _verify(request, state.get("secret") or settings.client_secret)
        topic = (request.header(TOPIC_HEADER) or "").strip()
        if not topic:
            raise TriggerRejected(400, f"The {TOPIC_HEADER} header is missing")
        if topic not in settings.topics:
            return NoTrigger(f"topic {topic!r} is not one this subscription chose")
        body = request.json()
        if not isinstance(body, dict):
            raise TriggerRejected(400, f"The body must be a JSON object (the {key})")
        webhook_id = request.header(WEBHOOK_ID_HEADER) or None
        triggered_at = request.header(TRIGGERED_AT_HEADER)
        data = {
            "topic": topic,
            "shopDomain": request.header(SHOP_HEADER),
            "webhookId": webhook_id,
            "triggeredAt": triggered_at,
            "apiVersion": request.header(API_VERSION_HEADER),
            key: body,
        }
        return [Event(data=data, id=webhook_id, occurred_at=_when(triggered_at))]

    return on_request


def dedupe_key(event: Event) -> str | None:
    webhook_id = event.data.get("webhookId")
    return webhook_id if isinstance(webhook_id, str) and webhook_id else None


# -- subscribing --------------------------------------------------------------------------


def _body(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _already_taken(body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    address = errors.get("address") if isinstance(errors, dict) else None
    messages = address if isinstance(address, list) else [address]
    return any(isinstance(m, str) and ALREADY_TAKEN in m for m in messages)


async def _existing(ctx: Context, base: str, topic: str, address: str) -> int | None:
    """The id of the webhook already registered for ``topic`` at ``address``."""
    response = await ctx.request(
        "GET", f"{base}/webhooks.json", params={"topic": topic, "address": address}
    )
    body = _body(response)
    hooks = body.get("webhooks") if isinstance(body, dict) else None
    for hook in hooks if isinstance(hooks, list) else []:
        if isinstance(hook, dict) and hook.get("topic") == topic and hook.get("address") == address:
            return hook.get("id")
    return None


async def _register(ctx: Context, base: str, topic: str, address: str) -> tuple[int, bool]:
    """The webhook's id and whether this call created it."""
    webhook = {"topic": topic, "address": address, "format": "json"}
    response = await ctx.request(
        "POST", f"{base}/webhooks.json", json={"webhook": webhook}, raise_for_status=False
    )
    body = _body(response)
    if response.status_code == 422 and _already_taken(body):
        existing = await _existing(ctx, base, topic, address)
        if existing is not None:
            return existing, False
    if not response.is_success:
        raise ctx.error_for(response)
    created = body.get("webhook") if isinstance(body, dict) else None
    if not isinstance(created, dict) or created.get("id") is None:
        raise ctx.api_error(response, "Shopify answered without the webhook", kind="api_error")
    return created["id"], True


async def _delete(ctx: Context, base: str, webhook_id: Any) -> None:
    response = await ctx.request(
        "DELETE", f"{base}/webhooks/{webhook_id}.json", raise_for_status=False
    )
    if response.status_code != 404 and not response.is_success:
        raise ctx.error_for(response)


async def on_subscribe(ctx: Context, settings: Any) -> dict[str, Any]:
    secret = settings.client_secret
    if not secret:
        raise ConnectorError(
            "A Shopify trigger needs the app's client secret (API secret key) to verify "
            "webhooks: set client_secret in the trigger's settings",
            "connector_error",
        )
    if not ctx.intake_url:
        raise ConnectorError("The subscription has no intake URL to register", "connector_error")
    base = api_base(ctx)
    ids: list[Any] = []
    created: list[Any] = []
    try:
        for topic in dict.fromkeys(settings.topics):
            webhook_id, new = await _register(ctx, base, topic, ctx.intake_url)
            ids.append(webhook_id)
            if new:
                created.append(webhook_id)
    except ConnectorError:
        for webhook_id in created:  # leave nothing half-registered behind
            try:
                await _delete(ctx, base, webhook_id)
            except ConnectorError:
                pass
        raise
    return {"webhook_ids": ids, "secret": secret}


async def on_unsubscribe(ctx: Context, settings: Any, state: dict[str, Any]) -> None:
    base = api_base(ctx)
    for webhook_id in state.get("webhook_ids") or []:
        await _delete(ctx, base, webhook_id)


ORDER_EVENT = TriggerOperation(
    name="order_event",
    title="Order Event",
    description="An order was created, updated, paid, cancelled, fulfilled or deleted in the "
    "shop (the topics chosen), through the shop's signed webhooks.",
    input=OrderEventSettings,
    output=OrderEvent,
    on_request=_receiver("order"),
    on_subscribe=on_subscribe,
    on_unsubscribe=on_unsubscribe,
    dedupe_key=dedupe_key,
    auth_scopes=["read_orders"],
)

CUSTOMER_EVENT = TriggerOperation(
    name="customer_event",
    title="Customer Event",
    description="A customer was created, updated, deleted, enabled or disabled in the shop "
    "(the topics chosen), through the shop's signed webhooks.",
    input=CustomerEventSettings,
    output=CustomerEvent,
    on_request=_receiver("customer"),
    on_subscribe=on_subscribe,
    on_unsubscribe=on_unsubscribe,
    dedupe_key=dedupe_key,
    auth_scopes=["read_customers"],
)

TRIGGER_OPERATIONS = [ORDER_EVENT, CUSTOMER_EVENT]
