"""The generic webhook trigger through its declared hooks: every verification mode with real
HMACs (GitHub's and Slack's documented vectors among them), algorithms, encodings, prefixes,
timestamps, body parsing, query and header handling, the dedupe key and the reply."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from pydantic import ValidationError

from patchbay.connectors.registry import Registry, builtin_triggers
from patchbay.connectors.sdk import DEFAULT_REPLY, IncomingRequest, TriggerRejected
from patchbay.connectors.webhook_trigger.trigger import WEBHOOK

SECRET = "whsec-test-0123456789"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))


def settings(**data):
    assert WEBHOOK.validator.errors(data) == [], data
    return WEBHOOK.parse_settings(data)


def request(
    body: bytes | str | dict = b"",
    *,
    headers: dict | None = None,
    query: str | None = None,
    method: str = "POST",
    received_at: datetime = NOW,
) -> IncomingRequest:
    sent = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
        sent.setdefault("Content-Type", "application/json")
    return IncomingRequest.build(
        method, "/intake/wh1", query=query, headers=sent, body=body, received_at=received_at
    )


def sign(payload: bytes, *, secret: str = SECRET, algorithm: str = "sha256", enc: str = "hex"):
    digest = hmac.new(secret.encode(), payload, getattr(hashlib, algorithm)).digest()
    return digest.hex() if enc == "hex" else base64.b64encode(digest).decode()


async def receive(req: IncomingRequest, **data):
    result = await WEBHOOK.receive(req, settings(**data), {})
    assert isinstance(result, list) and len(result) == 1
    [event] = result
    # what subscribers receive is the event shaped by the published output model
    assert WEBHOOK.shape(event.data) == event.data
    jsonschema.Draft4Validator(WEBHOOK.output_schema).validate(event.data)
    return event


async def rejected(req: IncomingRequest, **data) -> TriggerRejected:
    with pytest.raises(TriggerRejected) as caught:
        await WEBHOOK.receive(req, settings(**data), {})
    return caught.value


# -- declaration ------------------------------------------------------------------------


def test_declared_as_a_webhook_trigger():
    [trigger] = [t for t in builtin_triggers() if t.service.name == "webhook"]
    assert (trigger.name, trigger.version) == ("webhook-trigger", "1.0")
    assert Registry.discover().trigger("webhook-trigger", "1.0") is trigger
    assert trigger.operation("webhook") is WEBHOOK
    assert not trigger.requires_auth and trigger.environments == []
    assert not WEBHOOK.is_polling
    props = WEBHOOK.input_schema["properties"]
    assert props["secret"]["format"] == "password"
    assert props["verification"]["enum"] == ["none", "hmac", "shared_secret"]
    assert props["verification"]["default"] == "none"
    assert props["algorithm"]["default"] == "sha256"
    assert props["encoding"]["enum"] == ["hex", "base64"]
    assert props["signature_header"]["default"] == "X-Signature"
    assert props["signed_payload"]["default"] == "{timestamp}.{body}"
    assert props["tolerance_seconds"]["default"] == 300
    assert not WEBHOOK.input_schema.get("required")
    jsonschema.Draft4Validator.check_schema(WEBHOOK.input_schema)
    jsonschema.Draft4Validator.check_schema(WEBHOOK.output_schema)
    assert set(WEBHOOK.output_schema["properties"]) == {
        "method",
        "path",
        "query",
        "headers",
        "body",
        "receivedAt",
    }


def test_settings_are_checked():
    assert WEBHOOK.validator.errors({"verification": "basic"})
    assert WEBHOOK.validator.errors({"algorithm": "md5"})
    assert WEBHOOK.validator.errors({"response_status": 500})
    assert WEBHOOK.validator.errors({"nope": 1})
    with pytest.raises(ValidationError, match="needs a secret"):
        WEBHOOK.parse_settings({"verification": "hmac"})
    with pytest.raises(ValidationError, match="needs a secret"):
        WEBHOOK.parse_settings({"verification": "shared_secret"})
    with pytest.raises(ValidationError, match=r"\{body\}"):
        WEBHOOK.parse_settings({"signed_payload": "{timestamp}"})


# -- no verification --------------------------------------------------------------------


async def test_no_verification_accepts_anything():
    event = await receive(request({"a": 1}, headers={"X-Signature": "junk"}))
    assert event.data["body"] == {"a": 1}
    assert event.id is None and WEBHOOK.key_for(event) is None  # no id header: no dedupe
    assert event.occurred_at == NOW


# -- HMAC -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("enc", ["hex", "base64"])
async def test_hmac_every_algorithm_and_encoding(algorithm, enc):
    body = b'{"order": 42}'
    opts = {"verification": "hmac", "secret": SECRET, "algorithm": algorithm, "encoding": enc}
    good = sign(body, algorithm=algorithm, enc=enc)
    event = await receive(
        request(body, headers={"Content-Type": "application/json", "X-Signature": good}),
        **opts,
    )
    assert event.data["body"] == {"order": 42}
    assert "x-signature" not in event.data["headers"]
    # the same body under another key, another algorithm, or tampered with
    bad = sign(body, secret="other", algorithm=algorithm, enc=enc)
    other = "sha1" if algorithm != "sha1" else "sha256"
    for signature, payload in (
        (bad, body),
        (sign(body, algorithm=other, enc=enc), body),
        (good, b'{"order": 43}'),
    ):
        err = await rejected(request(payload, headers={"X-Signature": signature}), **opts)
        assert err.status == 401 and "X-Signature" in err.message
    err = await rejected(request(body), **opts)
    assert err.status == 401 and "missing" in err.message


async def test_hex_signatures_in_either_case_and_garbage():
    body = b"hello"
    opts = {"verification": "hmac", "secret": SECRET}
    await receive(request(body, headers={"X-Signature": sign(body).upper()}), **opts)
    for junk in ("zz", "not-hex!", "", "   "):
        err = await rejected(request(body, headers={"X-Signature": junk}), **opts)
        assert err.status == 401
    b64 = {**opts, "encoding": "base64"}
    err = await rejected(request(body, headers={"X-Signature": "***"}), **b64)
    assert err.status == 401


async def test_github_documented_vector_with_prefix_and_custom_header():
    # docs.github.com "Validating webhook deliveries": test values
    body = b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    opts = {
        "verification": "hmac",
        "secret": "It's a Secret to Everybody",
        "signature_header": "X-Hub-Signature-256",
        "signature_prefix": "sha256=",
        "id_header": "X-GitHub-Delivery",
    }
    headers = {
        "X-Hub-Signature-256": expected,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "ping",
        "Content-Type": "text/plain",
    }
    event = await receive(request(body, headers=headers), **opts)
    assert event.data["body"] == "Hello, World!"
    assert event.id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert WEBHOOK.key_for(event) == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert event.data["headers"]["x-github-event"] == "ping"
    assert "x-hub-signature-256" not in event.data["headers"]
    # without the prefix, or with another one, it does not match
    for sent in (expected.removeprefix("sha256="), "sha1=" + expected[7:]):
        err = await rejected(
            request(body, headers={**headers, "X-Hub-Signature-256": sent}), **opts
        )
        assert err.status == 401


async def test_several_signatures_any_may_match():
    body = b'{"rotating": true}'
    opts = {"verification": "hmac", "secret": SECRET, "signature_prefix": "v1="}
    old, new = "v1=" + sign(body, secret="old-secret"), "v1=" + sign(body)
    for header in (f"{old},{new}", f"{new} {old}", f"{old}, {new}"):
        await receive(request(body, headers={"X-Signature": header}), **opts)
    err = await rejected(request(body, headers={"X-Signature": f"{old},{old}"}), **opts)
    assert err.status == 401


async def test_hmac_is_checked_before_the_body_is_parsed():
    body = b"{not json"
    headers = {"Content-Type": "application/json", "X-Signature": sign(body, secret="x")}
    err = await rejected(request(body, headers=headers), verification="hmac", secret=SECRET)
    assert err.status == 401
    headers["X-Signature"] = sign(body)
    err = await rejected(request(body, headers=headers), verification="hmac", secret=SECRET)
    assert err.status == 400


# -- timestamps -------------------------------------------------------------------------


def stamped(body: bytes, ts: str, *, template="{ts}.{body}", secret=SECRET, received_at=NOW):
    payload = template.replace("{ts}", ts).encode().replace(b"{body}", body)
    headers = {"X-Signature": sign(payload, secret=secret), "X-Timestamp": ts}
    return request(body, headers=headers, received_at=received_at)


TIMED = {"verification": "hmac", "secret": SECRET, "timestamp_header": "X-Timestamp"}


async def test_timestamp_signs_timestamp_dot_body_by_default():
    body = b'{"id": "evt_1"}'
    event = await receive(stamped(body, TS), **TIMED)
    assert event.data["headers"]["x-timestamp"] == TS  # not a secret: kept
    # a signature over the body alone is not enough once a timestamp is used
    plain = request(body, headers={"X-Signature": sign(body), "X-Timestamp": TS})
    assert (await rejected(plain, **TIMED)).status == 401
    # the timestamp is covered: changing it breaks the signature
    moved = stamped(body, TS)
    moved = request(body, headers={**dict(moved.headers), "X-Timestamp": str(int(TS) - 1)})
    assert (await rejected(moved, **TIMED)).status == 401


@pytest.mark.parametrize("offset", [0, 299, -299, 300, -300])
async def test_timestamp_within_tolerance(offset):
    ts = str(int(TS) + offset)
    await receive(stamped(b"{}", ts), **TIMED)


@pytest.mark.parametrize("offset", [301, -301, 3600, -86400])
async def test_timestamp_outside_tolerance_is_a_replay(offset):
    ts = str(int(TS) + offset)
    err = await rejected(stamped(b"{}", ts), **TIMED)
    assert err.status == 401 and "300s" in err.message


async def test_custom_tolerance_and_bad_timestamps():
    ts = str(int(TS) - 50)
    assert (await rejected(stamped(b"{}", ts), **TIMED, tolerance_seconds=30)).status == 401
    await receive(stamped(b"{}", ts), **TIMED, tolerance_seconds=60)
    for bad in ("", "yesterday", "1.5e9", "-1", "nan", "１２３"):
        err = await rejected(stamped(b"{}", bad), **TIMED)
        assert err.status == 401, bad
    missing = request(b"{}", headers={"X-Signature": sign(b"{}")})
    err = await rejected(missing, **TIMED)
    assert err.status == 401 and "X-Timestamp" in err.message


async def test_slack_documented_vector():
    # api.slack.com "Verifying requests from Slack": the worked example
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    opts = {
        "verification": "hmac",
        "secret": "8f742231b10e8888abcd99yyyzzz85a5",
        "signature_header": "X-Slack-Signature",
        "signature_prefix": "v0=",
        "timestamp_header": "X-Slack-Request-Timestamp",
        "signed_payload": "v0:{timestamp}:{body}",
    }
    sent_at = datetime.fromtimestamp(1531420618, UTC)
    event = await receive(request(body, headers=headers, received_at=sent_at), **opts)
    assert event.data["body"]["command"] == "/webhook-collect"
    assert event.data["body"]["text"] == ""
    assert "x-slack-signature" not in event.data["headers"]
    late = request(body, headers=headers, received_at=sent_at + timedelta(minutes=6))
    assert (await rejected(late, **opts)).status == 401


# -- shared secret ----------------------------------------------------------------------


async def test_shared_secret_good_bad_missing():
    opts = {"verification": "shared_secret", "secret": SECRET, "signature_header": "X-Token"}
    event = await receive(request({"a": 1}, headers={"X-Token": SECRET}), **opts)
    assert "x-token" not in event.data["headers"]  # the secret itself is never copied
    for wrong in ("nope", SECRET + "x", SECRET[:-1], SECRET.upper()):
        err = await rejected(request({"a": 1}, headers={"X-Token": wrong}), **opts)
        assert err.status == 401 and "X-Token" in err.message
    err = await rejected(request({"a": 1}), **opts)
    assert err.status == 401 and "missing" in err.message


async def test_shared_secret_as_a_bearer_token():
    opts = {
        "verification": "shared_secret",
        "secret": SECRET,
        "signature_header": "Authorization",
        "signature_prefix": "Bearer ",
    }
    event = await receive(request(b"x", headers={"Authorization": f"Bearer {SECRET}"}), **opts)
    assert "authorization" not in event.data["headers"]
    for sent in (SECRET, f"Basic {SECRET}", "Bearer nope"):
        err = await rejected(request(b"x", headers={"Authorization": sent}), **opts)
        assert err.status == 401


# -- the event --------------------------------------------------------------------------


async def test_json_bodies():
    event = await receive(request({"list": [1, 2], "nested": {"k": None}}))
    assert event.data["body"] == {"list": [1, 2], "nested": {"k": None}}
    for media in ("application/json; charset=utf-8", "application/vnd.api+json"):
        event = await receive(request(b"[1, 2]", headers={"Content-Type": media}))
        assert event.data["body"] == [1, 2]
    event = await receive(request(b'"a string"', headers={"Content-Type": "application/json"}))
    assert event.data["body"] == "a string"


@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1', b"\xff\xfe", b"[1,]"])
async def test_malformed_json_is_400(body):
    err = await rejected(request(body, headers={"Content-Type": "application/json"}))
    assert err.status == 400


async def test_an_empty_body_is_null():
    for headers in ({}, {"Content-Type": "application/json"}):
        event = await receive(request(b"", headers=headers, method="GET"))
        assert event.data["body"] is None
        assert event.data["method"] == "GET"


async def test_form_bodies():
    form = b"name=Ada+Lovelace&tag=a&tag=b&empty=&tag=c&note=caf%C3%A9"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    event = await receive(request(form, headers=headers))
    assert event.data["body"] == {
        "name": "Ada Lovelace",
        "tag": ["a", "b", "c"],
        "empty": "",
        "note": "café",
    }


async def test_text_bodies():
    event = await receive(request("plain text ✓", headers={"Content-Type": "text/plain"}))
    assert event.data["body"] == "plain text ✓"
    event = await receive(request("<a>x</a>", headers={"Content-Type": "application/xml"}))
    assert event.data["body"] == "<a>x</a>"
    event = await receive(request(b"no content type"))
    assert event.data["body"] == "no content type"
    latin = request(
        "café".encode("latin-1"), headers={"Content-Type": "text/plain; charset=latin-1"}
    )
    assert (await receive(latin)).data["body"] == "café"
    bad = request(b"ok\xff", headers={"Content-Type": "text/plain"})
    assert (await receive(bad)).data["body"] == "ok\ufffd"


async def test_method_path_query_and_received_at():
    req = request(b"", query="a=1&b=x&b=y&b=z&c=&d=%20sp", method="put")
    event = await receive(req)
    assert event.data["method"] == "PUT"
    assert event.data["path"] == "/intake/wh1"
    assert event.data["query"] == {"a": "1", "b": ["x", "y", "z"], "c": "", "d": " sp"}
    assert event.data["receivedAt"] == "2024-05-01T12:00:00Z"


async def test_headers_are_lowercased_and_credentials_redacted():
    headers = [
        ("Content-Type", "text/plain"),
        ("X-Custom", "one"),
        ("x-custom", "two"),
        ("User-Agent", "curl/8"),
        ("Authorization", "Bearer secret-token"),
        ("Proxy-Authorization", "Basic abc"),
        ("Cookie", "session=1"),
        ("X-Signature", "abc"),
        ("Stripe-Signature", "t=1,v1=abc"),
        ("X-Hub-Signature", "sha1=abc"),
        ("X-My-Sig", "def"),
    ]
    req = IncomingRequest.build("POST", "/intake/wh1", headers=headers, body=b"x")
    event = await receive(req, signature_header="X-My-Sig")
    assert event.data["headers"] == {
        "content-type": "text/plain",
        "x-custom": "one, two",
        "user-agent": "curl/8",
    }
    assert "secret-token" not in json.dumps(event.data)


async def test_dedupe_key_from_the_id_header():
    opts = {"id_header": "X-Delivery-Id"}
    first = await receive(request({"n": 1}, headers={"x-delivery-id": "d-1"}), **opts)
    again = await receive(request({"n": 1}, headers={"X-Delivery-Id": " d-1 "}), **opts)
    other = await receive(request({"n": 1}, headers={"X-Delivery-Id": "d-2"}), **opts)
    assert WEBHOOK.key_for(first) == WEBHOOK.key_for(again) == "d-1"
    assert WEBHOOK.key_for(other) == "d-2"
    assert first.data["headers"]["x-delivery-id"] == "d-1"
    without = await receive(request({"n": 1}), **opts)
    assert WEBHOOK.key_for(without) is None


async def test_deterministic_over_the_stored_request():
    body = b'{"x": 1}'
    opts = {"verification": "hmac", "secret": SECRET, "id_header": "X-Id"}
    req = request(body, headers={"X-Signature": sign(body), "X-Id": "i1"}, query="q=1")
    stored = IncomingRequest.from_record(json.loads(json.dumps(req.to_record())))
    assert (await receive(req, **opts)) == (await receive(stored, **opts))


# -- the reply --------------------------------------------------------------------------


async def test_default_reply():
    req = request({"a": 1})
    result = await WEBHOOK.receive(req, settings(), {})
    assert WEBHOOK.answer(req, settings(), {}, result) == DEFAULT_REPLY


async def test_custom_replies():
    req = request({"a": 1})
    result = await WEBHOOK.receive(req, settings(), {})

    def answer(**data):
        return WEBHOOK.answer(req, settings(**data), {}, result)

    r = answer(response_status=202)
    assert (r.status, r.body) == (202, DEFAULT_REPLY.body)
    r = answer(response_status=201, response_body={"received": True, "n": [1]})
    assert r.status == 201 and json.loads(r.body) == {"received": True, "n": [1]}
    assert dict(r.headers)["Content-Type"] == "application/json"
    r = answer(response_body="thanks")
    assert (r.status, r.body) == (200, b"thanks")
    assert dict(r.headers)["Content-Type"].startswith("text/plain")
    r = answer(response_body=[1, 2])
    assert json.loads(r.body) == [1, 2]
    r = answer(response_status=204, response_body="ignored")
    assert (r.status, r.body, r.headers) == (204, b"", ())
