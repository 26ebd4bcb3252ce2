"""The universal HTTP client (like Tray's "HTTP Client"): any method, any URL, optional auth."""

from __future__ import annotations

import base64

from ..sdk import AuthEnvironment, Connector, Context, Service
from .operations import OPERATIONS

TOKEN_ENVIRONMENT_ID = "b7e2c4a1-3f5d-4c8e-9a0b-1d2e3f4a5b60"
BASIC_ENVIRONMENT_ID = "c8f3d5b2-4a6e-4d9f-8b1c-2e3f4a5b6c71"
API_KEY_ENVIRONMENT_ID = "d9a4e6c3-5b7f-4eaf-9c2d-3f4a5b6c7d82"

_SECRET = {"type": "string", "minLength": 1}
_HEADER_NAME = {"type": "string", "minLength": 1, "pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}

ENVIRONMENTS = [
    AuthEnvironment(
        id=TOKEN_ENVIRONMENT_ID,
        title="Token",
        authentication_type="token",
        credentials_schema={
            "type": "object",
            "properties": {"token": {**_SECRET, "title": "Token"}},
            "required": ["token"],
            "additionalProperties": False,
        },
        user_data_schema={
            "type": "object",
            "properties": {
                "header_name": {
                    **_HEADER_NAME,
                    "title": "Header name",
                    "default": "Authorization",
                },
                "prefix": {
                    "type": "string",
                    "title": "Prefix",
                    "description": 'Written before the token, e.g. "Bearer" or "token"; '
                    "empty for none.",
                    "default": "Bearer",
                },
            },
            "additionalProperties": False,
        },
    ),
    AuthEnvironment(
        id=BASIC_ENVIRONMENT_ID,
        title="Basic auth",
        authentication_type="basic",
        credentials_schema={
            "type": "object",
            "properties": {
                "username": {"type": "string", "title": "Username"},
                "password": {"type": "string", "title": "Password"},
            },
            "required": ["username", "password"],
            "additionalProperties": False,
        },
    ),
    AuthEnvironment(
        id=API_KEY_ENVIRONMENT_ID,
        title="API key header",
        authentication_type="token",
        credentials_schema={
            "type": "object",
            "properties": {"value": {**_SECRET, "title": "API key"}},
            "required": ["value"],
            "additionalProperties": False,
        },
        user_data_schema={
            "type": "object",
            "properties": {
                "header_name": {
                    **_HEADER_NAME,
                    "title": "Header name",
                    "description": 'The header carrying the key, e.g. "X-API-Key".',
                }
            },
            "required": ["header_name"],
            "additionalProperties": False,
        },
    ),
]


def authorize(ctx: Context) -> dict[str, str] | None:
    """The authentication header, from whichever credentials the authentication holds."""
    credentials = ctx.credentials or {}
    user_data = ctx.user_data or {}
    if credentials.get("token"):
        header = user_data.get("header_name") or "Authorization"
        prefix = user_data.get("prefix", "Bearer")
        token = str(credentials["token"])
        return {header: f"{prefix} {token}" if prefix else token}
    if credentials.get("username") is not None and "password" in credentials:
        pair = f"{credentials['username']}:{credentials['password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if credentials.get("value"):
        header = user_data.get("header_name")
        if not header:
            raise ctx.fail("The API key authentication has no header_name", "auth_error")
        return {header: str(credentials["value"])}
    return None


CONNECTORS = [
    Connector(
        name="http-client",
        title="HTTP Client",
        version="1.0",
        service=Service(id="a3d1f9e0-5b7c-4c2e-8f10-7e6d5c4b3a21", name="http-client", version=1),
        description="Call any HTTP API: GET, POST, PUT, PATCH, DELETE and HEAD requests to a "
        "full URL, with optional token, basic or API-key-header authentication.",
        operations=OPERATIONS,
        environments=ENVIRONMENTS,
        base_url=None,
        authorize=authorize,
        requires_auth=False,
    )
]
