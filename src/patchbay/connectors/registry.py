"""The connector catalogue: built-in connector folders plus the ``patchbay.connectors``
entry-point group, several versions of one connector side by side."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable
from importlib.metadata import entry_points

from .sdk import AuthEnvironment, Connector

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "patchbay.connectors"


def _version_key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)


class Registry:
    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self._by_key: dict[tuple[str, str], Connector] = {}
        for connector in connectors:
            self.add(connector)

    def add(self, connector: Connector) -> None:
        key = (connector.name, connector.version)
        if key in self._by_key:
            raise ValueError(f"connector {connector.name} {connector.version} is declared twice")
        self._by_key[key] = connector

    def get(self, name: str, version: str) -> Connector | None:
        return self._by_key.get((name, version))

    def latest(self, name: str) -> Connector | None:
        versions = [c for (n, _), c in self._by_key.items() if n == name]
        return max(versions, key=lambda c: _version_key(c.version), default=None)

    def all(self) -> list[Connector]:
        return sorted(self._by_key.values(), key=lambda c: (c.name, _version_key(c.version)))

    def environments(self, service_name: str, service_version: int) -> list[AuthEnvironment]:
        """The auth environments of a service version (shared by its connectors)."""
        found: dict[str, AuthEnvironment] = {}
        for connector in self.all():
            if (connector.service.name, connector.service.version) == (
                service_name,
                service_version,
            ):
                for env in connector.environments:
                    found.setdefault(env.id, env)
        return list(found.values())

    def environment(self, environment_id: str) -> tuple[Connector, AuthEnvironment] | None:
        for connector in self.all():
            env = connector.environment(environment_id)
            if env is not None:
                return connector, env
        return None

    @classmethod
    def discover(cls) -> Registry:
        """Every built-in connector folder, then every installed entry point."""
        registry = cls(builtin_connectors())
        for connector in entry_point_connectors():
            registry.add(connector)
        return registry


def builtin_connectors() -> list[Connector]:
    package = importlib.import_module(__package__)
    found: list[Connector] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg or info.name == "sdk":
            continue
        try:
            module = importlib.import_module(f"{__package__}.{info.name}.connector")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{info.name}.connector":
                continue  # a folder without a declaration (yet)
            raise
        found.extend(getattr(module, "CONNECTORS", []))
    return found


def entry_point_connectors() -> list[Connector]:
    found: list[Connector] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        items = loaded() if callable(loaded) and not isinstance(loaded, Connector) else loaded
        if isinstance(items, Connector):
            items = [items]
        for item in items:
            if not isinstance(item, Connector):
                raise TypeError(f"entry point {ep.name} gave {type(item).__name__}, not Connector")
            found.append(item)
    return found
