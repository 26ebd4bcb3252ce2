"""object-helpers 2.0: read, write and reshape objects by key path, no authentication."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="object-helpers",
        title="Object Helpers",
        version="2.0",
        service=Service(
            id="dded1f79-f934-44f7-a468-27f31329d58a", name="object-helpers", version=1
        ),
        description="Get and set values by key path, pick, delete, rename and merge keys, "
        "flatten and unflatten objects.",
        operations=OPERATIONS,
        requires_auth=False,
        side_effects=False,
    )
]
