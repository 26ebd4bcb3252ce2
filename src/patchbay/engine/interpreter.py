"""The deterministic workflow interpreter.

It walks a :class:`~patchbay.engine.definition.Workflow`'s tree and reaches the outside
world only through a :class:`Runtime`: run a step, sleep until, now, new id. Each call
carries a *key* naming that execution uniquely and stably (the step's name, plus the
iteration of every loop around it), so a runtime can journal every result and, when a run
resumes after a crash or a long delay, hand recorded results back instead of executing
again: the interpreter simply runs again from the top and replays. This is the contract
that lets the same interpreter run on Temporal later (a workflow function whose activities
are the runtime's calls).

Control flow handled here: boolean branches (``true`` / ``false``), named branches (the
``branch`` step's output ``value`` picks a case, else ``default``), loops (list, object,
forever) with breaks, manual error handling (``success`` / ``error`` contents and
``$.errors.<step>``), continue / break-loop / continue-loop strategies, terminate and delay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from .definition import TRIGGER, Node, Step, Workflow
from .mapping import MappingError, PayloadNeeded, Scope, resolve_value

LOOP_FOREVER_LIMIT = 100_000  # a loop_forever without a break stops here, failing the run

UNITS = {
    "milliseconds": 0.001,
    "seconds": 1,
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
}


@dataclass
class StepOutcome:
    ok: bool
    output: Any = None
    error: dict[str, Any] | None = None


class Runtime(Protocol):
    """The interpreter's only door to the world (and its journal)."""

    async def run_step(self, key: str, step: Step, input: dict[str, Any]) -> StepOutcome: ...

    async def sleep_until(self, key: str, when: datetime) -> None: ...

    async def now(self, key: str) -> datetime: ...

    async def new_id(self, key: str) -> str: ...

    async def auth_fields(self, step: Step) -> dict[str, Any]:
        """What ``$.auth`` is in ``step`` (a step with an ``authentication``): its fields.
        LookupError when it cannot be used."""
        ...

    async def load_payload(self, ref: dict[str, Any]) -> Any:
        """The value behind a payload reference (``patchbay.payload_refs``); LookupError when
        there is no such payload for this run's organisation."""
        ...

    # -- what the core steps need (engine/core_steps.py) ------------------------------------
    async def storage_read(self, scope: str, key: str) -> tuple[bool, Any, Any]:
        """``storage``: (whether ``key`` is set in ``scope`` (a Tray scope: ``Current Run``,
        ``Workflow``, ``Account``), its value, its version for :meth:`storage_write`)."""
        ...

    async def storage_write(self, scope: str, key: str, value: Any, version: Any) -> bool:
        """Set ``key`` to ``value`` if it is still at ``version`` (None: still unset);
        False when a concurrent run changed it first (read it again)."""
        ...

    async def storage_delete(self, scope: str, key: str) -> bool:
        """Remove ``key``; whether it was set."""
        ...

    async def set_reply(self, reply: dict[str, Any]) -> None:
        """``trigger-reply``, ``callable-response``: the run's answer to its caller."""
        ...

    async def start_run(self, key: str, workflow_id: str, data: Any) -> str:
        """``call-workflow``: start a run of ``workflow_id`` (of this run's organisation)
        with ``data`` as its trigger output, once for ``key`` (a resumed run gets the same
        run back); its id. LookupError when there is no such workflow."""
        ...

    async def ended_run(self, run_id: str) -> EndedRun:
        """``call-workflow`` (fire and wait): the called run once it ended. The runtime
        suspends this run meanwhile (it raises its own exception, and the interpreter
        replays once the called run ended)."""
        ...


class EndedRun(Protocol):
    status: str  # "succeeded" | "failed" | "cancelled"
    error: dict[str, Any] | None
    reply: dict[str, Any] | None


class RunFailed(Exception):
    def __init__(self, step: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message") or f"step {step} failed")
        self.step = step
        self.error = error


class Terminated(Exception):
    def __init__(self, status: str, message: str, step: str) -> None:
        super().__init__(message)
        self.status = status  # "succeeded" | "failed"
        self.message = message
        self.step = step


class _Break(Exception):
    def __init__(self, loop: str | None) -> None:
        self.loop = loop  # None: the innermost


class _Continue(Exception):
    pass


@dataclass
class Result:
    status: str  # "succeeded" | "failed"
    steps: dict[str, Any]
    error: dict[str, Any] | None = None
    failed_step: str | None = None


def input_error(step: str, message: str) -> dict[str, Any]:
    return {"message": message, "kind": "user_input_error", "step": step}


class Interpreter:
    def __init__(
        self,
        workflow: Workflow,
        runtime: Runtime,
        *,
        trigger_output: Any,
        env: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> None:
        self.workflow = workflow
        self.runtime = runtime
        self.scope = Scope(
            steps={TRIGGER: trigger_output},
            config=workflow.config,
            env=env or {},
            auth=auth or {},
            errors={},
            payloads={},
        )
        self._auth_users: dict[str, bool] = {}

    async def run(self) -> Result:
        try:
            await self._nodes(self.workflow.structure[1:], self.scope, ())
        except RunFailed as failed:
            return Result("failed", dict(self.scope.steps), failed.error, failed.step)
        except Terminated as t:
            error = (
                None if t.status == "succeeded" else {"message": t.message, "kind": "terminated"}
            )
            return Result(t.status, dict(self.scope.steps), error, t.step)
        return Result("succeeded", dict(self.scope.steps))

    # -- the tree ---------------------------------------------------------------------------
    async def _nodes(self, nodes: list[Node], scope: Scope, loops: tuple) -> None:
        for node in nodes:
            await self._node(node, scope, loops)

    def _key(self, name: str, loops: tuple) -> str:
        return name + "".join(f"/{loop}#{i}" for loop, i in loops)

    async def _node(self, node: Node, scope: Scope, loops: tuple) -> None:
        if node.type == "break":
            raise _Break(node.target)
        step = self.workflow.steps[node.name]
        key = self._key(node.name, loops)
        if step.connector == "loop" or node.type == "loop":
            await self._loop(node, step, key, scope, loops)
            return
        outcome = await self._step(step, key, scope)
        if node.type == "branch" and step.strategy == "manual":
            branch = "success" if outcome.ok else "error"
            await self._nodes(node.content.get(branch, []), scope, loops)
            return
        if not outcome.ok:
            return  # continue, recorded by _step
        if node.type == "branch":
            await self._nodes(node.content.get(self._branch_key(step, outcome), []), scope, loops)

    @staticmethod
    def _branch_key(step: Step, outcome: StepOutcome) -> str:
        output = outcome.output if isinstance(outcome.output, dict) else {}
        if step.connector == "boolean-condition":
            return "true" if output.get("result") else "false"
        return str(output.get("branch") or "default")

    async def _step(self, step: Step, key: str, scope: Scope) -> StepOutcome:
        """Resolve the input, run (or replay) the step, apply its error handling."""
        try:
            data = await self._resolve(step, scope)
        except MappingError as exc:
            outcome = StepOutcome(False, error=input_error(step.name, str(exc)))
        else:
            if step.connector == "terminate":
                status = str(data.get("status") or "success")
                raise Terminated(
                    "succeeded" if status in ("success", "succeeded") else "failed",
                    str(data.get("message") or f"Terminated by {step.name}"),
                    step.name,
                )
            if step.connector == "delay":
                await self._delay(step, key, data)
                outcome = StepOutcome(True, {"delayed": True})
            else:
                outcome = await self.runtime.run_step(key, step, data)
        if outcome.ok:
            scope.steps[step.name] = outcome.output
            return outcome
        error = outcome.error or {"message": f"{step.name} failed"}
        scope.errors[step.name] = error
        strategy = step.strategy
        if strategy == "manual":
            return outcome
        if strategy == "continue":
            scope.steps[step.name] = {"error": error}
            return outcome
        if strategy == "break_loop":
            raise _Break(None)
        if strategy == "continue_loop":
            raise _Continue()
        raise RunFailed(step.name, error)

    def _uses_auth(self, step: Step) -> bool:
        """Whether a property of ``step`` refers to ``$.auth`` (its authentication is only
        read for such steps: a replayed step needs nothing but its journal)."""
        found = self._auth_users.get(step.name)
        if found is None:
            found = self._auth_users[step.name] = "$.auth" in json.dumps(step.properties)
        return found

    async def _resolve(self, step: Step, scope: Scope) -> dict[str, Any]:
        """The step's input. A path going into a stored payload reads it (once per run)
        through the runtime, then resolution starts again."""
        if step.authentication and self._uses_auth(step):
            try:
                scope = replace(scope, auth=await self.runtime.auth_fields(step))
            except LookupError as exc:
                raise MappingError(str(exc.args[0] if exc.args else exc)) from None
        while True:
            try:
                return {name: resolve_value(v, scope) for name, v in step.properties.items()}
            except PayloadNeeded as need:
                try:
                    value = await self.runtime.load_payload(need.ref)
                except LookupError as exc:
                    raise MappingError(str(exc.args[0] if exc.args else exc)) from None
                scope.payloads[need.ref["$payload"]] = value  # type: ignore[index]

    async def _delay(self, step: Step, key: str, data: dict[str, Any]) -> None:
        now = await self.runtime.now(key)
        if data.get("until"):
            when = datetime.fromisoformat(str(data["until"]))
        else:
            unit = str(data.get("unit") or "seconds")
            seconds = float(data.get("amount") or data.get("delay") or 0) * UNITS.get(unit, 1)
            when = now + timedelta(seconds=seconds)
        await self.runtime.sleep_until(key, when)

    async def _loop(self, node: Node, step: Step, key: str, scope: Scope, loops: tuple) -> None:
        outcome = await self._step(step, key, scope)
        if not outcome.ok:
            return
        output = outcome.output if isinstance(outcome.output, dict) else {}
        items = output.get("items")
        by_key = bool(output.get("by_key"))
        body = node.content.get("_loop", [])
        count = 0
        forever = items is None
        iterable = range(LOOP_FOREVER_LIMIT) if forever else items
        try:
            for index, item in enumerate(iterable):
                if by_key:  # loop_object: value and key of each entry
                    child = scope.with_loop(step.name, item["value"], index, key=item["key"])
                else:
                    child = scope.with_loop(step.name, index if forever else item, index)
                count = index + 1
                try:
                    await self._nodes(body, child, (*loops, (step.name, index)))
                except _Continue:
                    continue
                except _Break as b:
                    if b.loop in (None, step.name):
                        break
                    raise
            else:
                if forever:
                    raise RunFailed(
                        step.name,
                        input_error(
                            step.name,
                            f"loop_forever ran {LOOP_FOREVER_LIMIT} times without a break",
                        ),
                    )
        finally:
            scope.steps[step.name] = {"iterations": count, "value": None, "index": count - 1}
