"""Date & Time Helpers (Tray's ``date-time-helpers`` 3.0)."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="date-time-helpers",
        title="Date & Time Helpers",
        version="3.0",
        service=Service(
            id="524c3e96-31eb-4b82-b745-98d37236f6a5", name="date-time-helpers", version=1
        ),
        description="Format, parse, shift, compare and round dates in any time zone.",
        operations=OPERATIONS,
        side_effects=False,  # computes only: no checkpoint before its steps
    )
]
