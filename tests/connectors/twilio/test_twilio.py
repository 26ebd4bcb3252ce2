"""The Twilio connector, run through the real SDK path against the loopback Twilio fake."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import jsonschema
import pytest

from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid
from patchbay.connectors.twilio import connector as twilio_connector
from patchbay.connectors.twilio.connector import CONNECTORS, TWILIO, authorize
from patchbay.connectors.twilio.fake import FakeTwilio, create_app, num_segments, seed_messages
from patchbay.testing import connectors as testing
from patchbay.testing.connectors import make_call
from patchbay.testing.fakeserver import serve_in_thread

ACCOUNT = FakeTwilio.account_sid
FROM = FakeTwilio.from_number
SERVICE_SID = FakeTwilio.messaging_service_sid
TO = "+14155551234"
SID = re.compile(r"^(SM|MM)[0-9a-f]{32}$")
RFC2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")


@pytest.fixture
def twilio() -> FakeTwilio:
    return FakeTwilio()


@pytest.fixture
def twilio_url(twilio: FakeTwilio):
    with serve_in_thread(create_app(twilio)) as url:
        yield url


@pytest.fixture
def call(twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool):
    return make_call(
        TWILIO,
        clients,
        credentials=twilio.credentials(),
        user_data={"base_url": twilio_url + "/2010-04-01"},
    )


assert_output_valid = partial(testing.assert_output_valid, TWILIO)


def assert_twilio_error(result: CallResult, kind: str, code: int, status: int) -> dict[str, Any]:
    """The standardized error keeping Twilio's code, message and body."""
    assert result.outcome == "error", result.output
    output = result.output
    assert output["kind"] == kind, output
    assert output["code"] == code
    body = output["response"]["body"]
    assert output["response"]["statusCode"] == status
    assert body["code"] == code and body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert output["message"].startswith(f"Twilio error {code}: {body['message']}")
    return output


def assert_no_secrets(twilio: FakeTwilio, output: Any) -> None:
    text = repr(output)
    for secret in (twilio.auth_token, twilio.api_key_secret):
        assert secret not in text


# -- the declaration ------------------------------------------------------------------------


def test_declaration() -> None:
    assert CONNECTORS == [TWILIO]
    assert twilio_connector.CONNECTORS[0] is TWILIO
    assert TWILIO.to_api() == {
        "name": "twilio",
        "title": "Twilio",
        "description": TWILIO.description,
        "version": "1.0",
        "service": {"id": "3c8f9a52-7d41-4b6e-9e0a-1f2b3c4d5e61", "name": "twilio", "version": 1},
    }
    assert TWILIO.retry.retry_post_on == frozenset({429})
    (env,) = (e.to_api() for e in TWILIO.environments)
    assert (env["title"], env["authenticationType"]) == ("Account SID and Auth Token", "basic")
    assert env["userDataSchema"]["properties"]["base_url"]["format"] == "uri"
    credentials = env["credentialsSchema"]
    jsonschema.Draft4Validator.check_schema(credentials)
    validator = jsonschema.Draft4Validator(credentials)
    fake = FakeTwilio()
    assert validator.is_valid(fake.credentials())
    assert validator.is_valid(fake.credentials(api_key=True))
    assert not validator.is_valid({"account_sid": ACCOUNT})  # no secret at all
    assert not validator.is_valid({"auth_token": "x"})  # no account
    assert not validator.is_valid({**fake.credentials(), "api_key_sid": fake.api_key_sid})
    assert [op.name for op in TWILIO.operations] == [
        "send_sms",
        "get_message",
        "list_messages",
        "list_phone_numbers_ddl",
        "raw_http_request",
    ]
    assert [op.title for op in TWILIO.operations] == [
        "Send SMS",
        "Get Message",
        "List Messages",
        "List Phone Numbers DDL",
        "Raw HTTP Request",
    ]
    for operation in TWILIO.operations:
        jsonschema.Draft4Validator.check_schema(operation.input_schema)
        jsonschema.Draft4Validator.check_schema(operation.output_schema)
        assert operation.output_schema["type"] == "object"


def test_send_sms_schema() -> None:
    schema = TWILIO.operation("send_sms").input_schema
    assert schema["required"] == ["to"]
    assert schema["additionalProperties"] is False
    assert schema["oneOf"] == [{"required": ["from"]}, {"required": ["messaging_service_sid"]}]
    assert schema["advanced"] == ["status_callback", "validity_period"]
    assert schema["properties"]["from"]["lookup"] == {
        "operation": "list_phone_numbers_ddl",
        "input": {},
    }
    assert schema["properties"]["media_url"]["items"]["format"] == "uri"
    output = TWILIO.operation("send_sms").output_schema
    assert output["properties"]["from"]["type"] == ["string", "null"]
    assert {"sid", "status", "num_segments", "date_created", "uri"} <= set(output["required"])
    listing = TWILIO.operation("list_messages").input_schema
    assert listing["advanced"] == ["page_size"]
    assert listing["properties"]["page_size"]["maximum"] == 1000


def test_authorize() -> None:
    class Ctx:
        def __init__(self, credentials: dict[str, Any]) -> None:
            self.credentials = credentials

    def basic(user: str, password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    fake = FakeTwilio()
    assert authorize(Ctx(fake.credentials())) == basic(fake.account_sid, fake.auth_token)
    both = {**fake.credentials(), **fake.credentials(api_key=True)}
    assert authorize(Ctx(both)) == basic(fake.api_key_sid, fake.api_key_secret)
    assert authorize(Ctx({"account_sid": ACCOUNT})) == {}


# -- send_sms -------------------------------------------------------------------------------


async def test_send_sms(call, twilio: FakeTwilio) -> None:
    result = await call("send_sms", {"to": TO, "from": FROM, "body": "Hello from Patchbay"})
    output = assert_output_valid("send_sms", result)
    assert SID.match(output["sid"]) and output["sid"].startswith("SM")
    assert (output["to"], output["from"], output["body"]) == (TO, FROM, "Hello from Patchbay")
    assert output["status"] == "queued"
    assert output["direction"] == "outbound-api"
    assert output["num_segments"] == "1"
    assert output["account_sid"] == ACCOUNT
    assert RFC2822.match(output["date_created"])
    assert output["date_sent"] is None and output["error_code"] is None
    assert output["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{output['sid']}.json"
    assert twilio.messages[output["sid"]] == output
    (sent,) = twilio.requests_to("/Messages.json", "POST")
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent.content_type == "application/x-www-form-urlencoded"
    assert sent.form == [("To", TO), ("From", FROM), ("Body", "Hello from Patchbay")]
    assert sent.username == ACCOUNT
    assert_no_secrets(twilio, output)


async def test_send_mms_with_every_field(call, twilio: FakeTwilio) -> None:
    data = {
        "to": "whatsapp:+14155551234",
        "from": "whatsapp:+14155238886",
        "body": "Ünïcödé " * 10,
        "media_url": ["https://example.com/a.png", "https://example.com/b.jpg"],
        "status_callback": "https://example.com/status",
        "validity_period": 600,
    }
    output = assert_output_valid("send_sms", await call("send_sms", data))
    assert output["sid"].startswith("MM")
    assert output["num_media"] == "2"
    assert output["num_segments"] == str(num_segments(data["body"])) == "2"  # UCS-2, 80 chars
    (sent,) = twilio.requests_to("/Messages.json", "POST")
    assert sent.form_values("MediaUrl") == data["media_url"]  # a repeated form field
    form = sent.form_dict()
    assert form["StatusCallback"] == "https://example.com/status"
    assert form["ValidityPeriod"] == "600"


async def test_send_sms_with_messaging_service(call, twilio: FakeTwilio) -> None:
    data = {"to": TO, "messaging_service_sid": SERVICE_SID, "body": "via service"}
    output = assert_output_valid("send_sms", await call("send_sms", data))
    assert output["status"] == "accepted"
    assert output["from"] is None
    assert output["messaging_service_sid"] == SERVICE_SID
    (sent,) = twilio.requests_to("/Messages.json", "POST")
    assert sent.form_dict() == {"To": TO, "MessagingServiceSid": SERVICE_SID, "Body": "via service"}


async def test_send_sms_with_an_api_key(call, twilio: FakeTwilio) -> None:
    result = await call(
        "send_sms",
        {"to": TO, "from": FROM, "body": "key"},
        credentials=twilio.credentials(api_key=True),
    )
    output = assert_output_valid("send_sms", result)
    assert output["account_sid"] == ACCOUNT
    assert twilio.requests[-1].username == twilio.api_key_sid
    assert twilio.requests[-1].path.startswith(f"/2010-04-01/Accounts/{ACCOUNT}/")


async def test_send_sms_needs_exactly_one_sender(call, twilio: FakeTwilio) -> None:
    with pytest.raises(InputInvalid) as caught:
        await call("send_sms", {"to": TO, "body": "x"})
    assert caught.value.errors == ["#: no subschema matched out of the total 2 subschemas"]
    with pytest.raises(InputInvalid) as caught:
        await call(
            "send_sms", {"to": TO, "from": FROM, "messaging_service_sid": SERVICE_SID, "body": "x"}
        )
    assert caught.value.errors == ["#: 2 subschemas matched instead of one"]
    # Without schema validation the handler still refuses, before calling Twilio.
    result = await call("send_sms", {"to": TO, "body": "x"}, validate=False)
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert "exactly one sender" in result.output["message"]
    assert not twilio.requests


async def test_send_sms_input_violations(call) -> None:
    with pytest.raises(InputInvalid) as caught:
        await call(
            "send_sms",
            {"to": TO, "from": FROM, "media_url": ["not a url"], "body": "x" * 1601, "x": 1},
        )
    assert caught.value.errors == [
        "#: extraneous key [x] is not permitted",
        "#/body: expected maxLength: 1600, actual: 1601",
        "#/media_url/0: [not a url] is not a valid URI",
    ]


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        ({"to": "+15005550001", "body": "x"}, 21211, "Invalid 'To' Phone Number: +15005550001"),
        ({"to": "12", "body": "x"}, 21211, "Invalid 'To' Phone Number: 12"),
        ({"to": TO, "body": ""}, 21602, "Message body is required."),
        ({"to": TO, "from": "+19995550000", "body": "x"}, 21606, "The From phone number"),
    ],
)
async def test_send_sms_twilio_validation_errors(call, twilio, data, code, text) -> None:
    result = await call("send_sms", {"from": FROM, **data})
    output = assert_twilio_error(result, "api_error", code, 400)
    assert text in output["message"]
    assert not twilio.messages


async def test_send_sms_wrong_credentials(call, twilio: FakeTwilio) -> None:
    credentials = {"account_sid": ACCOUNT, "auth_token": "0" * 32}
    result = await call("send_sms", {"to": TO, "from": FROM, "body": "x"}, credentials=credentials)
    output = assert_twilio_error(result, "auth_error", 20003, 401)
    assert output["message"] == (
        "Twilio error 20003: Authenticate (Your AccountSid or AuthToken was incorrect.); "
        "see https://www.twilio.com/docs/errors/20003"
    )
    assert "0" * 32 not in repr(output)
    assert "authorization" not in output["response"]["headers"]
    assert len(twilio.requests_to("/Messages.json")) == 1  # a 401 is not retried


async def test_send_sms_retried_after_429(call, twilio: FakeTwilio) -> None:
    # Twilio never processes a request it answers 429: the POST is safe to send again.
    twilio.rate_limit_next(1, retry_after=0)
    output = assert_output_valid(
        "send_sms", await call("send_sms", {"to": TO, "from": FROM, "body": "x"})
    )
    assert len(twilio.requests_to("/Messages.json", "POST")) == 2
    assert list(twilio.messages) == [output["sid"]]


async def test_send_sms_rate_limited(call, twilio: FakeTwilio) -> None:
    twilio.rate_limit_next(3, retry_after=0)  # as many as the policy's attempts
    result = await call("send_sms", {"to": TO, "from": FROM, "body": "x"})
    output = assert_twilio_error(result, "rate_limited", 20429, 429)
    assert "Too Many Requests" in output["message"]
    assert len(twilio.requests_to("/Messages.json", "POST")) == 3
    assert not twilio.messages
    # A Retry-After longer than the SDK waits for ends the call at once.
    twilio.rate_limit_next(1, retry_after=60)
    result = await call("send_sms", {"to": TO, "from": FROM, "body": "x"})
    assert assert_twilio_error(result, "rate_limited", 20429, 429)["retryAfter"] == 60.0
    assert len(twilio.requests_to("/Messages.json", "POST")) == 4


async def test_send_sms_429_without_retry_after_backs_off(call, twilio: FakeTwilio) -> None:
    twilio.rate_limit_next(1)  # Twilio's Retry-After is not guaranteed
    assert_output_valid("send_sms", await call("send_sms", {"to": TO, "from": FROM, "body": "x"}))
    assert len(twilio.requests_to("/Messages.json", "POST")) == 2


async def test_server_errors_on_post_are_not_retried(call, twilio: FakeTwilio) -> None:
    # A 503 may have been processed: a POST is not sent twice.
    twilio.fail_next(503, 20500, "Internal Server Error")
    result = await call("send_sms", {"to": TO, "from": FROM, "body": "x"})
    assert_twilio_error(result, "api_error", 20500, 503)
    assert len(twilio.requests_to("/Messages.json", "POST")) == 1


# -- get_message ----------------------------------------------------------------------------


async def test_get_message(call, twilio: FakeTwilio) -> None:
    sent = await call("send_sms", {"to": TO, "from": FROM, "body": "fetch me"})
    twilio.deliver(sent.output["sid"])
    output = assert_output_valid(
        "get_message", await call("get_message", {"sid": sent.output["sid"]})
    )
    assert output["sid"] == sent.output["sid"]
    assert output["status"] == "delivered"
    assert RFC2822.match(output["date_sent"])
    assert (
        twilio.requests[-1].path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{output['sid']}.json"
    )


async def test_get_message_not_found(call, twilio: FakeTwilio) -> None:
    missing = "SM" + "0" * 32
    result = await call("get_message", {"sid": missing})
    output = assert_twilio_error(result, "api_error", 20404, 404)
    assert missing in output["message"]
    # A SID is one path segment: nothing else can be reached through it.
    result = await call("get_message", {"sid": "../../Accounts/x"})
    assert_twilio_error(result, "api_error", 20404, 404)
    assert twilio.requests[-1].raw_path == (
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages/..%2F..%2FAccounts%2Fx.json"
    )


async def test_get_message_retried_after_429(call, twilio: FakeTwilio) -> None:
    (sid,) = seed_messages(twilio, 1)
    twilio.rate_limit_next(2, retry_after=0)
    assert_output_valid("get_message", await call("get_message", {"sid": sid}))
    assert len(twilio.requests) == 3
    twilio.rate_limit_next(1, retry_after=30)
    output = assert_twilio_error(
        await call("get_message", {"sid": sid}), "rate_limited", 20429, 429
    )
    assert output["retryAfter"] == 30.0


# -- list_messages --------------------------------------------------------------------------


async def test_list_messages_follows_pages(call, twilio: FakeTwilio) -> None:
    sids = seed_messages(twilio, 25)
    result = await call("list_messages", {"page_size": 10})
    output = assert_output_valid("list_messages", result)
    assert [m["sid"] for m in output["messages"]] == sids  # newest first, all three pages
    assert output["has_more"] is False
    pages = twilio.requests_to("/Messages.json", "GET")
    assert len(pages) == 3
    assert pages[0].query == [("PageSize", "10")]
    assert dict(pages[1].query) == {"PageSize": "10", "Page": "1", "PageToken": "PA" + sids[9]}
    assert dict(pages[2].query) == {"PageSize": "10", "Page": "2", "PageToken": "PA" + sids[19]}
    assert all(p.username == ACCOUNT for p in pages)


async def test_list_messages_max_results(call, twilio: FakeTwilio) -> None:
    sids = seed_messages(twilio, 25)
    output = assert_output_valid(
        "list_messages", await call("list_messages", {"page_size": 10, "max_results": 15})
    )
    assert [m["sid"] for m in output["messages"]] == sids[:15]
    assert output["has_more"] is True
    assert len(twilio.requests_to("/Messages.json", "GET")) == 2
    # A smaller max_results asks for smaller pages.
    output = assert_output_valid("list_messages", await call("list_messages", {"max_results": 3}))
    assert [m["sid"] for m in output["messages"]] == sids[:3]
    assert output["has_more"] is True
    assert twilio.requests[-1].query == [("PageSize", "3")]


async def test_list_messages_filters(call, twilio: FakeTwilio) -> None:
    seed_messages(twilio, 20, start=datetime(2024, 3, 20, 9, 30, tzinfo=UTC))
    data = {
        "to": "+14155550003",
        "from": FROM,
        "date_sent_after": "2024-03-01",
        "date_sent_before": "2024-03-31",
    }
    output = assert_output_valid("list_messages", await call("list_messages", data))
    # seeded one a day back from 20 March, to +1415555000<i % 10>: i = 3 and 13
    assert [m["body"] for m in output["messages"]] == ["Message 3", "Message 13"]
    assert dict(twilio.requests[-1].query) == {
        "To": "+14155550003",
        "From": FROM,
        "DateSent>": "2024-03-01",
        "DateSent<": "2024-03-31",
        "PageSize": "50",
    }
    output = assert_output_valid(
        "list_messages", await call("list_messages", {"date_sent": "2024-03-18"})
    )
    assert [m["body"] for m in output["messages"]] == ["Message 2"]
    with pytest.raises(InputInvalid, match="does not match pattern"):
        await call("list_messages", {"date_sent": "18/03/2024"})


async def test_list_messages_filters_kept_across_pages(call, twilio: FakeTwilio) -> None:
    seed_messages(twilio, 30)
    output = assert_output_valid(
        "list_messages", await call("list_messages", {"to": "+14155550001", "page_size": 1})
    )
    assert [m["body"] for m in output["messages"]] == ["Message 1", "Message 11", "Message 21"]
    pages = twilio.requests_to("/Messages.json", "GET")
    assert len(pages) == 3
    assert all(dict(p.query)["To"] == "+14155550001" for p in pages)


async def test_list_messages_empty(call) -> None:
    output = assert_output_valid("list_messages", await call("list_messages", {}))
    assert output == {"messages": [], "has_more": False}


async def test_list_messages_429_mid_list(call, twilio: FakeTwilio) -> None:
    sids = seed_messages(twilio, 6)
    twilio.rate_limit_next(1, retry_after=0, after=1)
    call_result = await call("list_messages", {"page_size": 2})
    # the second page was limited once and retried, then the third followed
    assert [m["sid"] for m in assert_output_valid("list_messages", call_result)["messages"]] == sids
    pages = twilio.requests_to("/Messages.json", "GET")
    assert [dict(p.query).get("Page") for p in pages] == [None, "1", "1", "2"]
    twilio.rate_limit_next(1, retry_after=45, path="/Messages.json")
    result = await call("list_messages", {"page_size": 2})
    assert assert_twilio_error(result, "rate_limited", 20429, 429)["retryAfter"] == 45.0


async def test_list_messages_errors(call, twilio: FakeTwilio) -> None:
    other = twilio.add_account()
    credentials = {"account_sid": other.sid, "auth_token": "wrong"}
    result = await call("list_messages", {}, credentials=credentials)
    assert_twilio_error(result, "auth_error", 20003, 401)
    seed_messages(twilio, 5)
    twilio.fail_next(400, 20001, "Invalid PageToken", path="/Messages.json")
    result = await call("list_messages", {})
    assert_twilio_error(result, "api_error", 20001, 400)


# -- list_phone_numbers_ddl -----------------------------------------------------------------


async def test_list_phone_numbers_ddl(call, twilio: FakeTwilio) -> None:
    output = assert_output_valid("list_phone_numbers_ddl", await call("list_phone_numbers_ddl", {}))
    assert output["result"] == [
        {"text": "Patchbay main line (+15005550006)", "value": "+15005550006"},
        {"text": "Support (+14155550100)", "value": "+14155550100"},
        {"text": "WhatsApp sandbox (whatsapp:+14155238886)", "value": "whatsapp:+14155238886"},
    ]
    everything = await call("list_phone_numbers_ddl", {"sms_only": False})
    assert len(assert_output_valid("list_phone_numbers_ddl", everything)["result"]) == 4
    assert twilio.requests[-1].query == [("PageSize", "1000")]


# -- raw_http_request -----------------------------------------------------------------------


async def test_raw_http_request(call, twilio: FakeTwilio) -> None:
    result = await call("raw_http_request", {"method": "GET", "url": f"Accounts/{ACCOUNT}.json"})
    output = assert_output_valid("raw_http_request", result)
    assert output["response"]["status_code"] == 200
    assert output["response"]["body"]["sid"] == ACCOUNT
    assert twilio.requests[-1].username == ACCOUNT
    assert_no_secrets(twilio, output)
    # a form-encoded POST through the raw body
    result = await call(
        "raw_http_request",
        {
            "method": "POST",
            "url": f"Accounts/{ACCOUNT}/Messages.json",
            "body": {
                "raw": "To=%2B14155551234&From=%2B15005550006&Body=raw",
                "content_type": "application/x-www-form-urlencoded",
            },
        },
    )
    output = assert_output_valid("raw_http_request", result)
    assert output["response"]["status_code"] == 201
    assert output["response"]["body"]["body"] == "raw"


async def test_raw_http_request_errors(call, twilio: FakeTwilio) -> None:
    result = await call("raw_http_request", {"method": "GET", "url": "Nowhere.json"})
    output = assert_twilio_error(result, "api_error", 20404, 404)
    assert "/2010-04-01/Nowhere.json" in output["message"]
    twilio.rate_limit_next(1, retry_after=60)
    result = await call("raw_http_request", {"method": "GET", "url": f"Accounts/{ACCOUNT}.json"})
    assert_twilio_error(result, "rate_limited", 20429, 429)
    result = await call(
        "raw_http_request", {"method": "GET", "url": "https://elsewhere.example.com/x"}
    )
    assert result.outcome == "error" and result.output["kind"] == "connector_error"


# -- the contract: every operation's output fits its declared schema ------------------------


CONTRACT_INPUTS: dict[str, dict[str, Any]] = {
    "send_sms": {"to": TO, "from": FROM, "body": "contract"},
    "get_message": {"sid": None},  # filled with a seeded sid
    "list_messages": {"page_size": 2, "max_results": 5},
    "list_phone_numbers_ddl": {},
    "raw_http_request": {"method": "GET", "url": f"Accounts/{ACCOUNT}/Messages.json"},
}


@pytest.mark.parametrize("name", [op.name for op in TWILIO.operations])
async def test_output_contract(call, twilio: FakeTwilio, name: str) -> None:
    sids = seed_messages(twilio, 4)
    twilio.add_message(to=TO, body="queued", status="queued")
    data = CONTRACT_INPUTS[name]
    if name == "get_message":
        data = {"sid": sids[0]}
    assert_output_valid(name, await call(name, data))


# -- the fake's wire format -----------------------------------------------------------------


async def test_fake_wire_format(twilio: FakeTwilio, twilio_url: str) -> None:
    auth = (ACCOUNT, twilio.auth_token)
    base = f"{twilio_url}/2010-04-01/Accounts/{ACCOUNT}"
    async with httpx.AsyncClient(auth=auth) as http:
        # No credentials: 401 20003 with a Basic challenge.
        response = await http.get(f"{base}/Messages.json", auth=None)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="Twilio API"'
        assert response.json()["code"] == 20003
        # 21603: no From and no messaging service; 21604: no To.
        response = await http.post(f"{base}/Messages.json", data={"To": TO, "Body": "x"})
        assert response.status_code == 400
        assert response.json() == {
            "code": 21603,
            "message": "A 'From' phone number is required.",
            "more_info": "https://www.twilio.com/docs/errors/21603",
            "status": 400,
        }
        response = await http.post(f"{base}/Messages.json", data={"From": FROM, "Body": "x"})
        assert response.json()["code"] == 21604
        # Media alone is enough; segments by alphabet.
        response = await http.post(
            f"{base}/Messages.json",
            data={"To": TO, "From": FROM, "MediaUrl": "https://example.com/a.png"},
        )
        assert response.status_code == 201 and response.json()["num_media"] == "1"
        assert response.headers["twilio-request-id"].startswith("RQ")
        # Paging: relative next_page_uri, null on the last page; PageSize capped at 1000.
        seed_messages(twilio, 4)
        page = (await http.get(f"{base}/Messages.json", params={"PageSize": 3})).json()
        assert len(page["messages"]) == 3 and page["page"] == 0 and page["start"] == 0
        assert page["next_page_uri"].startswith(f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json?")
        assert page["previous_page_uri"] is None
        page = (await http.get(twilio_url + page["next_page_uri"])).json()
        assert len(page["messages"]) == 2 and page["page"] == 1 and page["start"] == 3
        assert page["next_page_uri"] is None and page["previous_page_uri"]
        back = (await http.get(twilio_url + page["previous_page_uri"])).json()
        assert back["start"] == 0 and len(back["messages"]) == 3
        big = (await http.get(f"{base}/Messages.json", params={"PageSize": 5000})).json()
        assert big["page_size"] == 1000
        response = await http.get(f"{base}/Messages.json", params={"PageToken": "PAnope"})
        assert response.status_code == 400 and response.json()["code"] == 20001
        # Rate limiting: 429 20429, Retry-After only when asked for.
        twilio.rate_limit_next(1)
        response = await http.get(f"{base}/Messages.json")
        assert response.status_code == 429 and "retry-after" not in response.headers
        assert response.json()["code"] == 20429
        # Other accounts' resources are refused; unknown methods are 405.
        other = twilio.add_account()
        response = await http.get(f"{twilio_url}/2010-04-01/Accounts/{other.sid}/Messages.json")
        assert response.status_code == 401
        response = await http.put(f"{base}/Messages.json")
        assert response.status_code == 405 and response.json()["code"] == 20004


def test_num_segments() -> None:
    assert num_segments("") == 1
    assert num_segments("a" * 160) == 1
    assert num_segments("a" * 161) == 2
    assert num_segments("a" * 306) == 2
    assert num_segments("a" * 307) == 3
    assert num_segments("€" * 80) == 1  # extension characters count twice
    assert num_segments("€" * 81) == 2
    assert num_segments("é" * 160) == 1  # in the GSM alphabet
    assert num_segments("ł" * 70) == 1  # UCS-2
    assert num_segments("ł" * 71) == 2
