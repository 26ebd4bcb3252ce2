"""The TMU trigger (``tmu-trigger`` 1.0 and 1.1) through its declared hooks: signatures,
filtering to the subscribed user's calls, event types, subscribing and unsubscribing against
the emulator on loopback, and webhooks the emulator really sends, verified and parsed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
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
    ConnectorError,
    Event,
    IncomingRequest,
    NoTrigger,
    Trigger,
    TriggerRejected,
)
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import hook_context
from patchbay.connectors.tmu.connector import (
    ENVIRONMENTS,
    SERVICE,
    TMU_TRIGGER_1_0,
    TMU_TRIGGER_1_1,
)
from patchbay.connectors.tmu.fake import FakeTMU, create_app, sign
from patchbay.connectors.tmu.trigger import EVENT_TYPES, signature
from patchbay.testing.fakeserver import serve_in_thread

ALICE, BOB, CAROL = FakeTMU.alice_token, FakeTMU.bob_token, FakeTMU.carol_token
SECRET = "whsec_0123456789abcdef"
VERSIONS = [TMU_TRIGGER_1_0, TMU_TRIGGER_1_1]
CALL_OPS = ["call_started", "call_stopped"]
ALL_OPS = [(t, op) for t in VERSIONS for op in CALL_OPS] + [
    (TMU_TRIGGER_1_1, "chat_message_received")
]
ids = [f"{t.version}-{op}" for t, op in ALL_OPS]


@pytest.fixture
def tmu() -> Iterator[FakeTMU]:
    state = FakeTMU(delivery_backoff=0.01)
    yield state
    state.close()


@pytest.fixture
def tmu_url(tmu: FakeTMU) -> Iterator[str]:
    with serve_in_thread(create_app(tmu)) as url:
        yield url + "/v1"


# -- payloads as TMU sends them ----------------------------------------------------------


def payload(
    tmu: FakeTMU,
    event_type: str,
    *,
    host: str = "usr_alice",
    invitees: tuple[str, ...] = ("bob@example.com",),
    for_user: str = "usr_bob",
    sender: str | None = None,
    n: int = 1,
) -> dict[str, Any]:
    """One event body shaped as ``API.md`` (Deliveries) documents it, about a real call."""
    call = tmu.create_call(host, f"Call {n}", invitees=list(invitees))
    data: dict[str, Any] = {"call": tmu.call_to_api(call)}
    if event_type == "chat.message_received":
        data["message"] = tmu.message_to_api(tmu.post_message(call.id, sender or host, "hello"))
    return {
        "id": f"evt_{n:06d}abcd",
        "type": event_type,
        "created_at": "2030-01-31T08:30:00Z",
        "webhook_id": "wh_000001abcdef",
        "user_id": for_user,
        "data": data,
    }


def request(body: bytes | dict, *, secret: str | None = SECRET, **headers: str) -> IncomingRequest:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    sent = {"Content-Type": "application/json", "User-Agent": "TMU-Webhooks/1.0", **headers}
    if secret is not None:
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        sent.setdefault("X-TMU-Signature", "sha256=" + digest)
    return IncomingRequest.build("POST", "/intake/sub_1", headers=sent, body=raw)


def state(user_id: str = "usr_bob", secret: str = SECRET) -> dict[str, Any]:
    return {"webhook_id": "wh_000001abcdef", "secret": secret, "user_id": user_id}


async def receive(trigger: Trigger, name: str, req: IncomingRequest, st: dict | None = None):
    op = trigger.operation(name)
    assert op is not None
    return await op.receive(req, op.parse_settings({}), state() if st is None else st)


# -- declaration ----------------------------------------------------------------------------


def test_declared_as_tmu_trigger_in_two_versions():
    found = [t for t in builtin_triggers() if t.service.name == "tmu"]
    assert [(t.name, t.version) for t in found] == [("tmu-trigger", "1.0"), ("tmu-trigger", "1.1")]
    registry = Registry.discover()
    assert registry.trigger("tmu-trigger", "1.0") is TMU_TRIGGER_1_0
    assert registry.trigger("tmu-trigger", "1.1") is TMU_TRIGGER_1_1
    assert [op.name for op in TMU_TRIGGER_1_0.operations] == CALL_OPS
    assert [op.name for op in TMU_TRIGGER_1_1.operations] == [*CALL_OPS, "chat_message_received"]
    assert TMU_TRIGGER_1_0.operation("chat_message_received") is None
    titles = [op.title for op in TMU_TRIGGER_1_1.operations]
    assert titles == ["Call Started", "Call Stopped", "Chat Message Received"]
    for trigger in VERSIONS:
        assert trigger.service is SERVICE and trigger.environments is ENVIRONMENTS
        assert trigger.requires_auth
        for op in trigger.operations:
            assert not op.is_polling
            assert op.on_subscribe and op.on_unsubscribe and op.dedupe_key
            assert op.input_schema["properties"] == {}
            assert op.validator.errors({}) == []
            jsonschema.Draft4Validator.check_schema(op.output_schema)


def test_signature_matches_hex_hmac_sha256_vector():
    body = b"The quick brown fox jumps over the lazy dog"
    expected = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert signature("key", body) == expected == sign("key", body)


# -- verification -------------------------------------------------------------------------


@pytest.mark.parametrize("trigger,name", ALL_OPS, ids=ids)
async def test_a_signed_event_for_the_user_is_one_event(tmu: FakeTMU, trigger, name):
    body = payload(tmu, EVENT_TYPES[name])
    [event] = await receive(trigger, name, request(body))
    assert isinstance(event, Event)
    assert event.id == body["id"] == trigger.operation(name).key_for(event)
    assert event.occurred_at is not None and event.occurred_at.isoformat() == (
        "2030-01-31T08:30:00+00:00"
    )
    call = body["data"]["call"]
    if name == "chat_message_received":
        assert event.data == {**body["data"]["message"], "call": call}
    else:
        assert event.data == call
    op = trigger.operation(name)
    shaped = op.shape(event.data)
    assert shaped == event.data  # the output model describes the whole event
    jsonschema.Draft4Validator(op.output_schema).validate(shaped)


@pytest.mark.parametrize("trigger,name", ALL_OPS, ids=ids)
async def test_a_wrong_or_missing_signature_is_401(tmu: FakeTMU, trigger, name):
    body = payload(tmu, EVENT_TYPES[name])
    for req in (
        request(body, secret="whsec_another"),
        request(body, secret=None),
        request(body, **{"X-TMU-Signature": "sha256="}),
        request(body, **{"X-TMU-Signature": signature(SECRET, b"{}")}),
        request(body, **{"X-TMU-Signature": signature(SECRET, json.dumps(body).encode())[7:]}),
    ):
        with pytest.raises(TriggerRejected) as caught:
            await receive(trigger, name, req)
        assert caught.value.status == 401
        assert "X-TMU-Signature" in caught.value.message
    good = request(body)
    tampered = IncomingRequest.build(
        "POST", "/", headers=dict(good.headers), body=good.body.replace(b"Call 1", b"Call 9")
    )
    with pytest.raises(TriggerRejected) as caught:
        await receive(trigger, name, tampered)
    assert caught.value.status == 401
    # no secret in the state: nothing can be verified
    with pytest.raises(TriggerRejected) as caught:
        await receive(trigger, name, good, {"user_id": "usr_bob"})
    assert caught.value.status == 401


async def test_signature_hex_in_either_case_and_missing_is_named(tmu: FakeTMU):
    body = json.dumps(payload(tmu, "call.started")).encode()
    upper = "SHA256=" + signature(SECRET, body)[7:].upper()
    events = await receive(
        TMU_TRIGGER_1_0, "call_started", request(body, **{"x-tmu-signature": upper})
    )
    assert len(events) == 1
    with pytest.raises(TriggerRejected) as caught:
        await receive(TMU_TRIGGER_1_0, "call_started", request(body, secret=None))
    assert "missing" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[1]",
        b"{}",
        b'{"type": 3}',
        b'{"type": "call.started"}',
        b'{"type": "call.started", "data": {"call": "x"}}',
    ],
)
async def test_a_malformed_signed_body_is_400(body):
    with pytest.raises(TriggerRejected) as caught:
        await receive(TMU_TRIGGER_1_1, "call_started", request(body))
    assert caught.value.status == 400


async def test_a_chat_event_without_its_message_is_400(tmu: FakeTMU):
    body = payload(tmu, "chat.message_received")
    del body["data"]["message"]
    with pytest.raises(TriggerRejected) as caught:
        await receive(TMU_TRIGGER_1_1, "chat_message_received", request(body))
    assert caught.value.status == 400


async def test_a_bad_signature_is_refused_before_the_body_is_read():
    with pytest.raises(TriggerRejected) as caught:
        await receive(TMU_TRIGGER_1_0, "call_stopped", request(b"{not json", secret="wrong"))
    assert caught.value.status == 401


# -- filtering ----------------------------------------------------------------------------


@pytest.mark.parametrize("trigger,name", ALL_OPS, ids=ids)
async def test_another_users_call_is_no_trigger(tmu: FakeTMU, trigger, name):
    # alice hosts, bob is invited: nothing for carol
    body = payload(tmu, EVENT_TYPES[name])
    result = await receive(trigger, name, request(body), state("usr_carol"))
    assert isinstance(result, NoTrigger)
    assert "usr_carol" in result.reason
    # a call between carol and alice is nothing for bob either
    other = payload(tmu, EVENT_TYPES[name], host="usr_carol", invitees=("alice@example.com",))
    assert isinstance(await receive(trigger, name, request(other)), NoTrigger)
    # a state without a user id matches nobody (not the invitees without an account)
    guest = payload(tmu, EVENT_TYPES[name], invitees=("guest@elsewhere.example",))
    assert guest["data"]["call"]["invitees"][0]["user_id"] is None
    assert isinstance(await receive(trigger, name, request(guest), {"secret": SECRET}), NoTrigger)


@pytest.mark.parametrize("trigger,name", ALL_OPS, ids=ids)
async def test_the_invitee_and_the_host_see_the_call(tmu: FakeTMU, trigger, name):
    body = payload(tmu, EVENT_TYPES[name], invitees=("carol@example.com", "bob@example.com"))
    for user_id in ("usr_bob", "usr_carol"):  # invited
        [event] = await receive(trigger, name, request(body), state(user_id))
        assert event.id == body["id"]
    if name != "chat_message_received":  # alice sent the chat message herself
        [event] = await receive(trigger, name, request(body), state("usr_alice"))  # the host
        assert event.data["host"]["user_id"] == "usr_alice"


@pytest.mark.parametrize("trigger,name", ALL_OPS, ids=ids)
async def test_another_event_type_is_no_trigger(tmu: FakeTMU, trigger, name):
    for other in ("call.started", "call.stopped", "chat.message_received", "call.paused"):
        if other == EVENT_TYPES[name]:
            continue
        body = payload(tmu, other) if other != "call.paused" else {"id": "e", "type": other}
        result = await receive(trigger, name, request(body))
        assert isinstance(result, NoTrigger)
        assert other in result.reason


async def test_a_chat_message_the_user_sent_is_no_trigger(tmu: FakeTMU):
    body = payload(tmu, "chat.message_received", sender="usr_bob")
    result = await receive(TMU_TRIGGER_1_1, "chat_message_received", request(body))
    assert isinstance(result, NoTrigger) and "themselves" in result.reason
    [event] = await receive(
        TMU_TRIGGER_1_1, "chat_message_received", request(body), state("usr_alice")
    )
    assert event.data["sender"]["user_id"] == "usr_bob"
    assert event.data["text"] == "hello" and event.data["call"]["host"]["user_id"] == "usr_alice"


async def test_duplicates_share_the_tmu_event_id(tmu: FakeTMU):
    body = payload(tmu, "call.started", n=7)
    op = TMU_TRIGGER_1_0.operation("call_started")
    first = await receive(TMU_TRIGGER_1_0, "call_started", request(body))
    again = await receive(TMU_TRIGGER_1_0, "call_started", request(body))
    other = await receive(TMU_TRIGGER_1_0, "call_started", request(payload(tmu, "call.started")))
    assert op.key_for(first[0]) == op.key_for(again[0]) == "evt_000007abcd"
    assert op.key_for(other[0]) == "evt_000001abcd"


# -- subscribing against the emulator -------------------------------------------------------


def context(trigger: Trigger, name: str, clients, url: str, token: str, intake: str | None):
    return hook_context(
        trigger,
        trigger.operation(name),
        clients=clients,
        credentials={"api_token": token},
        user_data={"base_url": url},
        intake_url=intake,
    )


@pytest.mark.parametrize("trigger,name", ALL_OPS, ids=ids)
async def test_subscribe_registers_and_unsubscribe_removes_the_webhook(
    tmu: FakeTMU, tmu_url: str, clients: HttpClientPool, trigger, name
):
    intake = "https://patchbay.example/intake/sub_42?x=1"
    op = trigger.operation(name)
    ctx = context(trigger, name, clients, tmu_url, BOB, intake)
    st = await op.subscribe(ctx, op.parse_settings({}))
    assert set(st) == {"webhook_id", "secret", "user_id"}
    assert st["user_id"] == "usr_bob"
    webhook = tmu.webhooks[st["webhook_id"]]
    assert (webhook.url, webhook.events, webhook.user_id) == (
        intake,
        [EVENT_TYPES[name]],
        "usr_bob",
    )
    assert st["secret"] == webhook.secret and st["secret"].startswith("whsec_")
    assert tmu.requests_to("GET", "/v1/me")[0].headers["authorization"] == f"Bearer {BOB}"
    json.dumps(st)  # kept with the subscription
    await op.unsubscribe(ctx, op.parse_settings({}), st)
    assert st["webhook_id"] not in tmu.webhooks
    assert len(tmu.requests_to("DELETE", f"/v1/webhooks/{st['webhook_id']}")) == 1
    # already gone (404 webhook_not_found) is fine; so is a state without a webhook
    await op.unsubscribe(ctx, op.parse_settings({}), st)
    await op.unsubscribe(ctx, op.parse_settings({}), {})


async def test_subscribe_errors_are_tmus(tmu: FakeTMU, tmu_url: str, clients: HttpClientPool):
    op = TMU_TRIGGER_1_0.operation("call_started")
    intake = "https://patchbay.example/intake/sub_1"
    with pytest.raises(ConnectorError) as caught:
        await op.subscribe(
            context(TMU_TRIGGER_1_0, "call_started", clients, tmu_url, "nope", intake), {}
        )
    assert (caught.value.kind, caught.value.code) == ("auth_error", "unauthorized")
    with pytest.raises(ConnectorError) as caught:
        await op.subscribe(
            context(TMU_TRIGGER_1_0, "call_started", clients, tmu_url, BOB, None), {}
        )
    assert "intake URL" in caught.value.message
    assert not tmu.webhooks


async def test_unsubscribe_failures_other_than_404_are_raised(
    tmu: FakeTMU, tmu_url: str, clients: HttpClientPool
):
    op = TMU_TRIGGER_1_1.operation("call_stopped")
    ctx = context(TMU_TRIGGER_1_1, "call_stopped", clients, tmu_url, ALICE, "https://p.example/i")
    st = await op.subscribe(ctx, {})
    tmu.fail_next(1, status=500, method="DELETE")
    with pytest.raises(ConnectorError) as caught:
        await op.unsubscribe(ctx, {}, st)
    assert caught.value.code == "internal_error"
    assert st["webhook_id"] in tmu.webhooks
    await op.unsubscribe(ctx, {}, st)
    assert not tmu.webhooks


# -- end to end: the emulator's own webhooks ---------------------------------------------------


class Receiver:
    """A loopback intake: keeps every request as the platform's intake would see it."""

    def __init__(self) -> None:
        self.received: list[IncomingRequest] = []

    async def endpoint(self, request: Request) -> Response:
        self.received.append(
            IncomingRequest.build(
                request.method,
                request.url.path,
                query=request.url.query,
                headers=list(request.headers.items()),
                body=await request.body(),
                url=str(request.url),
            )
        )
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/intake/{sub}", self.endpoint, methods=["POST"])])

    def to(self, sub: str) -> list[IncomingRequest]:
        return [r for r in self.received if r.path == f"/intake/{sub}"]


@pytest.mark.parametrize("trigger", VERSIONS, ids=["1.0", "1.1"])
async def test_webhooks_the_emulator_sends_verify_and_parse(
    tmu: FakeTMU, tmu_url: str, clients: HttpClientPool, trigger: Trigger
):
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as hooks:
        subs: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        for who, token in (("bob", BOB), ("carol", CAROL)):
            for op in trigger.operations:
                intake = f"{hooks}/intake/{who}-{op.name}"
                ctx = context(trigger, op.name, clients, tmu_url, token, intake)
                subs[(who, op.name)] = (op, await op.subscribe(ctx, {}))
        # Alice, through TMU's API, starts a call with Bob, chats in it and stops it; she also
        # starts and stops a call without Bob, and Carol one with only Alice.
        async with httpx.AsyncClient(
            base_url=tmu_url, headers={"Authorization": f"Bearer {ALICE}"}, trust_env=False
        ) as alice:
            answer = await alice.post(
                "/calls", json={"subject": "Planning", "invitees": [{"email": "bob@example.com"}]}
            )
            call = answer.json()
            await alice.post(f"/calls/{call['id']}/messages", json={"text": "Agenda attached"})
            await alice.post(f"/calls/{call['id']}/stop")
        solo = tmu.create_call("usr_alice", "Alone")
        tmu.stop_call(solo.id)
        theirs = tmu.create_call("usr_carol", "Carol and Alice", invitees=["alice@example.com"])
        tmu.stop_call(theirs.id)
        expected = 3 if trigger is TMU_TRIGGER_1_1 else 2
        deliveries = tmu.wait_for_deliveries(expected + 2)
        assert len(deliveries) == expected + 2
        assert all(d.delivered for d in deliveries), deliveries

    bob_events = []
    for op in trigger.operations:
        _, st = subs[("bob", op.name)]
        [req] = receiver.to(f"bob-{op.name}")
        # what intake keeps and replays later gives the same answer
        again = IncomingRequest.from_record(json.loads(json.dumps(req.to_record())))
        [event] = await op.receive(again, {}, st)
        assert event.id and event.id.startswith("evt_")
        assert event.id == json.loads(req.body)["id"] == op.key_for(event)
        jsonschema.Draft4Validator(op.output_schema).validate(op.shape(event.data))
        bob_events.append(event)
        # another subscription's secret does not verify it
        _, carols = subs[("carol", op.name)]
        with pytest.raises(TriggerRejected):
            await op.receive(req, {}, carols)
    started, stopped, *chat = bob_events
    assert (started.data["id"], started.data["status"]) == (call["id"], "live")
    assert (stopped.data["id"], stopped.data["status"]) == (call["id"], "ended")
    assert stopped.data["invitees"][0]["user_id"] == "usr_bob"
    if chat:
        assert chat[0].data["text"] == "Agenda attached"
        assert chat[0].data["sender"]["user_id"] == "usr_alice"
        assert chat[0].data["call"]["id"] == call["id"]
    # Carol's subscriptions got her own call's start and stop only
    for op in trigger.operations:
        _, st = subs[("carol", op.name)]
        for req in receiver.to(f"carol-{op.name}"):
            [event] = await op.receive(req, {}, st)
            assert event.data.get("id") == theirs.id
    assert len(receiver.to("carol-call_started")) == len(receiver.to("carol-call_stopped")) == 1
    assert receiver.to("carol-chat_message_received") == []
    # unsubscribing removes every webhook from the emulator
    for (who, name), (op, st) in subs.items():
        token = BOB if who == "bob" else CAROL
        await op.unsubscribe(context(trigger, name, clients, tmu_url, token, None), {}, st)
    assert tmu.webhooks == {}
