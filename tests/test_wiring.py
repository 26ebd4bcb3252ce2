"""How the services are wired: through their constructors and the platform's signals, with
credentials free of import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import patchbay.services.credentials.authentications as authentications_module
import patchbay.services.credentials.oauth as oauth_module
import patchbay.services.credentials.ready as ready_module
import patchbay.services.platform as platform_module
from patchbay.services.signals import Signal, Signals


def test_a_signal_calls_its_receivers_in_order_with_the_arguments():
    heard: list[tuple[str, object]] = []
    signal: Signal[[str | None]] = Signal()
    signal("nobody listens")  # no receiver: nothing happens
    signal.connect(lambda value: heard.append(("first", value)))
    signal.connect(lambda value: heard.append(("second", value)))
    signal("sub-1")
    signal(None)
    assert heard == [("first", "sub-1"), ("second", "sub-1"), ("first", None), ("second", None)]


def test_a_receivers_exception_reaches_the_sender():
    signal: Signal[[]] = Signal()

    def broken() -> None:
        raise RuntimeError("receiver failed")

    signal.connect(broken)
    with pytest.raises(RuntimeError, match="receiver failed"):
        signal()


def test_each_platform_has_its_own_signals():
    first, second = Signals(), Signals()
    heard: list[str] = []
    first.workflows_changed.connect(lambda: heard.append("first"))
    second.workflows_changed()
    assert heard == []
    first.workflows_changed()
    assert heard == ["first"]


def test_the_platform_sets_no_attribute_on_a_service_after_building_it():
    """``self.x = ...`` only: never ``self.x.y = ...`` (a service wired afterwards)."""
    tree = ast.parse(Path(platform_module.__file__).read_text())
    init = next(
        node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == "Platform"
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
    )
    late = []
    for node in ast.walk(init):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and not (
                isinstance(target.value, ast.Name) and target.value.id == "self"
            ):
                late.append(ast.unparse(target))
    assert late == []


def _imported(module) -> set[str]:
    """Every module ``module`` imports, under TYPE_CHECKING too (absolute names)."""
    tree = ast.parse(Path(module.__file__).read_text())
    package = module.__name__.rsplit(".", 1)[0].split(".")
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_credentials_modules_import_each_other_one_way():
    """Authentications does not need OAuth, not even for type checking; OAuth uses
    Authentications; the ready-for-a-call entry point uses both."""
    base = "patchbay.services.credentials."
    assert not {base + "oauth", base + "ready"} & _imported(authentications_module)
    assert base + "ready" not in _imported(oauth_module)
    assert {base + "oauth", base + "authentications"} <= _imported(ready_module)
