"""Models and schemas connectors share: drop-down list (DDL) output, open output objects,
and the ``base_url`` user-data property that points a connector at a test server or gateway."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .schema import field

__all__ = ["DDLItem", "DDLOutput", "OpenObject", "base_url_property"]


class OpenObject(BaseModel):
    """An output object of a service that adds fields over time: extra fields are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class DDLItem(BaseModel):
    text: str = field(title="Text", description="What the drop-down shows")
    value: str = field(title="Value", description="What the drop-down selects")


class DDLOutput(BaseModel):
    """What a ``*_ddl`` operation (a dynamic drop-down list, see :func:`lookup`) answers."""

    result: list[DDLItem] = field(title="Result", description="The drop-down's choices")


def base_url_property(description: str, title: str = "API base URL") -> dict[str, Any]:
    """The user-data property ``base_url``: a URL that replaces the connector's declared base
    URL for one authentication (a test server, a gateway). ``Declaration.base_url_for``
    reads it."""
    return {"type": "string", "format": "uri", "title": title, "description": description}
