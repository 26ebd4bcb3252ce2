"""Connectors, triggers, their operations, service environments and Call Connector."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Service(BaseModel):
    id: str
    name: str
    version: int


class Connector(BaseModel):
    name: str
    title: str
    description: str
    version: str
    service: Service


class Connectors(BaseModel):
    elements: list[Connector]


class Trigger(Connector):
    pass


class Triggers(BaseModel):
    elements: list[Trigger]


class Operation(BaseModel):
    name: str
    title: str
    description: str
    inputSchema: dict[str, Any] = Field(description="JSON Schema of the operation's input")
    outputSchema: dict[str, Any] = Field(description="JSON Schema of its output ({} if none)")
    hasDynamicOutput: bool
    authScopes: list[str]


class Operations(BaseModel):
    elements: list[Operation]


class Scope(BaseModel):
    scope: str
    description: str


class Environment(BaseModel):
    id: str
    title: str
    authenticationType: str
    userDataSchema: dict[str, Any]
    credentialsSchema: dict[str, Any]
    scopes: list[Scope]


class Environments(BaseModel):
    elements: list[Environment]


class CallResult(BaseModel):
    """Tray's call result: the operation's output, or the service's error as output."""

    outcome: Literal["success", "error"]
    output: Any = Field(description="The operation's output (with output_schema when asked)")
