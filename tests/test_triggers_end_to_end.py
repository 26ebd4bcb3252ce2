"""Service triggers end to end against a real ``patchbay serve``: the service's fake sends
real webhooks to the subscription's public intake URL, Patchbay verifies, stores, processes
and delivers them to a subscriber endpoint, signed.

- TMU: calls start and stop for two users; each user's subscription gets only the events
  of calls they host or are invited to (the emulator registers one webhook per subscription
  and sends every event of its user; the trigger drops the others).
- Shopify: on subscribe, webhooks are registered with the shop; a signed order webhook is
  delivered; on delete they are removed.
- Schedule: an interval trigger fires on its own; each firing is one event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from patchbay.connectors.shopify.fake import FakeShopify
from patchbay.connectors.shopify.fake import create_app as shopify_app
from patchbay.connectors.tmu.connector import TOKEN_ENVIRONMENT_ID as TMU_ENVIRONMENT
from patchbay.connectors.tmu.fake import FakeTMU
from patchbay.connectors.tmu.fake import create_app as tmu_app
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.process import ServerProcess
from patchbay.testing.subscriber import Subscriber

ENV = {
    "PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1/32",
    "PATCHBAY_WORKER_POLL_SECONDS": "0.1",
    "PATCHBAY_DELIVERY_BACKOFF_SECONDS": "0.1",
}


@pytest.fixture
def server(tmp_path, database_url) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "data", env={**ENV, "PATCHBAY_DATABASE_URL": database_url})
    try:
        process.wait_healthy()
        yield process
    finally:
        process.stop()


@contextmanager
def platform_client(server: ServerProcess) -> Iterator[httpx.Client]:
    [token] = server.tokens()
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def as_user(client: httpx.Client, external_id: str) -> dict[str, str]:
    user = client.post(
        "/core/v1/end-users", json={"name": external_id, "externalUserId": external_id}
    )
    assert user.status_code == 201, user.text
    token = client.post(f"/core/v1/end-users/{user.json()['id']}/tokens")
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['accessToken']}"}


def subscribe(client, headers, trigger, operation, endpoint, auth_id=None, **input) -> dict:
    body = {
        "name": f"{trigger['name']} {operation}",
        "trigger": trigger,
        "operation": operation,
        "input": input,
        "endpoint": endpoint,
    }
    if auth_id:
        body["authenticationId"] = auth_id
    r = client.post("/core/v1/subscriptions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    created = r.json()
    assert created["state"] == "active", created
    return created


def test_tmu_calls_reach_only_the_subscribed_user(server):
    tmu = FakeTMU(delivery_backoff=0.01)
    bob_hook, carol_hook = Subscriber(), Subscriber()
    trigger = {"name": "tmu-trigger", "version": "1.0"}
    try:
        with (
            serve_in_thread(tmu_app(tmu)) as tmu_url,
            serve_in_thread(bob_hook.app) as bob_url,
            serve_in_thread(carol_hook.app) as carol_url,
            platform_client(server) as client,
        ):
            subscriptions = {}
            for name, token, hook_url in (
                ("bob", FakeTMU.bob_token, bob_url),
                ("carol", FakeTMU.carol_token, carol_url),
            ):
                headers = as_user(client, name)
                r = client.post(
                    "/core/v1/authentications",
                    json={
                        "name": f"{name} TMU",
                        "serviceEnvironmentId": TMU_ENVIRONMENT,
                        "credentials": {"api_token": token},
                        "userData": {"base_url": tmu_url + "/v1"},
                    },
                    headers=headers,
                )
                assert r.status_code == 200, r.text
                for operation in ("call_started", "call_stopped"):
                    subscriptions[name, operation] = subscribe(
                        client, headers, trigger, operation, hook_url + "/tmu", r.json()["id"]
                    )
            assert len(tmu.webhooks) == 4  # registered with the platform on subscribe

            # Alice hosts a call with Bob invited; Carol hosts one with only Alice invited.
            bobs = tmu.create_call("usr_alice", "Planning", invitees=["bob@example.com"])
            carols = tmu.create_call("usr_carol", "1:1", invitees=["alice@example.com"])
            tmu.stop_call(bobs.id)
            tmu.stop_call(carols.id)

            bob_events = bob_hook.wait_for(2)
            carol_events = carol_hook.wait_for(2)
            # Every webhook the emulator sent was answered (none refused, none lost).
            tmu.wait_for_deliveries(8, timeout=10)
            assert all(d.delivered for d in tmu.deliveries)
            asyncio.run(asyncio.sleep(0.5))  # nothing else arrives
            bob_events, carol_events = bob_hook.accepted, carol_hook.accepted
    finally:
        tmu.close()

    # Each user's hook got one event per subscription (two subscriptions deliver
    # independently: no order between them), for their own call, signed with its key.
    for name, events, call in (("bob", bob_events, bobs), ("carol", carol_events, carols)):
        by_subscription = {e.headers["x-patchbay-subscription-id"]: e for e in events}
        assert len(by_subscription) == 2
        for operation, status in (("call_started", "live"), ("call_stopped", "ended")):
            created = subscriptions[name, operation]
            event = by_subscription[created["id"]]
            assert event.json["id"] == call.id
            assert event.json["status"] == status
            assert Subscriber.verified(event, created["signingKey"])


def test_shopify_registers_delivers_and_unregisters(server):
    shop = FakeShopify()
    hook = Subscriber()
    with (
        serve_in_thread(shopify_app(shop)) as shop_url,
        serve_in_thread(hook.app) as hook_url,
        platform_client(server) as client,
    ):
        envs = client.get("/core/v1/services/shopify/versions/1/environments").json()
        environment = envs["elements"][0]["id"]
        r = client.post(
            "/core/v1/authentications",
            json={
                "name": "shop",
                "serviceEnvironmentId": environment,
                "credentials": {"access_token": shop.access_token},
                "userData": {"base_url": shop_url, "shop": shop.shop},
            },
        )
        assert r.status_code == 200, r.text
        created = subscribe(
            client,
            {},
            {"name": "shopify-trigger", "version": "1.0"},
            "order_event",
            hook_url + "/orders",
            r.json()["id"],
            topics=["orders/create"],
            client_secret=shop.client_secret,
        )
        assert created["input"]["client_secret"] == "********"
        assert [w["address"] for w in shop.webhooks] == [created["intakeUrl"]]

        shop.deliver("orders/create", {"id": 4501, "name": "#1001", "total_price": "19.99"})
        shop.deliver("orders/create", {"id": 4502, "name": "#1002", "total_price": "5.00"})
        [first, second] = hook.wait_for(2)
        assert first.json["order"]["id"] == 4501 and second.json["order"]["id"] == 4502
        assert first.json["topic"] == "orders/create"
        assert Subscriber.verified(first, created["signingKey"])

        assert client.delete(f"/core/v1/subscriptions/{created['id']}").status_code == 204
        assert shop.webhooks == []


def test_schedule_interval_fires_events(server):
    hook = Subscriber()
    with serve_in_thread(hook.app) as hook_url, platform_client(server) as client:
        created = subscribe(
            client,
            {},
            {"name": "schedule-trigger", "version": "1.0"},
            "interval",
            hook_url + "/tick",
            every_seconds=1,
        )
        assert "intakeUrl" not in created  # a polling trigger takes no requests
        ticks = hook.wait_for(2, timeout=15)
        assert ticks[0].json["scheduledAt"] != ticks[1].json["scheduledAt"]
        events = client.get(f"/core/v1/subscriptions/{created['id']}/events").json()
        assert len(events["elements"]) >= 2
