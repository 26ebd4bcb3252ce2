"""Trigger subscriptions through ``/core/v1/subscriptions``: Tray's create/get/list/delete
contract (shapes, validation, masking of secret input, errors in the flat shape), tenancy,
pagination, and what deleting does to the intake URL and to undelivered events.

Intake and delivery have their own files (``test_intake.py``, ``test_delivery.py``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from patchbay.connectors.shopify.connector import TOKEN_ENVIRONMENT_ID
from patchbay.connectors.shopify.fake import FakeShopify
from patchbay.connectors.shopify.fake import create_app as shopify_app
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber

SUBS = "/core/v1/subscriptions"
SEGMENT = {"name": "segment-trigger", "version": "1.0"}
SHOPIFY = {"name": "shopify-trigger", "version": "1.0"}
MASK = "********"
CREATED_KEYS = {
    "id",
    "name",
    "trigger",
    "operation",
    "input",
    "endpoint",
    "state",
    "createdAt",
    "signingKey",
    "intakeUrl",
}


def segment_body(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "segment events",
        "trigger": SEGMENT,
        "operation": "segment_message",
        "input": {},
        "endpoint": endpoint,
        **extra,
    }


async def subscribe(api, endpoint: str, headers=None, **extra: Any) -> dict[str, Any]:
    r = await api.client.post(
        SUBS, json=segment_body(endpoint, **extra), headers=headers or api.master
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "active", body
    return body


def intake_path(created: dict[str, Any]) -> str:
    return urlsplit(created["intakeUrl"]).path


async def stored_requests(api, subscription_id: str) -> int:
    async with api.platform.db.session() as s:
        return await s.scalar(
            text("SELECT count(*) FROM intake_requests WHERE subscription_id = :id"),
            {"id": subscription_id},
        )


@pytest.fixture
def subscriber():
    sub = Subscriber()
    with serve_in_thread(sub.app) as url:
        yield sub, url + "/hook"


@pytest.fixture
def shop():
    state = FakeShopify()
    with serve_in_thread(shopify_app(state)) as url:
        yield state, url


async def shopify_auth(api, headers, shop_url: str) -> str:
    return await api.create_auth(
        headers,
        TOKEN_ENVIRONMENT_ID,
        {"access_token": FakeShopify.access_token},
        userData={"shop": f"{FakeShopify.shop}.myshopify.com", "base_url": shop_url},
    )


def shopify_body(endpoint: str, auth_id: str | None) -> dict[str, Any]:
    body = {
        "name": "orders",
        "trigger": SHOPIFY,
        "operation": "order_event",
        "input": {"topics": ["orders/create"], "client_secret": FakeShopify.client_secret},
        "endpoint": endpoint,
    }
    if auth_id is not None:
        body["authenticationId"] = auth_id
    return body


# -- create ------------------------------------------------------------------------------


async def test_create_has_trays_shape_and_masks_secret_input(api, subscriber):
    _, endpoint = subscriber
    r = await api.client.post(
        SUBS,
        json=segment_body(
            endpoint,
            input={"message_types": ["track", "identify"], "shared_secret": "s3cret"},
            externalId="ext-1",
        ),
        headers=api.master,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    created = r.json()
    assert set(created) == CREATED_KEYS | {"externalId"}, created
    uuid.UUID(created["id"])
    assert created["name"] == "segment events"
    assert created["trigger"] == SEGMENT
    assert created["operation"] == "segment_message"
    assert created["input"] == {"message_types": ["track", "identify"], "shared_secret": MASK}
    assert created["endpoint"] == endpoint
    assert created["state"] == "active"
    assert created["externalId"] == "ext-1"
    assert "s3cret" not in r.text
    assert isinstance(created["signingKey"], str) and len(created["signingKey"]) >= 40
    url = urlsplit(created["intakeUrl"])
    assert url.scheme in ("http", "https") and url.path.startswith("/intake/")

    got = await api.client.get(f"{SUBS}/{created['id']}", headers=api.master)
    assert got.status_code == 200, got.text
    body = got.json()
    assert "signingKey" not in body  # shown once, at creation
    assert {k: v for k, v in created.items() if k != "signingKey"} == body
    assert "s3cret" not in got.text

    listed = await api.client.get(SUBS, headers=api.master)
    assert listed.status_code == 200, listed.text
    [element] = listed.json()["elements"]
    assert element == body
    assert "s3cret" not in listed.text


async def test_create_without_optional_fields(api, subscriber):
    _, endpoint = subscriber
    created = await subscribe(api, endpoint)
    assert set(created) == CREATED_KEYS, created
    assert created["input"] == {}  # echoed as given: nothing invented, nothing to mask


async def test_create_with_an_authentication_shows_it(api, subscriber, shop):
    _, endpoint = subscriber
    state, shop_url = shop
    _, user = await api.new_user()
    auth_id = await shopify_auth(api, user, shop_url)
    r = await api.client.post(SUBS, json=shopify_body(endpoint, auth_id), headers=user)
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["state"] == "active", created
    assert created["authenticationId"] == auth_id
    assert created["input"]["client_secret"] == MASK
    assert FakeShopify.client_secret not in r.text
    # on_subscribe registered the intake URL with the shop
    assert [w["address"] for w in state.webhooks] == [created["intakeUrl"]]
    got = (await api.client.get(f"{SUBS}/{created['id']}", headers=user)).json()
    assert got["authenticationId"] == auth_id
    assert got["input"]["client_secret"] == MASK


@pytest.mark.parametrize(
    "input",
    [
        {"message_types": "track"},  # wrong type
        {"message_types": ["track", "bogus"]},  # unknown message type
        {"message_types": []},  # at least one
        {"shared_secret": 42},
    ],
)
async def test_invalid_input_is_400(api, subscriber, input):
    _, endpoint = subscriber
    r = await api.client.post(SUBS, json=segment_body(endpoint, input=input), headers=api.master)
    api.expect_error(r, 400)
    assert await _count_subscriptions(api) == 0


async def _count_subscriptions(api) -> int:
    async with api.platform.db.session() as s:
        return await s.scalar(text("SELECT count(*) FROM subscriptions"))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"trigger": {"name": "no-such-trigger", "version": "1.0"}}, "trigger_not_found"),
        ({"trigger": {"name": "segment-trigger", "version": "9.9"}}, "trigger_not_found"),
        ({"operation": "no_such_operation"}, "operation_not_found"),
    ],
)
async def test_unknown_trigger_version_or_operation_is_404(api, subscriber, change, code):
    _, endpoint = subscriber
    r = await api.client.post(SUBS, json=segment_body(endpoint, **change), headers=api.master)
    api.expect_error(r, 404, code)


async def test_malformed_json_body_is_400(api):
    r = await api.client.post(
        SUBS,
        content=b'{"name": "x", ',
        headers={**api.master, "Content-Type": "application/json"},
    )
    api.expect_error(r, 400, "malformed_json")


@pytest.mark.parametrize("missing", ["name", "trigger", "operation", "endpoint"])
async def test_missing_field_is_400(api, subscriber, missing):
    _, endpoint = subscriber
    body = segment_body(endpoint)
    del body[missing]
    r = await api.client.post(SUBS, json=body, headers=api.master)
    assert missing in api.expect_error(r, 400, "invalid_request")["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"name": 5},
        {"trigger": "segment-trigger"},
        {"trigger": {"name": "segment-trigger", "version": 1}},
        {"operation": ["segment_message"]},
        {"input": "all"},
        {"endpoint": 80},
        {"externalId": 7},
        {"unexpected": True},
    ],
)
async def test_wrong_types_are_400(api, subscriber, change):
    _, endpoint = subscriber
    r = await api.client.post(SUBS, json={**segment_body(endpoint), **change}, headers=api.master)
    api.expect_error(r, 400, "invalid_request")


async def test_empty_or_non_object_body_is_400(api):
    for content in (b"", b"[]", b'"x"'):
        r = await api.client.post(
            SUBS, content=content, headers={**api.master, "Content-Type": "application/json"}
        )
        assert r.status_code == 400, (content, r.text)
        api.expect_error(r, 400)


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://example.com/hook", "example.com/hook", "http://", "/relative", "javascript:alert(1)"],
)
async def test_endpoint_must_be_http_or_https(api, endpoint):
    r = await api.client.post(SUBS, json=segment_body(endpoint), headers=api.master)
    api.expect_error(r, 400, "invalid_endpoint")


async def test_endpoint_on_a_private_address_not_allowed_is_400(settings, make_api):
    # the policy admits the loopback only (as the test settings do): 10.0.0.0/8 is refused
    policy = settings.model_copy(update={"outbound_allow": "127.0.0.1/32"})
    async with make_api(policy) as api:
        for endpoint in ("http://10.1.2.3/x", "https://169.254.169.254/latest", "http://[::1]/x"):
            r = await api.client.post(SUBS, json=segment_body(endpoint), headers=api.master)
            api.expect_error(r, 400, "endpoint_not_allowed")
        assert await _count_subscriptions(api) == 0
        # what the policy admits is accepted
        ok = await api.client.post(
            SUBS, json=segment_body("http://127.0.0.1:9/hook"), headers=api.master
        )
        assert ok.status_code == 200, ok.text


async def test_trigger_requiring_an_authentication_without_one_is_400(api, subscriber):
    _, endpoint = subscriber
    r = await api.client.post(SUBS, json=shopify_body(endpoint, None), headers=api.master)
    api.expect_error(r, 400, "authentication_required")
    assert await _count_subscriptions(api) == 0


async def test_authentication_of_someone_else_is_404(api, subscriber, shop):
    _, endpoint = subscriber
    _, shop_url = shop
    _, alice = await api.new_user()
    _, bob = await api.new_user()
    alices = await shopify_auth(api, alice, shop_url)
    _, other_org = await api.other_org()
    theirs = await shopify_auth(api, other_org, shop_url)
    orgs = await shopify_auth(api, api.master, shop_url)
    for headers, auth_id in ((bob, alices), (alice, theirs), (api.master, theirs), (bob, orgs)):
        r = await api.client.post(SUBS, json=shopify_body(endpoint, auth_id), headers=headers)
        api.expect_error(r, 404)
    r = await api.client.post(SUBS, json=shopify_body(endpoint, "no-such-auth"), headers=alice)
    api.expect_error(r, 404)
    assert await _count_subscriptions(api) == 0


async def test_authentication_of_another_service_is_400(api, subscriber):
    _, endpoint = subscriber
    envs = await api.client.get(
        "/core/v1/services/http-client/versions/1/environments", headers=api.master
    )
    env_id = next(e["id"] for e in envs.json()["elements"] if e["title"] == "Token")
    auth_id = await api.create_auth(api.master, env_id, {"token": "t"})
    r = await api.client.post(SUBS, json=shopify_body(endpoint, auth_id), headers=api.master)
    api.expect_error(r, 400, "authentication_service_mismatch")


async def test_no_bearer_is_401(api, subscriber):
    _, endpoint = subscriber
    created = await subscribe(api, endpoint)
    sid = created["id"]
    for method, path, body in (
        ("POST", SUBS, segment_body(endpoint)),
        ("GET", SUBS, None),
        ("GET", f"{SUBS}/{sid}", None),
        ("DELETE", f"{SUBS}/{sid}", None),
        ("GET", f"{SUBS}/{sid}/events", None),
        ("POST", f"{SUBS}/{sid}/signing-key", None),
    ):
        r = await api.client.request(method, path, json=body)
        api.expect_error(r, 401)
        r = await api.client.request(method, path, json=body, headers=api.auth("nope"))
        api.expect_error(r, 401)
    assert await _count_subscriptions(api) == 1


# -- tenancy -----------------------------------------------------------------------------


async def test_a_subscription_is_its_owners_alone(api, subscriber):
    _, endpoint = subscriber
    _, alice = await api.new_user()
    _, bob = await api.new_user()
    _, other_org = await api.other_org()
    alices = await subscribe(api, endpoint, headers=alice, name="alice's")
    bobs = await subscribe(api, endpoint, headers=bob, name="bob's")
    orgs = await subscribe(api, endpoint, name="org's")

    async def listed(headers) -> list[str]:
        r = await api.client.get(SUBS, headers=headers)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["elements"]]

    assert await listed(alice) == [alices["id"]]
    assert await listed(bob) == [bobs["id"]]
    assert await listed(api.master) == [orgs["id"]]
    assert await listed(other_org) == []

    sid = alices["id"]
    strangers = (bob, api.master, other_org)
    for headers in strangers:
        for method, path in (
            ("GET", f"{SUBS}/{sid}"),
            ("GET", f"{SUBS}/{sid}/events"),
            ("GET", f"{SUBS}/{sid}/dead-letters"),
            ("GET", f"{SUBS}/{sid}/deliveries"),
            ("POST", f"{SUBS}/{sid}/events/replay"),
            ("POST", f"{SUBS}/{sid}/events/some-event/replay"),
            ("GET", f"{SUBS}/{sid}/events/some-event"),
            ("POST", f"{SUBS}/{sid}/signing-key"),
            ("DELETE", f"{SUBS}/{sid}"),
        ):
            r = await api.client.request(method, path, headers=headers)
            api.expect_error(r, 404)
    # still there, still active, for its owner
    r = await api.client.get(f"{SUBS}/{sid}", headers=alice)
    assert r.status_code == 200 and r.json()["state"] == "active", r.text


# -- list --------------------------------------------------------------------------------


async def test_list_pages_with_a_cursor_and_leaves_deleted_out(api, subscriber):
    _, endpoint = subscriber
    made = [(await subscribe(api, endpoint, name=f"s{i}"))["id"] for i in range(4)]
    r = await api.client.delete(f"{SUBS}/{made[1]}", headers=api.master)
    assert r.status_code == 204, r.text

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"first": 1}
        if cursor:
            params["cursor"] = cursor
        r = await api.client.get(SUBS, params=params, headers=api.master)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"elements", "pageInfo"}
        info = body["pageInfo"]
        assert set(info) == {"startCursor", "endCursor", "hasNextPage", "hasPreviousPage"}
        assert info["hasPreviousPage"] is bool(cursor)
        assert len(body["elements"]) == 1, body
        seen.append(body["elements"][0]["id"])
        pages += 1
        if not info["hasNextPage"]:
            break
        cursor = info["endCursor"]
        assert pages < 10
    assert seen == [made[0], made[2], made[3]]

    everything = (await api.client.get(SUBS, headers=api.master)).json()
    assert [e["id"] for e in everything["elements"]] == seen
    assert everything["pageInfo"]["hasNextPage"] is False

    api.expect_error(
        await api.client.get(SUBS, params={"cursor": "garbage!"}, headers=api.master),
        400,
        "invalid_cursor",
    )
    api.expect_error(await api.client.get(SUBS, params={"first": 0}, headers=api.master), 400)


# -- delete ------------------------------------------------------------------------------


async def test_delete_gone_intake_cancelled_events_and_idempotent(api, subscriber):
    sub, endpoint = subscriber
    sub.script(500)  # the first event fails: it waits, pending, for its retry (1-2 s away)
    created = await subscribe(api, endpoint)
    sid = created["id"]
    path = intake_path(created)
    r = await api.client.post(path, json={"type": "track", "messageId": "m1", "event": "E"})
    assert r.status_code == 200, r.text
    pending = await _await_event(api, sid, lambda e: e["status"] == "pending" and e["attempts"])
    # replaying an event that is not delivered or dead is refused
    r = await api.client.post(f"{SUBS}/{sid}/events/{pending['id']}/replay", headers=api.master)
    api.expect_error(r, 400, "event_not_replayable")

    r = await api.client.delete(f"{SUBS}/{sid}", headers=api.master)
    assert r.status_code == 204, r.text
    assert r.content == b""

    got = await api.client.get(f"{SUBS}/{sid}", headers=api.master)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["state"] == "deleted"
    assert "intakeUrl" not in body

    gone = await api.client.post(path, json={"type": "track", "messageId": "m2", "event": "E"})
    api.expect_error(gone, 410, "gone")
    assert await stored_requests(api, sid) == 1

    events = await api.client.get(f"{SUBS}/{sid}/events", headers=api.master)
    assert events.status_code == 200, events.text
    [event] = events.json()["elements"]
    assert event["id"] == pending["id"]
    assert event["status"] == "cancelled"
    assert event["nextAttemptAt"] is None

    # replaying on a deleted subscription is refused
    r = await api.client.post(f"{SUBS}/{sid}/events/replay", headers=api.master)
    api.expect_error(r, 400, "subscription_not_active")

    again = await api.client.delete(f"{SUBS}/{sid}", headers=api.master)
    assert again.status_code == 204, again.text
    assert (await api.client.get(f"{SUBS}/{sid}", headers=api.master)).json()["state"] == (
        "deleted"
    )
    # nothing more was delivered: the only attempt is the failed one
    assert [r.status for r in sub.received] == [500]


async def test_delete_unknown_is_404(api):
    r = await api.client.delete(f"{SUBS}/{uuid.uuid4()}", headers=api.master)
    api.expect_error(r, 404, "subscription_not_found")
    r = await api.client.get(f"{SUBS}/{uuid.uuid4()}", headers=api.master)
    api.expect_error(r, 404, "subscription_not_found")


async def test_delete_unregisters_from_the_service(api, subscriber, shop):
    _, endpoint = subscriber
    state, shop_url = shop
    _, user = await api.new_user()
    auth_id = await shopify_auth(api, user, shop_url)
    r = await api.client.post(SUBS, json=shopify_body(endpoint, auth_id), headers=user)
    created = r.json()
    assert len(state.webhooks) == 1
    r = await api.client.delete(f"{SUBS}/{created['id']}", headers=user)
    assert r.status_code == 204, r.text
    assert state.webhooks == []


async def _await_event(api, sid: str, predicate, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await api.client.get(f"{SUBS}/{sid}/events", headers=api.master)
        assert r.status_code == 200, r.text
        for event in r.json()["elements"]:
            if predicate(event):
                return event
        await asyncio.sleep(0.02)
    raise AssertionError(f"no matching event within {timeout}s")
