"""The schedule trigger declarations (no actions, no authentication): Patchbay's
``schedule-trigger`` and Tray's ``scheduled`` (its operations mapped onto the former's)."""

from __future__ import annotations

from ..sdk import Service, Trigger
from .tray import OPERATIONS as TRAY_OPERATIONS
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
    ),
    Trigger(
        name="scheduled",
        title="Scheduled",
        version="3.5",
        service=SERVICE,
        description="Tray's scheduled trigger: a custom interval, cron, daily, weekly or "
        "monthly, on Patchbay's schedule.",
        operations=TRAY_OPERATIONS,
    ),
]
