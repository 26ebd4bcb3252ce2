"""Boolean Condition (Tray's ``boolean-condition`` 2.3): the if/else step."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="boolean-condition",
        title="Boolean Condition",
        version="2.3",
        service=Service(
            id="d5a773a7-7c50-412e-a082-6af6437db90e", name="boolean-condition", version=1
        ),
        description="Compare values and follow the true or the false branch of a workflow.",
        operations=OPERATIONS,
        side_effects=False,  # computes only: no checkpoint before its steps
    )
]
