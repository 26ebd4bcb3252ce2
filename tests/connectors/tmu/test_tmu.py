"""The TMU connector (1.0 and 1.1) through the real SDK path against the TMU emulator, and
the emulator's own contract (API.md): errors, pagination, idempotency, signed webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import jsonschema
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchbay.connectors.sdk import Connector
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid
from patchbay.connectors.tmu.connector import (
    CONNECTORS,
    TMU_1_0,
    TMU_1_1,
    TOKEN_ENVIRONMENT_ID,
)
from patchbay.connectors.tmu.fake import FakeTMU, create_app, sign
from patchbay.connectors.tmu.operations import start_time_in_zone
from patchbay.testing import connectors as testing
from patchbay.testing.connectors import make_call
from patchbay.testing.fakeserver import serve_in_thread

ALICE = FakeTMU.alice_token
BOB = FakeTMU.bob_token
V1_0_OPERATIONS = [
    "start_call",
    "schedule_call",
    "invite_users",
    "get_call",
    "list_calls",
    "stop_call",
    "list_calls_ddl",
]
V1_1_OPERATIONS = [*V1_0_OPERATIONS, "send_chat_message", "list_chat_messages", "raw_http_request"]


@pytest.fixture
def tmu() -> Iterator[FakeTMU]:
    state = FakeTMU(delivery_backoff=0.01)
    yield state
    state.close()


class Swappable:
    """One loopback server for the module, serving each test's own emulator."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Swappable, str]]:
    swappable = Swappable()
    with serve_in_thread(swappable) as url:
        yield swappable, url


@pytest.fixture
def tmu_url(tmu: FakeTMU, server: tuple[Swappable, str]) -> str:
    swappable, url = server
    swappable.app = create_app(tmu)
    return url + "/v1"


@pytest.fixture
def call(tmu_url: str, clients: HttpClientPool):
    async def call(
        name: str,
        data: dict[str, Any],
        *,
        token: str | None = ALICE,
        connector: Connector = TMU_1_1,
    ) -> CallResult:
        run = make_call(connector, clients, user_data={"base_url": tmu_url})
        return await run(name, data, credentials={"api_token": token} if token else {})

    return call


assert_output_valid = partial(testing.assert_output_valid, TMU_1_1)


def assert_tmu_error(result: CallResult, kind: str, code: str, status: int) -> dict[str, Any]:
    """A TMU error answer kept as TMU said it, in Patchbay's standardized error."""
    assert result.outcome == "error", result.output
    output = result.output
    assert output["kind"] == kind, output
    assert output["code"] == code, output
    assert output["response"]["statusCode"] == status
    assert output["response"]["body"]["error"]["code"] == code
    assert code in output["message"]
    assert output["response"]["body"]["error"]["message"] in output["message"]
    for token in (ALICE, BOB):
        assert token not in str(output)
    return output


def live_call(tmu: FakeTMU, host: str = "usr_alice", **kwargs: Any):
    return tmu.create_call(host, kwargs.pop("subject", "Stand-up"), **kwargs)


# -- the declaration ----------------------------------------------------------------------


def test_declaration() -> None:
    assert CONNECTORS == [TMU_1_0, TMU_1_1]
    for connector, version in ((TMU_1_0, "1.0"), (TMU_1_1, "1.1")):
        assert connector.to_api() == {
            "name": "tmu",
            "title": "TMU",
            "description": connector.description,
            "version": version,
            "service": {"id": "b1d3f5a7-2c4e-4a6b-8d0f-1e2f3a4b5c66", "name": "tmu", "version": 1},
        }
        assert connector.base_url == "https://api.tmu.example/v1"
        (env,) = (e.to_api() for e in connector.environments)
        assert env["id"] == TOKEN_ENVIRONMENT_ID
        assert (env["title"], env["authenticationType"]) == ("TMU API token", "token")
        assert env["credentialsSchema"]["required"] == ["api_token"]
        assert env["userDataSchema"]["properties"]["base_url"]["format"] == "uri"
        assert "required" not in env["userDataSchema"]
        jsonschema.Draft4Validator.check_schema(env["credentialsSchema"])
    assert [op.name for op in TMU_1_0.operations] == V1_0_OPERATIONS
    assert [op.name for op in TMU_1_1.operations] == V1_1_OPERATIONS
    # one set of operation objects serves both versions
    for name in V1_0_OPERATIONS:
        assert TMU_1_1.operation(name) is TMU_1_0.operation(name)
    titles = {op.name: op.title for op in TMU_1_1.operations}
    assert titles["start_call"] == "Start Call"
    assert titles["list_chat_messages"] == "List Chat Messages"
    for op in TMU_1_1.operations:
        jsonschema.Draft4Validator.check_schema(op.input_schema)
        jsonschema.Draft4Validator.check_schema(op.output_schema)


def test_input_schemas() -> None:
    schedule = TMU_1_1.operation("schedule_call").input_schema
    assert schedule["required"] == ["subject", "start_time"]
    assert list(schedule["properties"]) == [
        "subject",
        "description",
        "start_time",
        "time_zone",
        "invitees",
        "rules",
    ]
    assert schedule["properties"]["start_time"]["format"] == "datetime"
    assert schedule["properties"]["time_zone"]["default"] == "UTC"
    assert schedule["properties"]["invitees"]["items"]["format"] == "email"
    rules = schedule["properties"]["rules"]
    assert rules["additionalProperties"] is False
    assert set(rules["properties"]) == {
        "mute_on_entry",
        "allow_guests",
        "recording",
        "waiting_room",
        "max_participants",
    }
    assert rules["properties"]["recording"]["enum"] == ["off", "manual", "automatic"]
    assert len(rules["properties"]["recording"]["enumLabels"]) == 3
    start = TMU_1_1.operation("start_call").input_schema
    assert start["required"] == ["subject"]
    assert start["advanced"] == ["time_zone"]
    assert "start_time" not in start["properties"]
    for name, include_ended in (
        ("invite_users", False),
        ("get_call", True),
        ("stop_call", False),
        ("send_chat_message", False),
        ("list_chat_messages", True),
    ):
        prop = TMU_1_1.operation(name).input_schema["properties"]["call_id"]
        assert prop["lookup"] == {
            "operation": "list_calls_ddl",
            "input": {"include_ended": include_ended},
        }, name
    listing = TMU_1_1.operation("list_calls").input_schema
    assert listing["properties"]["status"]["enum"] == ["scheduled", "live", "ended"]
    assert listing["properties"]["max_results"]["maximum"] == 1000
    assert listing["advanced"] == ["role", "start_after", "start_before"]


# -- operations ---------------------------------------------------------------------------


async def test_start_call(call, tmu: FakeTMU) -> None:
    result = await call(
        "start_call",
        {
            "subject": "Incident bridge",
            "description": "Checkout is down",
            "invitees": ["bob@example.com", "Bob@Example.com", "guest@elsewhere.example"],
            "rules": {"mute_on_entry": True, "recording": "automatic"},
        },
    )
    out = assert_output_valid("start_call", result)
    assert out["status"] == "live"
    assert out["subject"] == "Incident bridge"
    assert out["description"] == "Checkout is down"
    assert out["host"] == {"email": "alice@example.com", "user_id": "usr_alice"}
    assert out["invitees"] == [
        {"email": "bob@example.com", "user_id": "usr_bob", "status": "invited"},
        {"email": "guest@elsewhere.example", "user_id": None, "status": "invited"},
    ]
    assert out["rules"] == {
        "mute_on_entry": True,
        "allow_guests": False,
        "recording": "automatic",
        "waiting_room": False,
        "max_participants": 100,
    }
    assert out["time_zone"] == "Europe/London"  # the host's
    assert out["started_at"] and out["ended_at"] is None
    assert out["join_url"].endswith(out["id"])
    assert tmu.calls[out["id"]].status == "live"
    (request,) = tmu.requests_to("POST", "/v1/calls")
    assert request.headers["authorization"] == f"Bearer {ALICE}"
    assert request.headers["idempotency-key"]
    assert request.json == {
        "subject": "Incident bridge",
        "description": "Checkout is down",
        "invitees": [{"email": "bob@example.com"}, {"email": "guest@elsewhere.example"}],
        "rules": {"mute_on_entry": True, "recording": "automatic"},
    }


async def test_schedule_call_reads_the_time_in_its_zone(call, tmu: FakeTMU) -> None:
    result = await call(
        "schedule_call",
        {
            "subject": "Planning",
            "start_time": "2031-07-01T09:30",
            "time_zone": "Europe/Berlin",
            "invitees": ["bob@example.com"],
            "rules": {"waiting_room": True, "max_participants": 10},
        },
    )
    out = assert_output_valid("schedule_call", result)
    assert out["status"] == "scheduled"
    assert out["start_time"] == "2031-07-01T09:30:00+02:00"  # summer time
    assert out["time_zone"] == "Europe/Berlin"
    assert out["started_at"] is None
    assert out["rules"]["waiting_room"] is True and out["rules"]["max_participants"] == 10
    (request,) = tmu.requests_to("POST", "/v1/calls")
    assert request.json["start_time"] == "2031-07-01T09:30:00+02:00"
    assert request.json["time_zone"] == "Europe/Berlin"

    # an instant with an offset keeps its instant, shown in the zone
    out = assert_output_valid(
        "schedule_call",
        await call(
            "schedule_call",
            {
                "subject": "Sync",
                "start_time": "2031-01-15T17:00:00Z",
                "time_zone": "America/New_York",
            },
        ),
    )
    assert out["start_time"] == "2031-01-15T12:00:00-05:00"
    # the default zone is UTC
    out = assert_output_valid(
        "schedule_call",
        await call("schedule_call", {"subject": "UTC", "start_time": "2031-01-15 08:00"}),
    )
    assert (out["start_time"], out["time_zone"]) == ("2031-01-15T08:00:00+00:00", "UTC")


def test_start_time_in_zone() -> None:
    assert start_time_in_zone("2031-01-15T09:30", "Europe/Berlin") == "2031-01-15T09:30:00+01:00"
    assert start_time_in_zone("2031-01-15T09:30:45.123+01:00", "UTC") == "2031-01-15T08:30:45+00:00"
    assert start_time_in_zone("2031-03-30T09:30:00", "Asia/Kolkata") == "2031-03-30T09:30:00+05:30"


async def test_schedule_call_input_is_checked_before_tmu(call, tmu: FakeTMU) -> None:
    cases = [
        (
            {"subject": "x", "start_time": "2031-01-15T09:30", "time_zone": "Mars/Olympus"},
            "time_zone",
        ),
        ({"subject": "x", "start_time": "next tuesday at 5"}, "start_time"),
        ({"subject": "x", "start_time": "tomorrow"}, "start_time"),
        ({"subject": "x", "start_time": "2031-01-15"}, "start_time"),
        ({"subject": "", "start_time": "2031-01-15T09:30"}, "subject"),
        ({"subject": "x", "start_time": "2031-01-15T09:30", "invitees": ["nope"]}, "invitees"),
        ({"subject": "x", "start_time": "2031-01-15T09:30", "rules": {"x": 1}}, "rules"),
        (
            {"subject": "x", "start_time": "2031-01-15T09:30", "rules": {"max_participants": 1}},
            "max_participants",
        ),
    ]
    for data, where in cases:
        with pytest.raises(InputInvalid) as caught:
            await call("schedule_call", data)
        assert where in caught.value.message, (data, caught.value.message)
    assert tmu.requests == []


async def test_schedule_call_in_the_past(call, tmu: FakeTMU) -> None:
    result = await call("schedule_call", {"subject": "Late", "start_time": "2001-01-01T09:00"})
    out = assert_tmu_error(result, "api_error", "start_time_in_past", 422)
    assert "(field start_time)" in out["message"]
    assert tmu.calls == {}


async def test_invite_users(call, tmu: FakeTMU) -> None:
    scheduled = tmu.create_call(
        "usr_alice", "Review", start_time=tmu.now().replace(year=2031), invitees=["bob@example.com"]
    )
    result = await call(
        "invite_users",
        {"call_id": scheduled.id, "invitees": ["carol@example.com", "BOB@example.com"]},
    )
    out = assert_output_valid("invite_users", result)
    assert [(i["email"], i["user_id"]) for i in out["invitees"]] == [
        ("bob@example.com", "usr_bob"),
        ("carol@example.com", "usr_carol"),
    ]
    (request,) = tmu.requests_to("POST", f"/v1/calls/{scheduled.id}/invitees")
    assert request.json == {
        "invitees": [{"email": "carol@example.com"}, {"email": "BOB@example.com"}]
    }
    # only the host may invite
    result = await call(
        "invite_users", {"call_id": scheduled.id, "invitees": ["dan@x.example"]}, token=BOB
    )
    assert_tmu_error(result, "api_error", "not_call_host", 403)
    # not once it ended
    tmu.stop_call(scheduled.id)
    result = await call("invite_users", {"call_id": scheduled.id, "invitees": ["dan@x.example"]})
    assert_tmu_error(result, "api_error", "call_ended", 409)
    # a call bigger than its rules allow
    small = live_call(tmu, rules={"max_participants": 2}, invitees=["bob@example.com"])
    result = await call("invite_users", {"call_id": small.id, "invitees": ["dan@x.example"]})
    assert_tmu_error(result, "api_error", "too_many_invitees", 422)


async def test_get_call(call, tmu: FakeTMU) -> None:
    hosted_by_bob = live_call(tmu, "usr_bob", subject="Bob's", invitees=["alice@example.com"])
    out = assert_output_valid("get_call", await call("get_call", {"call_id": hosted_by_bob.id}))
    assert out["id"] == hosted_by_bob.id
    assert out["host"]["user_id"] == "usr_bob"
    assert out["time_zone"] == "America/New_York"
    # a call carol is not part of is invisible to her
    result = await call("get_call", {"call_id": hosted_by_bob.id}, token=FakeTMU.carol_token)
    assert_tmu_error(result, "api_error", "call_not_found", 404)
    result = await call("get_call", {"call_id": "call_missing"})
    assert_tmu_error(result, "api_error", "call_not_found", 404)
    # an id is never a path
    result = await call("get_call", {"call_id": "../webhooks"})
    assert result.outcome == "error"
    assert tmu.requests[-1].path != "/v1/webhooks"


async def test_stop_call(call, tmu: FakeTMU) -> None:
    running = live_call(tmu)
    out = assert_output_valid("stop_call", await call("stop_call", {"call_id": running.id}))
    assert out["status"] == "ended" and out["ended_at"]
    assert tmu.requests_to("POST", f"/v1/calls/{running.id}/stop")[0].json is None
    result = await call("stop_call", {"call_id": running.id})
    assert_tmu_error(result, "api_error", "call_ended", 409)
    # a scheduled call is cancelled: ended without having started
    later = tmu.create_call("usr_alice", "Later", start_time=tmu.now().replace(year=2031))
    out = assert_output_valid("stop_call", await call("stop_call", {"call_id": later.id}))
    assert (out["status"], out["started_at"]) == ("ended", None)


async def test_list_calls_follows_every_page(call, tmu: FakeTMU) -> None:
    future = tmu.now().replace(year=2031)
    ids = [live_call(tmu, subject=f"live {i}").id for i in range(3)]
    ids += [
        tmu.create_call(
            "usr_bob",
            f"planned {i}",
            start_time=future.replace(day=i + 1),
            invitees=["alice@example.com"],
        ).id
        for i in range(4)
    ]
    live_call(tmu, "usr_carol", subject="not alice's")
    tmu.page_size_cap = 2
    out = assert_output_valid("list_calls", await call("list_calls", {}))
    assert len(out["calls"]) == 7 and out["has_more"] is False
    assert {c["id"] for c in out["calls"]} == set(ids)
    starts = [c["start_time"] for c in out["calls"][:4]]
    assert starts == sorted(starts, reverse=True)  # latest start first
    pages = tmu.requests_to("GET", "/v1/calls")
    assert len(pages) == 4
    assert "cursor" not in pages[0].query and all(p.query["cursor"] for p in pages[1:])
    assert all(p.query["limit"] == "100" for p in pages)

    # filters go to TMU; max_results stops early and says more remained
    before = len(tmu.requests)
    out = assert_output_valid(
        "list_calls", await call("list_calls", {"status": "scheduled", "max_results": 3})
    )
    assert [c["status"] for c in out["calls"]] == ["scheduled"] * 3
    assert out["has_more"] is True
    first = tmu.requests[before]
    assert (first.query["status"], first.query["limit"]) == ("scheduled", "3")
    out = assert_output_valid(
        "list_calls",
        await call(
            "list_calls",
            {
                "role": "host",
                "start_after": "2020-01-01T00:00:00Z",
                "start_before": "2030-01-01T00:00:00Z",
            },
        ),
    )
    assert {c["id"] for c in out["calls"]} == set(ids[:3])
    assert tmu.requests[-1].query["role"] == "host"


async def test_list_calls_ddl(call, tmu: FakeTMU) -> None:
    running = live_call(tmu, subject="Running")
    ended = live_call(tmu, subject="Done")
    tmu.stop_call(ended.id)
    tmu.page_size_cap = 1
    out = assert_output_valid("list_calls_ddl", await call("list_calls_ddl", {}))
    start = tmu.call_to_api(running)["start_time"]
    assert out == {"result": [{"text": f"Running (live, {start})", "value": running.id}]}
    assert tmu.requests[-1].query["status"] == "scheduled,live"
    out = assert_output_valid(
        "list_calls_ddl", await call("list_calls_ddl", {"include_ended": True})
    )
    assert {item["value"] for item in out["result"]} == {running.id, ended.id}
    assert len(tmu.requests_to("GET", "/v1/calls")) == 1 + 2  # one page, then two


async def test_chat(call, tmu: FakeTMU) -> None:
    running = live_call(tmu, invitees=["bob@example.com"])
    out = assert_output_valid(
        "send_chat_message",
        await call("send_chat_message", {"call_id": running.id, "text": "Hello from Patchbay"}),
    )
    assert out["sender"] == {"email": "alice@example.com", "user_id": "usr_alice"}
    assert (out["call_id"], out["text"]) == (running.id, "Hello from Patchbay")
    for i in range(4):
        tmu.post_message(running.id, "usr_bob", f"reply {i}")
    tmu.page_size_cap = 2
    out = assert_output_valid(
        "list_chat_messages", await call("list_chat_messages", {"call_id": running.id})
    )
    assert [m["text"] for m in out["messages"]] == [
        "Hello from Patchbay",
        *(f"reply {i}" for i in range(4)),
    ]
    assert out["has_more"] is False
    assert len(tmu.requests_to("GET", f"/v1/calls/{running.id}/messages")) == 3
    out = assert_output_valid(
        "list_chat_messages",
        await call("list_chat_messages", {"call_id": running.id, "max_results": 2}),
    )
    assert len(out["messages"]) == 2 and out["has_more"] is True
    out = assert_output_valid(
        "list_chat_messages",
        await call("list_chat_messages", {"call_id": running.id, "since": "2099-01-01T00:00:00Z"}),
    )
    assert out == {"messages": [], "has_more": False}
    # errors: a call that is not the user's, a closed chat
    result = await call("list_chat_messages", {"call_id": running.id}, token=FakeTMU.carol_token)
    assert_tmu_error(result, "api_error", "call_not_found", 404)
    tmu.stop_call(running.id)
    result = await call("send_chat_message", {"call_id": running.id, "text": "too late"})
    assert_tmu_error(result, "api_error", "call_ended", 409)


async def test_version_1_0_has_no_chat_or_raw_access() -> None:
    for name in ("send_chat_message", "list_chat_messages", "raw_http_request"):
        assert TMU_1_0.operation(name) is None
        assert TMU_1_1.operation(name) is not None


async def test_raw_http_request(call, tmu: FakeTMU) -> None:
    out = assert_output_valid(
        "raw_http_request", await call("raw_http_request", {"method": "GET", "url": "me"})
    )
    assert out["response"]["status_code"] == 200
    assert out["response"]["body"]["email"] == "alice@example.com"
    assert tmu.requests[-1].headers["authorization"] == f"Bearer {ALICE}"
    # any method: register a webhook, then list it
    result = await call(
        "raw_http_request",
        {
            "method": "POST",
            "url": "/webhooks",
            "body": {"json": {"url": "https://hooks.example/tmu", "events": ["call.started"]}},
        },
    )
    out = assert_output_valid("raw_http_request", result)
    assert out["response"]["status_code"] == 201
    assert out["response"]["body"]["secret"].startswith("whsec_")
    result = await call(
        "raw_http_request",
        {"method": "GET", "url": "calls", "query_parameters": [{"key": "status", "value": "live"}]},
    )
    assert assert_output_valid("raw_http_request", result)["response"]["body"]["calls"] == []
    assert tmu.requests[-1].query == {"status": "live"}
    # TMU's errors come back standardized, its body kept
    result = await call("raw_http_request", {"method": "GET", "url": "calls/nope"})
    assert result.outcome == "error"
    assert result.output["response"]["statusCode"] == 404
    assert result.output["response"]["body"]["error"]["code"] == "call_not_found"
    # the token never leaves for another host
    result = await call("raw_http_request", {"method": "GET", "url": "https://evil.example/me"})
    assert (result.outcome, result.output["kind"]) == ("error", "connector_error")


# -- retries, rate limits, idempotency, auth ---------------------------------------------


async def test_a_429_is_retried_even_for_a_post(call, tmu: FakeTMU) -> None:
    tmu.rate_limit_next(2, retry_after=0, path="/v1/calls")
    out = assert_output_valid("start_call", await call("start_call", {"subject": "Retry me"}))
    requests = tmu.requests_to("POST", "/v1/calls")
    assert len(requests) == 3
    assert len({r.headers["idempotency-key"] for r in requests}) == 1  # one key for all tries
    assert list(tmu.calls) == [out["id"]]
    # in the middle of a list too
    for i in range(3):
        live_call(tmu, subject=f"c{i}")
    tmu.page_size_cap = 1
    tmu.rate_limit_next(1, retry_after=0, method="GET")
    out = assert_output_valid("list_calls", await call("list_calls", {}))
    assert len(out["calls"]) == 4


async def test_rate_limited(call, tmu: FakeTMU) -> None:
    tmu.rate_limit_next(1, retry_after=60)  # longer than the policy waits
    result = await call("get_call", {"call_id": "call_x"})
    out = assert_tmu_error(result, "rate_limited", "rate_limited", 429)
    assert out["retryAfter"] == 60
    assert len(tmu.requests) == 1
    # still limited after every attempt
    tmu.rate_limit_next(3, retry_after=0)
    result = await call("schedule_call", {"subject": "x", "start_time": "2031-01-01T10:00"})
    assert_tmu_error(result, "rate_limited", "rate_limited", 429)
    assert len(tmu.requests) == 4 and tmu.calls == {}
    # a page of a list
    tmu.rate_limit_next(1, retry_after=30)
    result = await call("list_calls", {})
    assert assert_tmu_error(result, "rate_limited", "rate_limited", 429)["retryAfter"] == 30


async def test_a_post_answered_5xx_after_it_was_done_is_not_done_twice(call, tmu: FakeTMU) -> None:
    tmu.fail_next(1, 502, "bad_gateway", "upstream timed out", processed=True, retry_after=0)
    out = assert_output_valid("start_call", await call("start_call", {"subject": "Once"}))
    assert len(tmu.calls) == 1 and out["id"] in tmu.calls
    assert len(tmu.requests_to("POST", "/v1/calls")) == 2
    # without retries left, the 5xx is reported with TMU's code
    tmu.fail_next(3, 503, "unavailable", "maintenance", retry_after=0)
    result = await call("stop_call", {"call_id": out["id"]})
    assert_tmu_error(result, "api_error", "unavailable", 503)
    assert tmu.calls[out["id"]].status == "live"


async def test_auth_errors(call, tmu: FakeTMU) -> None:
    result = await call("get_call", {"call_id": "call_x"}, token="tmu_test_wrong")
    assert_tmu_error(result, "auth_error", "unauthorized", 401)
    result = await call("list_calls", {}, token=None)
    assert_tmu_error(result, "auth_error", "unauthorized", 401)
    assert "authorization" not in tmu.requests[-1].headers
    tmu.revoke(BOB)
    result = await call("start_call", {"subject": "x"}, token=BOB)
    assert_tmu_error(result, "auth_error", "token_revoked", 401)
    result = await call("list_calls_ddl", {}, token=BOB)
    assert_tmu_error(result, "auth_error", "token_revoked", 401)


# -- the output contract ----------------------------------------------------------------------


def scenario(tmu: FakeTMU, name: str) -> dict[str, Any]:
    """A successful input for each operation, with the emulator's state to match."""
    running = live_call(tmu, invitees=["bob@example.com", "guest@elsewhere.example"])
    tmu.post_message(running.id, "usr_bob", "hi")
    return {
        "start_call": {"subject": "Contract", "invitees": ["bob@example.com"]},
        "schedule_call": {
            "subject": "Contract",
            "start_time": "2031-05-05T10:00",
            "time_zone": "Asia/Tokyo",
            "rules": {"allow_guests": True},
        },
        "invite_users": {"call_id": running.id, "invitees": ["someone@x.example"]},
        "get_call": {"call_id": running.id},
        "list_calls": {"max_results": 5},
        "stop_call": {"call_id": running.id},
        "list_calls_ddl": {"include_ended": True},
        "send_chat_message": {"call_id": running.id, "text": "ok"},
        "list_chat_messages": {"call_id": running.id},
        "raw_http_request": {"method": "GET", "url": f"calls/{running.id}"},
    }[name]


@pytest.mark.parametrize("name", V1_1_OPERATIONS)
async def test_every_operation_output_matches_its_schema(call, tmu: FakeTMU, name: str) -> None:
    result = await call(name, scenario(tmu, name))
    output = assert_output_valid(name, result)
    assert output
    if name in V1_0_OPERATIONS:  # and the same through 1.0
        result = await call(name, scenario(tmu, name), connector=TMU_1_0)
        assert_output_valid(name, result)


# -- the emulator ---------------------------------------------------------------------------


class Receiver:
    """A webhook receiver: records deliveries; ``answers`` are the statuses it gives, then 200."""

    def __init__(self, answers: list[int] | None = None, delay: float = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers = list(answers or [])
        self.delay = delay

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        if self.delay and not self.received:  # only the first answer is slow
            await asyncio.sleep(self.delay)
        self.received.append((dict(request.headers), body))
        return JSONResponse({}, status_code=self.answers.pop(0) if self.answers else 200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.endpoint, methods=["POST"])])


def test_webhook_deliveries_are_signed_and_ordered(tmu: FakeTMU, tmu_url: str) -> None:
    receiver = Receiver()
    with serve_in_thread(receiver.app()) as hooks:
        bob = httpx.Client(base_url=tmu_url, headers={"Authorization": f"Bearer {BOB}"})
        alice = httpx.Client(base_url=tmu_url, headers={"Authorization": f"Bearer {ALICE}"})
        r = bob.post(
            "/webhooks",
            json={
                "url": hooks + "/hook",
                "events": list(("call.started", "call.stopped", "chat.message_received")),
            },
        )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        assert "secret" not in bob.get(f"/webhooks/{r.json()['id']}").json()
        # someone else's webhook is not theirs to make
        r = bob.post(
            "/webhooks", json={"url": hooks, "events": ["call.started"], "user_id": "usr_alice"}
        )
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
        created = alice.post(
            "/calls", json={"subject": "Hi Bob", "invitees": [{"email": "bob@example.com"}]}
        ).json()
        alice.post(f"/calls/{created['id']}/messages", json={"text": "from alice"})
        bob.post(f"/calls/{created['id']}/messages", json={"text": "from bob"})  # not to bob
        alice.post(f"/calls/{created['id']}/stop")
        live_call(tmu, subject="without bob")  # nothing for bob
        deliveries = tmu.wait_for_deliveries(3)
        assert [d.event for d in deliveries] == [
            "call.started",
            "chat.message_received",
            "call.stopped",
        ]
        assert all(d.delivered and d.attempts == 1 for d in deliveries)
        assert len(receiver.received) == 3
        for (headers, body), delivery in zip(receiver.received, deliveries, strict=True):
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert headers["x-tmu-signature"] == expected == sign(secret, body)
            assert headers["x-tmu-event"] == delivery.event
            assert headers["x-tmu-delivery"] == delivery.id
            assert abs(int(headers["x-tmu-timestamp"]) - time.time()) < 60
            assert headers["content-type"] == "application/json"
        payloads = [delivery.payload for delivery in deliveries]
        assert all(p["user_id"] == "usr_bob" for p in payloads)
        assert payloads[0]["data"]["call"]["status"] == "live"
        assert payloads[1]["data"]["message"]["text"] == "from alice"
        assert payloads[2]["data"]["call"]["status"] == "ended"


def test_webhook_deliveries_are_retried_and_never_block(tmu: FakeTMU, tmu_url: str) -> None:
    slow = Receiver(answers=[503], delay=1.5)
    with serve_in_thread(slow.app()) as hooks:
        tmu.register_webhook("usr_alice", hooks + "/hook", ["call.started", "call.stopped"])
        tmu.register_webhook("usr_alice", "http://127.0.0.1:9/refused", ["call.started"])
        client = httpx.Client(base_url=tmu_url, headers={"Authorization": f"Bearer {ALICE}"})
        began = time.monotonic()
        r = client.post("/calls", json={"subject": "Quick"})
        assert r.status_code == 201
        assert time.monotonic() - began < 1.0  # the API did not wait for the 1.5 s receiver
        deliveries = tmu.wait_for_deliveries(2)
    by_url = {d.url: d for d in deliveries}
    ok = by_url[hooks + "/hook"]
    assert (ok.delivered, ok.attempts, ok.status_code) == (True, 2, 200)
    refused = by_url["http://127.0.0.1:9/refused"]
    assert (refused.delivered, refused.attempts) == (False, tmu.delivery_attempts)
    assert refused.error


def test_emulator_contract(tmu: FakeTMU, tmu_url: str) -> None:
    alice = httpx.Client(base_url=tmu_url, headers={"Authorization": f"Bearer {ALICE}"})
    errors = [
        (httpx.get(tmu_url + "/me"), 401, "unauthorized"),
        (alice.get("/nowhere"), 404, "not_found"),
        (alice.put("/calls"), 405, "method_not_allowed"),
        (
            alice.post("/calls", content=b"{nope", headers={"content-type": "application/json"}),
            400,
            "invalid_request",
        ),
        (alice.post("/calls", json={"subject": " "}), 422, "validation_error"),
        (
            alice.post("/calls", json={"subject": "x", "time_zone": "Nowhere/City"}),
            422,
            "invalid_time_zone",
        ),
        (
            alice.post("/calls", json={"subject": "x", "start_time": "2031-01-01"}),
            422,
            "validation_error",
        ),
        (alice.get("/calls", params={"limit": 101}), 400, "invalid_parameter"),
        (alice.get("/calls", params={"status": "paused"}), 400, "invalid_parameter"),
        (alice.get("/calls", params={"cursor": "garbage!"}), 400, "invalid_cursor"),
        (
            alice.post("/webhooks", json={"url": "ftp://x", "events": ["call.started"]}),
            422,
            "validation_error",
        ),
        (
            alice.post("/webhooks", json={"url": "https://x.example", "events": ["call.paused"]}),
            422,
            "validation_error",
        ),
        (alice.delete("/webhooks/wh_nope"), 404, "webhook_not_found"),
    ]
    for response, status, code in errors:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"error"} and body["error"]["code"] == code, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert errors[0][0].headers["www-authenticate"].startswith("Bearer")
    # Idempotency-Key: a repeat is replayed, a different body with the same key refused
    key = {"Idempotency-Key": "k-1"}
    first = alice.post("/calls", json={"subject": "Once"}, headers=key)
    again = alice.post("/calls", json={"subject": "Once"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = alice.post("/calls", json={"subject": "Twice"}, headers=key)
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert len(tmu.calls) == 1
    # lifecycle: schedule, start, stop
    scheduled = alice.post(
        "/calls", json={"subject": "Later", "start_time": "2031-01-01T10:00:00+01:00"}
    ).json()
    assert scheduled["start_time"] == "2031-01-01T09:00:00+00:00"  # alice's zone: London
    started = alice.post(f"/calls/{scheduled['id']}/start").json()
    assert started["status"] == "live" and started["started_at"]
    again = alice.post(f"/calls/{scheduled['id']}/start")
    assert again.json()["error"]["code"] == "call_already_live"
    assert alice.get("/me").json()["id"] == "usr_alice"
    webhook = alice.post(
        "/webhooks", json={"url": "https://x.example/h", "events": ["call.started"]}
    )
    assert [w["id"] for w in alice.get("/webhooks").json()["webhooks"]] == [webhook.json()["id"]]
    assert alice.delete(f"/webhooks/{webhook.json()['id']}").status_code == 204
    assert alice.get("/webhooks").json() == {"webhooks": []}


def test_standalone_app() -> None:
    app = create_app()
    assert isinstance(app.state.tmu, FakeTMU)
    with serve_in_thread(app) as url:
        r = httpx.get(url + "/v1/me", headers={"Authorization": f"Bearer {ALICE}"})
        assert r.json()["email"] == "alice@example.com"
    app.state.tmu.close()
