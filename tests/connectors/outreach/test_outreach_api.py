"""The Outreach connector through Call Connector (``POST /core/v1/connectors/outreach/versions/
1.0/call``): end users with their own Outreach authentications, against the loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from patchbay.connectors.outreach.connector import ENVIRONMENTS, JSONAPI
from patchbay.connectors.outreach.fake import FakeOutreach, Token, create_app, error_item
from patchbay.testing.fakeserver import serve_in_thread

ENVIRONMENT = ENVIRONMENTS[0].id
TOKEN = FakeOutreach.access_token
READ_ONLY = FakeOutreach.read_only_token
CALL = "/core/v1/connectors/outreach/versions/1.0/call"
OPERATIONS = "/core/v1/connectors/outreach/versions/1.0/operations"


@dataclass
class Outreach:
    state: FakeOutreach
    url: str  # the base URL for userData.base_url (ends in /api/v2)


@pytest.fixture
def outreach() -> Iterator[Outreach]:
    state = FakeOutreach()
    with serve_in_thread(create_app(state)) as url:
        yield Outreach(state, url + "/api/v2")


async def outreach_user(api, outreach: Outreach, token: str = TOKEN) -> tuple[dict, str]:
    """A new end user with their own Outreach authentication pointing at the fake."""
    _, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers, ENVIRONMENT, {"access_token": token}, userData={"base_url": outreach.url}
    )
    return headers, auth_id


async def call(api, headers: dict, auth_id: str | None, operation: str, input: Any):
    body: dict[str, Any] = {"operation": operation, "input": input}
    if auth_id is not None:
        body["authId"] = auth_id
    return await api.client.post(CALL, json=body, headers=headers)


def success(r) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"outcome", "output"}
    assert body["outcome"] == "success", body
    return body["output"]


def error(r, kind: str, code: str, status: int) -> dict[str, Any]:
    """A third-party failure: 200, outcome error, Outreach's JSON:API error kept."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "error", body
    output = body["output"]
    assert set(output) >= {"response", "message", "kind", "code"}
    assert (output["kind"], output["code"]) == (kind, code), output
    assert output["response"]["statusCode"] == status
    items = output["response"]["body"]["errors"]
    assert items[0]["id"] == code
    assert all(item["title"] in output["message"] for item in items)
    assert TOKEN not in r.text
    return output


async def test_published_and_outputs_match_their_schemas(api, outreach):
    _, headers = await api.new_user()
    r = await api.client.get("/core/v1/connectors", headers=headers)
    assert r.status_code == 200, r.text
    (listed,) = [c for c in r.json()["elements"] if c["name"] == "outreach"]
    assert listed["version"] == "1.0"
    assert listed["service"] == {
        "id": "9c3e5a72-1b4d-4f8e-a6c1-3d2e1f0a9b84",
        "name": "outreach",
        "version": 1,
    }
    r = await api.client.get("/core/v1/services/outreach/versions/1/environments", headers=headers)
    assert r.status_code == 200, r.text
    (env,) = r.json()["elements"]
    assert (env["id"], env["authenticationType"]) == (ENVIRONMENT, "oauth2")
    assert {s["scope"] for s in env["scopes"]} == {
        "prospects.read",
        "prospects.write",
        "prospects.delete",
    }
    r = await api.client.get(OPERATIONS, headers=headers)
    assert r.status_code == 200, r.text
    names = [op["name"] for op in r.json()["elements"]]
    schemas = {op["name"]: op["outputSchema"] for op in r.json()["elements"]}
    assert names == [
        "list_prospects",
        "get_prospect",
        "create_prospect",
        "update_prospect",
        "delete_prospect",
        "raw_http_request",
    ]
    # every output validates against the published output schema
    headers, auth_id = await outreach_user(api, outreach)
    inputs: dict[str, dict[str, Any]] = {
        "list_prospects": {"page_size": 2, "max_results": 3},
        "get_prospect": {"id": 1},
        "create_prospect": {"first_name": "Ace", "emails": ["ace@example.com"], "tags": ["x"]},
        "update_prospect": {"id": 1, "nickname": "Sal", "owner_id": 4},
        "delete_prospect": {"id": 2},
        "raw_http_request": {"method": "GET", "url": "prospects"},
    }
    assert set(inputs) == set(schemas)
    for name, data in inputs.items():
        output = success(await call(api, headers, auth_id, name, data))
        schema = {k: v for k, v in schemas[name].items() if k != "$schema"}
        jsonschema.Draft4Validator.check_schema(schema)
        jsonschema.Draft4Validator(schema).validate(output)


async def test_list_prospects_pages(api, outreach):
    for i in range(6):
        outreach.state.add_prospect(firstName=f"P{i}", emails=[f"p{i}@example.com"])
    headers, auth_id = await outreach_user(api, outreach)
    outreach.state.rate_limit_next(1, retry_after=0, skip=1)  # page 2 is throttled once
    r = await call(api, headers, auth_id, "list_prospects", {"page_size": 4, "sort": "-id"})
    output = success(r)
    assert [p["id"] for p in output["data"]] == list(range(11, 0, -1))
    assert output["meta"] == {"count": 11} and output["has_more"] is False
    pages = outreach.state.requests_to("GET", "/api/v2/prospects")
    assert len(pages) == 4  # 3 pages, the second one twice
    assert {p.headers["authorization"] for p in pages} == {f"Bearer {TOKEN}"}
    assert {p.headers["content-type"] for p in pages} == {JSONAPI}

    r = await call(api, headers, auth_id, "list_prospects", {"email": "p3@example.com"})
    assert [p["attributes"]["firstName"] for p in success(r)["data"]] == ["P3"]

    # Outreach's error document on a later page
    outreach.state.fail_next(
        400, error_item("badRequest", "Bad Request", "Invalid cursor.", parameter="x"), skip=1
    )
    r = await call(api, headers, auth_id, "list_prospects", {"page_size": 4})
    output = error(r, "api_error", "badRequest", 400)
    assert output["message"] == "Outreach answered 400: Bad Request: Invalid cursor. (at x)"

    outreach.state.rate_limit_next(1, retry_after=30)
    r = await call(api, headers, auth_id, "list_prospects", {})
    output = error(r, "rate_limited", "rateLimitExceeded", 429)
    assert output["retryAfter"] == 30


async def test_get_prospect(api, outreach):
    headers, auth_id = await outreach_user(api, outreach)
    output = success(await call(api, headers, auth_id, "get_prospect", {"id": 1}))
    assert output["data"]["attributes"]["name"] == "Sally Sparrow"

    r = await call(api, headers, auth_id, "get_prospect", {"id": 77})
    output = error(r, "api_error", "resourceNotFound", 404)
    assert output["message"] == (
        "Outreach answered 404: Resource Not Found: Could not find 'prospect' with ID '77'."
    )

    outreach.state.rate_limit_next(5, retry_after=0)  # more than the 3 attempts
    r = await call(api, headers, auth_id, "get_prospect", {"id": 1})
    output = error(r, "rate_limited", "rateLimitExceeded", 429)
    assert output["response"]["headers"]["x-ratelimit-limit"] == "10000"


async def test_create_update_and_delete_prospect(api, outreach):
    headers, auth_id = await outreach_user(api, outreach)
    outreach.state.rate_limit_next(1, retry_after=0)  # throttled once, then created once
    r = await call(
        api,
        headers,
        auth_id,
        "create_prospect",
        {"first_name": "Donna", "last_name": "Noble", "emails": ["donna@example.com"]},
    )
    output = success(r)
    assert output["data"]["id"] == 6 and output["data"]["attributes"]["name"] == "Donna Noble"
    assert len(outreach.state.requests_to("POST")) == 2
    assert len(outreach.state.prospects) == 6

    r = await call(
        api,
        headers,
        auth_id,
        "create_prospect",
        {"emails": ["donna@example.com", "nope"]},
    )
    output = error(r, "api_error", "validationError", 422)
    assert "(at /data/attributes/emails/0)" in output["message"]
    assert "(at /data/attributes/emails/1)" in output["message"]

    outreach.state.rate_limit_next(1, retry_after=45)
    r = await call(api, headers, auth_id, "create_prospect", {"first_name": "Wilf"})
    assert error(r, "rate_limited", "rateLimitExceeded", 429)["retryAfter"] == 45
    assert len(outreach.state.prospects) == 6

    r = await call(api, headers, auth_id, "update_prospect", {"id": 2, "title": "Writer"})
    assert success(r)["data"]["attributes"]["title"] == "Writer"
    assert outreach.state.prospects[2].attributes["title"] == "Writer"

    r = await call(api, headers, auth_id, "update_prospect", {"id": 99, "title": "x"})
    error(r, "api_error", "resourceNotFound", 404)

    outreach.state.rate_limit_next(1, retry_after=0, method="PATCH")  # PATCH: retried
    r = await call(api, headers, auth_id, "update_prospect", {"id": 2, "tags": ["a"]})
    assert success(r)["data"]["attributes"]["tags"] == ["a"]
    outreach.state.rate_limit_next(1, retry_after=3600)
    r = await call(api, headers, auth_id, "update_prospect", {"id": 2, "tags": ["b"]})
    error(r, "rate_limited", "rateLimitExceeded", 429)

    assert success(await call(api, headers, auth_id, "delete_prospect", {"id": 3})) == {
        "deleted": True,
        "id": 3,
    }
    assert 3 not in outreach.state.prospects

    reader_headers, reader_auth = await outreach_user(api, outreach, READ_ONLY)
    r = await call(api, reader_headers, reader_auth, "delete_prospect", {"id": 1})
    output = error(r, "auth_error", "unauthorizedOauthScope", 403)
    assert "prospects.delete" in output["message"]
    assert READ_ONLY not in r.text

    outreach.state.rate_limit_next(1, retry_after=20)
    r = await call(api, headers, auth_id, "delete_prospect", {"id": 1})
    error(r, "rate_limited", "rateLimitExceeded", 429)
    assert 1 in outreach.state.prospects


async def test_raw_http_request(api, outreach):
    headers, auth_id = await outreach_user(api, outreach)
    r = await call(
        api, headers, auth_id, "raw_http_request", {"method": "GET", "url": "prospects/5"}
    )
    output = success(r)
    assert output["response"]["status_code"] == 200
    assert output["response"]["body"]["data"]["attributes"]["lastName"] == "Jones"
    assert outreach.state.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"

    r = await call(
        api,
        headers,
        auth_id,
        "raw_http_request",
        {"method": "PATCH", "url": "prospects/5", "body": {"raw": "{}", "content_type": "text/x"}},
    )
    output = error(r, "api_error", "unsupportedMediaType", 415)
    assert "Expected Content-Type header to be 'application/vnd.api+json'" in output["message"]

    outreach.state.rate_limit_next(1, retry_after=0)
    r = await call(api, headers, auth_id, "raw_http_request", {"method": "GET", "url": "prospects"})
    assert success(r)["response"]["body"]["meta"]["count"] == 5
    outreach.state.rate_limit_next(1, retry_after=15)
    r = await call(api, headers, auth_id, "raw_http_request", {"method": "GET", "url": "prospects"})
    assert error(r, "rate_limited", "rateLimitExceeded", 429)["retryAfter"] == 15


async def test_each_user_calls_with_their_own_authentication(api, outreach):
    other = "outreach-token-of-another-user"
    outreach.state.tokens[other] = Token()
    headers_a, auth_a = await outreach_user(api, outreach)
    headers_b, auth_b = await outreach_user(api, outreach, other)
    success(await call(api, headers_a, auth_a, "get_prospect", {"id": 1}))
    success(await call(api, headers_b, auth_b, "get_prospect", {"id": 1}))
    seen = [r.headers["authorization"] for r in outreach.state.requests]
    assert seen == [f"Bearer {TOKEN}", f"Bearer {other}"]
    # B may not use A's authentication
    r = await call(api, headers_b, auth_a, "get_prospect", {"id": 1})
    api.expect_error(r, 404)
    # an invalid token is Outreach's 401, an auth_error, and never shown
    bad = "outreach-invalid-token-0123456789"
    headers_c, auth_c = await outreach_user(api, outreach, bad)
    r = await call(api, headers_c, auth_c, "list_prospects", {})
    error(r, "auth_error", "unauthorized", 401)
    assert bad not in r.text
    # bad input is Tray's 400, before Outreach is called
    before = len(outreach.state.requests)
    r = await call(api, headers_a, auth_a, "get_prospect", {"id": "one"})
    body = api.expect_error(r, 400)
    assert "#/id: expected type: Integer, found: String" in body["message"]
    assert len(outreach.state.requests) == before
