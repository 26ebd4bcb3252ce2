"""text-helpers 3.0 (the version Tray's exports use): text operations, no authentication."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="text-helpers",
        title="Text Helpers",
        version="3.0",
        service=Service(id="dbe11f6a-fc02-448a-9f23-0c0e0c19acf6", name="text-helpers", version=1),
        description="Split, concatenate, change, search, pad, encode and template text.",
        operations=OPERATIONS,
        requires_auth=False,
        side_effects=False,
    )
]
