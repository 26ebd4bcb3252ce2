"""The one policy of headers to hide (patchbay.connectors.sdk.headers), and the places that
apply it: error outputs and the generic webhook trigger's events."""

from __future__ import annotations

import httpx
import pytest

from patchbay.connectors.sdk import ConnectorError, IncomingRequest
from patchbay.connectors.sdk.headers import is_secret_header, visible_headers
from patchbay.connectors.webhook_trigger.trigger import WEBHOOK


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "Set-Cookie",
        "X-Hub-Signature-256",
        "Stripe-Signature",
        "X-Twilio-Signature",
        "X-API-Key",
        "X-Auth-Token",
        "X-Session-Id",
        "X-Webhook-Secret",
        "X-Password",
    ],
)
def test_secret_headers_are_hidden(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize(
    "name",
    [
        "Content-Type",
        "Retry-After",
        "WWW-Authenticate",
        "X-Request-Id",
        "Keep-Alive",
        "Idempotency-Key",
    ],
)
def test_other_headers_are_shown(name: str) -> None:
    assert not is_secret_header(name)


def test_visible_headers_lower_cases_and_hides() -> None:
    shown = visible_headers(
        httpx.Headers({"Content-Type": "text/plain", "X-Api-Key": "k", "Set-Cookie": "s=1"})
    )
    assert shown == {"content-type": "text/plain"}
    assert visible_headers([("X-Auth-Token", "t"), ("X-Id", "1")]) == {"x-id": "1"}
    assert visible_headers(None) == {}


def test_an_error_output_hides_the_secret_response_headers() -> None:
    err = ConnectorError(
        "no",
        "auth_error",
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="x"', "X-Auth-Token": "t0k3n"},
    )
    assert err.to_output()["response"]["headers"] == {"www-authenticate": 'Bearer realm="x"'}


async def test_the_webhook_event_hides_what_the_policy_hides() -> None:
    """Before the one policy, the webhook trigger copied X-API-Key and Set-Cookie along."""
    request = IncomingRequest.build(
        "POST",
        "/intake/wh1",
        headers={"X-API-Key": "k3y", "Set-Cookie": "s=1", "X-Custom": "kept"},
        body=b"x",
    )
    [event] = await WEBHOOK.receive(request, WEBHOOK.parse_settings({}), {})
    assert event.data["headers"] == {"x-custom": "kept"}
