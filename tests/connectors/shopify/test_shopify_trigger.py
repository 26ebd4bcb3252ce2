"""The Shopify trigger through its declared hooks: webhook HMACs, topic filtering, the dedupe
key, and subscribing, unsubscribing and delivery against the loopback Shopify fake."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import jsonschema
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchbay.connectors.registry import Registry, builtin_triggers
from patchbay.connectors.sdk import (
    DEFAULT_REPLY,
    ConnectorError,
    Event,
    IncomingRequest,
    NoTrigger,
    TriggerOperation,
    TriggerRejected,
)
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import hook_context
from patchbay.connectors.shopify.connector import TRIGGERS
from patchbay.connectors.shopify.fake import FakeShopify, create_app, webhook_signature
from patchbay.connectors.shopify.trigger import (
    CUSTOMER_EVENT,
    CUSTOMER_TOPICS,
    ORDER_EVENT,
    ORDER_TOPICS,
    signature,
)
from patchbay.testing.fakeserver import serve_in_thread

SECRET = "shpss_test_client_secret"
TOKEN = FakeShopify.access_token
SHOP = FakeShopify.shop
[TRIGGER] = TRIGGERS

# A vector computed outside Python: printf '%s' "$BODY" | openssl dgst -sha256 -hmac hush
# -binary | base64
VECTOR_SECRET = "hush"
VECTOR_BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'
VECTOR_HMAC = "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8="

ORDER = {
    "id": 820982911946154508,
    "email": "jon@example.com",
    "name": "#9999",
    "total_price": "403.00",
    "currency": "USD",
    "financial_status": "paid",
    "line_items": [{"id": 866550311766439020, "quantity": 1, "price": "199.00"}],
    "customer": {"id": 115310627314723954, "email": "john@example.com"},
    "unknown_new_field": {"kept": True},
}
CUSTOMER = {"id": 706405506930370084, "email": "bob@biller.com", "state": "enabled"}


def webhook(
    topic: str,
    body: dict | bytes,
    *,
    secret: str | None = SECRET,
    webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    **headers: str,
) -> IncomingRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "acme.myshopify.com",
        "X-Shopify-API-Version": "2024-10",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Triggered-At": "2024-10-07T14:05:01.123Z",
        **headers,
    }
    if secret is not None:
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
        sent["X-Shopify-Hmac-Sha256"] = base64.b64encode(digest).decode()
    return IncomingRequest.build("POST", "/intake/s1", headers=sent, body=raw)


def settings(op: TriggerOperation = ORDER_EVENT, **data: Any) -> Any:
    assert op.validator.errors(data) == [], data
    return op.parse_settings(data)


async def receive(req: IncomingRequest, op: TriggerOperation = ORDER_EVENT, state=None, **data):
    if "client_secret" not in data and state is None:
        data["client_secret"] = SECRET
    return await op.receive(req, settings(op, **data), state or {})


def assert_shaped(op: TriggerOperation, event: Event) -> dict:
    shaped = op.shape(event.data)
    jsonschema.Draft4Validator.check_schema(op.output_schema)
    jsonschema.Draft4Validator(op.output_schema).validate(shaped)
    return shaped


# -- declaration ----------------------------------------------------------------------------


def test_declared_as_the_shopify_trigger():
    [trigger] = [t for t in builtin_triggers() if t.service.name == "shopify"]
    assert trigger is TRIGGER
    assert (trigger.name, trigger.version) == ("shopify-trigger", "1.0")
    assert Registry.discover().trigger("shopify-trigger", "1.0") is trigger
    assert trigger.requires_auth
    assert [op.name for op in trigger.operations] == ["order_event", "customer_event"]
    for op, topics, default in (
        (ORDER_EVENT, ORDER_TOPICS, "orders/create"),
        (CUSTOMER_EVENT, CUSTOMER_TOPICS, "customers/create"),
    ):
        assert trigger.operation(op.name) is op and not op.is_polling
        props = op.input_schema["properties"]
        assert props["topics"]["items"]["enum"] == list(topics)
        assert props["topics"]["default"] == [default]
        assert props["client_secret"]["format"] == "password"
        assert op.input_schema.get("required", []) == []
        assert settings(op).topics == [default]
        assert op.validator.errors({"topics": []})
        assert op.validator.errors({"topics": ["products/create"]})
    assert set(ORDER_TOPICS) == {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/delete",
    }
    assert set(CUSTOMER_TOPICS) == {
        "customers/create",
        "customers/update",
        "customers/delete",
        "customers/enable",
        "customers/disable",
    }
    out = ORDER_EVENT.output_schema
    assert {"topic", "shopDomain", "webhookId", "triggeredAt", "apiVersion", "order"} <= set(
        out["properties"]
    )
    assert "customer" in CUSTOMER_EVENT.output_schema["properties"]


# -- verification ---------------------------------------------------------------------------


def test_signature_matches_the_computed_vector():
    assert signature(VECTOR_SECRET, VECTOR_BODY) == VECTOR_HMAC
    assert webhook_signature(VECTOR_SECRET, VECTOR_BODY) == VECTOR_HMAC  # the fake agrees


async def test_the_vector_is_accepted_and_a_changed_byte_is_not():
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": VECTOR_HMAC}
    good = IncomingRequest.build("POST", "/i", headers=headers, body=VECTOR_BODY)
    [event] = await receive(good, client_secret=VECTOR_SECRET)
    assert event.data["order"] == json.loads(VECTOR_BODY)
    tampered = IncomingRequest.build(
        "POST", "/i", headers=headers, body=VECTOR_BODY.replace(b"jon", b"jan")
    )
    with pytest.raises(TriggerRejected) as caught:
        await receive(tampered, client_secret=VECTOR_SECRET)
    assert caught.value.status == 401


@pytest.mark.parametrize("op", [ORDER_EVENT, CUSTOMER_EVENT], ids=lambda op: op.name)
async def test_a_good_hmac_gives_one_event(op):
    topic, key, body = (
        ("orders/create", "order", ORDER)
        if op is ORDER_EVENT
        else ("customers/create", "customer", CUSTOMER)
    )
    req = webhook(topic, body)
    [event] = await receive(req, op)
    assert event.data == {
        "topic": topic,
        "shopDomain": "acme.myshopify.com",
        "webhookId": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "triggeredAt": "2024-10-07T14:05:01.123Z",
        "apiVersion": "2024-10",
        key: body,
    }
    assert event.id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert event.occurred_at is not None and event.occurred_at.year == 2024
    shaped = assert_shaped(op, event)
    assert shaped[key]["id"] == body["id"]
    if op is ORDER_EVENT:
        assert shaped["order"]["unknown_new_field"] == {"kept": True}  # extras allowed
    assert op.answer(req, settings(op, client_secret=SECRET), {}, [event]) == DEFAULT_REPLY


async def test_a_bad_hmac_is_401():
    with pytest.raises(TriggerRejected) as caught:
        await receive(webhook("orders/create", ORDER, secret="another app's secret"))
    assert caught.value.status == 401
    assert "X-Shopify-Hmac-Sha256" in caught.value.message
    garbage = webhook("orders/create", ORDER, secret=None, **{"X-Shopify-Hmac-Sha256": "x=="})
    with pytest.raises(TriggerRejected) as caught:
        await receive(garbage)
    assert caught.value.status == 401


async def test_a_missing_hmac_is_401():
    with pytest.raises(TriggerRejected) as caught:
        await receive(webhook("orders/create", ORDER, secret=None))
    assert caught.value.status == 401
    assert "missing" in caught.value.message


async def test_no_secret_at_all_refuses_every_request():
    with pytest.raises(TriggerRejected) as caught:
        await receive(webhook("orders/create", ORDER), state={})
    assert caught.value.status == 401


async def test_the_secret_copied_into_the_state_verifies():
    state = {"webhook_ids": [1], "secret": SECRET}
    [event] = await receive(webhook("orders/create", ORDER), state=state)
    assert event.data["order"]["id"] == ORDER["id"]
    with pytest.raises(TriggerRejected):
        await receive(webhook("orders/create", ORDER, secret="old"), state=state)


async def test_the_hmac_is_checked_before_the_body_or_the_topic():
    with pytest.raises(TriggerRejected) as caught:
        await receive(webhook("products/create", b"{not json", secret="wrong"))
    assert caught.value.status == 401


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]", b'"order"'])
async def test_a_malformed_body_is_400(body):
    with pytest.raises(TriggerRejected) as caught:
        await receive(webhook("orders/create", body))
    assert caught.value.status == 400


async def test_a_missing_topic_is_400():
    req = webhook("orders/create", ORDER)
    req = IncomingRequest.build(
        "POST",
        "/",
        headers=[h for h in req.headers if h[0] != "X-Shopify-Topic"],
        body=req.body,
    )
    with pytest.raises(TriggerRejected) as caught:
        await receive(req)
    assert caught.value.status == 400


# -- topics and duplicates ------------------------------------------------------------------


async def test_topics_are_filtered_and_still_acknowledged():
    chosen = ["orders/paid", "orders/cancelled"]
    for topic in [*ORDER_TOPICS, "customers/create", "app/uninstalled"]:
        req = webhook(topic, ORDER)
        result = await receive(req, topics=chosen)
        if topic in chosen:
            assert [e.data["topic"] for e in result] == [topic]
        else:
            assert isinstance(result, NoTrigger), topic
            assert topic in result.reason
            answer = ORDER_EVENT.answer(req, settings(topics=chosen), {}, result)
            assert 200 <= answer.status < 300
    # the default subscription: orders created only
    assert isinstance(await receive(webhook("orders/updated", ORDER)), NoTrigger)
    # the customer operation takes customer topics only
    for topic in CUSTOMER_TOPICS:
        [event] = await receive(webhook(topic, CUSTOMER), CUSTOMER_EVENT, topics=[topic])
        assert event.data["customer"] == CUSTOMER
    assert isinstance(await receive(webhook("orders/create", ORDER), CUSTOMER_EVENT), NoTrigger)


async def test_delete_bodies_carry_only_an_id():
    [event] = await receive(webhook("orders/delete", {"id": 1}), topics=["orders/delete"])
    assert assert_shaped(ORDER_EVENT, event)["order"] == {"id": 1}


async def test_dedupe_key_is_the_webhook_id():
    first = await receive(webhook("orders/create", ORDER, webhook_id="d-1"))
    retry = await receive(webhook("orders/create", ORDER, webhook_id="d-1"))
    other = await receive(webhook("orders/create", ORDER, webhook_id="d-2"))
    key = ORDER_EVENT.key_for
    assert key(first[0]) == key(retry[0]) == "d-1"
    assert key(other[0]) == "d-2"
    [anonymous] = await receive(webhook("orders/create", ORDER, webhook_id=""))
    assert key(anonymous) is None and anonymous.id is None


def test_a_request_replays_from_its_record():
    req = webhook("orders/paid", ORDER)
    again = IncomingRequest.from_record(json.loads(json.dumps(req.to_record())))
    assert again == req
    assert again.header("x-shopify-hmac-sha256") == signature(SECRET, req.body)


# -- subscribing against the fake ---------------------------------------------------------


@pytest.fixture
def shopify() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
def shopify_url(shopify: FakeShopify):
    with serve_in_thread(create_app(shopify)) as url:
        yield url


def hook_ctx(op, clients: HttpClientPool, url: str, intake: str | None):
    return hook_context(
        TRIGGER,
        op,
        clients=clients,
        credentials={"access_token": TOKEN},
        user_data={"shop": SHOP, "base_url": url},
        intake_url=intake,
    )


INTAKE = "https://patchbay.example/intake/sub-1"


async def test_subscribe_registers_a_webhook_per_topic_and_unsubscribe_deletes_them(
    shopify, shopify_url, clients
):
    ctx = hook_ctx(ORDER_EVENT, clients, shopify_url, INTAKE)
    chosen = settings(topics=["orders/create", "orders/paid"], client_secret=SECRET)
    state = await ORDER_EVENT.subscribe(ctx, chosen)
    assert state["secret"] == SECRET
    assert json.loads(json.dumps(state)) == state  # storable as it is
    hooks = {w["id"]: w for w in shopify.webhooks}
    assert sorted(state["webhook_ids"]) == sorted(hooks)
    assert sorted(w["topic"] for w in hooks.values()) == ["orders/create", "orders/paid"]
    assert all(w["address"] == INTAKE and w["format"] == "json" for w in hooks.values())
    assert all(w["api_version"] == "2024-10" for w in hooks.values())
    [post, _] = shopify.requests_to("webhooks.json", "POST")
    assert post.headers["x-shopify-access-token"] == TOKEN
    assert post.body == {"webhook": {"topic": "orders/create", "address": INTAKE, "format": "json"}}

    await ORDER_EVENT.unsubscribe(ctx, chosen, state)
    assert shopify.webhooks == []
    deleted = [r.resource for r in shopify.requests if r.method == "DELETE"]
    assert deleted == [f"webhooks/{i}.json" for i in state["webhook_ids"]]
    await ORDER_EVENT.unsubscribe(ctx, chosen, state)  # 404: already gone, no error


async def test_an_address_already_taken_is_reused(shopify, shopify_url, clients):
    async with httpx.AsyncClient(base_url=f"{shopify_url}/admin/api/2024-10") as http:
        created = await http.post(
            "/webhooks.json",
            headers={"X-Shopify-Access-Token": TOKEN},
            json={"webhook": {"topic": "customers/update", "address": INTAKE, "format": "json"}},
        )
        assert created.status_code == 201
        existing = created.json()["webhook"]
        again = await http.post(
            "/webhooks.json",
            headers={"X-Shopify-Access-Token": TOKEN},
            json={"webhook": {"topic": "customers/update", "address": INTAKE}},
        )
        assert again.status_code == 422
        assert again.json() == {"errors": {"address": ["for this topic has already been taken"]}}
    ctx = hook_ctx(CUSTOMER_EVENT, clients, shopify_url, INTAKE)
    chosen = settings(
        CUSTOMER_EVENT, topics=["customers/create", "customers/update"], client_secret=SECRET
    )
    state = await CUSTOMER_EVENT.subscribe(ctx, chosen)
    assert existing["id"] in state["webhook_ids"]
    assert len(shopify.webhooks) == 2  # one new, one reused
    lookups = shopify.requests_to("webhooks.json")
    assert [r.query for r in lookups] == [{"topic": "customers/update", "address": INTAKE}]
    await CUSTOMER_EVENT.unsubscribe(ctx, chosen, state)
    assert shopify.webhooks == []


async def test_subscribing_without_a_client_secret_fails_clearly(shopify, shopify_url, clients):
    ctx = hook_ctx(ORDER_EVENT, clients, shopify_url, INTAKE)
    with pytest.raises(ConnectorError) as caught:
        await ORDER_EVENT.subscribe(ctx, settings())
    assert caught.value.kind == "connector_error"
    assert "client secret" in caught.value.message
    assert shopify.webhooks == [] and not shopify.requests


async def test_a_refused_topic_fails_and_leaves_nothing_registered(shopify, shopify_url, clients):
    shopify.webhook_topics.discard("orders/paid")  # as for an app without the scope
    ctx = hook_ctx(ORDER_EVENT, clients, shopify_url, INTAKE)
    chosen = settings(topics=["orders/create", "orders/paid"], client_secret=SECRET)
    with pytest.raises(ConnectorError) as caught:
        await ORDER_EVENT.subscribe(ctx, chosen)
    assert caught.value.status_code == 422
    assert "Invalid topic" in caught.value.message
    assert shopify.webhooks == []  # the first one was deleted again


async def test_a_bad_token_is_an_auth_error(shopify, shopify_url, clients):
    ctx = hook_ctx(ORDER_EVENT, clients, shopify_url, INTAKE)
    ctx.credentials = {"access_token": "shpat_wrong"}
    with pytest.raises(ConnectorError) as caught:
        await ORDER_EVENT.subscribe(ctx, settings(client_secret=SECRET))
    assert caught.value.kind == "auth_error" and caught.value.status_code == 401
    assert shopify.webhooks == []


# -- Shopify delivering to a receiver -------------------------------------------------------


class Receiver:
    """A stand-in intake: runs the operation's on_request on what reaches it."""

    def __init__(self, op: TriggerOperation) -> None:
        self.op = op
        self.settings: Any = None
        self.state: dict[str, Any] = {}
        self.results: list[Any] = []

    async def handle(self, request: Request) -> Response:
        incoming = IncomingRequest.build(
            request.method,
            request.url.path,
            query=request.url.query,
            headers=list(request.headers.items()),
            body=await request.body(),
            url=str(request.url),
        )
        try:
            result = await self.op.receive(incoming, self.settings, self.state)
        except TriggerRejected as exc:
            self.results.append(exc)
            return JSONResponse({"error": exc.message}, exc.status)
        self.results.append(result)
        reply = self.op.answer(incoming, self.settings, self.state, result)
        return Response(reply.body, reply.status, headers=dict(reply.headers))


async def test_the_fake_delivers_a_signed_order_webhook_to_the_receiver(
    shopify, shopify_url, clients
):
    receiver = Receiver(ORDER_EVENT)
    app = Starlette(routes=[Route("/intake/{sub}", receiver.handle, methods=["POST"])])
    with serve_in_thread(app) as receiver_url:
        intake = f"{receiver_url}/intake/sub-7"
        ctx = hook_ctx(ORDER_EVENT, clients, shopify_url, intake)
        receiver.settings = settings(
            topics=["orders/create"], client_secret=FakeShopify.client_secret
        )
        receiver.state = await ORDER_EVENT.subscribe(ctx, receiver.settings)

        [delivery] = await asyncio.to_thread(shopify.deliver, "orders/create")
        assert delivery.status == 200
        [[event]] = receiver.results
        order = shopify.orders[0]
        assert event.data["order"]["id"] == order["id"]
        assert event.data["topic"] == "orders/create"
        assert event.data["shopDomain"] == f"{SHOP}.myshopify.com"
        assert event.data["apiVersion"] == "2024-10"
        assert ORDER_EVENT.key_for(event) == delivery.webhook_id
        assert assert_shaped(ORDER_EVENT, event)["order"]["name"] == order["name"]

        # a retry of the same delivery carries the same id
        [retry] = await asyncio.to_thread(
            shopify.deliver, "orders/create", webhook_id=delivery.webhook_id
        )
        assert ORDER_EVENT.key_for(receiver.results[-1][0]) == delivery.webhook_id
        assert retry.status == 200
        # signed by another app: refused
        [forged] = await asyncio.to_thread(shopify.deliver, "orders/create", secret="other")
        assert forged.status == 401
        assert isinstance(receiver.results[-1], TriggerRejected)
        # a topic nobody subscribed to reaches no one
        assert await asyncio.to_thread(shopify.deliver, "orders/paid") == []

        await ORDER_EVENT.unsubscribe(ctx, receiver.settings, receiver.state)
        assert await asyncio.to_thread(shopify.deliver, "orders/create") == []
    assert len(shopify.deliveries) == 3
