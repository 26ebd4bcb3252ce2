"""Billing: ``GET /core/v1/usage`` (master token only) counts one task per Call Connector call,
per end user per day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from patchbay.storage.models import Task
from patchbay.testing.fakeserver import serve_in_thread

USAGE = "/core/v1/usage"
CALL = "/core/v1/connectors/http-client/versions/1.0/call"


@pytest.fixture
def url() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/ok", lambda r: JSONResponse({"ok": True})),
            Route("/missing", lambda r: JSONResponse({"ok": False}, status_code=404)),
        ]
    )
    with serve_in_thread(app) as base:
        yield base


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def get_request(api, headers, target: str):
    body = {"operation": "get_request", "input": {"url": target}}
    return await api.client.post(CALL, json=body, headers=headers)


async def usage(api, **params) -> dict:
    r = await api.client.get(USAGE, params=params, headers=api.master)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"elements", "total"}
    assert body["total"] == sum(e["tasks"] for e in body["elements"])
    return body


def per_user(body: dict) -> dict[tuple[str | None, str], int]:
    return {(e["userId"], e["date"]): e["tasks"] for e in body["elements"]}


async def add_tasks(api, org_id: str, user_id: str | None, day: str, n: int) -> None:
    """Tasks recorded on an earlier day (the clock cannot be turned back for a real call)."""
    row = {
        "org_id": org_id,
        "user_id": user_id,
        "source": "call",
        "connector": "http-client",
        "connector_version": "1.0",
        "operation": "get_request",
        "outcome": "success",
        "day": day,
        "created_at": datetime.fromisoformat(day + "T12:00:00"),
    }
    async with api.platform.db.session() as s:
        await s.execute(insert(Task), [row] * n)
        await s.commit()


async def test_usage_is_for_the_master_token_only(api):
    _, headers = await api.new_user()
    r = await api.client.get(USAGE, headers=headers)
    assert r.status_code == 403, r.text
    assert r.json() == {"message": r.json()["message"], "code": "master_token_required"}
    r = await api.client.get(USAGE)
    assert r.status_code == 401, r.text
    assert set(r.json()) == {"message", "code"}
    assert await usage(api) == {"elements": [], "total": 0}


async def test_each_call_is_one_task_per_user_per_day(api, url):
    alice, alice_h = await api.new_user()
    bob, bob_h = await api.new_user()
    # success and error outcomes both count
    r = await get_request(api, alice_h, f"{url}/ok")
    assert r.json()["outcome"] == "success"
    r = await get_request(api, alice_h, f"{url}/missing")
    assert r.status_code == 200 and r.json()["outcome"] == "error"
    r = await get_request(api, alice_h, "http://127.0.0.1:9/closed")  # unreachable: error
    assert r.status_code == 200 and r.json()["outcome"] == "error"
    assert (await get_request(api, bob_h, f"{url}/ok")).json()["outcome"] == "success"
    # the organisation's own call
    assert (await get_request(api, api.master, f"{url}/ok")).json()["outcome"] == "success"

    # rejected calls are not billed
    r = await get_request(api, alice_h, "not a url")
    assert r.status_code == 400
    r = await api.client.post(
        CALL, json={"operation": "nope_request", "input": {}}, headers=alice_h
    )
    assert r.status_code == 404
    r = await api.client.post(CALL, json={"operation": "get_request"}, headers=alice_h)
    assert r.status_code == 400
    r = await api.client.post(
        CALL,
        json={"operation": "get_request", "input": {"url": f"{url}/ok"}, "authId": "nope"},
        headers=alice_h,
    )
    assert r.status_code == 404
    # nor are listings
    await api.client.get("/core/v1/connectors", headers=alice_h)
    await api.client.get("/core/v1/connectors/http-client/versions/1.0/operations", headers=bob_h)

    body = await usage(api)
    assert per_user(body) == {
        (alice["id"], today()): 3,
        (bob["id"], today()): 1,
        (None, today()): 1,
    }
    assert body["total"] == 5
    for element in body["elements"]:
        assert set(element) == {"userId", "date", "tasks"}


async def test_usage_by_day_and_range(api, url):
    alice, alice_h = await api.new_user()
    org_id = api.platform.default_org_id
    await add_tasks(api, org_id, alice["id"], "2024-01-01", 2)
    await add_tasks(api, org_id, None, "2024-01-01", 1)
    await add_tasks(api, org_id, alice["id"], "2024-01-02", 4)
    await add_tasks(api, "another-org", None, "2024-01-02", 9)  # not this organisation's
    await get_request(api, alice_h, f"{url}/ok")

    everything = await usage(api)
    assert per_user(everything) == {
        (alice["id"], "2024-01-01"): 2,
        (None, "2024-01-01"): 1,
        (alice["id"], "2024-01-02"): 4,
        (alice["id"], today()): 1,
    }
    assert [e["date"] for e in everything["elements"]] == sorted(
        e["date"] for e in everything["elements"]
    )

    one_day = await usage(api, **{"from": "2024-01-01", "to": "2024-01-01"})
    assert per_user(one_day) == {(alice["id"], "2024-01-01"): 2, (None, "2024-01-01"): 1}
    assert one_day["total"] == 3
    since = await usage(api, **{"from": "2024-01-02"})
    assert per_user(since) == {(alice["id"], "2024-01-02"): 4, (alice["id"], today()): 1}
    until = await usage(api, to="2024-01-02")
    assert until["total"] == 7
    assert await usage(api, **{"from": "2023-01-01", "to": "2023-12-31"}) == {
        "elements": [],
        "total": 0,
    }


async def test_bad_range_is_400(api):
    for params in (
        {"from": "2024-01-02", "to": "2024-01-01"},
        {"from": "2024-13-01"},
        {"from": "2024-1-1"},
        {"to": "yesterday"},
        {"from": "2024-01-01T12:00:00"},
        {"from": ""},
    ):
        r = await api.client.get(USAGE, params=params, headers=api.master)
        assert r.status_code == 400, (params, r.text)
        assert set(r.json()) == {"message", "code"}
    r = await api.client.get(
        USAGE, params={"from": "2024-01-02", "to": "2024-01-01"}, headers=api.master
    )
    assert r.json()["code"] == "invalid_range"
    # from == to is a one-day range
    r = await api.client.get(
        USAGE, params={"from": "2024-01-02", "to": "2024-01-02"}, headers=api.master
    )
    assert r.status_code == 200, r.text
