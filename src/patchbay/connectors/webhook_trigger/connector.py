"""The generic webhook trigger declaration (no actions, no authentication)."""

from __future__ import annotations

from ..sdk import Service, Trigger
from .trigger import WEBHOOK

SERVICE = Service(id="e87debdd-03d7-410e-928c-0223a17b824c", name="webhook", version=1)

CONNECTORS: list = []

TRIGGERS = [
    Trigger(
        name="webhook-trigger",
        title="Webhook",
        version="1.0",
        service=SERVICE,
        description="Start a workflow from any HTTP request sent to the subscription's URL, "
        "optionally verified with an HMAC signature or a shared secret.",
        operations=[WEBHOOK],
    )
]
