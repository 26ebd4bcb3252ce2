"""Delivering a subscription's events to its endpoint: signatures and headers, retries in
order (5xx, 429 with Retry-After, timeouts), dead letters and replay, the delivery log,
signing-key rotation, billing, and the encryption-key rotation covering subscriptions.

Retries run on short settings (backoff 0.05 s, worker poll 0.05 s) so the suite stays fast;
the one real wait is a subscriber's ``Retry-After: 1``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from patchbay.crypto import KeyRing, KeyRingError
from patchbay.services.credentials.key_rotation import rotate
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.process import free_port
from patchbay.testing.subscriber import Subscriber

SUBS = "/core/v1/subscriptions"
SEGMENT = {"name": "segment-trigger", "version": "1.0"}
SECRET = "segment-shared-secret"
MASK = "********"


@pytest.fixture
def fast(settings):
    """Settings with fast retries and a worker that looks for work often."""
    return settings.model_copy(
        update={
            "delivery_backoff_seconds": 0.05,
            "worker_poll_seconds": 0.05,
        }
    )


@pytest.fixture
def subscriber():
    sub = Subscriber()
    with serve_in_thread(sub.app) as url:
        yield sub, url + "/hook"


class Failing:
    """A subscriber that answers 500 while :attr:`failing` is set (recorded like any other
    answer), then 200 again."""

    def __init__(self, sub: Subscriber) -> None:
        self.sub = sub
        self.failing = True

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.failing:
            self.sub.script(500)
        await self.sub(scope, receive, send)


async def subscribe(api, endpoint: str, headers=None, **input: Any) -> dict[str, Any]:
    body = {
        "name": "segment",
        "trigger": SEGMENT,
        "operation": "segment_message",
        "input": input,
        "endpoint": endpoint,
    }
    r = await api.client.post(SUBS, json=body, headers=headers or api.master)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active"
    return r.json()


def segment_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


async def send(api, created, message_id: str, *, secret: str | None = None, **extra: Any):
    message = {"type": "track", "messageId": message_id, "userId": "u1", "event": "E", **extra}
    body = json.dumps(message).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Signature"] = segment_signature(secret, body)
    r = await api.client.post(urlsplit(created["intakeUrl"]).path, content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r


def tray_signature(key: str, body: bytes) -> str:
    """What a Tray client checks: base64(HMAC-SHA256(base64-decoded signingKey, raw body))."""
    digest = hmac.new(base64.b64decode(key), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


async def get(api, path: str, headers=None, **params: Any) -> dict[str, Any]:
    r = await api.client.get(path, params=params or None, headers=headers or api.master)
    assert r.status_code == 200, r.text
    return r.json()


async def await_events(api, sid: str, status: str, count: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = (await get(api, f"{SUBS}/{sid}/events", status=status))["elements"]
        if len(events) >= count:
            return events
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} {status} events after {timeout}s")


async def settled(api, subscription_id: str, event_id: str, timeout: float = 5.0) -> dict:
    """The event once Patchbay has stored the outcome of the delivery the subscriber just
    answered (that commit follows the answer by a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        event = await get(api, f"{SUBS}/{subscription_id}/events/{event_id}")
        if event["status"] != "pending" or time.monotonic() > deadline:
            return event
        await asyncio.sleep(0.02)


async def all_settled(api, subscription_id: str, timeout: float = 5.0) -> dict:
    """The delivery log once no event is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        log = await get(api, f"{SUBS}/{subscription_id}/deliveries", first=100)
        if log["events"]["pending"] == 0 or time.monotonic() > deadline:
            return log
        await asyncio.sleep(0.02)


def message_ids(deliveries) -> list[str]:
    return [d.json["messageId"] for d in deliveries]


# -- signatures and headers --------------------------------------------------------------


async def test_delivery_is_signed_and_carries_patchbays_headers(api, subscriber):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint)
    before = int(time.time())
    await send(api, created, "m1")
    [got] = await sub.await_for(1)
    assert Subscriber.verified(got, created["signingKey"])
    assert got.headers["x-tray-signature"] == tray_signature(created["signingKey"], got.body)
    assert got.headers["x-patchbay-signature"] == got.headers["x-tray-signature"]
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-patchbay-subscription-id"] == created["id"]
    assert before - 1 <= int(got.headers["x-patchbay-timestamp"]) <= time.time() + 1
    assert got.headers["x-patchbay-attempt"] == "1"
    event_id = got.headers["x-patchbay-event-id"]
    event = await settled(api, created["id"], event_id)
    assert event["id"] == event_id
    assert event["status"] == "delivered"
    assert event["attempts"] == 1
    assert event["payload"] == got.json
    assert got.json["messageId"] == "m1" and got.json["event"] == "E"
    [attempt] = event["deliveries"]
    assert attempt["eventId"] == event_id
    assert attempt["attempt"] == 1
    assert attempt["statusCode"] == 200
    assert attempt["outcome"] == "delivered"
    assert isinstance(attempt["latencyMs"], int | float) and attempt["latencyMs"] >= 0
    # a wrong key does not verify
    other = base64.b64encode(b"k" * 32).decode()
    assert not Subscriber.verified(got, other)


async def test_unknown_event_is_404(api, subscriber):
    _, endpoint = subscriber
    created = await subscribe(api, endpoint)
    r = await api.client.get(f"{SUBS}/{created['id']}/events/nope", headers=api.master)
    api.expect_error(r, 404, "event_not_found")
    r = await api.client.post(f"{SUBS}/{created['id']}/events/nope/replay", headers=api.master)
    api.expect_error(r, 404, "event_not_found")
    r = await api.client.get(
        f"{SUBS}/{created['id']}/events", params={"status": "weird"}, headers=api.master
    )
    api.expect_error(r, 400, "invalid_status")


# -- retries, in order ---------------------------------------------------------------------


async def test_failures_are_retried_and_events_arrive_once_in_order(fast, make_api, subscriber):
    sub, endpoint = subscriber
    sub.script(500, 500, (429, {"Retry-After": "1"}))  # then it recovers
    async with make_api(fast) as api:
        created = await subscribe(api, endpoint)
        sid = created["id"]
        sent = [f"m{i:02d}" for i in range(10)]
        for message_id in sent:
            await send(api, created, message_id)
        accepted = await sub.await_for(10)
        await asyncio.sleep(0.2)
        assert message_ids(sub.accepted) == sent  # once each, in the order sent
        assert len({d.event_id for d in accepted}) == 10

        # the first event took four attempts; the queue waited behind it
        first = sub.received[:4]
        assert [d.status for d in first] == [500, 500, 429, 200]
        assert {d.event_id for d in first} == {accepted[0].event_id}
        assert [d.headers["x-patchbay-attempt"] for d in first] == ["1", "2", "3", "4"]
        assert all(d.json["messageId"] == "m00" for d in first)
        assert first[3].at - first[2].at >= 0.95  # Retry-After: 1 was honoured
        assert len(sub.received) == 13
        for delivery in sub.received:
            assert Subscriber.verified(delivery, created["signingKey"])

        await all_settled(api, sid)
        event = await get(api, f"{SUBS}/{sid}/events/{accepted[0].event_id}")
        assert event["status"] == "delivered"
        assert event["attempts"] == 4
        assert event["lastStatusCode"] == 200
        assert event["nextAttemptAt"] is None
        assert event["deliveredAt"] is not None
        deliveries = event["deliveries"]
        assert [d["attempt"] for d in deliveries] == [1, 2, 3, 4]
        assert [d["statusCode"] for d in deliveries] == [500, 500, 429, 200]
        assert [d["outcome"] for d in deliveries] == ["retry", "retry", "retry", "delivered"]
        assert all(d["latencyMs"] >= 0 for d in deliveries)
        assert "500" in deliveries[0]["error"]
        assert deliveries[3]["error"] is None

        log = await get(api, f"{SUBS}/{sid}/deliveries", first=100)
        assert len(log["elements"]) == 13
        assert [d["outcome"] for d in log["elements"]] == ["retry"] * 3 + ["delivered"] * 10
        assert [d["eventId"] for d in log["elements"][3:]] == [d.event_id for d in accepted]
        assert log["events"] == {"pending": 0, "delivered": 10, "dead": 0, "cancelled": 0}
        page = await get(api, f"{SUBS}/{sid}/deliveries", first=5)
        assert len(page["elements"]) == 5 and page["pageInfo"]["hasNextPage"] is True
        rest = await get(
            api, f"{SUBS}/{sid}/deliveries", first=100, cursor=page["pageInfo"]["endCursor"]
        )
        assert [d["id"] for d in page["elements"] + rest["elements"]] == [
            d["id"] for d in log["elements"]
        ]

        events = await get(api, f"{SUBS}/{sid}/events", status="delivered")
        assert [e["payload"]["messageId"] for e in events["elements"]] == sent


async def test_a_hanging_endpoint_times_out_and_is_retried(fast, make_api, subscriber):
    sub, endpoint = subscriber
    sub.script((500, {}, 2.0))  # hangs for 2 s
    async with make_api(fast.model_copy(update={"delivery_timeout_seconds": 0.5})) as api:
        created = await subscribe(api, endpoint)
        started = time.monotonic()
        await send(api, created, "slow")
        [got] = await sub.await_for(1)
        assert time.monotonic() - started < 2.0  # did not wait for the hanging answer
        assert [d.event_id for d in sub.received] == [got.event_id] * 2
        event = await settled(api, created["id"], got.event_id)
        assert event["status"] == "delivered" and event["attempts"] == 2
        timed_out, delivered = event["deliveries"]
        assert timed_out["outcome"] == "retry"
        assert timed_out["statusCode"] is None
        assert "timed out" in timed_out["error"].lower()
        assert timed_out["latencyMs"] >= 450
        assert delivered["outcome"] == "delivered" and delivered["statusCode"] == 200


# -- dead letters and replay -----------------------------------------------------------------


async def test_a_4xx_is_a_dead_letter_at_once_and_replay_delivers_it(fast, make_api, subscriber):
    sub, endpoint = subscriber
    sub.script(400)
    async with make_api(fast) as api:
        created = await subscribe(api, endpoint)
        sid = created["id"]
        await send(api, created, "refused")
        await send(api, created, "after")
        [after] = await sub.await_for(1)  # the dead letter did not block the queue
        assert after.json["messageId"] == "after"
        [dead] = (await get(api, f"{SUBS}/{sid}/dead-letters"))["elements"]
        assert dead["status"] == "dead"
        assert dead["attempts"] == 1
        assert dead["lastStatusCode"] == 400
        assert "400" in dead["lastError"]
        assert dead["payload"]["messageId"] == "refused"
        assert dead["nextAttemptAt"] is None
        assert sub.received[0].status == 400 and sub.received[0].event_id == dead["id"]

        r = await api.client.post(f"{SUBS}/{sid}/events/{dead['id']}/replay", headers=api.master)
        assert r.status_code == 200, r.text
        replayed = r.json()
        assert replayed["id"] == dead["id"]
        assert replayed["status"] == "pending" and replayed["attempts"] == 0

        got = await sub.await_for(2)
        assert got[1].event_id == dead["id"]  # the same event id, for the receiver to match
        assert got[1].json == dead["payload"]
        assert Subscriber.verified(got[1], created["signingKey"])
        assert (await get(api, f"{SUBS}/{sid}/dead-letters"))["elements"] == []
        event = await settled(api, sid, dead["id"])
        assert event["status"] == "delivered"
        assert [d["outcome"] for d in event["deliveries"]] == ["dead", "delivered"]
        assert [d["statusCode"] for d in event["deliveries"]] == [400, 200]

        # a delivered event can be replayed too (same id again)
        r = await api.client.post(
            f"{SUBS}/{sid}/events/{after.event_id}/replay", headers=api.master
        )
        assert r.status_code == 200, r.text
        got = await sub.await_for(3)
        assert got[2].event_id == after.event_id


async def test_past_the_deadline_is_dead_and_bulk_replay_delivers_all(fast, make_api):
    sub = Subscriber()
    failing = Failing(sub)
    window = fast.model_copy(update={"delivery_retry_hours": 0.0005})  # 1.8 s
    with serve_in_thread(failing) as url:
        async with make_api(window) as api:
            created = await subscribe(api, url + "/hook")
            sid = created["id"]
            await send(api, created, "d1")
            await send(api, created, "d2")
            dead = await await_events(api, sid, "dead", 2, timeout=10)
            assert [e["payload"]["messageId"] for e in dead] == ["d1", "d2"]
            assert dead[0]["attempts"] > 1  # retried until the deadline
            assert all(e["lastStatusCode"] == 500 for e in dead)
            assert sub.accepted == []
            letters = await get(api, f"{SUBS}/{sid}/dead-letters")
            assert [e["id"] for e in letters["elements"]] == [e["id"] for e in dead]
            log = await get(api, f"{SUBS}/{sid}/deliveries", first=100)
            outcomes = [d["outcome"] for d in log["elements"]]
            assert outcomes.count("dead") == 2 and set(outcomes) == {"retry", "dead"}
            assert log["events"]["dead"] == 2

            failing.failing = False
            r = await api.client.post(f"{SUBS}/{sid}/events/replay", headers=api.master)
            assert r.status_code == 200, r.text
            assert r.json() == {"replayed": 2}
            got = await sub.await_for(2)
            assert message_ids(got) == ["d1", "d2"]
            assert [d.event_id for d in got] == [e["id"] for e in dead]
            assert (await get(api, f"{SUBS}/{sid}/dead-letters"))["elements"] == []

            # nothing dead is left: a bulk replay replays nothing
            r = await api.client.post(f"{SUBS}/{sid}/events/replay", headers=api.master)
            assert r.json() == {"replayed": 0}
            # delivered ones, by id
            r = await api.client.post(
                f"{SUBS}/{sid}/events/replay",
                json={"status": "delivered", "eventIds": [dead[1]["id"]]},
                headers=api.master,
            )
            assert r.json() == {"replayed": 1}
            got = await sub.await_for(3)
            assert got[2].event_id == dead[1]["id"]
            r = await api.client.post(
                f"{SUBS}/{sid}/events/replay", json={"status": "pending"}, headers=api.master
            )
            api.expect_error(r, 400)


async def test_an_unreachable_endpoint_is_said_with_its_cause_and_host(fast, make_api):
    port = free_port()  # nothing listens there
    async with make_api(fast) as api:
        created = await subscribe(api, f"http://127.0.0.1:{port}/hook")
        await send(api, created, "u1")
        sid = created["id"]
        for _ in range(200):
            log = await get(api, f"{SUBS}/{sid}/deliveries")
            if log["elements"]:
                break
            await asyncio.sleep(0.05)
        assert log["elements"][0]["error"] == (
            f"Could not reach the endpoint: the connection to 127.0.0.1:{port} was refused "
            "(nothing listens there)"
        )


async def test_replaying_a_pending_event_is_400(api, subscriber):
    sub, endpoint = subscriber
    sub.script(503)  # default backoff: the retry is 1-2 s away
    created = await subscribe(api, endpoint)
    sid = created["id"]
    await send(api, created, "p1")
    [pending] = await await_events(api, sid, "pending", 1)
    deadline = time.monotonic() + 10
    while not pending["attempts"]:  # wait for the failed first attempt
        assert time.monotonic() < deadline, pending
        await asyncio.sleep(0.02)
        pending = await get(api, f"{SUBS}/{sid}/events/{pending['id']}")
    assert pending["status"] == "pending" and pending["lastStatusCode"] == 503
    r = await api.client.post(f"{SUBS}/{sid}/events/{pending['id']}/replay", headers=api.master)
    api.expect_error(r, 400, "event_not_replayable")
    [got] = await sub.await_for(1)  # then its retry goes through
    assert got.event_id == pending["id"]


# -- signing-key rotation --------------------------------------------------------------------


async def test_signing_key_rotation_with_an_overlap(api, subscriber):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint)
    sid = created["id"]
    old = created["signingKey"]

    r = await api.client.post(f"{SUBS}/{sid}/signing-key", headers=api.master)
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert set(rotated) == {"signingKey", "previousKeyExpiresAt"}
    new = rotated["signingKey"]
    assert new != old and len(base64.b64decode(new)) == 32
    expires = datetime.fromisoformat(rotated["previousKeyExpiresAt"])
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    assert 23 * 3600 < (expires - datetime.now(UTC)).total_seconds() <= 24 * 3600

    await send(api, created, "during-overlap")
    [got] = await sub.await_for(1)
    # Tray's header: still the old key, for receivers that have not switched
    assert Subscriber.verified(got, old)
    assert not Subscriber.verified(got, new)
    signatures = got.headers["x-patchbay-signature"].split(",")
    assert signatures == [tray_signature(new, got.body), tray_signature(old, got.body)]

    # without an overlap, the new key signs Tray's header at once
    r = await api.client.post(
        f"{SUBS}/{sid}/signing-key", json={"overlapSeconds": 0}, headers=api.master
    )
    assert r.status_code == 200, r.text
    newest = r.json()["signingKey"]
    assert newest not in (old, new)
    await send(api, created, "after-switch")
    got = await sub.await_for(2)
    assert Subscriber.verified(got[1], newest)
    assert not Subscriber.verified(got[1], new)
    assert not Subscriber.verified(got[1], old)
    assert got[1].headers["x-patchbay-signature"] == tray_signature(newest, got[1].body)


async def test_signing_key_rotation_without_overlap_on_a_fresh_subscription(api, subscriber):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint)
    sid = created["id"]
    r = await api.client.post(
        f"{SUBS}/{sid}/signing-key", json={"overlapSeconds": 0}, headers=api.master
    )
    assert r.status_code == 200, r.text
    new = r.json()["signingKey"]
    await send(api, created, "m1")
    [got] = await sub.await_for(1)
    assert Subscriber.verified(got, new)
    assert not Subscriber.verified(got, created["signingKey"])
    assert got.headers["x-patchbay-signature"].split(",") == [tray_signature(new, got.body)]


@pytest.mark.parametrize("body", [{"overlapSeconds": -1}, {"overlapSeconds": "x"}, {"other": 1}])
async def test_signing_key_rotation_refuses_bad_bodies(api, subscriber, body):
    _, endpoint = subscriber
    created = await subscribe(api, endpoint)
    r = await api.client.post(f"{SUBS}/{created['id']}/signing-key", json=body, headers=api.master)
    api.expect_error(r, 400, "invalid_request")


async def test_signing_key_of_a_deleted_subscription_is_404(api, subscriber):
    _, endpoint = subscriber
    created = await subscribe(api, endpoint)
    await api.client.delete(f"{SUBS}/{created['id']}", headers=api.master)
    r = await api.client.post(f"{SUBS}/{created['id']}/signing-key", headers=api.master)
    api.expect_error(r, 404, "subscription_not_found")


# -- billing ---------------------------------------------------------------------------------


async def test_each_delivered_event_is_one_task(api, subscriber):
    sub, endpoint = subscriber
    user, headers = await api.new_user()
    created = await subscribe(api, endpoint, headers=headers, message_types=["track"])
    usage = await get(api, "/core/v1/usage")
    assert usage["total"] == 0
    for message_id in ("b1", "b2", "b2", "b3", "b1"):
        await send(api, created, message_id)
    r = await api.client.post(
        urlsplit(created["intakeUrl"]).path,
        json={"type": "identify", "messageId": "filtered", "userId": "u1"},
    )
    assert r.status_code == 200, r.text
    await sub.await_for(3)
    await asyncio.sleep(0.2)
    assert message_ids(sub.received) == ["b1", "b2", "b3"]
    usage = await get(api, "/core/v1/usage")
    assert usage["total"] == 3
    [row] = usage["elements"]
    assert row["userId"] == user["id"]
    assert row["tasks"] == 3
    assert row["date"] == datetime.now(UTC).date().isoformat()
    # a user token does not read usage
    r = await api.client.get("/core/v1/usage", headers=headers)
    assert r.status_code in (401, 403), r.text


# -- encryption-key rotation ------------------------------------------------------------------


async def _raw_subscription(api, sid: str) -> dict[str, str]:
    async with api.platform.db.session() as s:
        row = (
            await s.execute(
                text("SELECT input, signing_keys FROM subscriptions WHERE id = :id"), {"id": sid}
            )
        ).one()
    return {"input": row[0], "signing_keys": row[1]}


async def test_key_rotation_covers_subscriptions(api, subscriber, settings):
    sub, endpoint = subscriber
    created = await subscribe(api, endpoint, shared_secret=SECRET)
    sid = created["id"]
    await send(api, created, "before", secret=SECRET)
    await sub.await_for(1)
    before = await _raw_subscription(api, sid)
    old_ring = KeyRing(list(api.platform.keyring.keys))

    report = await rotate(api.platform.db, api.platform.keyring)
    assert report.rotated >= 2  # input and signing keys at least

    after = await _raw_subscription(api, sid)
    assert after["input"] != before["input"] and after["signing_keys"] != before["signing_keys"]
    fresh = KeyRing.load([], settings.data_dir, create=False)
    assert fresh.decrypt(after["input"])["shared_secret"] == SECRET
    with pytest.raises(KeyRingError):
        old_ring.decrypt(after["input"])

    got = await get(api, f"{SUBS}/{sid}")
    assert got["input"]["shared_secret"] == MASK
    assert SECRET not in json.dumps(got)
    listed = await get(api, SUBS)
    assert listed["elements"][0]["input"]["shared_secret"] == MASK

    await send(api, created, "after", secret=SECRET)
    delivered = await sub.await_for(2)
    assert message_ids(delivered) == ["before", "after"]
    assert Subscriber.verified(delivered[1], created["signingKey"])
    bad = await api.client.post(
        urlsplit(created["intakeUrl"]).path,
        json={"type": "track", "messageId": "x"},
        headers={"X-Signature": "0" * 40},
    )
    api.expect_error(bad, 401)
