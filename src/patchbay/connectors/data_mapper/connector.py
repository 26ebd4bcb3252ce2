"""Data Mapper (Tray's ``data-mapper``): rename keys and translate values by tables."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="data-mapper",
        title="Data Mapper",
        version="1.0",
        service=Service(id="5565383f-d19f-4690-91b0-ce53b7a3ed97", name="data-mapper", version=1),
        description="Rename the keys of objects and translate values through lookup tables.",
        operations=OPERATIONS,
        side_effects=False,  # computes only: no checkpoint before its steps
    )
]
