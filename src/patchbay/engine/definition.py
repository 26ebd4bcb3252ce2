"""A workflow definition in Tray's export shape (``tray_export_version: 4``), parsed into
nodes and steps, and back.

One workflow of an export::

    {"id", "title", "enabled", "tags",
     "settings": {"config": {...}, "input_schema": {}, "output_schema": {},
                  "alerting_workflow_id"?},
     "steps_structure": [<node>, ...],
     "steps": {"<step-name>": <step>, ...}}

A node is ``{"name", "type": "normal" | "branch" | "loop" | "break", "content": {...}}``:
a boolean condition's branch holds ``content.true`` / ``content.false``, a branch step's
named cases and ``default``, a loop ``content._loop``, a step with manual error handling
``content.success`` / ``content.error``, and a break ``target``. The first node is the
trigger. Every node but a break has its step in ``steps``; a break may have one too (Tray
exports give it connector ``break-loop`` 1.1, operation ``break``), kept but never run.
A step is ``{"title", "description", "connector": {"name", "version"}, "operation",
"properties": {<typed values>}, "error_handling": {...}, "authentication"?}``.

Error handling is ``{"strategy": "stop" | "manual" | "continue" | "break_loop" |
"continue_loop"}`` (``stop`` when absent); ``manual`` goes with a branch node holding
``success`` and ``error``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NODE_TYPES = ("normal", "branch", "loop", "break")
STRATEGIES = ("stop", "manual", "continue", "break_loop", "continue_loop")
TRIGGER = "trigger"


class DefinitionError(ValueError):
    """The definition is not a well-formed workflow; ``problems`` say where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Node:
    name: str
    type: str = "normal"
    content: dict[str, list[Node]] = field(default_factory=dict)
    target: str | None = None  # a break's loop

    def to_export(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "content": {k: [n.to_export() for n in v] for k, v in self.content.items()},
        }
        if self.target is not None:
            out["target"] = self.target
        return out


@dataclass
class Step:
    name: str
    connector: str
    version: str
    operation: str
    properties: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    description: str = ""
    error_handling: dict[str, Any] = field(default_factory=dict)
    authentication: str | None = None  # an authentication id
    output_schema: dict[str, Any] = field(default_factory=dict)

    @property
    def strategy(self) -> str:
        return str(self.error_handling.get("strategy") or "stop")

    def to_export(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "connector": {"name": self.connector, "version": self.version},
            "operation": self.operation,
            "properties": self.properties,
            "error_handling": self.error_handling,
            "output_schema": self.output_schema,
        }
        if self.authentication is not None:
            out["authentication"] = self.authentication
        return out


@dataclass
class Workflow:
    title: str
    structure: list[Node]
    steps: dict[str, Step]
    settings: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    @property
    def trigger(self) -> Step:
        return self.steps[TRIGGER]

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.settings.get("config") or {})

    def walk(self, nodes: list[Node] | None = None):
        """Every node, depth first, in document order."""
        for node in self.structure if nodes is None else nodes:
            yield node
            for children in node.content.values():
                yield from self.walk(children)

    def to_export(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "tags": list(self.tags),
            "settings": self.settings,
            "steps_structure": [n.to_export() for n in self.structure],
            "steps": {name: s.to_export() for name, s in self.steps.items()},
        }


def _node(data: Any, where: str, problems: list[str]) -> Node | None:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        problems.append(f"{where}: a node needs a name")
        return None
    kind = data.get("type", "normal")
    if kind not in NODE_TYPES:
        problems.append(f"{where} ({data['name']}): unknown node type {kind!r}")
        return None
    content: dict[str, list[Node]] = {}
    raw = data.get("content") or {}
    if not isinstance(raw, dict):
        problems.append(f"{where} ({data['name']}): content must be an object")
        raw = {}
    for key, children in raw.items():
        if not isinstance(children, list):
            problems.append(f"{where} ({data['name']}): content.{key} must be a list")
            continue
        parsed = [_node(c, f"{where}.{key}[{i}]", problems) for i, c in enumerate(children)]
        content[key] = [n for n in parsed if n is not None]
    target = data.get("target")
    if kind == "break" and not isinstance(target, str):
        problems.append(f"{where} ({data['name']}): a break needs a target loop")
    return Node(name=data["name"], type=kind, content=content, target=target)


def _step(name: str, data: Any, problems: list[str]) -> Step | None:
    if not isinstance(data, dict):
        problems.append(f"step {name}: must be an object")
        return None
    connector = data.get("connector") or {}
    if not isinstance(connector, dict) or not connector.get("name"):
        problems.append(f"step {name}: connector.name is missing")
        return None
    properties = data.get("properties") or {}
    if not isinstance(properties, dict):
        problems.append(f"step {name}: properties must be an object")
        properties = {}
    handling = data.get("error_handling") or {}
    if not isinstance(handling, dict):
        problems.append(f"step {name}: error_handling must be an object")
        handling = {}
    strategy = handling.get("strategy") or "stop"
    if strategy not in STRATEGIES:
        problems.append(
            f"step {name}: error_handling.strategy must be one of {', '.join(STRATEGIES)}"
        )
    return Step(
        name=name,
        connector=str(connector["name"]),
        version=str(connector.get("version") or ""),
        operation=str(data.get("operation") or ""),
        properties=properties,
        title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
        error_handling=handling,
        authentication=data.get("authentication"),
        output_schema=data.get("output_schema") or {},
    )


def parse(data: Any) -> Workflow:
    """One workflow of an export (or of Patchbay's own API, the same shape)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise DefinitionError(["a workflow must be an object"])
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append("title is missing")
    raw_structure = data.get("steps_structure")
    raw_steps = data.get("steps")
    if not isinstance(raw_structure, list) or not raw_structure:
        problems.append("steps_structure must be a non-empty list")
        raw_structure = []
    if not isinstance(raw_steps, dict):
        problems.append("steps must be an object keyed by step name")
        raw_steps = {}
    structure = [
        n
        for n in (_node(d, f"steps_structure[{i}]", problems) for i, d in enumerate(raw_structure))
        if n is not None
    ]
    steps = {name: s for name, s in ((n, _step(n, d, problems)) for n, d in raw_steps.items()) if s}
    settings = data.get("settings") or {}
    if not isinstance(settings, dict):
        problems.append("settings must be an object")
        settings = {}
    workflow = Workflow(
        title=title if isinstance(title, str) else "",
        structure=structure,
        steps=steps,
        settings=settings,
        tags=list(data.get("tags") or []),
    )
    problems.extend(structural_problems(workflow))
    if problems:
        raise DefinitionError(problems)
    return workflow


def structural_problems(workflow: Workflow) -> list[str]:
    """What makes the tree itself wrong: the trigger first, every node a step, names
    unique, breaks inside their loop, branch contents matching their kind."""
    problems: list[str] = []
    if not workflow.structure or workflow.structure[0].name != TRIGGER:
        problems.append("the first node must be the trigger (named 'trigger')")
    if TRIGGER not in workflow.steps:
        problems.append("steps.trigger is missing")
    seen: set[str] = set()

    def visit(nodes: list[Node], loops: tuple[str, ...]) -> None:
        for node in nodes:
            if node.name in seen:
                problems.append(f"{node.name}: appears twice in steps_structure")
            seen.add(node.name)
            if node.type == "break":
                # Tray also writes a step for a break (connector break-loop, operation
                # break); the node alone says what happens, so the step may be absent and
                # is never run.
                if node.target not in loops:
                    problems.append(
                        f"{node.name}: a break must be inside the loop it targets ({node.target})"
                    )
                continue
            step = workflow.steps.get(node.name)
            if step is None:
                problems.append(f"{node.name}: no step of that name in steps")
                continue
            if node.type == "loop":
                if "_loop" not in node.content:
                    problems.append(f"{node.name}: a loop node needs content._loop")
                visit(node.content.get("_loop", []), (*loops, node.name))
                continue
            if node.type == "branch":
                if step.strategy == "manual" and not {"success", "error"} <= set(node.content):
                    problems.append(
                        f"{node.name}: manual error handling needs content.success and "
                        "content.error"
                    )
            elif step.strategy == "manual":
                problems.append(f"{node.name}: manual error handling needs a branch node")
            if step.strategy in ("break_loop", "continue_loop") and not loops:
                problems.append(f"{node.name}: {step.strategy} is only possible inside a loop")
            for children in node.content.values():
                visit(children, loops)

    visit(workflow.structure, ())
    for name in workflow.steps:
        if name not in seen:
            problems.append(f"{name}: a step that is not in steps_structure")
    return problems


def typed(value: Any) -> dict[str, Any]:
    """Plain JSON as Tray's typed property values; a string starting with ``$.`` is a
    reference (``jsonpath``), other strings may interpolate ``{$.path}``."""
    if isinstance(value, dict) and value.get("type") == "jsonpath":
        return value  # already typed (a reference with a fallback)
    if isinstance(value, dict):
        return {"type": "object", "value": {k: typed(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"type": "array", "value": [typed(v) for v in value]}
    if isinstance(value, str) and value.startswith("$."):
        return {"type": "jsonpath", "value": value}
    if value is None:
        return {"type": "null", "value": None}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int):
        return {"type": "integer", "value": value}
    if isinstance(value, float):
        return {"type": "number", "value": value}
    return {"type": "string", "value": value}
