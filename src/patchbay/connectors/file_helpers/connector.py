"""file-helpers 2.1 (the version Tray's exports use): files from a URL or text, read as text."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="file-helpers",
        title="File Helpers",
        version="2.1",
        service=Service(id="0b7c2a4e-5f3d-4c61-9a8e-2d6f1b3c7e90", name="file-helpers", version=1),
        description="Create a file from a URL or text, and read a file's text content.",
        operations=OPERATIONS,
        requires_auth=False,
        side_effects=False,
    )
]
