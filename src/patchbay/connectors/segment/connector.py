"""The Segment trigger declaration (no actions: Segment sends, Patchbay receives)."""

from __future__ import annotations

from ..sdk import Service, Trigger
from .trigger import SEGMENT_MESSAGE

SERVICE = Service(id="6f1d2c3b-8a4e-4b7f-9c20-5e3a1d7b9f41", name="segment", version=1)

CONNECTORS: list = []

TRIGGERS = [
    Trigger(
        name="segment-trigger",
        title="Segment",
        version="1.0",
        service=SERVICE,
        description="Segment collects customer data from every app and website and sends it "
        "on: receive its messages as they arrive.",
        operations=[SEGMENT_MESSAGE],
    )
]
