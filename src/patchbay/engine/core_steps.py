"""Core steps the engine runs itself (they shape control flow or touch the run), with
Tray's connector names: ``loop``, ``branch``, ``noop`` (the manual trigger), and the
declarations of ``storage``, ``delay``, ``terminate`` and ``trigger-reply`` (whose effects
need the run: the runtime and the interpreter carry them out). Helpers that are pure
functions of their input (text, lists, dates, conditions, mapping, scripts) are ordinary
connectors in their own folders and run like any other.
"""

from __future__ import annotations

from typing import Any

# name -> (versions Tray exports carry, operations)
ENGINE_STEPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "loop": (("1.3",), ("loop_array", "loop_object", "loop_forever")),
    "branch": (("1.1",), ("branch",)),
    "noop": (("1.0",), ("trigger",)),
    "webhook": (("2.0",), ("webhook",)),
    "manual": (("1.0",), ("trigger",)),
    "callable-trigger": (("1.0",), ("trigger",)),
    "alerting-trigger": (("1.0",), ("trigger",)),
    "storage": (
        ("1.4",),
        ("get", "set", "delete", "append_to_list", "atomic_increment"),
    ),
    "delay": (("1.0",), ("delay",)),
    "terminate": (("1.0",), ("terminate",)),
    "trigger-reply": (("1.0",), ("trigger_reply",)),
    "call-workflow": (("2.0",), ("fire_and_forget", "fire_and_wait")),
    "callable-response": (("1.0",), ("response",)),
}

STORAGE_SCOPES = ("Current Run", "Workflow", "Account")
# Engine steps that take payload references as they are (the reply holds the reference;
# the webhook answer streams it).
PAYLOAD_STEPS = frozenset({"trigger-reply", "callable-response"})
# Engine steps that only compute (no checkpoint needed before them).
PURE_ENGINE_STEPS = frozenset(
    {"loop", "branch", "noop", "manual", "webhook", "callable-trigger", "alerting-trigger"}
)


class StepInputError(ValueError):
    """The step's input cannot work (never retried)."""


def is_engine_step(connector: str) -> bool:
    return connector in ENGINE_STEPS


def loop_items(operation: str, data: dict[str, Any]) -> dict[str, Any]:
    """What a loop iterates: ``{"items": [...]}``, or ``{"items": None}`` for ever."""
    if operation == "loop_forever":
        return {"items": None}
    if operation == "loop_object":
        value = data.get("object")
        if not isinstance(value, dict):
            raise StepInputError("loop_object needs an object in 'object'")
        return {"items": [{"key": k, "value": v} for k, v in value.items()], "by_key": True}
    value = data.get("array", data.get("list"))
    if not isinstance(value, list):
        raise StepInputError("loop_array needs a list in 'array'")
    return {"items": value}


def pick_branch(data: dict[str, Any]) -> dict[str, Any]:
    """``branch``: the first of ``branches`` ([{"name" or "label", "value"}]) whose value
    equals ``value``, else ``default``."""
    value = data.get("value")
    for case in data.get("branches") or []:
        if isinstance(case, dict) and case.get("value") == value:
            name = case.get("name") or case.get("label")
            if name:
                return {"branch": str(name), "value": value}
    return {"branch": "default", "value": value}


def storage_scope(scope: str, *, run_id: str, workflow_id: str, org_id: str) -> str:
    if scope == "Current Run":
        return f"run:{run_id}"
    if scope == "Workflow":
        return f"workflow:{workflow_id}"
    if scope == "Account":
        return f"account:{org_id}"
    raise StepInputError(f"scope must be one of {', '.join(STORAGE_SCOPES)}, not {scope!r}")
