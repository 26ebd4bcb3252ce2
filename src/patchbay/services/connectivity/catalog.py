"""Connector, trigger, operation and service-environment listings in Tray's shapes."""

from __future__ import annotations

from typing import Any

from ...connectors.registry import Registry
from ...connectors.sdk import Connector, Operation, Trigger, TriggerOperation
from ..errors import NotFound

INPUT_SCHEMA_URL = "https://api.tray.io/core/v1/connectors/operations/input-schema#"
OUTPUT_SCHEMA_URL = "https://api.tray.io/core/v1/connectors/operations/output-schema#"


def operation_to_api(op: Operation | TriggerOperation) -> dict[str, Any]:
    """One operation; a trigger operation has the same shape (Tray's listings agree)."""
    return {
        "name": op.name,
        "title": op.title,
        "description": op.description,
        "inputSchema": {"$schema": INPUT_SCHEMA_URL, **op.input_schema},
        "outputSchema": {"$schema": OUTPUT_SCHEMA_URL, **op.output_schema}
        if op.output_schema
        else {},
        "hasDynamicOutput": op.has_dynamic_output,
        "authScopes": list(op.auth_scopes),
    }


class Catalog:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._operations: dict[tuple[str, str], dict[str, Any]] = {}
        self._trigger_operations: dict[tuple[str, str], dict[str, Any]] = {}

    def connectors(self) -> dict[str, Any]:
        return {"elements": [c.to_api() for c in self.registry.all()]}

    def connector(self, name: str, version: str) -> Connector:
        connector = self.registry.get(name, version)
        if connector is None:
            raise NotFound(f"Connector {name} version {version} not found", "connector_not_found")
        return connector

    def operations(self, name: str, version: str) -> dict[str, Any]:
        key = (name, version)
        if key not in self._operations:
            connector = self.connector(name, version)
            self._operations[key] = {
                "elements": [operation_to_api(op) for op in connector.operations]
            }
        return self._operations[key]

    def triggers(self) -> dict[str, Any]:
        return {"elements": [t.to_api() for t in self.registry.triggers()]}

    def trigger(self, name: str, version: str) -> Trigger:
        trigger = self.registry.trigger(name, version)
        if trigger is None:
            raise NotFound(f"Trigger {name} version {version} not found", "trigger_not_found")
        return trigger

    def trigger_operations(self, name: str, version: str) -> dict[str, Any]:
        key = (name, version)
        if key not in self._trigger_operations:
            trigger = self.trigger(name, version)
            self._trigger_operations[key] = {
                "elements": [operation_to_api(op) for op in trigger.operations]
            }
        return self._trigger_operations[key]

    def environments(self, service_name: str, service_version: str) -> dict[str, Any]:
        try:
            version = int(service_version)
        except ValueError:
            version = -1
        envs = self.registry.environments(service_name, version)
        if not envs:
            raise NotFound(
                f"Service {service_name} version {service_version} not found", "service_not_found"
            )
        return {"elements": [e.to_api() for e in envs]}
