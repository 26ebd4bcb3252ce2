"""The Twilio connector through Call Connector (``POST /core/v1/connectors/twilio/versions/
1.0/call``), as an end user with their own authentication, against the loopback Twilio fake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from patchbay.connectors.twilio.connector import ENVIRONMENT_ID, TWILIO
from patchbay.connectors.twilio.fake import FakeTwilio, create_app, seed_messages
from patchbay.testing.fakeserver import serve_in_thread

ACCOUNT = FakeTwilio.account_sid
FROM = FakeTwilio.from_number
TO = "+14155551234"
CALL = "/core/v1/connectors/twilio/versions/1.0/call"


@dataclass
class Twilio:
    state: FakeTwilio
    base_url: str  # for userData.base_url (ends in /2010-04-01)


@pytest.fixture
def twilio() -> Iterator[Twilio]:
    state = FakeTwilio()
    with serve_in_thread(create_app(state)) as url:
        yield Twilio(state, url + "/2010-04-01")


@dataclass
class User:
    headers: dict[str, str]
    auth_id: str

    async def call(self, api, operation: str, input: dict[str, Any]):
        body = {"operation": operation, "input": input, "authId": self.auth_id}
        return await api.client.post(CALL, json=body, headers=self.headers)


async def twilio_user(api, twilio: Twilio, credentials: dict[str, Any] | None = None) -> User:
    """A new end user with their own Twilio authentication pointing at the fake."""
    _, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers,
        ENVIRONMENT_ID,
        credentials if credentials is not None else twilio.state.credentials(),
        userData={"base_url": twilio.base_url},
    )
    return User(headers, auth_id)


async def published_output_schemas(api, headers: dict[str, str]) -> dict[str, dict]:
    r = await api.client.get("/core/v1/connectors/twilio/versions/1.0/operations", headers=headers)
    assert r.status_code == 200, r.text
    return {op["name"]: op["outputSchema"] for op in r.json()["elements"]}


def success(r) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "success", body
    return body["output"]


def twilio_error(r, kind: str, code: int, status: int) -> dict[str, Any]:
    """Patchbay's standardized error carrying Twilio's code, message and body."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "error", body
    output = body["output"]
    assert output["kind"] == kind, output
    assert output["code"] == code
    assert output["response"]["statusCode"] == status
    twilio_body = output["response"]["body"]
    assert set(twilio_body) >= {"code", "message", "more_info", "status"}
    assert twilio_body["code"] == code and twilio_body["status"] == status
    assert twilio_body["message"] in output["message"]
    return output


def assert_no_secrets(twilio: Twilio, text: str) -> None:
    assert twilio.state.auth_token not in text
    assert twilio.state.api_key_secret not in text


# -- send_sms -------------------------------------------------------------------------------


async def test_send_sms(api, twilio):
    user = await twilio_user(api, twilio)
    r = await user.call(api, "send_sms", {"to": TO, "from": FROM, "body": "Hi from Patchbay"})
    output = success(r)
    assert output["sid"].startswith("SM") and output["status"] == "queued"
    assert (output["to"], output["from"], output["body"]) == (TO, FROM, "Hi from Patchbay")
    schemas = await published_output_schemas(api, user.headers)
    jsonschema.Draft4Validator(schemas["send_sms"]).validate(output)
    (sent,) = twilio.state.requests_to("/Messages.json", "POST")
    assert sent.username == ACCOUNT
    assert sent.form == [("To", TO), ("From", FROM), ("Body", "Hi from Patchbay")]
    assert_no_secrets(twilio, r.text)

    # Twilio's error shape: 21211, the code and message kept, the body shown.
    r = await user.call(api, "send_sms", {"to": "+15005550001", "from": FROM, "body": "x"})
    output = twilio_error(r, "api_error", 21211, 400)
    assert output["message"].startswith("Twilio error 21211: Invalid 'To' Phone Number")

    # 429 20429 is never processed by Twilio, so the POST is retried...
    twilio.state.rate_limit_next(1, retry_after=0)
    success(await user.call(api, "send_sms", {"to": TO, "from": FROM, "body": "again"}))
    assert len(twilio.state.requests_to("/Messages.json", "POST")) == 4
    # ...but not past a long Retry-After.
    twilio.state.rate_limit_next(1, retry_after=60)
    r = await user.call(api, "send_sms", {"to": TO, "from": FROM, "body": "later"})
    assert twilio_error(r, "rate_limited", 20429, 429)["retryAfter"] == 60
    assert len(twilio.state.messages) == 2


async def test_send_sms_with_an_api_key_and_a_messaging_service(api, twilio):
    user = await twilio_user(api, twilio, twilio.state.credentials(api_key=True))
    r = await user.call(
        api,
        "send_sms",
        {
            "to": TO,
            "messaging_service_sid": twilio.state.messaging_service_sid,
            "media_url": ["https://example.com/a.png", "https://example.com/b.png"],
        },
    )
    output = success(r)
    assert output["sid"].startswith("MM") and output["status"] == "accepted"
    assert output["from"] is None and output["num_media"] == "2"
    (sent,) = twilio.state.requests_to("/Messages.json", "POST")
    assert sent.username == twilio.state.api_key_sid
    assert sent.form_values("MediaUrl") == [
        "https://example.com/a.png",
        "https://example.com/b.png",
    ]
    assert_no_secrets(twilio, r.text)


async def test_send_sms_sender_is_checked_before_calling_twilio(api, twilio):
    user = await twilio_user(api, twilio)
    r = await user.call(api, "send_sms", {"to": TO, "body": "x"})
    body = api.expect_error(r, 400)
    assert body["message"] == (
        "Connector input validation failed. Schema validation errors:\n"
        "[ 1 - #: no subschema matched out of the total 2 subschemas ]"
    )
    r = await user.call(
        api,
        "send_sms",
        {"to": TO, "from": FROM, "messaging_service_sid": twilio.state.messaging_service_sid},
    )
    assert "2 subschemas matched instead of one" in api.expect_error(r, 400)["message"]
    assert not twilio.state.requests


async def test_wrong_credentials_are_an_auth_error(api, twilio):
    secret = "f" * 32
    user = await twilio_user(api, twilio, {"account_sid": ACCOUNT, "auth_token": secret})
    r = await user.call(api, "send_sms", {"to": TO, "from": FROM, "body": "x"})
    output = twilio_error(r, "auth_error", 20003, 401)
    assert "Authenticate" in output["message"]
    assert secret not in r.text


async def test_credentials_are_checked_at_creation(api, twilio):
    _, headers = await api.new_user()
    body = {
        "name": "twilio",
        "serviceEnvironmentId": ENVIRONMENT_ID,
        "credentials": {"account_sid": ACCOUNT},  # neither an Auth Token nor an API key
    }
    r = await api.client.post("/core/v1/authentications", json=body, headers=headers)
    api.expect_error(r, 400, "invalid_credentials")


# -- get_message ----------------------------------------------------------------------------


async def test_get_message(api, twilio):
    (sid,) = seed_messages(twilio.state, 1)
    user = await twilio_user(api, twilio)
    output = success(await user.call(api, "get_message", {"sid": sid}))
    assert output["sid"] == sid and output["status"] == "delivered"
    schemas = await published_output_schemas(api, user.headers)
    jsonschema.Draft4Validator(schemas["get_message"]).validate(output)

    missing = "SM" + "0" * 32
    r = await user.call(api, "get_message", {"sid": missing})
    output = twilio_error(r, "api_error", 20404, 404)
    assert missing in output["message"]

    twilio.state.rate_limit_next(2, retry_after=0)
    success(await user.call(api, "get_message", {"sid": sid}))
    twilio.state.rate_limit_next(3, retry_after=0)  # more than the retry policy's attempts
    twilio_error(await user.call(api, "get_message", {"sid": sid}), "rate_limited", 20429, 429)


# -- list_messages --------------------------------------------------------------------------


async def test_list_messages(api, twilio):
    sids = seed_messages(twilio.state, 12)
    user = await twilio_user(api, twilio)
    r = await user.call(api, "list_messages", {"page_size": 5})
    output = success(r)
    assert [m["sid"] for m in output["messages"]] == sids  # three pages, newest first
    assert output["has_more"] is False
    pages = twilio.state.requests_to("/Messages.json", "GET")
    assert len(pages) == 3
    assert [dict(p.query).get("Page") for p in pages] == [None, "1", "2"]
    assert all(dict(p.query).get("PageToken", "PA").startswith("PA") for p in pages)
    schemas = await published_output_schemas(api, user.headers)
    jsonschema.Draft4Validator(schemas["list_messages"]).validate(output)

    # max_results stops early and says more remain; filters go to Twilio.
    r = await user.call(
        api, "list_messages", {"to": "+14155550001", "page_size": 1, "max_results": 1}
    )
    output = success(r)
    assert [m["body"] for m in output["messages"]] == ["Message 1"]
    assert output["has_more"] is True
    assert dict(twilio.state.requests[-1].query) == {"To": "+14155550001", "PageSize": "1"}

    # A 429 on a later page is retried, and the list completes.
    twilio.state.rate_limit_next(1, retry_after=0, after=1)
    before = len(twilio.state.requests)
    output = success(await user.call(api, "list_messages", {"page_size": 6}))
    assert [m["sid"] for m in output["messages"]] == sids
    pages = list(twilio.state.requests)[before:]
    assert [dict(p.query).get("Page") for p in pages] == [None, "1", "1"]  # page 2 twice

    twilio.state.fail_next(400, 20001, "Invalid PageToken", after=1)
    r = await user.call(api, "list_messages", {"page_size": 5})
    twilio_error(r, "api_error", 20001, 400)
    twilio.state.rate_limit_next(1, retry_after=30)
    r = await user.call(api, "list_messages", {})
    assert twilio_error(r, "rate_limited", 20429, 429)["retryAfter"] == 30
    assert_no_secrets(twilio, r.text)


# -- list_phone_numbers_ddl -----------------------------------------------------------------


async def test_list_phone_numbers_ddl(api, twilio):
    user = await twilio_user(api, twilio)
    output = success(await user.call(api, "list_phone_numbers_ddl", {}))
    assert {"text": "Patchbay main line (+15005550006)", "value": FROM} in output["result"]
    assert len(output["result"]) == 3
    twilio.state.rate_limit_next(1, retry_after=0)
    assert success(await user.call(api, "list_phone_numbers_ddl", {})) == output
    twilio.state.fail_next(403, 20003, "Authenticate", path="/IncomingPhoneNumbers.json")
    r = await user.call(api, "list_phone_numbers_ddl", {})
    twilio_error(r, "auth_error", 20003, 403)
    twilio.state.rate_limit_next(1, retry_after=60)
    r = await user.call(api, "list_phone_numbers_ddl", {})
    twilio_error(r, "rate_limited", 20429, 429)


# -- raw_http_request -----------------------------------------------------------------------


async def test_raw_http_request(api, twilio):
    user = await twilio_user(api, twilio)
    r = await user.call(
        api, "raw_http_request", {"method": "GET", "url": f"Accounts/{ACCOUNT}.json"}
    )
    output = success(r)
    assert output["response"]["status_code"] == 200
    assert output["response"]["body"]["sid"] == ACCOUNT
    assert twilio.state.requests[-1].username == ACCOUNT
    assert_no_secrets(twilio, r.text)

    r = await user.call(
        api, "raw_http_request", {"method": "GET", "url": f"Accounts/{ACCOUNT}/Calls.json"}
    )
    twilio_error(r, "api_error", 20404, 404)
    twilio.state.rate_limit_next(1, retry_after=0)
    r = await user.call(
        api, "raw_http_request", {"method": "GET", "url": f"Accounts/{ACCOUNT}.json"}
    )
    assert success(r)["response"]["status_code"] == 200
    twilio.state.rate_limit_next(5, retry_after=0)
    r = await user.call(
        api, "raw_http_request", {"method": "GET", "url": f"Accounts/{ACCOUNT}.json"}
    )
    twilio_error(r, "rate_limited", 20429, 429)


# -- the contract ---------------------------------------------------------------------------


async def test_every_output_fits_its_published_schema(api, twilio):
    sids = seed_messages(twilio.state, 3)
    user = await twilio_user(api, twilio)
    schemas = await published_output_schemas(api, user.headers)
    inputs = {
        "send_sms": {"to": TO, "from": FROM, "body": "contract"},
        "get_message": {"sid": sids[0]},
        "list_messages": {"page_size": 2},
        "list_phone_numbers_ddl": {"sms_only": False},
        "raw_http_request": {"method": "GET", "url": f"Accounts/{ACCOUNT}/Messages.json"},
    }
    assert set(schemas) == set(inputs) == {op.name for op in TWILIO.operations}
    for name, data in inputs.items():
        output = success(await user.call(api, name, data))
        jsonschema.Draft4Validator.check_schema(schemas[name])
        jsonschema.Draft4Validator(schemas[name]).validate(output)
