"""The TMU connector through Call Connector (``POST /core/v1/connectors/tmu/versions/{v}/call``)
as end users with their own authentications, against the TMU emulator: both versions, every
operation's success, TMU's error shape, 429s and pagination."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from patchbay.connectors.tmu.connector import TOKEN_ENVIRONMENT_ID
from patchbay.connectors.tmu.fake import FakeTMU, create_app
from patchbay.testing.fakeserver import serve_in_thread

ALICE = FakeTMU.alice_token
BOB = FakeTMU.bob_token
V1_0 = ["start_call", "schedule_call", "invite_users", "get_call", "list_calls", "stop_call",
        "list_calls_ddl"]  # fmt: skip
V1_1_ONLY = ["send_chat_message", "list_chat_messages", "raw_http_request"]
CALLS = "/v1/calls"


@dataclass
class Tmu:
    state: FakeTMU
    url: str  # for userData.base_url


@pytest.fixture
def tmu() -> Iterator[Tmu]:
    state = FakeTMU(delivery_backoff=0.01)
    with serve_in_thread(create_app(state)) as url:
        yield Tmu(state, url + "/v1")
    state.close()


async def tmu_user(api, tmu: Tmu, token: str = ALICE) -> tuple[dict, dict[str, str], str]:
    """A new end user with their own TMU authentication pointing at the emulator."""
    user, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers, TOKEN_ENVIRONMENT_ID, {"api_token": token}, userData={"base_url": tmu.url}
    )
    return user, headers, auth_id


async def call(api, headers, version: str, operation: str, input: Any, auth_id: str | None):
    body: dict[str, Any] = {"operation": operation, "input": input}
    if auth_id is not None:
        body["authId"] = auth_id
    return await api.client.post(
        f"/core/v1/connectors/tmu/versions/{version}/call", json=body, headers=headers
    )


async def operations(api, headers, version: str) -> dict[str, dict[str, Any]]:
    r = await api.client.get(
        f"/core/v1/connectors/tmu/versions/{version}/operations", headers=headers
    )
    assert r.status_code == 200, r.text
    return {op["name"]: op for op in r.json()["elements"]}


def success(r) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "success", body
    for token in (ALICE, BOB):
        assert token not in r.text
    return body["output"]


def tmu_error(r, kind: str, status: int, code: str | None) -> dict[str, Any]:
    """Call Connector's 200 error outcome carrying TMU's error as TMU said it."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "error", body
    output = body["output"]
    assert output["kind"] == kind, output
    assert output["response"]["statusCode"] == status, output
    tmu_body = output["response"]["body"]["error"]
    assert tmu_body["code"] and tmu_body["message"]
    if code is not None:  # the connector's own operations keep TMU's code and message
        assert output["code"] == tmu_body["code"] == code, output
        assert tmu_body["message"] in output["message"]
    for token in (ALICE, BOB):
        assert token not in r.text
    return output


def inputs(state: FakeTMU) -> dict[str, dict[str, Any]]:
    """A successful input for every operation, against fresh calls of alice's."""
    running = state.create_call("usr_alice", "Running", invitees=["bob@example.com"])
    state.post_message(running.id, "usr_bob", "hello")
    return {
        "start_call": {"subject": "Now", "invitees": ["bob@example.com"]},
        "schedule_call": {
            "subject": "Later",
            "start_time": "2031-02-03T10:00",
            "time_zone": "America/Chicago",
            "rules": {"recording": "manual"},
        },
        "invite_users": {"call_id": running.id, "invitees": ["carol@example.com"]},
        "get_call": {"call_id": running.id},
        "list_calls": {"max_results": 10},
        "stop_call": {"call_id": running.id},
        "list_calls_ddl": {},
        "send_chat_message": {"call_id": running.id, "text": "Hi all"},
        "list_chat_messages": {"call_id": running.id},
        "raw_http_request": {"method": "GET", "url": "me"},
    }


# -- the catalogue ------------------------------------------------------------------------------


async def check_catalogue(api) -> None:
    _, headers = await api.new_user()
    r = await api.client.get("/core/v1/connectors", headers=headers)
    tmu = [c for c in r.json()["elements"] if c["name"] == "tmu"]
    assert sorted(c["version"] for c in tmu) == ["1.0", "1.1"]
    for connector in tmu:
        assert connector["title"] == "TMU"
        assert connector["service"] == {
            "id": "b1d3f5a7-2c4e-4a6b-8d0f-1e2f3a4b5c66",
            "name": "tmu",
            "version": 1,
        }
    v1_0 = await operations(api, headers, "1.0")
    v1_1 = await operations(api, headers, "1.1")
    assert list(v1_0) == V1_0
    assert list(v1_1) == V1_0 + V1_1_ONLY
    for name in V1_0:  # the shared operations publish the same schemas in both
        assert v1_0[name]["inputSchema"] == v1_1[name]["inputSchema"]
        assert v1_0[name]["outputSchema"] == v1_1[name]["outputSchema"]
    for op in v1_1.values():
        for schema in (op["inputSchema"], op["outputSchema"]):
            jsonschema.Draft4Validator.check_schema(
                {k: v for k, v in schema.items() if k != "$schema"}
            )
    r = await api.client.get("/core/v1/services/tmu/versions/1/environments", headers=headers)
    (env,) = r.json()["elements"]
    assert (env["id"], env["title"], env["authenticationType"]) == (
        TOKEN_ENVIRONMENT_ID,
        "TMU API token",
        "token",
    )
    assert env["credentialsSchema"]["required"] == ["api_token"]


async def check_1_0_does_not_offer_chat(api, tmu: Tmu) -> None:
    _, headers, auth_id = await tmu_user(api, tmu)
    data = inputs(tmu.state)
    before = len(tmu.state.requests)
    for name in V1_1_ONLY:
        r = await call(api, headers, "1.0", name, data[name], auth_id)
        api.expect_error(r, 404)
    assert len(tmu.state.requests) == before  # TMU was never asked
    for name in V1_1_ONLY:
        success(await call(api, headers, "1.1", name, data[name], auth_id))


# -- every operation ------------------------------------------------------------------------


async def check_every_operation(api, tmu: Tmu) -> None:
    user, headers, auth_id = await tmu_user(api, tmu)
    for version, names in (("1.0", V1_0), ("1.1", V1_0 + V1_1_ONLY)):
        schemas = {
            n: op["outputSchema"] for n, op in (await operations(api, headers, version)).items()
        }
        for name in names:
            tmu.state.requests.clear()
            output = success(
                await call(api, headers, version, name, inputs(tmu.state)[name], auth_id)
            )
            jsonschema.Draft4Validator(schemas[name]).validate(output)
            assert tmu.state.requests, name
            assert {r.headers["authorization"] for r in tmu.state.requests} == {f"Bearer {ALICE}"}
    # the created call's attributes are the step's output
    r = await call(
        api,
        headers,
        "1.0",
        "schedule_call",
        {
            "subject": "Kick-off",
            "description": "Agenda in the doc",
            "start_time": "2031-09-01T15:00",
            "time_zone": "Europe/Paris",
            "invitees": ["bob@example.com", "guest@elsewhere.example"],
            "rules": {"mute_on_entry": True, "waiting_room": True, "max_participants": 25},
        },
        auth_id,
    )
    created = success(r)
    assert created == tmu.state.call_to_api(tmu.state.calls[created["id"]])
    assert (created["subject"], created["description"]) == ("Kick-off", "Agenda in the doc")
    assert (created["status"], created["start_time"]) == ("scheduled", "2031-09-01T15:00:00+02:00")
    assert [i["email"] for i in created["invitees"]] == [
        "bob@example.com",
        "guest@elsewhere.example",
    ]
    assert created["rules"]["max_participants"] == 25
    # billed to that user, one task per call
    usage = (await api.client.get("/core/v1/usage", headers=api.master)).json()
    assert [(e["userId"], e["tasks"]) for e in usage["elements"]] == [
        (user["id"], len(V1_0) * 2 + len(V1_1_ONLY) + 1)
    ]


async def check_lists_follow_every_page(api, tmu: Tmu) -> None:
    _, headers, auth_id = await tmu_user(api, tmu)
    state = tmu.state
    calls = [state.create_call("usr_alice", f"call {i}") for i in range(5)]
    for i in range(5):
        state.post_message(calls[0].id, "usr_alice", f"m{i}")
    state.page_size_cap = 2
    for version in ("1.0", "1.1"):
        state.requests.clear()
        out = success(await call(api, headers, version, "list_calls", {}, auth_id))
        assert sorted(c["id"] for c in out["calls"]) == sorted(c.id for c in calls)
        assert out["has_more"] is False
        assert len(state.requests_to("GET", CALLS)) == 3
        state.requests.clear()
        out = success(await call(api, headers, version, "list_calls_ddl", {}, auth_id))
        assert len(out["result"]) == 5 and len(state.requests_to("GET", CALLS)) == 3
    out = success(
        await call(api, headers, "1.1", "list_chat_messages", {"call_id": calls[0].id}, auth_id)
    )
    assert [m["text"] for m in out["messages"]] == [f"m{i}" for i in range(5)]
    assert len(state.requests_to("GET", f"{CALLS}/{calls[0].id}/messages")) == 3
    out = success(await call(api, headers, "1.1", "list_calls", {"max_results": 3}, auth_id))
    assert len(out["calls"]) == 3 and out["has_more"] is True


async def check_tmu_errors(api, tmu: Tmu) -> None:
    _, headers, auth_id = await tmu_user(api, tmu)
    state = tmu.state
    bobs = state.create_call("usr_bob", "Bob's", invitees=["alice@example.com"])
    ended = state.create_call("usr_alice", "Over")
    state.stop_call(ended.id)
    unavailable = {"status": 503, "code": "unavailable", "message": "maintenance"}
    cases: list[tuple[str, dict[str, Any], Any, str, int, str | None]] = [
        # operation, input, set-up, kind, HTTP status, TMU code
        ("start_call", {"subject": "x", "invitees": ["a@x.example", "b@x.example"],
                        "rules": {"max_participants": 2}}, None,
         "api_error", 422, "too_many_invitees"),
        ("schedule_call", {"subject": "x", "start_time": "2001-01-01T00:00"}, None,
         "api_error", 422, "start_time_in_past"),
        ("invite_users", {"call_id": bobs.id, "invitees": ["z@x.example"]}, None,
         "api_error", 403, "not_call_host"),
        ("get_call", {"call_id": "call_nope"}, None, "api_error", 404, "call_not_found"),
        ("list_calls", {}, unavailable, "api_error", 503, "unavailable"),
        ("stop_call", {"call_id": ended.id}, None, "api_error", 409, "call_ended"),
        ("list_calls_ddl", {}, unavailable, "api_error", 503, "unavailable"),
        ("send_chat_message", {"call_id": ended.id, "text": "hi"}, None,
         "api_error", 409, "call_ended"),
        ("list_chat_messages", {"call_id": "call_nope"}, None, "api_error", 404,
         "call_not_found"),
        ("raw_http_request", {"method": "POST", "url": f"calls/{bobs.id}/invitees",
                              "body": {"json": {"invitees": []}}}, None,
         "api_error", 422, None),
    ]  # fmt: skip
    for name, data, knob, kind, status, code in cases:
        if knob is not None:
            state.fail_next(3, **knob, retry_after=0)  # every attempt fails
        r = await call(api, headers, "1.1", name, data, auth_id)
        output = tmu_error(r, kind, status, code)
        assert output["response"]["body"]["error"]["code"]
    # the authentication is the problem: auth_error, whichever operation
    _, bob_headers, bob_auth = await tmu_user(api, tmu, BOB)
    state.revoke(BOB)
    for name in ("start_call", "list_calls"):
        r = await call(api, bob_headers, "1.0", name, inputs(state)[name], bob_auth)
        tmu_error(r, "auth_error", 401, "token_revoked")


async def check_429s(api, tmu: Tmu) -> None:
    _, headers, auth_id = await tmu_user(api, tmu)
    state = tmu.state
    for name in V1_0 + V1_1_ONLY:
        # one 429 with Retry-After: 0, then TMU answers: retried (POSTs too) and succeeds
        state.rate_limit_next(1, retry_after=0)
        state.requests.clear()
        success(await call(api, headers, "1.1", name, inputs(state)[name], auth_id))
        assert len(state.requests) >= 2, name
        # a Retry-After longer than the policy waits: rate_limited with retryAfter
        state.rate_limit_next(1, retry_after=60)
        r = await call(api, headers, "1.1", name, inputs(state)[name], auth_id)
        output = tmu_error(
            r, "rate_limited", 429, None if name == "raw_http_request" else "rate_limited"
        )
        assert output["retryAfter"] == 60


async def check_input_validation(api, tmu: Tmu) -> None:
    _, headers, auth_id = await tmu_user(api, tmu)
    bad = [
        (
            "schedule_call",
            {"subject": "x", "start_time": "2031-01-01T10:00", "time_zone": "Moon/Base"},
        ),
        ("schedule_call", {"start_time": "2031-01-01T10:00"}),
        ("start_call", {"subject": "x", "invitees": ["not-an-email"]}),
        ("invite_users", {"call_id": "call_1", "invitees": []}),
        ("list_calls", {"max_results": 0}),
        ("list_calls", {"status": "paused"}),
    ]
    for name, data in bad:
        r = await call(api, headers, "1.0", name, data, auth_id)
        body = api.expect_error(r, 400)
        assert body["message"].startswith("Connector input validation failed."), body
    assert tmu.state.requests == []


# -- the tests (few: each one starts a Patchbay on SQLite and on PostgreSQL) ----------------


async def test_both_versions_side_by_side_and_1_0_without_chat(api, tmu: Tmu) -> None:
    await check_catalogue(api)
    await check_1_0_does_not_offer_chat(api, tmu)


async def test_every_operation_succeeds_and_lists_follow_every_page(api, tmu: Tmu) -> None:
    await check_every_operation(api, tmu)
    tmu.state.calls.clear()
    await check_lists_follow_every_page(api, tmu)


async def test_tmu_errors_429s_and_bad_input(api, tmu: Tmu) -> None:
    await check_input_validation(api, tmu)
    await check_tmu_errors(api, tmu)
    await check_429s(api, tmu)


async def test_each_end_user_acts_with_their_own_authentication(api, tmu: Tmu) -> None:
    _, alice_headers, alice_auth = await tmu_user(api, tmu, ALICE)
    _, bob_headers, bob_auth = await tmu_user(api, tmu, BOB)
    created = success(
        await call(
            api,
            alice_headers,
            "1.0",
            "start_call",
            {"subject": "Sync", "invitees": ["bob@example.com"]},
            alice_auth,
        )
    )
    assert created["host"]["email"] == "alice@example.com"
    # bob sees the call he is invited to, but may not stop it
    listed = success(await call(api, bob_headers, "1.0", "list_calls", {}, bob_auth))
    assert [c["id"] for c in listed["calls"]] == [created["id"]]
    r = await call(api, bob_headers, "1.0", "stop_call", {"call_id": created["id"]}, bob_auth)
    tmu_error(r, "api_error", 403, "not_call_host")
    sent = success(
        await call(
            api,
            bob_headers,
            "1.1",
            "send_chat_message",
            {"call_id": created["id"], "text": "on my way"},
            bob_auth,
        )
    )
    assert sent["sender"]["email"] == "bob@example.com"
    # nobody uses another user's authentication
    r = await call(api, bob_headers, "1.0", "stop_call", {"call_id": created["id"]}, alice_auth)
    api.expect_error(r, 404)
    success(
        await call(api, alice_headers, "1.0", "stop_call", {"call_id": created["id"]}, alice_auth)
    )
    assert tmu.state.calls[created["id"]].status == "ended"
