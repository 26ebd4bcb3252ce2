"""The Pendo connector through ``POST /core/v1/connectors/pendo/versions/1.0/call``, as end
users with their own authentications pointing at the loopback Pendo fake."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import pytest

from patchbay.connectors.pendo.connector import ENVIRONMENT_ID
from patchbay.connectors.pendo.fake import BASE_DAY, FakePendo, create_app
from patchbay.testing.fakeserver import serve_in_thread

KEY = FakePendo.integration_key
READ_ONLY = FakePendo.read_only_key
CALL = "/core/v1/connectors/pendo/versions/1.0/call"
TRIAL_REPORT = "c3Tz8Wq1Ym5Nb7Vx2Kl9Pj4Hs6G"

# One valid input per operation.
SAMPLES: dict[str, dict[str, Any]] = {
    "aggregation": {
        "pipeline": [
            {"source": {"visitors": None}},
            {"identified": "visitorId"},
            {"filter": 'metadata.agent.role == "admin"'},
            {"select": {"id": "visitorId"}},
        ]
    },
    "get_account_by_id": {"account_id": "acme"},
    "get_report_contents": {"report_id": TRIAL_REPORT},
    "get_report_contents_as_csv": {"report_id": TRIAL_REPORT},
    "get_visitor_by_id": {"visitor_id": "team/alice"},
    "get_visitor_history": {"visitor_id": "ada@example.com", "start_time": BASE_DAY},
    "list_reports": {"kind": "account"},
    "update_object_values": {
        "object_type": "account",
        "metadata_kind": "custom",
        "objects": [
            {"id": "acme", "values": {"tier": "T9"}},
            {"id": "ghost", "values": {"tier": "T1"}},
        ],
    },
    "list_reports_ddl": {},
    "raw_http_request": {"method": "GET", "url": "account/globex"},
}


@pytest.fixture(scope="module")
def server():
    """One fake for the module; each test gets a fresh state."""
    app = create_app()
    with serve_in_thread(app) as url:
        yield app, url + "/api/v1"


@pytest.fixture
def pendo(server) -> FakePendo:
    app, _ = server
    app.state = FakePendo()
    return app.state


@pytest.fixture
def pendo_url(server, pendo) -> str:
    return server[1]


async def pendo_auth(api, headers, pendo_url: str, key: str = KEY, **user_data: Any) -> str:
    return await api.create_auth(
        headers,
        ENVIRONMENT_ID,
        {"integration_key": key},
        userData={"base_url": pendo_url, **user_data},
    )


async def call(api, headers, auth_id: str, operation: str, input: Any) -> dict[str, Any]:
    body = {"operation": operation, "input": input, "authId": auth_id}
    r = await api.client.post(CALL, json=body, headers=headers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert set(result) == {"outcome", "output"}, result
    return result


def success(result: dict[str, Any]) -> Any:
    assert result["outcome"] == "success", result
    return result["output"]


def error(result: dict[str, Any], kind: str, status: int) -> dict[str, Any]:
    assert result["outcome"] == "error", result
    output = result["output"]
    assert output["kind"] == kind, output
    assert set(output["response"]) == {"statusCode", "headers", "body"}
    assert output["response"]["statusCode"] == status, output
    assert isinstance(output["message"], str) and output["message"]
    return output


async def published_output_schemas(api) -> dict[str, dict[str, Any]]:
    r = await api.client.get(
        "/core/v1/connectors/pendo/versions/1.0/operations", headers=api.master
    )
    assert r.status_code == 200, r.text
    return {op["name"]: op["outputSchema"] for op in r.json()["elements"]}


async def test_connector_environment_and_authentication(api, pendo_url):
    r = await api.client.get("/core/v1/connectors", headers=api.master)
    assert r.status_code == 200, r.text
    listed = [c for c in r.json()["elements"] if c["name"] == "pendo"]
    assert [c["version"] for c in listed] == ["1.0"]
    r = await api.client.get("/core/v1/services/pendo/versions/1/environments", headers=api.master)
    assert r.status_code == 200, r.text
    (env,) = r.json()["elements"]
    assert (env["id"], env["authenticationType"]) == (ENVIRONMENT_ID, "token")
    assert env["userDataSchema"]["properties"]["region"]["enum"] == ["us", "eu", "us1", "jpn", "au"]
    assert set(await published_output_schemas(api)) == set(SAMPLES)
    # The authentication's data is validated against the environment's schemas.
    _, headers = await api.new_user()
    body = {"name": "pendo", "serviceEnvironmentId": ENVIRONMENT_ID}
    r = await api.client.post(
        "/core/v1/authentications",
        json={**body, "credentials": {"integration_key": KEY}, "userData": {"region": "mars"}},
        headers=headers,
    )
    api.expect_error(r, 400, "invalid_userData")
    r = await api.client.post(
        "/core/v1/authentications", json={**body, "credentials": {}}, headers=headers
    )
    assert r.status_code == 400, r.text
    # A region with the fake's base URL works: the override wins.
    auth_id = await pendo_auth(api, headers, pendo_url, region="eu")
    assert success(await call(api, headers, auth_id, "list_reports_ddl", {}))["result"]


async def test_every_operation_as_an_end_user(api, pendo, pendo_url):
    _, headers = await api.new_user()
    auth_id = await pendo_auth(api, headers, pendo_url)
    schemas = await published_output_schemas(api)
    outputs = {}
    for name, data in SAMPLES.items():
        output = success(await call(api, headers, auth_id, name, data))
        jsonschema.Draft4Validator(schemas[name]).validate(output)  # the contract
        outputs[name] = output
    assert outputs["aggregation"]["results"] == [
        {"id": v.id} for v in pendo.visitors.values() if v.metadata["agent"].get("role") == "admin"
    ]
    assert outputs["get_account_by_id"]["id"] == "acme"
    assert [r["accountId"] for r in outputs["get_report_contents"]["results"]] == [
        "globex",
        "stark",
    ]
    assert outputs["get_report_contents_as_csv"]["csv"].splitlines()[0] == (
        "accountId,name,plan,seats"
    )
    assert outputs["get_visitor_by_id"]["id"] == "team/alice"
    assert outputs["get_visitor_history"]["history"]
    assert [r["name"] for r in outputs["list_reports"]["reports"]] == [
        "Accounts by plan",
        "Trial accounts",
    ]
    assert outputs["update_object_values"] == {
        "total": 2,
        "updated": 1,
        "failed": 0,
        "missing": ["ghost"],
    }
    assert pendo.accounts["acme"].metadata["custom"]["tier"] == "T9"
    assert len(outputs["list_reports_ddl"]["result"]) == 4
    assert outputs["raw_http_request"]["response"]["body"]["id"] == "globex"
    # Every request carried this user's key, nothing else.
    assert {r.headers.get("x-pendo-integration-key") for r in pendo.requests} == {KEY}


async def test_every_operation_error_shape(api, pendo, pendo_url):
    """Pendo's errors are opaque text: kept as the body, quoted in the message."""
    _, headers = await api.new_user()
    auth_id = await pendo_auth(api, headers, pendo_url)
    cases: dict[str, tuple[dict[str, Any], str, int, str]] = {
        "aggregation": ({"pipeline": [{"source": {"nope": None}}]}, "api_error", 400, "nope"),
        "get_account_by_id": ({"account_id": "x"}, "api_error", 404, "account x not found"),
        "get_report_contents": ({"report_id": "r"}, "api_error", 404, "report r not found"),
        "get_report_contents_as_csv": ({"report_id": "r"}, "api_error", 404, "report r"),
        "get_visitor_by_id": ({"visitor_id": "a/b"}, "api_error", 404, "visitor a/b not found"),
        "get_visitor_history": (
            {"visitor_id": "v", "start_time": 0},
            "api_error",
            404,
            "visitor v not found",
        ),
        "raw_http_request": (
            {"method": "GET", "url": "report/r/results.json"},
            "api_error",
            404,
            "",
        ),
    }
    for name, (data, kind, status, text) in cases.items():
        output = error(await call(api, headers, auth_id, name, data), kind, status)
        assert text in output["response"]["body"], name
        if name != "raw_http_request":
            assert output["message"].startswith("Pendo "), name
            assert f"HTTP {status}" in output["message"] and text in output["message"], name
    # Writes with a read-only key; reads with a key Pendo does not know.
    read_only = await pendo_auth(api, headers, pendo_url, READ_ONLY)
    data = SAMPLES["update_object_values"]
    output = error(
        await call(api, headers, read_only, "update_object_values", data), "auth_error", 403
    )
    assert "read-only" in output["message"]
    bad = await pendo_auth(api, headers, pendo_url, "not-a-key")
    for name in ("list_reports", "list_reports_ddl"):
        output = error(await call(api, headers, bad, name, {}), "auth_error", 401)
        assert "integration key is not valid" in output["message"]
        assert "not-a-key" not in json.dumps(output)


async def test_every_operation_retried_after_a_429(api, pendo, pendo_url):
    """Pendo's 429 has no Retry-After: the SDK backs off and tries again."""
    _, headers = await api.new_user()
    keys = {name: pendo.add_key() for name in SAMPLES}
    auths = {name: await pendo_auth(api, headers, pendo_url, keys[name]) for name in SAMPLES}
    for key in keys.values():
        pendo.rate_limit_next(1, key=key)
    results = await asyncio.gather(
        *(call(api, headers, auths[name], name, data) for name, data in SAMPLES.items())
    )
    for name, result in zip(SAMPLES, results, strict=True):
        success(result)
        sent = [r for r in pendo.requests if r.headers["x-pendo-integration-key"] == keys[name]]
        assert len(sent) == 2, name


async def test_every_operation_rate_limited(api, pendo, pendo_url):
    """Still limited after the retries: the standardized rate_limited error."""
    _, headers = await api.new_user()
    keys = {name: pendo.add_key() for name in SAMPLES}
    auths = {name: await pendo_auth(api, headers, pendo_url, keys[name]) for name in SAMPLES}
    for key in keys.values():
        pendo.rate_limit_next(3, key=key)
    results = await asyncio.gather(
        *(call(api, headers, auths[name], name, data) for name, data in SAMPLES.items())
    )
    for name, result in zip(SAMPLES, results, strict=True):
        output = error(result, "rate_limited", 429)
        assert "retryAfter" not in output, name
        assert output["response"]["body"] == "Too Many Requests: rate limit exceeded", name


async def test_users_only_reach_their_own_pendo(api, pendo, pendo_url):
    _, alice = await api.new_user()
    _, bob = await api.new_user()
    bobs_key = pendo.add_key()
    alice_auth = await pendo_auth(api, alice, pendo_url)
    bob_auth = await pendo_auth(api, bob, pendo_url, bobs_key)
    success(await call(api, alice, alice_auth, "get_account_by_id", {"account_id": "acme"}))
    success(await call(api, bob, bob_auth, "get_account_by_id", {"account_id": "acme"}))
    assert [r.headers["x-pendo-integration-key"] for r in pendo.requests] == [KEY, bobs_key]
    # Alice cannot use Bob's authentication.
    body = {"operation": "list_reports", "input": {}, "authId": bob_auth}
    r = await api.client.post(CALL, json=body, headers=alice)
    assert r.status_code in (400, 403, 404), r.text
    assert len(pendo.requests) == 2
