"""The Twilio trigger through its declared hooks: Twilio's documented signature vector, signed
form requests (valid, invalid, missing, port variants, GET), incoming messages with media,
status filtering, replies, dedupe keys, and on_subscribe/on_unsubscribe against the loopback
Twilio fake (the number's SmsUrl really changed and put back)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

import jsonschema
import pytest

from patchbay.connectors.registry import Registry, builtin_triggers
from patchbay.connectors.sdk import (
    ConnectorError,
    Event,
    IncomingRequest,
    NoTrigger,
    TriggerRejected,
)
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import hook_context
from patchbay.connectors.twilio.connector import TRIGGERS
from patchbay.connectors.twilio.fake import FakeTwilio, create_app
from patchbay.connectors.twilio.trigger import (
    INCOMING_MESSAGE,
    MESSAGE_STATUS,
    MESSAGE_STATUSES,
    signature,
    url_variants,
)
from patchbay.testing.fakeserver import serve_in_thread

TOKEN = FakeTwilio.auth_token
ACCOUNT = FakeTwilio.account_sid
URL = "https://hooks.patchbay.example/intake/sub_123?k=v"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

SMS = {
    "ToCountry": "US",
    "ToState": "CA",
    "SmsMessageSid": "SM" + "1" * 32,
    "NumMedia": "0",
    "ToCity": "SAN FRANCISCO",
    "FromZip": "94105",
    "SmsSid": "SM" + "1" * 32,
    "FromState": "CA",
    "SmsStatus": "received",
    "FromCity": "SAN FRANCISCO",
    "Body": "Hello & goodbye = 100% ünïcode +1",
    "FromCountry": "US",
    "To": "+15005550006",
    "MessagingServiceSid": "MG" + "f" * 32,
    "ToZip": "94107",
    "NumSegments": "1",
    "MessageSid": "SM" + "1" * 32,
    "AccountSid": ACCOUNT,
    "From": "+14155551234",
    "ApiVersion": "2010-04-01",
}

STATUS = {
    "SmsSid": "SM" + "2" * 32,
    "SmsStatus": "delivered",
    "MessageStatus": "delivered",
    "To": "+14155551234",
    "MessageSid": "SM" + "2" * 32,
    "AccountSid": ACCOUNT,
    "From": "+15005550006",
    "ApiVersion": "2010-04-01",
}


def sign(url: str, params: dict | list, token: str = TOKEN) -> str:
    """Twilio's algorithm, spelled out independently of the trigger's helper."""
    pairs = sorted(params.items() if isinstance(params, dict) else params)
    data = url + "".join(k + v for k, v in pairs)
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def form_request(
    params: dict | list,
    *,
    url: str = URL,
    token: str | None = TOKEN,
    signed_url: str | None = None,
    **headers: str,
) -> IncomingRequest:
    """A form POST as Twilio sends it, signed with ``token`` over ``signed_url`` (or ``url``)."""
    body = urlencode(params)
    sent = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1"}
    if token is not None:
        sent["X-Twilio-Signature"] = sign(signed_url or url, params, token)
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    path = url.split("?")[0].split("/", 3)[-1]
    return IncomingRequest.build("POST", "/" + path, headers=sent, body=body, url=url)


def incoming(**data):
    return INCOMING_MESSAGE.parse_settings(data)


def statuses(**data):
    return MESSAGE_STATUS.parse_settings(data)


async def receive_incoming(req: IncomingRequest, state: dict | None = None, **data):
    return await INCOMING_MESSAGE.receive(req, incoming(**data), state or {"auth_token": TOKEN})


async def receive_status(req: IncomingRequest, state: dict | None = None, **data):
    return await MESSAGE_STATUS.receive(req, statuses(**data), state or {"auth_token": TOKEN})


# -- the declaration ------------------------------------------------------------------------


def test_declared_as_twilio_trigger():
    [trigger] = [t for t in builtin_triggers() if t.service.name == "twilio"]
    assert trigger is TRIGGERS[0]
    assert (trigger.name, trigger.version) == ("twilio-trigger", "1.0")
    assert Registry.discover().trigger("twilio-trigger", "1.0") is trigger
    assert trigger.operation("incoming_message") is INCOMING_MESSAGE
    assert trigger.operation("message_status") is MESSAGE_STATUS
    assert trigger.requires_auth
    for op in (INCOMING_MESSAGE, MESSAGE_STATUS):
        assert not op.is_polling
        token = op.input_schema["properties"]["auth_token"]
        assert token["format"] == "password"
        assert op.input_schema.get("required", []) == []
        assert op.validator.errors({}) == []
        jsonschema.Draft4Validator.check_schema(op.output_schema)
    assert INCOMING_MESSAGE.validator.errors({"phone_number_sid": "+14155550100"})
    kept = MESSAGE_STATUS.input_schema["properties"]["statuses"]
    assert kept["items"]["enum"] == list(MESSAGE_STATUSES)
    assert MESSAGE_STATUS.validator.errors({"statuses": ["delivered", "failed"]}) == []
    assert MESSAGE_STATUS.validator.errors({"statuses": ["nope"]})
    assert MESSAGE_STATUS.validator.errors({"statuses": []})
    props = INCOMING_MESSAGE.output_schema["properties"]
    for name in ("MessageSid", "AccountSid", "MessagingServiceSid", "From", "To", "Body"):
        assert name in props
    for name in ("NumMedia", "MediaUrl0", "MediaContentType0", "MediaUrl9", "FromCity", "media"):
        assert name in props
    props = MESSAGE_STATUS.output_schema["properties"]
    for name in ("MessageSid", "MessageStatus", "ErrorCode", "To", "From", "AccountSid"):
        assert name in props


# -- the signature --------------------------------------------------------------------------


def test_twilios_documented_signature_vector():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signature("12345", url, params.items()) == expected
    assert signature("12345", url, reversed(list(params.items()))) == expected  # any order
    assert sign(url, params, "12345") == expected
    assert signature("12346", url, params.items()) != expected


async def test_the_documented_vector_through_on_request():
    """The vector's request (a voice call's parameters) passes verification; it is not a
    message, so it is refused as malformed, not as forged."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    req = IncomingRequest.build(
        "POST",
        "/myapp.php",
        query="foo=1&bar=2",
        headers={"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
        body=urlencode(params),
        url=url,
    )
    with pytest.raises(TriggerRejected) as caught:
        await receive_incoming(req, {"auth_token": "12345"})
    assert caught.value.status == 400 and "MessageSid" in caught.value.message
    with pytest.raises(TriggerRejected) as caught:
        await receive_incoming(req, {"auth_token": "54321"})
    assert caught.value.status == 401


def test_url_variants():
    assert url_variants("https://a.example/x?y=1") == [
        "https://a.example/x?y=1",
        "https://a.example:443/x?y=1",
    ]
    assert url_variants("https://a.example:8443/x") == [
        "https://a.example:8443/x",
        "https://a.example/x",
    ]
    assert url_variants("http://a.example/x") == ["http://a.example/x", "http://a.example:80/x"]


# -- incoming_message -----------------------------------------------------------------------


async def test_a_signed_sms_is_one_event():
    req = form_request(SMS)
    [event] = await receive_incoming(req)
    assert isinstance(event, Event)
    assert event.data == SMS  # every parameter kept, as sent
    assert event.data["Body"] == "Hello & goodbye = 100% ünïcode +1"
    assert event.id == SMS["MessageSid"]
    assert INCOMING_MESSAGE.key_for(event) == SMS["MessageSid"]
    assert INCOMING_MESSAGE.shape(event.data) == SMS
    reply = INCOMING_MESSAGE.answer(req, incoming(), {"auth_token": TOKEN}, [event])
    assert reply.status == 200
    assert dict(reply.headers) == {"Content-Type": "text/xml"}
    assert reply.body == TWIML


async def test_mms_media_fields_and_unknown_params_are_kept():
    params = {
        **SMS,
        "MessageSid": "MM" + "3" * 32,
        "NumMedia": "2",
        "MediaUrl0": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM/Media/ME1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM/Media/ME2",
        "MediaContentType1": "video/mp4",
        "SomethingNew": "kept",
    }
    [event] = await receive_incoming(form_request(params))
    assert event.data["media"] == [
        {"url": params["MediaUrl0"], "content_type": "image/jpeg"},
        {"url": params["MediaUrl1"], "content_type": "video/mp4"},
    ]
    shaped = INCOMING_MESSAGE.shape(event.data)
    assert shaped["MediaUrl1"] == params["MediaUrl1"]
    assert shaped["MediaContentType0"] == "image/jpeg"
    assert shaped["SomethingNew"] == "kept"
    assert shaped["media"][1]["content_type"] == "video/mp4"
    assert event.id == "MM" + "3" * 32
    jsonschema.Draft4Validator(INCOMING_MESSAGE.output_schema).validate(shaped)


async def test_a_whatsapp_message():
    params = {
        "MessageSid": "SM" + "4" * 32,
        "AccountSid": ACCOUNT,
        "From": "whatsapp:+14155551234",
        "To": "whatsapp:+14155238886",
        "Body": "hi",
        "NumMedia": "0",
        "ProfileName": "Ada",
        "WaId": "14155551234",
        "ApiVersion": "2010-04-01",
    }
    [event] = await receive_incoming(form_request(params))
    assert INCOMING_MESSAGE.shape(event.data) == params


async def test_a_bad_signature_is_401():
    for req in (
        form_request(SMS, token="another token"),
        form_request(SMS, signed_url=URL.replace("sub_123", "sub_999")),  # another URL
        form_request(SMS, signed_url=URL.replace("https:", "http:")),
        form_request(SMS, X_Twilio_Signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ):
        with pytest.raises(TriggerRejected) as caught:
            await receive_incoming(req)
        assert caught.value.status == 401
        assert "does not match" in caught.value.message
    # a parameter changed after signing
    good = form_request(SMS)
    tampered = IncomingRequest.build(
        "POST", good.path, headers=dict(good.headers), body=good.body.replace(b"Hello", b"Jello")
    )
    tampered = IncomingRequest(**{**tampered.__dict__, "url": URL})
    with pytest.raises(TriggerRejected) as caught:
        await receive_incoming(tampered)
    assert caught.value.status == 401
    # a parameter added after signing
    extra = form_request(SMS)
    added = IncomingRequest(**{**extra.__dict__, "body": extra.body + b"&Body2=x"})
    with pytest.raises(TriggerRejected):
        await receive_incoming(added)


async def test_a_missing_signature_is_401():
    for receive, params in ((receive_incoming, SMS), (receive_status, STATUS)):
        with pytest.raises(TriggerRejected) as caught:
            await receive(form_request(params, token=None))
        assert caught.value.status == 401
        assert "missing" in caught.value.message
        with pytest.raises(TriggerRejected) as caught:
            await receive(form_request(params, token=None, X_Twilio_Signature=""))
        assert caught.value.status == 401


async def test_without_an_auth_token_every_request_is_refused():
    with pytest.raises(TriggerRejected) as caught:
        await INCOMING_MESSAGE.receive(form_request(SMS), incoming(), {})
    assert caught.value.status == 401
    # the setting is used when the state has none
    [event] = await INCOMING_MESSAGE.receive(form_request(SMS), incoming(auth_token=TOKEN), {})
    assert event.id == SMS["MessageSid"]


async def test_port_variants_are_accepted():
    with_port = "https://hooks.patchbay.example:443/intake/sub_123?k=v"
    # Twilio signed the URL without the port it called
    [event] = await receive_incoming(form_request(SMS, url=with_port, signed_url=URL))
    assert event.id == SMS["MessageSid"]
    # ... or with the default port the intake URL leaves out
    [event] = await receive_incoming(form_request(SMS, url=URL, signed_url=with_port))
    assert event.id == SMS["MessageSid"]
    # another port is another URL
    with pytest.raises(TriggerRejected):
        await receive_incoming(
            form_request(SMS, url=URL, signed_url=with_port.replace(":443", ":8443"))
        )


async def test_a_get_webhook_signs_the_url_only():
    query = urlencode(SMS)
    url = f"https://hooks.patchbay.example/intake/sub_123?{query}"
    req = IncomingRequest.build(
        "GET",
        "/intake/sub_123",
        query=query,
        headers={"X-Twilio-Signature": sign(url, {})},
        url=url,
    )
    [event] = await receive_incoming(req)
    assert event.data == SMS
    forged = IncomingRequest(
        **{**req.__dict__, "headers": (("X-Twilio-Signature", sign(url, SMS)),)}
    )
    with pytest.raises(TriggerRejected):
        await receive_incoming(forged)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps(SMS).encode()),
        ("application/x-www-form-urlencoded", b"Body=%FF%FE&MessageSid=SM1"),
        ("application/x-www-form-urlencoded", b"\xff\xfe=1"),
    ],
)
async def test_a_body_that_is_not_form_data_is_400(content_type, body):
    req = IncomingRequest.build(
        "POST",
        "/intake/sub_123",
        headers={"Content-Type": content_type, "X-Twilio-Signature": sign(URL, {})},
        body=body,
        url=URL,
    )
    with pytest.raises(TriggerRejected) as caught:
        await receive_incoming(req)
    assert caught.value.status == 400


async def test_a_signed_request_without_a_message_sid_is_400():
    params = {k: v for k, v in SMS.items() if "Sid" not in k or k == "AccountSid"}
    with pytest.raises(TriggerRejected) as caught:
        await receive_incoming(form_request(params))
    assert caught.value.status == 400
    # SmsSid alone (old senders) names the message
    [event] = await receive_incoming(form_request({**params, "SmsSid": "SM" + "5" * 32}))
    assert event.data["MessageSid"] == event.id == "SM" + "5" * 32


async def test_the_content_type_may_carry_a_charset():
    req = form_request(SMS, Content_Type="application/x-www-form-urlencoded; charset=UTF-8")
    assert len(await receive_incoming(req)) == 1


# -- message_status -------------------------------------------------------------------------


async def test_a_status_callback_is_one_event():
    req = form_request(STATUS)
    [event] = await receive_status(req)
    assert event.data == STATUS
    assert MESSAGE_STATUS.shape(event.data) == STATUS
    key = MESSAGE_STATUS.key_for(event)
    assert key == f"{STATUS['MessageSid']}:delivered"
    reply = MESSAGE_STATUS.answer(req, statuses(), {"auth_token": TOKEN}, [event])
    assert reply.status == 204 and reply.body == b"" and reply.headers == ()


async def test_each_status_of_a_message_has_its_own_dedupe_key():
    keys = []
    for status in ("queued", "sent", "delivered", "delivered"):
        params = {**STATUS, "MessageStatus": status, "SmsStatus": status}
        [event] = await receive_status(form_request(params))
        keys.append(MESSAGE_STATUS.key_for(event))
    sid = STATUS["MessageSid"]
    assert keys == [f"{sid}:queued", f"{sid}:sent", f"{sid}:delivered", f"{sid}:delivered"]


async def test_statuses_are_filtered_and_still_acknowledged():
    kept = ["failed", "undelivered"]
    for status in ("queued", "sending", "sent", "delivered", "read", "failed", "undelivered"):
        params = {**STATUS, "MessageStatus": status, "SmsStatus": status}
        if status in kept:
            params["ErrorCode"] = "30003"
        req = form_request(params)
        result = await receive_status(req, statuses=kept)
        if status in kept:
            [event] = result
            assert event.data["MessageStatus"] == status
            assert event.data["ErrorCode"] == "30003"
        else:
            assert isinstance(result, NoTrigger), status
            assert status in result.reason
            reply = MESSAGE_STATUS.answer(req, statuses(statuses=kept), {}, result)
            assert 200 <= reply.status < 300
    # without a filter every status is kept, one Twilio adds later too
    [event] = await receive_status(form_request({**STATUS, "MessageStatus": "brand_new"}))
    assert event.data["MessageStatus"] == "brand_new"
    result = await receive_status(
        form_request({**STATUS, "MessageStatus": "brand_new"}), statuses=kept
    )
    assert isinstance(result, NoTrigger)


async def test_a_forged_status_callback_is_refused_before_filtering():
    with pytest.raises(TriggerRejected) as caught:
        await receive_status(form_request(STATUS, token="wrong"), statuses=["failed"])
    assert caught.value.status == 401


async def test_a_status_callback_without_a_status_is_400():
    params = {k: v for k, v in STATUS.items() if not k.endswith("Status")}
    with pytest.raises(TriggerRejected) as caught:
        await receive_status(form_request(params))
    assert caught.value.status == 400


async def test_a_stored_request_is_verified_again():
    req = form_request(SMS)
    again = IncomingRequest.from_record(json.loads(json.dumps(req.to_record())))
    assert again == req
    assert (await receive_incoming(again))[0].data == SMS


# -- on_subscribe / on_unsubscribe against the fake -----------------------------------------

INTAKE = "https://hooks.patchbay.example/intake/sub_abc"


@pytest.fixture
def twilio() -> FakeTwilio:
    return FakeTwilio()


@pytest.fixture
def twilio_url(twilio: FakeTwilio):
    with serve_in_thread(create_app(twilio)) as url:
        yield url


def context(operation, clients, twilio_url, credentials, intake_url=INTAKE):
    return hook_context(
        TRIGGERS[0],
        operation,
        clients=clients,
        credentials=credentials,
        user_data={"base_url": twilio_url + "/2010-04-01"},
        intake_url=intake_url,
    )


async def test_subscribing_points_the_numbers_sms_url_here_and_unsubscribing_restores_it(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    number = twilio.phone_number("+14155550100")
    number.update(sms_url="https://old.example/sms", sms_method="GET")
    settings = incoming(phone_number_sid=number["sid"])
    ctx = context(INCOMING_MESSAGE, clients, twilio_url, twilio.credentials())
    state = await INCOMING_MESSAGE.subscribe(ctx, settings)
    assert state == {
        "auth_token": TOKEN,
        "phone_number_sid": number["sid"],
        "sms_url": INTAKE,
        "previous_sms_url": "https://old.example/sms",
        "previous_sms_method": "GET",
    }
    assert (number["sms_url"], number["sms_method"]) == (INTAKE, "POST")
    [update] = twilio.requests_to(f"/IncomingPhoneNumbers/{number['sid']}.json", "POST")
    assert update.form_dict() == {"SmsUrl": INTAKE, "SmsMethod": "POST"}
    assert update.content_type == "application/x-www-form-urlencoded"
    assert update.username == ACCOUNT
    assert twilio.phone_number("+15005550006")["sms_url"] == ""  # other numbers untouched

    # the stored state verifies what Twilio then sends
    req = form_request({**SMS, "To": "+14155550100"}, url=INTAKE)
    [event] = await INCOMING_MESSAGE.receive(req, settings, json.loads(json.dumps(state)))
    assert event.data["To"] == "+14155550100"

    await INCOMING_MESSAGE.unsubscribe(ctx, settings, state)
    assert (number["sms_url"], number["sms_method"]) == ("https://old.example/sms", "GET")


async def test_unsubscribing_leaves_a_url_changed_since_alone(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    number = twilio.phone_number("+15005550006")
    settings = incoming(phone_number_sid=number["sid"])
    ctx = context(INCOMING_MESSAGE, clients, twilio_url, twilio.credentials())
    state = await INCOMING_MESSAGE.subscribe(ctx, settings)
    assert state["previous_sms_url"] == "" and number["sms_url"] == INTAKE
    number["sms_url"] = "https://someone-else.example/sms"
    await INCOMING_MESSAGE.unsubscribe(ctx, settings, state)
    assert number["sms_url"] == "https://someone-else.example/sms"
    assert not twilio.requests_to(f"/IncomingPhoneNumbers/{number['sid']}.json", "POST")[1:]
    # a number released since: nothing to restore, no error
    twilio.accounts[ACCOUNT].phone_numbers.remove(number)
    await INCOMING_MESSAGE.unsubscribe(ctx, settings, state)


async def test_an_empty_previous_sms_url_is_restored_empty(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    number = twilio.phone_number("+15005550006")
    settings = incoming(phone_number_sid=number["sid"])
    ctx = context(INCOMING_MESSAGE, clients, twilio_url, twilio.credentials())
    state = await INCOMING_MESSAGE.subscribe(ctx, settings)
    await INCOMING_MESSAGE.unsubscribe(ctx, settings, state)
    assert (number["sms_url"], number["sms_method"]) == ("", "POST")


async def test_without_a_number_nothing_is_registered(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    for op, settings in ((INCOMING_MESSAGE, incoming()), (MESSAGE_STATUS, statuses())):
        ctx = context(op, clients, twilio_url, twilio.credentials())
        state = await op.subscribe(ctx, settings)
        assert state == {"auth_token": TOKEN}
        await op.unsubscribe(ctx, settings, state)
    assert not twilio.requests


async def test_an_api_key_needs_the_auth_token_setting(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    credentials = twilio.credentials(api_key=True)
    for op, parse in ((INCOMING_MESSAGE, incoming), (MESSAGE_STATUS, statuses)):
        ctx = context(op, clients, twilio_url, credentials)
        with pytest.raises(ConnectorError) as caught:
            await op.subscribe(ctx, parse())
        assert "auth_token" in caught.value.message and "API key" in caught.value.message
        state = await op.subscribe(ctx, parse(auth_token=TOKEN))
        assert state == {"auth_token": TOKEN}
    # and the number is updated with the API key
    number = twilio.phone_number("+14155550100")
    ctx = context(INCOMING_MESSAGE, clients, twilio_url, credentials)
    settings = incoming(phone_number_sid=number["sid"], auth_token=TOKEN)
    state = await INCOMING_MESSAGE.subscribe(ctx, settings)
    assert number["sms_url"] == INTAKE and state["auth_token"] == TOKEN
    assert twilio.requests[-1].username == FakeTwilio.api_key_sid


async def test_the_auth_token_setting_overrides_the_authentications(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    ctx = context(MESSAGE_STATUS, clients, twilio_url, twilio.credentials())
    state = await MESSAGE_STATUS.subscribe(ctx, statuses(auth_token="f" * 32))
    assert state == {"auth_token": "f" * 32}


async def test_an_unknown_number_fails_the_subscription(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    ctx = context(INCOMING_MESSAGE, clients, twilio_url, twilio.credentials())
    with pytest.raises(ConnectorError) as caught:
        await INCOMING_MESSAGE.subscribe(ctx, incoming(phone_number_sid="PN" + "0" * 32))
    assert caught.value.code == 20404 and caught.value.kind == "api_error"
    assert "Twilio error 20404" in caught.value.message


async def test_a_number_needs_an_intake_url(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    number = twilio.phone_number("+14155550100")
    ctx = context(INCOMING_MESSAGE, clients, twilio_url, twilio.credentials(), intake_url=None)
    with pytest.raises(ConnectorError):
        await INCOMING_MESSAGE.subscribe(ctx, incoming(phone_number_sid=number["sid"]))
    assert number["sms_url"] == ""


async def test_the_fakes_phone_number_update_follows_twilio(
    twilio: FakeTwilio, twilio_url: str, clients: HttpClientPool
):
    number = twilio.phone_number("+14155550100")
    ctx = context(INCOMING_MESSAGE, clients, twilio_url, twilio.credentials())
    path = f"Accounts/{ACCOUNT}/IncomingPhoneNumbers/{number['sid']}.json"
    for form, code in (({"SmsUrl": "not a url"}, 21402), ({"SmsMethod": "PUT"}, 21403)):
        with pytest.raises(ConnectorError) as caught:
            await ctx.request("POST", path, data=form)
        assert caught.value.code == code and caught.value.status_code == 400
    body = (await ctx.request("POST", path, data={"SmsMethod": "get", "Other": "x"})).json()
    assert body["sms_method"] == "GET" and body["sid"] == number["sid"]
    assert (await ctx.request("GET", path)).json() == number
