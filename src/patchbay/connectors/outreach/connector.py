"""The Outreach connector: prospects over the Outreach API v2 (JSON:API)."""

from __future__ import annotations

from typing import Any

from ..sdk import (
    AuthEnvironment,
    Connector,
    Context,
    OAuth2Endpoints,
    RateBudget,
    RetryPolicy,
    Scope,
    Service,
)
from ..sdk.models import base_url_property
from .operations import OPERATIONS, outreach_error

SERVICE = Service(id="9c3e5a72-1b4d-4f8e-a6c1-3d2e1f0a9b84", name="outreach", version=1)
BASE_URL = "https://api.outreach.io/api/v2"
JSONAPI = "application/vnd.api+json"

SCOPES = [
    Scope("prospects.read", "View prospects"),
    Scope("prospects.write", "Create and update prospects"),
    Scope("prospects.delete", "Delete prospects"),
]

USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": base_url_property("Overrides https://api.outreach.io/api/v2 (tests, gateways)")
    },
}

CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "access_token": {
            "type": "string",
            "title": "Access token",
            "description": "An Outreach OAuth 2 access token (valid for 2 hours)",
            "minLength": 1,
        },
        "refresh_token": {
            "type": "string",
            "title": "Refresh token",
            "description": "Valid for 14 days; Outreach rotates it on every refresh",
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

ENVIRONMENTS = [
    AuthEnvironment(
        id="9c3e5a72-1b4d-4f8e-a6c1-3d2e1f0a9b85",
        title="Outreach (OAuth 2)",
        authentication_type="oauth2",
        credentials_schema=CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
        scopes=SCOPES,
        # Outreach documents client_id/client_secret in the token request's form body and
        # no PKCE; scopes are space-separated.
        oauth2=OAuth2Endpoints(
            authorize_url="https://api.outreach.io/oauth/authorize",
            token_url="https://api.outreach.io/oauth/token",
            pkce=False,
            client_auth="body",
        ),
    )
]


def authorize(ctx: Context) -> dict[str, str]:
    """``Authorization: Bearer <access_token>`` plus the JSON:API media type, which Outreach
    demands on every request (415 otherwise), raw requests included; a request that sets
    its own ``Content-Type`` (spelled so) keeps it. Without a token the header is left out
    and Outreach answers 401."""
    headers = {"Content-Type": JSONAPI, "Accept": JSONAPI}
    token = ctx.credentials.get("access_token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


OUTREACH = Connector(
    name="outreach",
    title="Outreach",
    version="1.0",
    description="Find, create, update and delete prospects in Outreach.",
    service=SERVICE,
    operations=OPERATIONS,
    environments=ENVIRONMENTS,
    base_url=BASE_URL,
    authorize=authorize,
    error_mapper=outreach_error,  # every non-2xx answer, as Outreach's JSON:API errors
    # A 429 from Outreach's rate limiter was never processed, so even a POST is safe to
    # send again after it.
    retry=RetryPolicy(retry_post_on=frozenset({429})),
    # 10,000 requests per user per hour, which may be spent in a burst.
    rate_budget=RateBudget(per_second=10_000 / 3600, burst=10_000),
)

CONNECTORS = [OUTREACH]
