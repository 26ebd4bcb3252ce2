"""The Slack connector: messages, reminders and drop-downs over the Slack Web API."""

from __future__ import annotations

from typing import Any

from ..sdk import AuthEnvironment, Connector, Context, OAuth2Endpoints, Scope, Service
from ..sdk.models import base_url_property
from .operations import OPERATIONS

SERVICE = Service(id="6f1b4c2e-9d3a-4e57-8a1b-2c3d4e5f6a70", name="slack", version=1)
BASE_URL = "https://slack.com/api"

SCOPES = [
    Scope("chat:write", "Send messages as the app"),
    Scope("reminders:write", "Add, remove and complete reminders (user tokens)"),
    Scope("channels:read", "View basic information about public channels"),
    Scope("groups:read", "View basic information about private channels"),
    Scope("users:read", "View people in a workspace"),
    Scope("users:read.email", "View the email addresses of people in a workspace"),
    Scope("team:read", "View the name, email domain and icon of workspaces"),
]

_ACCESS_TOKEN = {
    "type": "string",
    "title": "Access token",
    "description": "A Slack token: xoxb- (bot) or xoxp- (user)",
    "minLength": 1,
}

USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": base_url_property(
            "Overrides https://slack.com/api (tests, self-hosted gateways, regional endpoints)"
        )
    },
}

OAUTH2_CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "access_token": _ACCESS_TOKEN,
        "refresh_token": {
            "type": "string",
            "title": "Refresh token",
            "description": "Present when the Slack app uses token rotation",
        },
        "expires_at": {
            "type": ["number", "string"],
            "title": "Expires at",
            "description": "When the access token expires (unix seconds or ISO 8601)",
        },
        "token_type": {"type": "string", "title": "Token type"},
        "scope": {"type": "string", "title": "Scope"},
    },
    "required": ["access_token"],
}

TOKEN_CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"access_token": {**_ACCESS_TOKEN, "title": "Bot token"}},
    "required": ["access_token"],
}

ENVIRONMENTS = [
    AuthEnvironment(
        id="0b6c8f52-3e1d-4d0a-9f3e-5a7b8c9d0e11",
        title="Slack (OAuth 2)",
        authentication_type="oauth2",
        credentials_schema=OAUTH2_CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
        scopes=SCOPES,
        oauth2=OAuth2Endpoints(
            "https://slack.com/oauth/v2/authorize",
            "https://slack.com/api/oauth.v2.access",
            scope_separator=",",  # Slack's scope parameter is comma-separated
        ),
    ),
    AuthEnvironment(
        id="0b6c8f52-3e1d-4d0a-9f3e-5a7b8c9d0e12",
        title="Slack bot token",
        authentication_type="token",
        credentials_schema=TOKEN_CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
    ),
]


def authorize(ctx: Context) -> dict[str, str]:
    """``Authorization: Bearer <access_token>``; nothing without a token (Slack then answers
    ``not_authed``, an auth_error, where an empty ``Bearer`` header would be malformed)."""
    token = ctx.credentials.get("access_token")
    return {"Authorization": f"Bearer {token}"} if token else {}


SLACK = Connector(
    name="slack",
    title="Slack",
    version="1.0",
    description="Send messages and reminders to Slack, and list its channels, workspaces "
    "and users.",
    service=SERVICE,
    operations=OPERATIONS,
    environments=ENVIRONMENTS,
    base_url=BASE_URL,
    authorize=authorize,
)

CONNECTORS = [SLACK]
