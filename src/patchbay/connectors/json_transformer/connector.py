"""JSON Transformer (Tray's ``json-transformer``): JSONata and JMESPath queries."""

from __future__ import annotations

from ..sdk import Connector, Service
from .operations import OPERATIONS

CONNECTORS = [
    Connector(
        name="json-transformer",
        title="JSON Transformer",
        version="1.0",
        service=Service(
            id="870b158b-5c00-428c-9f1b-f9d2957ee626", name="json-transformer", version=1
        ),
        description="Query and reshape JSON with JSONata or JMESPath expressions.",
        operations=OPERATIONS,
        side_effects=False,  # computes only: no checkpoint before its steps
    )
]
