"""The Pendo connector: aggregations, reports, visitors, accounts and metadata values over
the Pendo API v1 (the operations of Pendo's own Tray.io connector)."""

from __future__ import annotations

from typing import Any

from ..sdk import AuthEnvironment, Connector, Context, Service
from ..sdk.models import base_url_property
from .operations import DEFAULT_REGION, OPERATIONS, REGION_LABELS, REGIONS, pendo_error

SERVICE = Service(id="5a1e7c93-2b4d-4f6a-8c0e-9d8e7f6a5b42", name="pendo", version=1)
ENVIRONMENT_ID = "9c3f1e27-6d4b-4a8e-b1f0-2e7d5c9a3b61"

CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "integration_key": {
            "type": "string",
            "title": "Integration key",
            "description": "A Pendo integration key (Settings > Integrations > Integration "
            "Keys), sent as X-Pendo-Integration-Key. Update Object Values needs a key with "
            "write access.",
            "minLength": 1,
        }
    },
    "required": ["integration_key"],
}

USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "region": {
            "type": "string",
            "title": "Region",
            "description": "Where the Pendo subscription lives (the host you sign in to)",
            "enum": list(REGIONS),
            "enumLabels": REGION_LABELS,
            "default": DEFAULT_REGION,
        },
        "base_url": base_url_property(
            "Overrides the region's https://<host>/api/v1 (tests, proxies)"
        ),
    },
}

ENVIRONMENTS = [
    AuthEnvironment(
        id=ENVIRONMENT_ID,
        title="Pendo integration key",
        authentication_type="token",
        credentials_schema=CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
    )
]


def authorize(ctx: Context) -> dict[str, str]:
    """``X-Pendo-Integration-Key: <key>``; nothing without a key (Pendo then answers 401)."""
    key = ctx.credentials.get("integration_key")
    return {"X-Pendo-Integration-Key": key} if key else {}


PENDO = Connector(
    name="pendo",
    title="Pendo",
    version="1.0",
    description="Query Pendo with aggregations, read reports, visitors, accounts and visitor "
    "history, and set visitor and account metadata.",
    service=SERVICE,
    operations=OPERATIONS,
    environments=ENVIRONMENTS,
    # The base depends on the authentication's region: operations.api_base builds it.
    base_url=None,
    authorize=authorize,
    error_mapper=pendo_error,  # every non-2xx answer, in Pendo's terms, the key redacted
)

CONNECTORS = [PENDO]
