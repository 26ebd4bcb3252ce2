"""math-helpers 1.0: arithmetic, rounding and list statistics, with no authentication."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="math-helpers",
        title="Math Helpers",
        version="1.0",
        service=Service(id="76999aa4-0150-499b-bd1f-3f9afe76c6ab", name="math-helpers", version=1),
        description="Add, subtract, multiply, divide, round and aggregate numbers, with "
        "decimal arithmetic (0.1 + 0.2 is 0.3).",
        operations=OPERATIONS,
        requires_auth=False,
        side_effects=False,
    )
]
