"""The Pendo connector, run through the real SDK path against the loopback Pendo fake."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from functools import partial
from typing import Any

import httpx
import jsonschema
import pytest

from patchbay.connectors.pendo import connector as pendo_connector
from patchbay.connectors.pendo.connector import CONNECTORS, ENVIRONMENT_ID, PENDO
from patchbay.connectors.pendo.fake import (
    BASE_DAY,
    DAY_MS,
    FakePendo,
    create_app,
    parse_expression,
)
from patchbay.connectors.pendo.operations import REGIONS, api_base
from patchbay.connectors.sdk import Context
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid
from patchbay.testing import connectors as testing
from patchbay.testing.connectors import make_call
from patchbay.testing.fakeserver import serve_in_thread

KEY = FakePendo.integration_key
READ_ONLY = FakePendo.read_only_key
TRIAL_REPORT = "c3Tz8Wq1Ym5Nb7Vx2Kl9Pj4Hs6G"
ADMINS_REPORT = "d9Gf4Hj2Kl7Qw1Er5Ty8Ui3Op6A"

# One valid input per operation: the contract test runs them all.
SAMPLES: dict[str, dict[str, Any]] = {
    "aggregation": {
        "pipeline": [{"source": {"accounts": None}}, {"sort": ["accountId"]}, {"limit": 2}]
    },
    "get_account_by_id": {"account_id": "acme"},
    "get_report_contents": {"report_id": TRIAL_REPORT},
    "get_report_contents_as_csv": {"report_id": TRIAL_REPORT},
    "get_visitor_by_id": {"visitor_id": "team/alice"},
    "get_visitor_history": {"visitor_id": "ada@example.com", "start_time": BASE_DAY},
    "list_reports": {},
    "update_object_values": {
        "object_type": "visitor",
        "objects": [{"id": "ada@example.com", "values": {"role": "admin"}}],
    },
    "list_reports_ddl": {},
    "raw_http_request": {"method": "GET", "url": "metadata/schema/account"},
}


@pytest.fixture(scope="module")
def server():
    """One fake server for the module; each test gets a fresh state (see ``pendo``)."""
    app = create_app()
    with serve_in_thread(app) as url:
        yield app, url + "/api/v1"


@pytest.fixture
def pendo(server) -> FakePendo:
    app, _ = server
    app.state = FakePendo()
    return app.state


@pytest.fixture
def pendo_url(server, pendo: FakePendo) -> str:
    return server[1]


@pytest.fixture
def call(pendo_url: str, clients: HttpClientPool):
    run = make_call(PENDO, clients, user_data={"base_url": pendo_url})

    async def call(
        name: str, data: dict[str, Any], *, key: str | None = KEY, **kwargs: Any
    ) -> CallResult:
        return await run(
            name, data, credentials={} if key is None else {"integration_key": key}, **kwargs
        )

    return call


assert_output_valid = partial(testing.assert_output_valid, PENDO)


def assert_error(result: CallResult, kind: str, status: int | None) -> dict[str, Any]:
    """Pendo's error shape: opaque text kept as the body, the status named in the message."""
    assert result.outcome == "error", result.output
    output = result.output
    assert output["kind"] == kind, output
    if status is None:
        assert output["response"] is None
    else:
        assert output["response"]["statusCode"] == status
        assert f"HTTP {status}" in output["message"]
    assert "code" not in output  # Pendo has no error codes
    return output


# -- the declaration --------------------------------------------------------------------------


def test_declaration() -> None:
    assert CONNECTORS == [PENDO]
    assert pendo_connector.CONNECTORS[0] is PENDO
    assert PENDO.to_api() == {
        "name": "pendo",
        "title": "Pendo",
        "description": PENDO.description,
        "version": "1.0",
        "service": {"id": "5a1e7c93-2b4d-4f6a-8c0e-9d8e7f6a5b42", "name": "pendo", "version": 1},
    }
    assert PENDO.base_url is None
    (env,) = (e.to_api() for e in PENDO.environments)
    assert (env["id"], env["title"], env["authenticationType"]) == (
        ENVIRONMENT_ID,
        "Pendo integration key",
        "token",
    )
    assert env["credentialsSchema"]["required"] == ["integration_key"]
    region = env["userDataSchema"]["properties"]["region"]
    assert region["enum"] == ["us", "eu", "us1", "jpn", "au"]
    assert len(region["enumLabels"]) == 5 and region["default"] == "us"
    assert env["userDataSchema"]["properties"]["base_url"]["format"] == "uri"
    jsonschema.Draft4Validator.check_schema(env["credentialsSchema"])
    jsonschema.Draft4Validator.check_schema(env["userDataSchema"])
    assert [op.name for op in PENDO.operations] == list(SAMPLES)
    assert [op.title for op in PENDO.operations] == [
        "Aggregation",
        "Get Account By ID",
        "Get Report Contents",
        "Get Report Contents As CSV",
        "Get Visitor By ID",
        "Get Visitor History",
        "List Reports",
        "Update Object Values",
        "List Reports DDL",
        "Raw HTTP Request",
    ]
    for operation in PENDO.operations:
        jsonschema.Draft4Validator.check_schema(operation.input_schema)
        assert operation.output_schema["type"] == "object"
    for name in ("get_report_contents", "get_report_contents_as_csv"):
        prop = PENDO.operation(name).input_schema["properties"]["report_id"]
        assert prop["lookup"] == {"operation": "list_reports_ddl", "input": {}}
    assert PENDO.operation("aggregation").input_schema["advanced"] == ["name", "request_id"]
    assert PENDO.operation("list_reports").input_schema["advanced"] == ["limit"]


async def test_api_base_by_region(clients: HttpClientPool) -> None:
    def base(user_data: dict[str, Any]) -> str:
        ctx = Context(
            connector=PENDO,
            operation=PENDO.operations[0],
            credentials={},
            user_data=user_data,
            clients=clients,
            base_url=None,
        )
        return api_base(ctx)

    assert base({}) == "https://app.pendo.io/api/v1"
    assert {r: base({"region": r}) for r in REGIONS} == {
        "us": "https://app.pendo.io/api/v1",
        "eu": "https://app.eu.pendo.io/api/v1",
        "us1": "https://us1.app.pendo.io/api/v1",
        "jpn": "https://app.jpn.pendo.io/api/v1",
        "au": "https://app.au.pendo.io/api/v1",
    }
    assert base({"region": "eu", "base_url": "http://127.0.0.1:9/api/v1/"}) == (
        "http://127.0.0.1:9/api/v1"
    )


async def test_unknown_region(call) -> None:
    result = await call("list_reports", {}, user_data={"region": "mars"})
    output = assert_error(result, "connector_error", None)
    assert "Unknown Pendo region 'mars'" in output["message"]


# -- aggregation ------------------------------------------------------------------------------


async def test_aggregation(call, pendo: FakePendo) -> None:
    pipeline = [
        {"source": {"visitors": None}},
        {"identified": "visitorId"},
        {"filter": 'metadata.agent.role == "admin"'},
        {"sort": ["-visitorId"]},
        {"limit": 3},
        {"select": {"id": "visitorId", "email": "metadata.agent.email"}},
    ]
    data = {"pipeline": pipeline, "name": "admins", "request_id": "req-1"}
    output = assert_output_valid("aggregation", await call("aggregation", data))
    expected = sorted(
        (v for v in pendo.visitors.values() if v.metadata["agent"].get("role") == "admin"),
        key=lambda v: v.id,
        reverse=True,
    )[:3]
    assert output == {
        "results": [{"id": v.id, "email": v.metadata["agent"]["email"]} for v in expected]
    }
    (sent,) = pendo.requests_to("aggregation", "POST")
    assert sent.body == {
        "response": {"mimeType": "application/json"},
        "request": {"pipeline": pipeline, "name": "admins", "requestId": "req-1"},
    }
    assert sent.headers["x-pendo-integration-key"] == KEY
    assert sent.headers["content-type"].startswith("application/json")


async def test_aggregation_event_source(call, pendo: FakePendo) -> None:
    series = {"period": "dayRange", "first": BASE_DAY, "count": 3}
    pipeline = [
        {"source": {"pageEvents": None, "timeSeries": series}},
        {"group": {"group": ["pageId"], "fields": {"events": {"count": None}}}},
        {"sort": ["pageId"]},
    ]
    output = assert_output_valid("aggregation", await call("aggregation", {"pipeline": pipeline}))
    counts: dict[str, int] = {}
    for e in pendo.events:
        if e.type == "page" and BASE_DAY <= e.browser_time < BASE_DAY + 3 * DAY_MS:
            counts[e.page_id] = counts.get(e.page_id, 0) + 1
    assert output["results"] == [{"pageId": p, "events": n} for p, n in sorted(counts.items())]


async def test_aggregation_errors(call, pendo: FakePendo) -> None:
    result = await call("aggregation", {"pipeline": [{"source": {"visitors": None}}, {"frob": 1}]})
    output = assert_error(result, "api_error", 400)
    assert output["message"] == (
        "Pendo aggregation failed: HTTP 400 Bad Request (Pendo refused the request as "
        "invalid): invalid pipeline: unknown operator 'frob'"
    )
    assert output["response"]["body"] == "invalid pipeline: unknown operator 'frob'"
    assert output["response"]["headers"]["content-type"].startswith("text/plain")
    with pytest.raises(InputInvalid, match=r"required key \[pipeline\] not found"):
        await call("aggregation", {})
    with pytest.raises(InputInvalid, match="expected minimum item count: 1"):
        await call("aggregation", {"pipeline": []})


# -- accounts and visitors --------------------------------------------------------------------


async def test_get_account_by_id(call, pendo: FakePendo) -> None:
    output = assert_output_valid(
        "get_account_by_id", await call("get_account_by_id", {"account_id": "globex"})
    )
    assert output["id"] == "globex"
    assert output["metadata"]["agent"] == {"name": "Globex Inc.", "plan": "trial", "seats": 10}
    result = await call("get_account_by_id", {"account_id": "nobody"})
    output = assert_error(result, "api_error", 404)
    assert output["message"] == (
        "Pendo get account failed: HTTP 404 Not Found (no such object): account nobody not found"
    )


@pytest.mark.parametrize(
    ("visitor_id", "raw_path"),
    [
        ("team/alice", "/api/v1/visitor/team%2Falice"),
        ("bob smith", "/api/v1/visitor/bob%20smith"),
        ("ada@example.com", "/api/v1/visitor/ada%40example.com"),  # sent as encoded
        ("visitor-001", "/api/v1/visitor/visitor-001"),
    ],
)
async def test_get_visitor_by_id_encodes_the_id(
    call, pendo: FakePendo, visitor_id: str, raw_path: str
) -> None:
    output = assert_output_valid(
        "get_visitor_by_id", await call("get_visitor_by_id", {"visitor_id": visitor_id})
    )
    assert output == pendo.visitors[visitor_id].to_api()
    assert pendo.requests[-1].path == raw_path


async def test_get_visitor_errors(call, pendo: FakePendo) -> None:
    assert_error(await call("get_visitor_by_id", {"visitor_id": "ghost"}), "api_error", 404)
    # Dot segments would be normalised into another path: refused before sending.
    for bad in (".", ".."):
        result = await call("get_visitor_history", {"visitor_id": bad, "start_time": 0})
        assert result.outcome == "error" and result.output["kind"] == "connector_error"
    assert len(pendo.requests) == 1


async def test_get_visitor_history(call, pendo: FakePendo) -> None:
    start = BASE_DAY + 2 * DAY_MS
    data = {"visitor_id": "ada@example.com", "start_time": start}
    output = assert_output_valid("get_visitor_history", await call("get_visitor_history", data))
    expected = [
        e.history_item()
        for e in pendo.events
        if e.visitor_id == "ada@example.com" and start <= e.browser_time < start + DAY_MS
    ]
    assert expected and output == {"history": expected}
    assert all(start <= item["browserTime"] < start + DAY_MS for item in output["history"])
    (sent,) = pendo.requests_to("visitor/ada@example.com/history")
    assert sent.query == {"starttime": str(start)}
    # A day without activity is an empty history.
    data["start_time"] = BASE_DAY - 5 * DAY_MS
    assert (await call("get_visitor_history", data)).output == {"history": []}


async def test_get_visitor_history_errors(call) -> None:
    result = await call("get_visitor_history", {"visitor_id": "ghost", "start_time": BASE_DAY})
    assert_error(result, "api_error", 404)
    with pytest.raises(InputInvalid, match=r"required key \[start_time\] not found"):
        await call("get_visitor_history", {"visitor_id": "x"})
    with pytest.raises(InputInvalid, match="is not greater or equal to 0"):
        await call("get_visitor_history", {"visitor_id": "x", "start_time": -1})


# -- reports ----------------------------------------------------------------------------------


async def test_list_reports(call, pendo: FakePendo) -> None:
    output = assert_output_valid("list_reports", await call("list_reports", {}))
    shared = [r for r in pendo.reports.values() if r.shared]
    assert [r["id"] for r in output["reports"]] == [r.id for r in shared]
    assert len(shared) == 4 and len(pendo.reports) == 5  # the private report is not listed
    output = (await call("list_reports", {"name_contains": "ACCOUNT"})).output
    assert [r["name"] for r in output["reports"]] == ["Accounts by plan", "Trial accounts"]
    output = (await call("list_reports", {"kind": "visitor", "limit": 1})).output
    assert [r["name"] for r in output["reports"]] == ["Identified visitors"]
    assert all(r.query == {} for r in pendo.requests_to("report"))  # filtered here, not there


async def test_list_reports_ddl(call, pendo: FakePendo) -> None:
    output = assert_output_valid("list_reports_ddl", await call("list_reports_ddl", {}))
    assert output == {
        "result": [{"text": r.name, "value": r.id} for r in pendo.reports.values() if r.shared]
    }


async def test_get_report_contents(call, pendo: FakePendo) -> None:
    result = await call("get_report_contents", {"report_id": TRIAL_REPORT})
    output = assert_output_valid("get_report_contents", result)
    assert output == {
        "results": [
            {"accountId": "globex", "name": "Globex Inc.", "plan": "trial", "seats": 10},
            {"accountId": "stark", "name": "Stark Inc.", "plan": "trial", "seats": 30},
        ]
    }
    result = await call("get_report_contents", {"report_id": ADMINS_REPORT})
    rows = assert_output_valid("get_report_contents", result)["results"]
    assert rows and all(row["role"] == "admin" for row in rows)
    output = assert_error(
        await call("get_report_contents", {"report_id": "nope"}), "api_error", 404
    )
    assert output["response"]["body"] == "report nope not found"


async def test_get_report_contents_as_csv(call, pendo: FakePendo) -> None:
    result = await call("get_report_contents_as_csv", {"report_id": ADMINS_REPORT})
    output = assert_output_valid("get_report_contents_as_csv", result)
    rows = list(csv.reader(io.StringIO(output["csv"])))
    assert rows[0] == ["visitorId", "accountId", "email", "role", "lastVisit"]
    json_rows = (await call("get_report_contents", {"report_id": ADMINS_REPORT})).output
    assert [row[0] for row in rows[1:]] == [r["visitorId"] for r in json_rows["results"]]
    sent = pendo.requests_to(f"report/{ADMINS_REPORT}/results.csv")[0]
    assert sent.headers["accept"] == "text/csv"
    assert_error(await call("get_report_contents_as_csv", {"report_id": "nope"}), "api_error", 404)


# -- update_object_values ---------------------------------------------------------------------


async def test_update_object_values(call, pendo: FakePendo) -> None:
    data = {
        "object_type": "visitor",
        "objects": [
            {"id": "ada@example.com", "values": {"firstname": "Augusta", "role": "admin"}},
            {"id": "ghost", "values": {"role": "viewer"}},
            {"id": "bob smith", "values": {"not_a_field": 1}},
        ],
    }
    output = assert_output_valid("update_object_values", await call("update_object_values", data))
    assert output == {"total": 3, "updated": 1, "failed": 1, "missing": ["ghost"]}
    assert pendo.visitors["ada@example.com"].metadata["agent"]["firstname"] == "Augusta"
    (sent,) = pendo.requests_to("metadata/visitor/agent/value", "POST")
    assert sent.body == [
        {"visitorId": "ada@example.com", "values": {"firstname": "Augusta", "role": "admin"}},
        {"visitorId": "ghost", "values": {"role": "viewer"}},
        {"visitorId": "bob smith", "values": {"not_a_field": 1}},
    ]


async def test_update_account_custom_values(call, pendo: FakePendo) -> None:
    data = {
        "object_type": "account",
        "metadata_kind": "custom",
        "objects": [{"id": "acme", "values": {"health": "red"}}],
    }
    output = assert_output_valid("update_object_values", await call("update_object_values", data))
    assert output == {"total": 1, "updated": 1, "failed": 0, "missing": []}
    assert pendo.accounts["acme"].metadata["custom"]["health"] == "red"
    (sent,) = pendo.requests_to("metadata/account/custom/value")
    assert sent.body == [{"accountId": "acme", "values": {"health": "red"}}]


async def test_update_object_values_errors(call, pendo: FakePendo) -> None:
    data = {"object_type": "visitor", "objects": [{"id": "ada@example.com", "values": {"a": 1}}]}
    output = assert_error(
        await call("update_object_values", data, key=READ_ONLY), "auth_error", 403
    )
    assert "writes need a key with write access" in output["message"]
    assert "read-only" in output["message"]
    with pytest.raises(InputInvalid) as caught:
        await call("update_object_values", {"object_type": "user", "objects": []})
    assert caught.value.errors == [
        "#/object_type: [user] is not a valid enum value",
        "#/objects: expected minimum item count: 1, found: 0",
    ]


# -- errors shared by every operation ---------------------------------------------------------


@pytest.mark.parametrize("key", ["not-a-key", None])
async def test_auth_errors(call, key: str | None) -> None:
    output = assert_error(await call("list_reports", {}, key=key), "auth_error", 401)
    assert "the integration key is not valid" in output["message"]
    assert output["response"]["body"].startswith("Unauthorized")


async def test_credentials_never_in_errors(call, pendo: FakePendo) -> None:
    pendo.fail_next(400, f"bad request for key {KEY}: nope")
    output = assert_error(await call("get_account_by_id", {"account_id": "acme"}), "api_error", 400)
    assert KEY not in json.dumps(output)
    assert output["response"]["body"] == "bad request for key [redacted]: nope"


async def test_long_error_bodies_are_excerpted(call, pendo: FakePendo) -> None:
    pendo.fail_next(
        500, "<html>\n  <body>" + "x" * 5000 + "</body></html>", content_type="text/html"
    )
    output = assert_error(await call("list_reports_ddl", {}), "api_error", 500)
    assert output["message"].startswith(
        "Pendo list reports failed: HTTP 500 Internal Server Error: <html> <body>xxx"
    )
    assert len(output["message"]) < 300 and output["message"].endswith("…")
    assert len(output["response"]["body"]) > 5000


async def test_success_without_json(call, pendo: FakePendo) -> None:
    pendo.fail_next(200, "<html>Sign in to Pendo</html>", content_type="text/html")
    output = assert_error(await call("get_visitor_by_id", {"visitor_id": "x"}), "api_error", 200)
    assert "the answer is not JSON" in output["message"] and "Sign in" in output["message"]


async def test_every_operation_rate_limited(call, pendo: FakePendo) -> None:
    """Pendo sends no Retry-After: the SDK backs off and tries 3 times, then reports
    rate_limited. Each operation has its own key, so they run side by side."""
    keys = {name: pendo.add_key() for name in SAMPLES}
    for key in keys.values():
        pendo.rate_limit_next(3, key=key)
    results = await asyncio.gather(*(call(n, SAMPLES[n], key=keys[n]) for n in SAMPLES))
    for name, result in zip(SAMPLES, results, strict=True):
        output = result.output
        assert result.outcome == "error", (name, output)
        assert output["kind"] == "rate_limited", (name, output)
        assert output["response"]["statusCode"] == 429
        assert "retryAfter" not in output
        if name != "raw_http_request":  # the SDK's shared operation has its own message
            assert "Pendo's rate limit was exceeded" in output["message"], name
        attempts = [r for r in pendo.requests if r.headers["x-pendo-integration-key"] == keys[name]]
        assert len(attempts) == 3, name


async def test_every_operation_retried_after_a_429(call, pendo: FakePendo) -> None:
    keys = {name: pendo.add_key() for name in SAMPLES}
    for key in keys.values():
        pendo.rate_limit_next(1, key=key)
    results = await asyncio.gather(*(call(n, SAMPLES[n], key=keys[n]) for n in SAMPLES))
    for name, result in zip(SAMPLES, results, strict=True):
        assert_output_valid(name, result)
        attempts = [r for r in pendo.requests if r.headers["x-pendo-integration-key"] == keys[name]]
        assert len(attempts) == 2, name


async def test_a_long_retry_after_is_surfaced(call, pendo: FakePendo) -> None:
    pendo.rate_limit_next(1, retry_after=60)
    output = assert_error(await call("list_reports", {}), "rate_limited", 429)
    assert output["retryAfter"] == 60.0
    assert len(pendo.requests) == 1


async def test_server_errors(call, pendo: FakePendo) -> None:
    pendo.fail_next(503, "Service Unavailable")  # retried
    assert_output_valid("list_reports", await call("list_reports", {}))
    pendo.fail_next(500, "boom")  # not retried
    output = assert_error(await call("list_reports", {}), "api_error", 500)
    assert output["message"] == "Pendo list reports failed: HTTP 500 Internal Server Error: boom"
    assert len(pendo.requests) == 3


# -- raw_http_request -------------------------------------------------------------------------


async def test_raw_http_request(call, pendo: FakePendo, pendo_url: str) -> None:
    data = {"method": "GET", "url": "metadata/schema/visitor"}
    output = assert_output_valid("raw_http_request", await call("raw_http_request", data))
    assert output["response"]["status_code"] == 200
    assert set(output["response"]["body"]) == {"agent", "custom"}
    assert pendo.requests[-1].headers["x-pendo-integration-key"] == KEY
    # The single-value endpoint, with a raw JSON body, by absolute URL on the same host.
    data = {
        "method": "PUT",
        "url": pendo_url + "/metadata/account/agent/value/acme/plan",
        "body": {"json": "enterprise"},
    }
    assert_output_valid("raw_http_request", await call("raw_http_request", data))
    assert pendo.accounts["acme"].metadata["agent"]["plan"] == "enterprise"
    result = await call("raw_http_request", {"method": "GET", "url": "visitor/ghost"})
    assert result.outcome == "error" and result.output["kind"] == "api_error"
    assert result.output["response"]["statusCode"] == 404
    result = await call("raw_http_request", {"method": "GET", "url": "https://example.com/x"})
    assert result.outcome == "error" and result.output["kind"] == "connector_error"


# -- the contract -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
async def test_output_matches_the_declared_schema(call, name: str) -> None:
    assert_output_valid(name, await call(name, SAMPLES[name]))


# -- the fake's wire format -------------------------------------------------------------------


async def test_fake_wire_format(pendo: FakePendo, pendo_url: str) -> None:
    auth = {"X-Pendo-Integration-Key": KEY}
    async with httpx.AsyncClient(base_url=pendo_url, headers=auth) as http:
        assert (await http.get("/nothing")).status_code == 404
        assert (await http.delete("/report")).status_code == 405
        response = await http.get("/visitor/ada@example.com/history")
        assert (response.status_code, response.text) == (
            400,
            "missing required parameter starttime (epoch milliseconds)",
        )
        response = await http.post(
            "/aggregation", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert (response.status_code, response.text) == (
            400,
            "invalid request: the body is not valid JSON",
        )
        response = await http.post("/aggregation", content=b"{}")
        assert response.status_code == 400 and "Content-Type" in response.text
        body = {"response": {"mimeType": "application/json"}, "request": {"pipeline": [{}]}}
        response = await http.post("/aggregation", json=body)
        assert response.text == "invalid pipeline: the first stage must be a source"
        body["request"]["pipeline"] = [{"source": {"events": None}}]
        response = await http.post("/aggregation", json=body)
        assert response.status_code == 400 and "timeSeries" in response.text
        body["request"]["pipeline"] = [{"source": {"accounts": None}}, {"count": None}]
        assert (await http.post("/aggregation", json=body)).json() == {"results": [{"count": 6}]}
        response = await http.put("/metadata/visitor/agent/value/ghost/role", json="admin")
        assert response.status_code == 404
        # Writes need a write key; reads and aggregations do not.
        ro = {"X-Pendo-Integration-Key": READ_ONLY}
        assert (await http.post("/aggregation", json=body, headers=ro)).status_code == 200
        response = await http.post("/metadata/visitor/agent/value", json=[], headers=ro)
        assert response.status_code == 403
        pendo.revoke(KEY)
        assert (await http.get("/report")).status_code == 401
    assert pendo.aggregations[-1] == body


def test_fake_expressions() -> None:
    row = {"a": 3, "b": "x", "m": {"n": None}, "s": "hello"}
    for text, expected in [
        ("a == 3 && b == 'x'", True),
        ('a > 3 || !(b != "x")', True),
        ("isNil(m.n) && contains(s, \"ell\") && startsWith(s, 'he')", True),
        ('a < "z"', False),  # incomparable: false, not an error
        ("len(s) >= 5 && missing == null", True),
    ]:
        assert parse_expression(text)(row) is expected, text
    from patchbay.connectors.pendo.fake import PendoError

    for bad in ("a ==", "a = 3", "nope(1)", "(a"):
        with pytest.raises(PendoError):
            parse_expression(bad)


def test_fake_is_seeded_deterministically() -> None:
    one, two = FakePendo(), FakePendo()
    assert [e.history_item() for e in one.events] == [e.history_item() for e in two.events]
    assert len(one.visitors) == 24 and len(one.accounts) == 6
    assert create_app().state.integration_key == KEY
