"""The script core connector declaration (Tray's ``script`` 3.3: ``execute``)."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

SERVICE = Service(id="7d635cbe-d897-4098-8712-3297617ed425", name="script", version=1)

CONNECTORS = [
    Connector(
        name="script",
        title="Script",
        version="3.3",
        service=SERVICE,
        description="Run JavaScript on the step's input variables in a sandbox (QuickJS, no "
        "network or file access, CPU-time, memory and wall-clock limits).",
        operations=OPERATIONS,
        requires_auth=False,
        side_effects=False,
    )
]
