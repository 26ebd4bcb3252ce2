"""The Shopify connector: orders and customers over the Shopify Admin REST API."""

from __future__ import annotations

from typing import Any

from ..sdk import AuthEnvironment, Connector, Context, RateBudget, Service, Trigger
from ..sdk.models import base_url_property
from .operations import (
    DEFAULT_API_VERSION,
    OPERATIONS,
    SHOP_PATTERN,
    VERSION_PATTERN,
    shopify_error,
)
from .trigger import TRIGGER_OPERATIONS

SERVICE = Service(id="8b2d4f61-9a3c-4e7d-b5f0-2c1d0e9f8a73", name="shopify", version=1)
TOKEN_ENVIRONMENT_ID = "3f7a9c1e-5b2d-4e8f-a6c0-9d1b2e3f4a51"

CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "access_token": {
            "type": "string",
            "title": "Admin API access token",
            "description": "A custom app's Admin API access token (shpat_...) or an OAuth "
            "access token for the shop",
            "minLength": 1,
        }
    },
    "required": ["access_token"],
}

USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "shop": {
            "type": "string",
            "title": "Shop",
            "description": "The shop's subdomain (acme) or myshopify.com domain "
            "(acme.myshopify.com)",
            "pattern": SHOP_PATTERN,
        },
        "api_version": {
            "type": "string",
            "title": "API version",
            "description": "The Admin API version, e.g. 2024-10",
            "default": DEFAULT_API_VERSION,
            "pattern": VERSION_PATTERN,
        },
        "base_url": base_url_property(
            "Replaces https://{shop}.myshopify.com (tests, gateways); "
            "/admin/api/{api_version} is appended",
            title="Base URL",
        ),
    },
    "required": ["shop"],
}

ENVIRONMENTS = [
    AuthEnvironment(
        id=TOKEN_ENVIRONMENT_ID,
        title="Shopify Admin API access token",
        authentication_type="token",
        credentials_schema=CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
    )
]


def authorize(ctx: Context) -> dict[str, str]:
    """``X-Shopify-Access-Token: <access_token>``; nothing without a token (Shopify then
    answers 401)."""
    token = ctx.credentials.get("access_token")
    return {"X-Shopify-Access-Token": token} if token else {}


SHOPIFY = Connector(
    name="shopify",
    title="Shopify",
    version="1.0",
    description="List and get a Shopify shop's orders, get and search its customers, or "
    "call any Admin API endpoint.",
    service=SERVICE,
    operations=OPERATIONS,
    environments=ENVIRONMENTS,
    base_url=None,  # per shop: operations.api_base builds it from the user data
    authorize=authorize,
    error_mapper=shopify_error,  # every non-2xx answer, in Shopify's words
    rate_budget=RateBudget(2, 40),  # Shopify's leaky bucket: 40 requests, 2 leak per second
)

CONNECTORS = [SHOPIFY]

TRIGGERS = [
    Trigger(
        name="shopify-trigger",
        title="Shopify",
        version="1.0",
        description="Start a workflow when an order or a customer changes in a Shopify shop, "
        "through the shop's signed webhooks.",
        service=SERVICE,
        operations=TRIGGER_OPERATIONS,
        environments=ENVIRONMENTS,
        base_url=None,  # per shop, as for the connector: operations.api_base
        authorize=authorize,
        error_mapper=shopify_error,
        rate_budget=RateBudget(2, 40),
    )
]
