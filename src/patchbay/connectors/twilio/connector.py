"""The Twilio connector: send and read SMS/MMS/WhatsApp messages over Twilio's REST API."""

from __future__ import annotations

import base64
from typing import Any

from ..sdk import AuthEnvironment, Connector, Context, RetryPolicy, Service, Trigger
from ..sdk.models import base_url_property
from .operations import OPERATIONS, twilio_error
from .trigger import OPERATIONS as TRIGGER_OPERATIONS

SERVICE = Service(id="3c8f9a52-7d41-4b6e-9e0a-1f2b3c4d5e61", name="twilio", version=1)
BASE_URL = "https://api.twilio.com/2010-04-01"

ENVIRONMENT_ID = "3c8f9a52-7d41-4b6e-9e0a-1f2b3c4d5e71"

CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "account_sid": {
            "type": "string",
            "title": "Account SID",
            "description": "AC…: the account whose resources are used (also with an API key)",
            "pattern": "^AC[0-9a-fA-F]{32}$",
        },
        "auth_token": {
            "type": "string",
            "title": "Auth Token",
            "description": "The account's Auth Token (not needed with an API key)",
            "minLength": 1,
        },
        "api_key_sid": {
            "type": "string",
            "title": "API key SID",
            "description": "SK…: an API key, used instead of the Auth Token when given",
            "pattern": "^SK[0-9a-fA-F]{32}$",
        },
        "api_key_secret": {
            "type": "string",
            "title": "API key secret",
            "description": "The API key's secret",
            "minLength": 1,
        },
    },
    "required": ["account_sid"],
    # The Auth Token, or a whole API key (SID and secret).
    "anyOf": [{"required": ["auth_token"]}, {"required": ["api_key_sid", "api_key_secret"]}],
    "dependencies": {"api_key_sid": ["api_key_secret"], "api_key_secret": ["api_key_sid"]},
}

USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": base_url_property(
            "Overrides https://api.twilio.com/2010-04-01 (tests, gateways)"
        )
    },
}

ENVIRONMENTS = [
    AuthEnvironment(
        id=ENVIRONMENT_ID,
        title="Account SID and Auth Token",
        authentication_type="basic",
        credentials_schema=CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
    )
]


def authorize(ctx: Context) -> dict[str, str]:
    """HTTP Basic: ``api_key_sid:api_key_secret`` when an API key is given, else
    ``account_sid:auth_token``; nothing without a pair (Twilio then answers 20003)."""
    credentials = ctx.credentials or {}
    if credentials.get("api_key_sid") and credentials.get("api_key_secret"):
        user, password = credentials["api_key_sid"], credentials["api_key_secret"]
    elif credentials.get("account_sid") and credentials.get("auth_token"):
        user, password = credentials["account_sid"], credentials["auth_token"]
    else:
        return {}
    pair = f"{user}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


TWILIO = Connector(
    name="twilio",
    title="Twilio",
    version="1.0",
    description="Send SMS, MMS and WhatsApp messages with Twilio, and read the messages of "
    "an account.",
    service=SERVICE,
    operations=OPERATIONS,
    environments=ENVIRONMENTS,
    base_url=BASE_URL,
    authorize=authorize,
    error_mapper=twilio_error,  # every non-2xx answer, in Twilio's code and message
    # Twilio never processes a request it answers 429 (20429): even a POST is safe to retry.
    retry=RetryPolicy(retry_post_on=frozenset({429})),
)

CONNECTORS = [TWILIO]

TRIGGERS = [
    Trigger(
        name="twilio-trigger",
        title="Twilio",
        version="1.0",
        service=SERVICE,
        description="Receive the SMS, MMS and WhatsApp messages your Twilio numbers get, and "
        "the status callbacks of the messages you send.",
        operations=TRIGGER_OPERATIONS,
        environments=ENVIRONMENTS,
        base_url=BASE_URL,
        authorize=authorize,
        error_mapper=twilio_error,
        retry=RetryPolicy(retry_post_on=frozenset({429})),
    )
]
