"""Core steps the engine runs itself (they shape control flow or touch the run), with
Tray's connector names: ``loop``, ``branch``, ``noop`` (the manual trigger), ``storage``,
``trigger-reply``, ``callable-response`` and ``call-workflow`` (carried out here, reaching
the run's world only through the runtime: its stored values, its reply, the runs it
starts), and the declarations of ``delay`` and ``terminate`` (the interpreter's own).
Helpers that are pure functions of their input (text, lists, dates, conditions, mapping,
scripts) are ordinary connectors in their own folders and run like any other.
"""

from __future__ import annotations

import uuid
from typing import Any

from .interpreter import Runtime, StepOutcome

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
STORAGE_ATTEMPTS = 50  # compare and swap under concurrent runs
# Engine steps that take payload references as they are (the reply holds the reference;
# the webhook answer streams it).
PAYLOAD_STEPS = frozenset({"trigger-reply", "callable-response"})
# Engine steps that only compute (no checkpoint needed before them).
PURE_ENGINE_STEPS = frozenset(
    {"loop", "branch", "noop", "manual", "webhook", "callable-trigger", "alerting-trigger"}
)


class StepInputError(ValueError):
    """The step's input cannot work (never retried)."""


def input_error_of(message: str) -> dict[str, Any]:
    return {"message": message, "kind": "user_input_error"}


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


def child_run_id(run_id: str, key: str) -> str:
    """The id of the run that step ``key`` of run ``run_id`` calls: derived, so a resumed
    parent never starts it twice."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"patchbay:{run_id}:{key}"))


async def run_engine_step(runtime: Runtime, name: str, operation: str, data: dict) -> Any:
    """One attempt of engine step ``name`` (not ``call-workflow``: see :func:`call_workflow`);
    its output. StepInputError when its input cannot work."""
    if name == "loop":
        return loop_items(operation, data)
    if name == "branch":
        return pick_branch(data)
    if name == "storage":
        return await storage(runtime, operation, data)
    if name == "trigger-reply":
        reply = {
            "status": int(data.get("status") or 200),
            "headers": dict(data.get("headers") or {}),
            "body": data.get("body"),
        }
        await runtime.set_reply(reply)
        return reply
    if name == "callable-response":
        reply = {"body": data.get("data")}
        await runtime.set_reply(reply)
        return reply
    return {}


async def storage(runtime: Runtime, operation: str, data: dict[str, Any]) -> Any:
    """Tray's storage step on the runtime's stored values: a read, then a compare and swap
    (tried again while concurrent runs change the same key)."""
    scope = str(data.get("scope") or "Current Run")
    if scope not in STORAGE_SCOPES:
        raise StepInputError(f"scope must be one of {', '.join(STORAGE_SCOPES)}, not {scope!r}")
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise StepInputError("storage needs a key")
    if operation == "delete":
        return {"deleted": await runtime.storage_delete(scope, key)}
    for _ in range(STORAGE_ATTEMPTS):
        found, current, version = await runtime.storage_read(scope, key)
        if operation == "get":
            return {"value": current if found else data.get("default")}
        if operation == "set":
            new = data.get("value")
        elif operation == "append_to_list":
            base = current if isinstance(current, list) else []
            new = [*base, data.get("value")]
        elif operation == "atomic_increment":
            amount = data.get("value_to_add", 1)
            if not isinstance(amount, int | float) or isinstance(amount, bool):
                raise StepInputError("value_to_add must be a number")
            if current is not None and not isinstance(current, int | float):
                raise StepInputError(f"the value at {key} is not a number")
            new = (current or 0) + amount
        else:
            raise StepInputError(f"unknown storage operation {operation}")
        if await runtime.storage_write(scope, key, new, version):
            return {"value": new}
    raise RuntimeError(f"storage key {key} is too contended")


async def call_workflow(runtime: Runtime, key: str, operation: str, data: dict) -> StepOutcome:
    """Start the called workflow's run (once per ``key``); with ``fire_and_wait``, wait
    (the runtime suspends the run until the called one ended) for its callable response."""
    target = data.get("workflow_id")
    if not isinstance(target, str) or not target:
        return StepOutcome(False, error=input_error_of("workflow_id is missing"))
    try:
        child_id = await runtime.start_run(key, target, data.get("data") or {})
    except LookupError as exc:
        return StepOutcome(False, error=input_error_of(str(exc.args[0] if exc.args else exc)))
    if operation == "fire_and_forget":
        return StepOutcome(True, {"runId": child_id})
    child = await runtime.ended_run(child_id)
    if child.status != "succeeded":
        error = {
            "message": f"The called workflow's run {child_id} {child.status}: "
            + str((child.error or {}).get("message", "")),
            "kind": "workflow_error",
            "runId": child_id,
        }
        return StepOutcome(False, error=error)
    response = (child.reply or {}).get("body")
    return StepOutcome(True, {"runId": child_id, "status": child.status, "response": response})
