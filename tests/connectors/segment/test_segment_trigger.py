"""The Segment trigger through its declared hooks: every message type signed and unsigned,
signatures, malformed bodies, type filtering, ``userID``/``userId`` and the dedupe key."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from patchbay.connectors.registry import Registry, builtin_triggers
from patchbay.connectors.sdk import (
    DEFAULT_REPLY,
    Event,
    IncomingRequest,
    NoTrigger,
    TriggerRejected,
)
from patchbay.connectors.segment.trigger import MESSAGE_TYPES, SEGMENT_MESSAGE, signature

SECRET = "s3cr3t-shared"

COMMON = {
    "anonymousId": "507f191e810c19729de860ea",
    "context": {"ip": "8.8.8.8", "library": {"name": "analytics.js", "version": "2.11.1"}},
    "integrations": {"All": True},
    "timestamp": "2015-02-23T22:28:55.111Z",
    "originalTimestamp": "2015-02-23T22:28:55.111Z",
    "sentAt": "2015-02-23T22:28:55.111Z",
    "receivedAt": "2015-02-23T22:28:55.387Z",
    "version": 2,
}

MESSAGES = {
    "identify": {"userId": "97980cfea0067", "traits": {"email": "ada@example.com"}},
    "track": {"userId": "97980cfea0067", "event": "Item Purchased", "properties": {"sku": 1}},
    "page": {"userId": "u1", "name": "Home", "category": "Docs", "properties": {"path": "/"}},
    "screen": {"userId": "u1", "name": "Settings", "properties": {"variation": "blue"}},
    "group": {"userId": "u1", "groupId": "0e8c78ea9d97", "traits": {"name": "Initech"}},
    "alias": {"userId": "u2", "previousId": "39239-239239-239239-23923"},
    "delete": {"userId": "u3"},
}


def message(kind: str, n: int = 1) -> dict:
    if kind == "delete":  # Segment's privacy deletion: type, user id and timestamp only
        return {"type": "delete", "messageId": f"del-{n}", "timestamp": COMMON["timestamp"]} | (
            MESSAGES["delete"]
        )
    return {"type": kind, "messageId": f"{kind}-{n}", **COMMON, **MESSAGES[kind]}


def request(body: bytes | str | dict, *, secret: str | None = None, **headers) -> IncomingRequest:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    raw = raw.encode() if isinstance(raw, str) else raw
    sent = {"Content-Type": "application/json", "User-Agent": "Segment.io/1.0", **headers}
    if secret is not None:
        sent["X-Signature"] = hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
    return IncomingRequest.build("POST", "/intake/abc", headers=sent, body=raw)


def settings(**data):
    return SEGMENT_MESSAGE.parse_settings(data)


async def receive(req: IncomingRequest, **data):
    return await SEGMENT_MESSAGE.receive(req, settings(**data), {})


def test_declared_as_trays_segment_trigger():
    [trigger] = [t for t in builtin_triggers() if t.service.name == "segment"]
    assert (trigger.name, trigger.version) == ("segment-trigger", "1.0")
    assert Registry.discover().trigger("segment-trigger", "1.0") is trigger
    op = trigger.operation("segment_message")
    assert op is SEGMENT_MESSAGE and op.title == "Segment Message"
    assert not trigger.requires_auth and not op.is_polling
    types = op.input_schema["properties"]["message_types"]
    assert types["type"] == "array"
    assert types["items"]["enum"] == list(MESSAGE_TYPES)
    assert types["default"] == list(MESSAGE_TYPES)
    assert "shared_secret" not in op.input_schema.get("required", [])
    assert settings().message_types == list(MESSAGE_TYPES)
    assert op.validator.errors({}) == []
    assert op.validator.errors({"message_types": ["nope"]})
    assert op.validator.errors({"message_types": []})
    props = op.output_schema["properties"]
    for name in ("type", "messageId", "anonymousId", "userId", "context", "integrations"):
        assert name in props
    for name in ("timestamp", "originalTimestamp", "sentAt", "receivedAt", "version"):
        assert name in props
    for name in ("traits", "event", "properties", "name", "category", "groupId", "previousId"):
        assert name in props


@pytest.mark.parametrize("kind", MESSAGE_TYPES)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_every_message_type_signed_and_unsigned(kind, signed):
    body = message(kind)
    secret = SECRET if signed else None
    extra = {"shared_secret": SECRET} if signed else {}
    events = await receive(request(body, secret=secret), **extra)
    assert isinstance(events, list) and len(events) == 1
    [event] = events
    assert isinstance(event, Event)
    assert event.data == body
    assert event.id == body["messageId"]
    assert SEGMENT_MESSAGE.key_for(event) == body["messageId"]
    assert event.occurred_at == datetime(2015, 2, 23, 22, 28, 55, 111000, tzinfo=UTC)
    r = request(body, secret=secret)
    assert SEGMENT_MESSAGE.answer(r, settings(**extra), {}, events) == DEFAULT_REPLY


async def test_signature_helper_matches_hex_hmac_sha1():
    body = b'{"type":"track"}'
    assert signature("key", body) == hmac.new(b"key", body, hashlib.sha1).hexdigest()
    upper = request(message("track"), **{"X-Signature": signature(SECRET, b"x").upper()})
    with pytest.raises(TriggerRejected):  # signed another body
        await receive(upper, shared_secret=SECRET)
    raw = json.dumps(message("track")).encode()
    upper = request(raw, **{"X-Signature": signature(SECRET, raw).upper()})
    assert len(await receive(upper, shared_secret=SECRET)) == 1  # hex in either case


async def test_bad_signature_is_401():
    with pytest.raises(TriggerRejected) as caught:
        await receive(request(message("track"), secret="another secret"), shared_secret=SECRET)
    assert caught.value.status == 401
    assert "X-Signature" in caught.value.message
    # a body changed after signing
    good = request(message("track"), secret=SECRET)
    tampered = IncomingRequest.build(
        "POST", "/", headers=dict(good.headers), body=good.body.replace(b"Item", b"Free")
    )
    with pytest.raises(TriggerRejected) as caught:
        await receive(tampered, shared_secret=SECRET)
    assert caught.value.status == 401


async def test_missing_signature_with_a_secret_is_401():
    with pytest.raises(TriggerRejected) as caught:
        await receive(request(message("identify")), shared_secret=SECRET)
    assert caught.value.status == 401
    assert "missing" in caught.value.message


async def test_signature_is_ignored_without_a_secret():
    events = await receive(request(message("page"), **{"X-Signature": "deadbeef"}))
    assert len(events) == 1


@pytest.mark.parametrize(
    "body", [b"", b"   ", b"{not json", b'{"type": "track"', b"\xff\xfe", b"[1, 2]", b'"track"']
)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_malformed_body_is_400(body, signed):
    extra = {"shared_secret": SECRET} if signed else {}
    with pytest.raises(TriggerRejected) as caught:
        await receive(request(body, secret=SECRET if signed else None), **extra)
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [{}, {"type": None}, {"type": ""}, {"type": 3}])
async def test_a_message_without_a_type_is_400(body):
    with pytest.raises(TriggerRejected) as caught:
        await receive(request(body))
    assert caught.value.status == 400


async def test_a_bad_signature_is_refused_before_the_body_is_read():
    with pytest.raises(TriggerRejected) as caught:
        await receive(request(b"{not json", secret="wrong"), shared_secret=SECRET)
    assert caught.value.status == 401


async def test_types_are_filtered_and_still_acknowledged():
    chosen = ["track", "delete"]
    for kind in MESSAGE_TYPES:
        req = request(message(kind))
        result = await receive(req, message_types=chosen)
        if kind in chosen:
            assert [e.data["type"] for e in result] == [kind]
        else:
            assert isinstance(result, NoTrigger), kind
            assert kind in result.reason
            answer = SEGMENT_MESSAGE.answer(req, settings(message_types=chosen), {}, result)
            assert 200 <= answer.status < 300


async def test_an_unknown_type_is_acknowledged_and_dropped():
    result = await receive(request({"type": "experiment", "messageId": "m"}))
    assert isinstance(result, NoTrigger)


async def test_delete_accepts_userID_and_userId():
    spelled = {"type": "delete", "userID": "gone-1", "timestamp": "2023-04-13T10:00:00Z"}
    [event] = await receive(request(spelled), message_types=["delete"])
    assert event.data["userId"] == "gone-1"
    assert event.data["userID"] == "gone-1"  # the original kept
    assert event.data["timestamp"] == spelled["timestamp"]
    [event] = await receive(request({"type": "delete", "userId": "gone-2"}))
    assert event.data == {"type": "delete", "userId": "gone-2"}
    both = {"type": "delete", "userId": "a", "userID": "b"}
    [event] = await receive(request(both))
    assert event.data == both


async def test_dedupe_key_is_the_message_id():
    first = await receive(request(message("track", 7)))
    again = await receive(request(message("track", 7)))
    other = await receive(request(message("track", 8)))
    key = SEGMENT_MESSAGE.key_for
    assert key(first[0]) == key(again[0]) == "track-7"
    assert key(other[0]) == "track-8"
    [anonymous] = await receive(request({"type": "delete", "userID": "x"}))
    assert key(anonymous) is None  # nothing to dedupe on


def test_incoming_request_round_trips_through_a_record():
    req = request(message("group"), secret=SECRET)
    req = IncomingRequest.build(
        "post", "/i/x", query="a=1&b=", headers=dict(req.headers), body=req.body
    )
    again = IncomingRequest.from_record(json.loads(json.dumps(req.to_record())))
    assert again == req
    assert again.method == "POST"
    assert again.query_param("b") == "" and again.query_param("c") is None
    assert again.header("x-signature") == signature(SECRET, req.body)
