"""The TMU connector: calls (and, from 1.1, chat and raw API access) on the TMU Platform.

Versions "1.0" and "1.1" are served side by side, built from the same operation objects:
1.1 is 1.0 plus the chat operations and ``raw_http_request``. The TMU trigger
(``tmu-trigger``, ``trigger.py``) has the same two versions: 1.0 Call Started / Call
Stopped, 1.1 also Chat Message Received; it shares the service, auth environment and HTTP
settings declared here.
"""

from __future__ import annotations

from typing import Any

from ..sdk import (
    AuthEnvironment,
    Connector,
    Context,
    RateBudget,
    RetryPolicy,
    Service,
    Trigger,
    raw_http_request,
)
from ..sdk.models import base_url_property
from .operations import CALL_OPERATIONS, CHAT_OPERATIONS
from .trigger import TRIGGER_OPERATIONS_1_0, TRIGGER_OPERATIONS_1_1

SERVICE = Service(id="b1d3f5a7-2c4e-4a6b-8d0f-1e2f3a4b5c66", name="tmu", version=1)
BASE_URL = "https://api.tmu.example/v1"
TOKEN_ENVIRONMENT_ID = "b1d3f5a7-2c4e-4a6b-8d0f-1e2f3a4b5c67"

USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": base_url_property(
            f"Overrides {BASE_URL} (a self-hosted TMU Platform, the emulator)"
        )
    },
}

CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_token": {
            "type": "string",
            "title": "API token",
            "description": "A TMU API token (TMU settings > API tokens); the connector acts as "
            "the token's user",
            "minLength": 1,
        }
    },
    "required": ["api_token"],
}

ENVIRONMENTS = [
    AuthEnvironment(
        id=TOKEN_ENVIRONMENT_ID,
        title="TMU API token",
        authentication_type="token",
        credentials_schema=CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
    )
]


def authorize(ctx: Context) -> dict[str, str]:
    """``Authorization: Bearer <api_token>``; nothing without a token (TMU then answers
    401 ``unauthorized``, an auth_error)."""
    token = ctx.credentials.get("api_token")
    return {"Authorization": f"Bearer {token}"} if token else {}


# TMU never processes a request it answers 429 (API.md), so even a POST is retried then;
# POSTs also carry an Idempotency-Key, which makes them safe to retry on 5xx.
RETRY = RetryPolicy(retry_post_on=frozenset({429}))
# TMU allows 600 requests per minute per token, in bursts of 50.
RATE_BUDGET = RateBudget(per_second=10, burst=50)


def _connector(version: str, description: str, operations: list) -> Connector:
    return Connector(
        name="tmu",
        title="TMU",
        version=version,
        description=description,
        service=SERVICE,
        operations=operations,
        environments=ENVIRONMENTS,
        base_url=BASE_URL,
        authorize=authorize,
        retry=RETRY,
        rate_budget=RATE_BUDGET,
    )


TMU_1_0 = _connector(
    "1.0",
    "Start and schedule calls on the TMU Platform, invite people to them by email, and "
    "get, list and stop calls.",
    CALL_OPERATIONS,
)
TMU_1_1 = _connector(
    "1.1",
    "Everything in 1.0, plus sending and reading a call's chat messages and raw access to "
    "any TMU Platform API method.",
    [*CALL_OPERATIONS, *CHAT_OPERATIONS, raw_http_request()],
)

CONNECTORS = [TMU_1_0, TMU_1_1]


def _trigger(version: str, description: str, operations: list) -> Trigger:
    return Trigger(
        name="tmu-trigger",
        title="TMU",
        version=version,
        service=SERVICE,
        description=description,
        operations=operations,
        environments=ENVIRONMENTS,
        base_url=BASE_URL,
        authorize=authorize,
        retry=RETRY,
        rate_budget=RATE_BUDGET,
    )


TMU_TRIGGER_1_0 = _trigger(
    "1.0",
    "Start a workflow when a call the authenticated TMU user hosts or is invited to starts "
    "or stops.",
    TRIGGER_OPERATIONS_1_0,
)
TMU_TRIGGER_1_1 = _trigger(
    "1.1",
    "Everything in 1.0, plus: start a workflow when someone else sends a chat message in "
    "such a call.",
    TRIGGER_OPERATIONS_1_1,
)

TRIGGERS = [TMU_TRIGGER_1_0, TMU_TRIGGER_1_1]
