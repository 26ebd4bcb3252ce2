"""The schedule trigger declaration (no actions, no authentication)."""

from __future__ import annotations

from ..sdk import Service, Trigger
from .trigger import CRON, INTERVAL

SERVICE = Service(id="3602c804-ed3f-4adb-95ef-c7ff3a2cd162", name="schedule", version=1)

CONNECTORS: list = []

TRIGGERS = [
    Trigger(
        name="schedule-trigger",
        title="Schedule",
        version="1.0",
        service=SERVICE,
        description="Start a workflow on a schedule: a cron expression in a time zone, or a "
        "fixed interval.",
        operations=[CRON, INTERVAL],
    )
]
