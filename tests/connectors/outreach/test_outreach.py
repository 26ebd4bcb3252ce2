"""The Outreach connector, run through the real SDK path against the loopback Outreach fake."""

from __future__ import annotations

from functools import partial
from typing import Any

import jsonschema
import pytest

from patchbay.connectors.outreach.connector import CONNECTORS, JSONAPI, OUTREACH
from patchbay.connectors.outreach.fake import FakeOutreach, create_app, error_item
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid
from patchbay.testing import connectors as testing
from patchbay.testing.connectors import make_call
from patchbay.testing.fakeserver import serve_in_thread

TOKEN = FakeOutreach.access_token
READ_ONLY = FakeOutreach.read_only_token


@pytest.fixture
def outreach() -> FakeOutreach:
    return FakeOutreach()


@pytest.fixture
def outreach_url(outreach: FakeOutreach):
    with serve_in_thread(create_app(outreach)) as url:
        yield url + "/api/v2"


@pytest.fixture
def call(outreach_url: str, clients: HttpClientPool):
    run = make_call(OUTREACH, clients, user_data={"base_url": outreach_url})

    async def call(name: str, data: dict[str, Any], *, token: str = TOKEN) -> CallResult:
        return await run(name, data, credentials={"access_token": token})

    return call


assert_output_valid = partial(testing.assert_output_valid, OUTREACH)


def assert_error(result: CallResult, kind: str, code: str, status: int) -> dict[str, Any]:
    """A standardized error that keeps Outreach's JSON:API error document."""
    assert result.outcome == "error", result.output
    output = result.output
    assert output["kind"] == kind, output
    assert output["code"] == code, output
    assert output["response"]["statusCode"] == status
    errors = output["response"]["body"]["errors"]
    assert errors[0]["id"] == code
    for item in errors:  # every item surfaces in the message
        assert item["title"] in output["message"]
    return output


# -- the declaration ----------------------------------------------------------------------


def test_declaration() -> None:
    assert CONNECTORS == [OUTREACH]
    assert OUTREACH.to_api() == {
        "name": "outreach",
        "title": "Outreach",
        "description": OUTREACH.description,
        "version": "1.0",
        "service": {
            "id": "9c3e5a72-1b4d-4f8e-a6c1-3d2e1f0a9b84",
            "name": "outreach",
            "version": 1,
        },
    }
    (environment,) = OUTREACH.environments
    env = environment.to_api()
    assert (env["id"], env["authenticationType"]) == (
        "9c3e5a72-1b4d-4f8e-a6c1-3d2e1f0a9b85",
        "oauth2",
    )
    assert [s["scope"] for s in env["scopes"]] == [
        "prospects.read",
        "prospects.write",
        "prospects.delete",
    ]
    assert all(s["description"] for s in env["scopes"])
    credentials = env["credentialsSchema"]
    assert credentials["required"] == ["access_token"]
    assert set(credentials["properties"]) == {
        "access_token",
        "refresh_token",
        "expires_at",
        "token_type",
        "scope",
    }
    assert env["userDataSchema"]["properties"]["base_url"]["format"] == "uri"
    assert "required" not in env["userDataSchema"]
    jsonschema.Draft4Validator.check_schema(credentials)
    assert environment.oauth2 is not None
    assert environment.oauth2.authorize_url == "https://api.outreach.io/oauth/authorize"
    assert environment.oauth2.token_url == "https://api.outreach.io/oauth/token"
    assert OUTREACH.base_url == "https://api.outreach.io/api/v2"
    assert [(op.name, op.title, op.auth_scopes) for op in OUTREACH.operations] == [
        ("list_prospects", "List Prospects", ["prospects.read"]),
        ("get_prospect", "Get Prospect", ["prospects.read"]),
        ("create_prospect", "Create Prospect", ["prospects.write"]),
        ("update_prospect", "Update Prospect", ["prospects.write"]),
        ("delete_prospect", "Delete Prospect", ["prospects.delete"]),
        ("raw_http_request", "Raw HTTP Request", []),
    ]


def test_schemas() -> None:
    for op in OUTREACH.operations:
        jsonschema.Draft4Validator.check_schema(op.input_schema)
        jsonschema.Draft4Validator.check_schema(op.output_schema)
        assert op.input_schema["additionalProperties"] is False
    listing = OUTREACH.operation("list_prospects").input_schema
    assert listing["advanced"] == ["updated_after", "page_size"]
    assert "required" not in listing
    assert len(listing["properties"]["sort"]["enum"]) == len(
        listing["properties"]["sort"]["enumLabels"]
    )
    assert listing["properties"]["max_results"]["default"] == 100
    update = OUTREACH.operation("update_prospect").input_schema
    assert list(update["properties"])[0] == "id" and update["required"] == ["id"]
    assert "additional_attributes" in update["advanced"]
    # Outreach sends null for unset attributes: the output schema says so.
    attributes = OUTREACH.operation("get_prospect").output_schema["properties"]["data"][
        "properties"
    ]["attributes"]
    assert attributes["properties"]["lastName"]["type"] == ["string", "null"]


async def test_bad_input_is_refused_before_calling(call, outreach: FakeOutreach) -> None:
    with pytest.raises(InputInvalid, match="required key \\[id\\] not found"):
        await call("get_prospect", {})
    with pytest.raises(InputInvalid, match="#/page_size: 1001 is not less or equal to 1000"):
        await call("list_prospects", {"page_size": 1001})
    assert not outreach.requests


# -- list_prospects -----------------------------------------------------------------------


async def test_list_prospects(call, outreach: FakeOutreach) -> None:
    output = assert_output_valid("list_prospects", await call("list_prospects", {}))
    assert [p["id"] for p in output["data"]] == [1, 2, 3, 4, 5]
    assert output["data"][0]["attributes"]["emails"] == ["sally@example.com"]
    assert output["meta"] == {"count": 5}
    assert output["has_more"] is False
    (request,) = outreach.requests
    assert (request.method, request.path) == ("GET", "/api/v2/prospects")
    assert request.params == {"page[size]": "100"}
    assert request.headers["content-type"] == JSONAPI
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_list_prospects_filters_and_sort(call, outreach: FakeOutreach) -> None:
    outreach.add_prospect(firstName="Amy", lastName="Adams", emails=["adams@example.com"])
    output = assert_output_valid(
        "list_prospects",
        await call(
            "list_prospects",
            {"first_name": "Amy", "sort": "lastName", "updated_after": "2020-01-01T00:00:00Z"},
        ),
    )
    assert [p["attributes"]["lastName"] for p in output["data"]] == ["Adams", "Pond"]
    assert outreach.requests[-1].params == {
        "filter[firstName]": "Amy",
        "filter[updatedAt]": "2020-01-01T00:00:00Z..inf",
        "sort": "lastName",
        "page[size]": "100",
    }
    output = assert_output_valid(
        "list_prospects",
        await call("list_prospects", {"email": "RORY@example.org", "last_name": "Williams"}),
    )
    assert [p["id"] for p in output["data"]] == [3]
    assert output["meta"]["count"] == 1
    future = await call("list_prospects", {"updated_after": "2999-01-01T00:00:00Z"})
    assert assert_output_valid("list_prospects", future)["data"] == []


async def test_list_prospects_follows_links_next(call, outreach: FakeOutreach) -> None:
    for i in range(7):
        outreach.add_prospect(firstName=f"P{i}", emails=[f"p{i}@example.com"])
    output = assert_output_valid("list_prospects", await call("list_prospects", {"page_size": 5}))
    assert [p["id"] for p in output["data"]] == list(range(1, 13))
    assert output["meta"]["count"] == 12 and output["has_more"] is False
    pages = outreach.requests_to("GET", "/api/v2/prospects")
    assert len(pages) == 3
    assert "page[after]" not in pages[0].params
    assert all(p.params["page[size]"] == "5" and "page[after]" in p.params for p in pages[1:])
    assert all(p.headers["authorization"] == f"Bearer {TOKEN}" for p in pages)
    assert all(p.headers["content-type"] == JSONAPI for p in pages)


async def test_list_prospects_max_results(call, outreach: FakeOutreach) -> None:
    output = assert_output_valid(
        "list_prospects", await call("list_prospects", {"max_results": 3, "page_size": 2})
    )
    assert [p["id"] for p in output["data"]] == [1, 2, 3]
    assert output["has_more"] is True and output["meta"]["count"] == 5
    assert len(outreach.requests) == 2  # no page fetched beyond the cap
    output = assert_output_valid("list_prospects", await call("list_prospects", {"max_results": 4}))
    assert len(output["data"]) == 4 and output["has_more"] is True
    assert outreach.requests[-1].params == {"page[size]": "4"}  # one request
    output = assert_output_valid("list_prospects", await call("list_prospects", {"max_results": 5}))
    assert len(output["data"]) == 5 and output["has_more"] is False


async def test_list_prospects_later_page_errors(call, outreach: FakeOutreach) -> None:
    # a 429 on the second page is waited out and the list goes on
    outreach.rate_limit_next(1, retry_after=0, skip=1)
    output = assert_output_valid("list_prospects", await call("list_prospects", {"page_size": 2}))
    assert [p["id"] for p in output["data"]] == [1, 2, 3, 4, 5]
    assert len(outreach.requests) == 4  # 3 pages, one of them twice
    # an error on a later page ends the call with Outreach's error
    outreach.fail_next(
        400,
        error_item("badRequest", "Bad Request", "Invalid page[after] cursor.", parameter="x"),
        skip=1,
    )
    output = assert_error(
        await call("list_prospects", {"page_size": 2}), "api_error", "badRequest", 400
    )
    assert output["message"] == (
        "Outreach answered 400: Bad Request: Invalid page[after] cursor. (at x)"
    )


# -- get / create / update / delete -----------------------------------------------------


async def test_get_prospect(call, outreach: FakeOutreach) -> None:
    output = assert_output_valid("get_prospect", await call("get_prospect", {"id": 2}))
    assert output["data"]["type"] == "prospect" and output["data"]["id"] == 2
    assert output["data"]["attributes"]["name"] == "Amy Pond"
    assert output["data"]["relationships"]["account"] == {"data": None}
    assert outreach.requests[-1].path == "/api/v2/prospects/2"

    output = assert_error(
        await call("get_prospect", {"id": 99}), "api_error", "resourceNotFound", 404
    )
    assert output["message"] == (
        "Outreach answered 404: Resource Not Found: Could not find 'prospect' with ID '99'."
    )
    assert output["response"]["headers"]["content-type"] == JSONAPI
    assert output["response"]["headers"]["x-ratelimit-limit"] == "10000"


async def test_create_prospect(call, outreach: FakeOutreach) -> None:
    result = await call(
        "create_prospect",
        {
            "first_name": "Donna",
            "last_name": "Noble",
            "emails": ["donna@example.com"],
            "title": "Temp",
            "company": "HC Clements",
            "work_phones": ["+441234567890"],
            "tags": ["vip"],
            "website_url": "https://example.com",
            "owner_id": 7,
            "account_id": 3,
            "additional_attributes": {"custom1": "Gold", "title": "ignored"},
        },
    )
    output = assert_output_valid("create_prospect", result)
    prospect = output["data"]
    assert prospect["id"] == 6
    assert prospect["attributes"]["name"] == "Donna Noble"
    assert prospect["attributes"]["custom1"] == "Gold"
    assert prospect["relationships"]["owner"] == {"data": {"type": "user", "id": 7}}
    request = outreach.requests[-1]
    assert (request.method, request.headers["content-type"]) == ("POST", JSONAPI)
    assert request.body == {
        "data": {
            "type": "prospect",
            "attributes": {
                "custom1": "Gold",
                "title": "Temp",
                "firstName": "Donna",
                "lastName": "Noble",
                "emails": ["donna@example.com"],
                "company": "HC Clements",
                "workPhones": ["+441234567890"],
                "tags": ["vip"],
                "websiteUrl1": "https://example.com",
            },
            "relationships": {
                "owner": {"data": {"type": "user", "id": 7}},
                "account": {"data": {"type": "account", "id": 3}},
            },
        }
    }
    assert outreach.prospects[6].attributes["company"] == "HC Clements"


async def test_create_prospect_validation_errors(call, outreach: FakeOutreach) -> None:
    result = await call(
        "create_prospect",
        {
            "first_name": "Amy",
            "emails": ["not-an-email", "amy@example.com"],
            "additional_attributes": {"favouriteColour": "blue"},
        },
    )
    output = assert_error(result, "api_error", "validationError", 422)
    assert output["message"] == (
        "Outreach answered 422: "
        "Validation Error: Unknown attribute 'favouriteColour'. "
        "(at /data/attributes/favouriteColour); "
        "Validation Error: Email 'not-an-email' is invalid. (at /data/attributes/emails/0); "
        "Validation Error: Contacts email hash has already been taken. "
        "(at /data/attributes/emails/1)"
    )
    assert len(output["response"]["body"]["errors"]) == 3
    assert len(outreach.prospects) == 5


async def test_update_prospect(call, outreach: FakeOutreach) -> None:
    result = await call("update_prospect", {"id": 3, "title": "Centurion", "tags": ["roman"]})
    output = assert_output_valid("update_prospect", result)
    assert output["data"]["attributes"]["title"] == "Centurion"
    assert output["data"]["attributes"]["lastName"] == "Williams"  # untouched
    request = outreach.requests[-1]
    assert (request.method, request.path) == ("PATCH", "/api/v2/prospects/3")
    assert request.body == {
        "data": {
            "id": 3,
            "type": "prospect",
            "attributes": {"title": "Centurion", "tags": ["roman"]},
        }
    }
    cleared = await call("update_prospect", {"id": 3, "additional_attributes": {"title": None}})
    assert assert_output_valid("update_prospect", cleared)["data"]["attributes"]["title"] is None

    missing = await call("update_prospect", {"id": 42, "title": "x"})
    assert_error(missing, "api_error", "resourceNotFound", 404)
    taken = await call("update_prospect", {"id": 3, "emails": ["sally@example.com"]})
    assert_error(taken, "api_error", "validationError", 422)

    before = len(outreach.requests)
    nothing = await call("update_prospect", {"id": 3})
    assert nothing.outcome == "error"
    assert nothing.output["kind"] == "connector_error"
    assert "Nothing to update" in nothing.output["message"]
    assert len(outreach.requests) == before


async def test_delete_prospect(call, outreach: FakeOutreach) -> None:
    output = assert_output_valid("delete_prospect", await call("delete_prospect", {"id": 4}))
    assert output == {"deleted": True, "id": 4}
    assert 4 not in outreach.prospects
    assert outreach.requests[-1].method == "DELETE"
    again = await call("delete_prospect", {"id": 4})
    assert_error(again, "api_error", "resourceNotFound", 404)


# -- authentication and errors -----------------------------------------------------------


async def test_missing_scope_is_an_auth_error(call, outreach: FakeOutreach) -> None:
    result = await call("delete_prospect", {"id": 1}, token=READ_ONLY)
    output = assert_error(result, "auth_error", "unauthorizedOauthScope", 403)
    assert "prospects.delete" in output["message"]
    assert 1 in outreach.prospects
    # reading is within the token's scopes
    assert (await call("get_prospect", {"id": 1}, token=READ_ONLY)).outcome == "success"


async def test_bad_token_is_an_auth_error_without_the_token(call) -> None:
    secret = "outreach-secret-that-is-not-valid"
    result = await call("list_prospects", {}, token=secret)
    output = assert_error(result, "auth_error", "unauthorized", 401)
    assert secret not in str(output)


async def test_rate_limited_request_is_retried(call, outreach: FakeOutreach) -> None:
    outreach.rate_limit_next(1, retry_after=0)
    output = assert_output_valid("get_prospect", await call("get_prospect", {"id": 1}))
    assert output["data"]["id"] == 1
    assert len(outreach.requests) == 2


async def test_rate_limited_create_is_retried(call, outreach: FakeOutreach) -> None:
    # Outreach refuses a throttled request before processing it: a POST is safe to resend.
    outreach.rate_limit_next(1, retry_after=0, method="POST")
    result = await call("create_prospect", {"first_name": "Jack", "emails": ["jack@example.com"]})
    assert assert_output_valid("create_prospect", result)["data"]["id"] == 6
    assert len(outreach.requests_to("POST")) == 2
    assert len(outreach.prospects) == 6


async def test_rate_limit_with_a_long_wait_ends_the_call(call, outreach: FakeOutreach) -> None:
    outreach.rate_limit_next(1, retry_after=60)
    output = assert_error(
        await call("list_prospects", {}), "rate_limited", "rateLimitExceeded", 429
    )
    assert output["retryAfter"] == 60
    assert output["response"]["headers"]["x-ratelimit-remaining"] == "0"
    assert output["response"]["headers"]["retry-after"] == "60"
    assert "Rate Limit Exceeded: You have exceeded your permitted rate limit" in output["message"]
    assert len(outreach.requests) == 1


async def test_rate_limit_outlasting_the_retries(call, outreach: FakeOutreach) -> None:
    outreach.rate_limit_next(3, retry_after=0)
    output = assert_error(
        await call("get_prospect", {"id": 1}), "rate_limited", "rateLimitExceeded", 429
    )
    assert output["retryAfter"] == 0
    assert len(outreach.requests) == 3  # the connector's RetryPolicy: 3 attempts


async def test_hourly_budget(call, outreach: FakeOutreach) -> None:
    outreach.hourly_limit = 2
    assert (await call("get_prospect", {"id": 1})).outcome == "success"
    assert (await call("get_prospect", {"id": 1})).outcome == "success"
    output = assert_error(
        await call("delete_prospect", {"id": 1}), "rate_limited", "rateLimitExceeded", 429
    )
    assert output["retryAfter"] > 3000  # the hour's end: not waited for


# -- raw_http_request ---------------------------------------------------------------------


async def test_raw_http_request(call, outreach: FakeOutreach) -> None:
    result = await call(
        "raw_http_request",
        {
            "method": "GET",
            "url": "prospects",
            "query_parameters": [{"key": "filter[lastName]", "value": "Jones"}],
        },
    )
    output = assert_output_valid("raw_http_request", result)
    assert output["response"]["status_code"] == 200
    assert [p["id"] for p in output["response"]["body"]["data"]] == [5]
    request = outreach.requests[-1]
    assert request.headers["content-type"] == JSONAPI
    assert request.headers["authorization"] == f"Bearer {TOKEN}"

    # a JSON body goes out as JSON:API too
    created = await call(
        "raw_http_request",
        {
            "method": "POST",
            "url": "/prospects",
            "body": {"json": {"data": {"type": "prospect", "attributes": {"firstName": "K9"}}}},
        },
    )
    assert assert_output_valid("raw_http_request", created)["response"]["status_code"] == 201
    assert outreach.requests[-1].headers["content-type"] == JSONAPI

    # Outreach's error documents are read the same way as elsewhere
    missing = await call("raw_http_request", {"method": "GET", "url": "prospects/404"})
    assert_error(missing, "api_error", "resourceNotFound", 404)


async def test_raw_http_request_wrong_content_type_is_415(call) -> None:
    result = await call(
        "raw_http_request",
        {
            "method": "POST",
            "url": "prospects",
            "body": {"raw": "{}", "content_type": "application/json"},
        },
    )
    output = assert_error(result, "api_error", "unsupportedMediaType", 415)
    assert "Expected Content-Type header to be 'application/vnd.api+json'" in output["message"]


async def test_raw_http_request_stays_on_the_service_host(call, outreach: FakeOutreach) -> None:
    result = await call("raw_http_request", {"method": "GET", "url": "http://example.com/x"})
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert not outreach.requests


# -- the contract ------------------------------------------------------------------------


async def test_every_operation_output_matches_its_schema(call) -> None:
    inputs: dict[str, dict[str, Any]] = {
        "list_prospects": {"page_size": 2},
        "get_prospect": {"id": 1},
        "create_prospect": {"first_name": "Ace", "emails": ["ace@example.com"]},
        "update_prospect": {"id": 1, "nickname": "Sal"},
        "delete_prospect": {"id": 2},
        "raw_http_request": {"method": "GET", "url": "prospects/1"},
    }
    assert set(inputs) == {op.name for op in OUTREACH.operations}
    for name, data in inputs.items():
        assert_output_valid(name, await call(name, data))
