"""The public intake URL (``/intake/{id}``) with the Segment trigger: verification before
anything is stored, limits, filtering, deduplication, and every Segment message type reaching
the subscriber, signed and unsigned."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber

SUBS = "/core/v1/subscriptions"
SEGMENT = {"name": "segment-trigger", "version": "1.0"}
SECRET = "segment-shared-secret"


async def subscribe(api, endpoint: str, **input: Any) -> dict[str, Any]:
    body = {
        "name": "segment",
        "trigger": SEGMENT,
        "operation": "segment_message",
        "input": input,
        "endpoint": endpoint,
    }
    r = await api.client.post(SUBS, json=body, headers=api.master)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active"
    return r.json()


def intake_path(created: dict[str, Any]) -> str:
    return urlsplit(created["intakeUrl"]).path


def segment_signature(secret: str, body: bytes) -> str:
    """Segment's X-Signature: hex HMAC-SHA1 of the raw body under the shared secret."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


async def send(api, created, message: Any, *, secret: str | None = None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(message).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Signature"] = segment_signature(secret, body)
    return await api.client.post(intake_path(created), content=body, headers=headers)


async def stored_requests(api, subscription_id: str) -> int:
    async with api.platform.db.session() as s:
        return await s.scalar(
            text("SELECT count(*) FROM intake_requests WHERE subscription_id = :id"),
            {"id": subscription_id},
        )


async def stored_events(api, subscription_id: str) -> int:
    async with api.platform.db.session() as s:
        return await s.scalar(
            text("SELECT count(*) FROM trigger_events WHERE subscription_id = :id"),
            {"id": subscription_id},
        )


@pytest.fixture
def subscriber():
    sub = Subscriber()
    with serve_in_thread(sub.app) as url:
        yield sub, url + "/hook"


def track(message_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "messageId": message_id, "userId": "u1", "event": "Signed Up", **extra}


async def test_unknown_intake_id_is_404(api):
    for path in (
        "/intake/" + secrets.token_urlsafe(24),
        "/intake/short",
        "/intake/",
        "/intake/" + "x" * 65,
        "/intake/" + secrets.token_urlsafe(24) + "/more",
    ):
        r = await api.client.post(path, json=track("m1"))
        api.expect_error(r, 404, "not_found")
    async with api.platform.db.session() as s:
        assert await s.scalar(text("SELECT count(*) FROM intake_requests")) == 0


async def test_intake_needs_no_bearer_and_accepts_a_trailing_slash(api, subscriber):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint)
    r = await api.client.post(intake_path(created) + "/", json=track("m1"))
    assert r.status_code == 200, r.text
    [got] = await sub.await_for(1)
    assert got.json["messageId"] == "m1"


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 40, "not hex", "sha1=deadbeef"],
)
async def test_bad_signature_is_401_and_nothing_is_stored(api, subscriber, signature):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint, shared_secret=SECRET)
    body = json.dumps(track("m1")).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Signature"] = signature
    r = await api.client.post(intake_path(created), content=body, headers=headers)
    api.expect_error(r, 401)
    # signed with another secret, or over another body
    r = await send(api, created, track("m1"), secret="another-secret")
    api.expect_error(r, 401)
    headers["X-Signature"] = segment_signature(SECRET, body + b" ")
    r = await api.client.post(intake_path(created), content=body, headers=headers)
    api.expect_error(r, 401)
    assert await stored_requests(api, created["id"]) == 0

    # the right signature goes through
    r = await send(api, created, track("m2"), secret=SECRET)
    assert r.status_code == 200, r.text
    assert await stored_requests(api, created["id"]) == 1
    [got] = await sub.await_for(1)
    assert got.json["messageId"] == "m2"


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"[1, 2]", b'"track"', b'{"messageId": "m1"}', b"\xff\xfe"]
)
async def test_malformed_body_is_400_and_nothing_is_stored(api, subscriber, raw):
    _, endpoint = subscriber
    created = await subscribe(api, endpoint)
    r = await send(api, created, None, raw=raw)
    api.expect_error(r, 400)
    assert await stored_requests(api, created["id"]) == 0


async def test_body_over_the_limit_is_413(settings, make_api, subscriber):
    sub, endpoint = subscriber
    async with make_api(settings.model_copy(update={"intake_max_body_bytes": 200})) as api:
        created = await subscribe(api, endpoint)
        big = track("m1", properties={"pad": "x" * 300})
        r = await send(api, created, big)
        api.expect_error(r, 413, "payload_too_large")

        # without a Content-Length (chunked), the limit holds as the body is read
        async def chunks():
            data = json.dumps(big).encode()
            for i in range(0, len(data), 50):
                yield data[i : i + 50]

        r = await api.client.post(intake_path(created), content=chunks())
        api.expect_error(r, 413, "payload_too_large")
        assert await stored_requests(api, created["id"]) == 0

        small = await send(api, created, track("m2"))
        assert small.status_code == 200, small.text
        [got] = await sub.await_for(1)
        assert got.json["messageId"] == "m2"


async def test_filtered_out_message_type_is_acknowledged_and_dropped(api, subscriber):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint, message_types=["track"])
    identify = {"type": "identify", "messageId": "i1", "userId": "u1", "traits": {"a": 1}}
    r = await send(api, created, identify)
    assert r.status_code == 200, r.text
    # a type Segment's Tray destination never sends: acknowledged too
    r = await send(api, created, {"type": "custom-thing", "messageId": "c1"})
    assert r.status_code == 200, r.text
    assert await stored_requests(api, created["id"]) == 0
    r = await send(api, created, track("t1"))
    assert r.status_code == 200, r.text
    got = await sub.await_for(1)
    await asyncio.sleep(0.2)  # anything else would have arrived by now
    assert [d.json["messageId"] for d in sub.received] == ["t1"]
    assert got[0].json["type"] == "track"
    assert await stored_events(api, created["id"]) == 1


async def test_the_same_message_id_is_delivered_once(api, subscriber):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint)
    for _ in range(3):
        r = await send(api, created, track("dup-1"))
        assert r.status_code == 200, r.text
    # a redelivery after the first was processed and delivered is dropped as well
    await sub.await_for(1)
    r = await send(api, created, track("dup-1"))
    assert r.status_code == 200, r.text
    r = await send(api, created, track("next"))
    assert r.status_code == 200, r.text
    await sub.await_for(2)
    await asyncio.sleep(0.2)
    assert [d.json["messageId"] for d in sub.received] == ["dup-1", "next"]
    assert await stored_requests(api, created["id"]) == 2
    assert await stored_events(api, created["id"]) == 2
    events = (await api.client.get(f"{SUBS}/{created['id']}/events", headers=api.master)).json()
    assert [e["payload"]["messageId"] for e in events["elements"]] == ["dup-1", "next"]


MESSAGES = [
    {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
    {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"n": 2}},
    {"type": "page", "anonymousId": "anon", "name": "Home", "properties": {"path": "/"}},
    {"type": "screen", "userId": "u1", "name": "Settings", "properties": {}},
    {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"plan": "pro"}},
    {"type": "alias", "userId": "u1", "previousId": "anon"},
    {"type": "delete", "userID": "u-deleted"},  # Segment's Tray page spells it so
]


def all_messages(prefix: str) -> list[dict[str, Any]]:
    common = {"timestamp": "2024-05-01T12:00:00.000Z", "context": {"ip": "203.0.113.9"}}
    return [{**m, **common, "messageId": f"{prefix}-{m['type']}"} for m in MESSAGES]


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_every_segment_message_type_is_delivered(api, subscriber, signed):
    sub, endpoint = subscriber
    input = {"shared_secret": SECRET} if signed else {}
    created = await subscribe(api, endpoint, **input)
    messages = all_messages("signed" if signed else "plain")
    for message in messages:
        r = await send(api, created, message, secret=SECRET if signed else None)
        assert r.status_code == 200, (message["type"], r.text)
    got = await sub.await_for(len(messages))
    assert len(got) == len(messages)
    by_type = {d.json["type"]: d.json for d in got}
    assert [d.json["type"] for d in got] == [m["type"] for m in messages]
    for message in messages:
        delivered = by_type[message["type"]]
        for key, value in message.items():
            if key != "userID":
                assert delivered[key] == value, (message["type"], key, delivered)
    assert by_type["delete"]["userId"] == "u-deleted"
    assert by_type["track"]["event"] == "Order Completed"
    assert by_type["alias"]["previousId"] == "anon"
    for delivery in got:
        assert Subscriber.verified(delivery, created["signingKey"])
    if signed:  # the same messages unsigned are refused
        r = await send(api, created, track("unsigned"))
        api.expect_error(r, 401)


REFUSE_SQLITE = """
CREATE TRIGGER refuse_intake BEFORE INSERT ON intake_requests
BEGIN SELECT RAISE(ABORT, 'disk full'); END
"""
REFUSE_PG = [
    """CREATE FUNCTION refuse_intake() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER refuse_intake BEFORE INSERT ON intake_requests
    FOR EACH ROW EXECUTE FUNCTION refuse_intake()""",
]


async def test_a_request_that_could_not_be_stored_gets_503_and_its_retry_works(api, subscriber):
    """The database refuses the write (a trigger stands in for a full disk): the sender gets
    a non-2xx with Retry-After, nothing is stored; sent again once the database is back,
    the message is stored and delivered once."""
    sub, url = subscriber
    created = await subscribe(api, url)
    db = api.platform.db
    async with db.engine.begin() as conn:
        for statement in [REFUSE_SQLITE] if db.is_sqlite else REFUSE_PG:
            await conn.execute(text(statement))
    r = await send(api, created, track("m-1"))
    body = api.expect_error(r, 503, "intake_unavailable")
    assert "again" in body["message"]
    assert r.headers["retry-after"] == "1"
    assert await stored_requests(api, created["id"]) == 0

    async with db.engine.begin() as conn:
        await conn.execute(
            text("DROP TRIGGER refuse_intake" + ("" if db.is_sqlite else " ON intake_requests"))
        )
    r = await send(api, created, track("m-1"))  # the sender retries the same message
    assert r.status_code == 200, r.text
    [delivered] = await sub.await_for(1)
    assert delivered.json["messageId"] == "m-1"
    assert await stored_requests(api, created["id"]) == 1
