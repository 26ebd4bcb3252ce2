"""The connector catalogue: built-in connector folders plus the ``patchbay.connectors``
entry-point group, several versions of one connector side by side. Triggers likewise: a
folder's ``connector`` module may expose ``TRIGGERS`` beside ``CONNECTORS``, and the
``patchbay.triggers`` entry-point group adds more."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType

from .sdk import AuthEnvironment, Connector, Trigger

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "patchbay.connectors"
TRIGGER_ENTRY_POINT_GROUP = "patchbay.triggers"


def _version_key(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)


class Registry:
    def __init__(
        self, connectors: Iterable[Connector] = (), triggers: Iterable[Trigger] = ()
    ) -> None:
        self._by_key: dict[tuple[str, str], Connector] = {}
        self._triggers: dict[tuple[str, str], Trigger] = {}
        for connector in connectors:
            self.add(connector)
        for trigger in triggers:
            self.add_trigger(trigger)

    def add(self, connector: Connector) -> None:
        key = (connector.name, connector.version)
        if key in self._by_key:
            raise ValueError(f"connector {connector.name} {connector.version} is declared twice")
        self._by_key[key] = connector

    def get(self, name: str, version: str) -> Connector | None:
        return self._by_key.get((name, version))

    def versions(self, name: str) -> list[Connector]:
        """Every version of connector ``name``, oldest first."""
        found = [c for (n, _), c in self._by_key.items() if n == name]
        return sorted(found, key=lambda c: _version_key(c.version))

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

    # -- triggers -------------------------------------------------------------------------
    def add_trigger(self, trigger: Trigger) -> None:
        key = (trigger.name, trigger.version)
        if key in self._triggers:
            raise ValueError(f"trigger {trigger.name} {trigger.version} is declared twice")
        self._triggers[key] = trigger

    def trigger(self, name: str, version: str) -> Trigger | None:
        return self._triggers.get((name, version))

    def latest_trigger(self, name: str) -> Trigger | None:
        versions = [t for (n, _), t in self._triggers.items() if n == name]
        return max(versions, key=lambda t: _version_key(t.version), default=None)

    def triggers(self) -> list[Trigger]:
        return sorted(self._triggers.values(), key=lambda t: (t.name, _version_key(t.version)))

    @classmethod
    def discover(cls) -> Registry:
        """Every built-in connector folder, then every installed entry point."""
        registry = cls(builtin_connectors(), builtin_triggers())
        for connector in entry_point_connectors():
            registry.add(connector)
        for trigger in entry_point_triggers():
            registry.add_trigger(trigger)
        return registry


def _declaration_modules() -> list[ModuleType]:
    """The ``connector`` module of every built-in folder that has one."""
    package = importlib.import_module(__package__)
    modules: list[ModuleType] = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg or info.name == "sdk":
            continue
        try:
            module = importlib.import_module(f"{__package__}.{info.name}.connector")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{info.name}.connector":
                continue  # a folder without a declaration (yet)
            raise
        modules.append(module)
    return modules


def builtin_connectors() -> list[Connector]:
    found: list[Connector] = []
    for module in _declaration_modules():
        found.extend(getattr(module, "CONNECTORS", []))
    return found


def builtin_triggers() -> list[Trigger]:
    found: list[Trigger] = []
    for module in _declaration_modules():
        found.extend(getattr(module, "TRIGGERS", []))
    return found


def _from_entry_points(group: str, kind: type) -> list:
    found = []
    for ep in entry_points(group=group):
        loaded = ep.load()
        items = loaded() if callable(loaded) and not isinstance(loaded, kind) else loaded
        if isinstance(items, kind):
            items = [items]
        for item in items:
            if not isinstance(item, kind):
                raise TypeError(
                    f"entry point {ep.name} gave {type(item).__name__}, not {kind.__name__}"
                )
            found.append(item)
    return found


def entry_point_connectors() -> list[Connector]:
    return _from_entry_points(ENTRY_POINT_GROUP, Connector)


def entry_point_triggers() -> list[Trigger]:
    """The ``patchbay.triggers`` group: an entry point names a ``Trigger``, a list of them,
    or a callable returning either."""
    return _from_entry_points(TRIGGER_ENTRY_POINT_GROUP, Trigger)
