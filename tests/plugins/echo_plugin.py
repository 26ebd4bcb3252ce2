"""A connector distributed outside Patchbay (loaded through the entry-point group in
tests): two versions side by side, the newer one with a dynamic output schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from patchbay.connectors.sdk import Connector, Context, Service, field, operation

SERVICE = Service(id="0d6f0b8e-52a1-4c8e-9d7b-7f3e2a1c9b10", name="echo", version=1)


class EchoInput(BaseModel):
    value: Any = field(title="Value", description="Anything: it comes back as it is")


@operation(title="Echo", input=EchoInput)
async def echo(ctx: Context, data: EchoInput) -> dict[str, Any]:
    return {"value": data.value}


def _schema_of(value: Any) -> dict[str, Any]:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: _schema_of(v) for k, v in value.items()}}
    return {"type": kinds.get(type(value), "null")}


@operation(
    "echo",
    title="Echo",
    input=EchoInput,
    dynamic_output=lambda ctx, data, output: _schema_of(output),
)
async def echo_dynamic(ctx: Context, data: EchoInput) -> dict[str, Any]:
    return {"value": data.value}


@operation(title="Explode", input=EchoInput)
async def explode(ctx: Context, data: EchoInput) -> dict[str, Any]:
    """A bug in a connector: an exception that is not a ConnectorError."""
    raise RuntimeError(f"bug while handling {data.value!r}")


CONNECTORS = [
    Connector(
        name="echo", title="Echo", version="1.0", service=SERVICE, operations=[echo, explode]
    ),
    Connector(name="echo", title="Echo", version="2.0", service=SERVICE, operations=[echo_dynamic]),
]
