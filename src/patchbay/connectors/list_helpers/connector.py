"""list-helpers 2.0: pick, reshape, filter, sort, group and aggregate lists, no authentication."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="list-helpers",
        title="List Helpers",
        version="2.0",
        service=Service(id="54085394-77a0-45e7-9c91-8727d01de7b8", name="list-helpers", version=1),
        description="First, last, unique, sort, filter, map, flatten, chunk, join, group and "
        "sum lists.",
        operations=OPERATIONS,
        requires_auth=False,
        side_effects=False,
    )
]
