"""The runtime the interpreter talks to for one run (``engine.interpreter.Runtime``), backed
by the run's journal (``run_steps``).

The interpreter replays from the top on every resumption; the runtime answers from the
journal for everything that already finished, so a finished step never runs twice. Each
step's row is written *before* the step runs and completed after it: a row found
``running`` on resumption was interrupted (the process died mid-call) and is run again
with the same idempotency key. Sleeps (delays, retry waits) are journaled wake-up times:
the runtime raises :class:`Suspend`, and the run waits, holding no worker, until it is due.
Failed attempts are retried as Tray's table says (``retries``). Engine steps are carried
out by ``engine.core_steps``, which reaches the run's world through this runtime.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ....connectors.sdk.errors import ConnectorError
from ....connectors.sdk.runner import InputInvalid, run_operation
from ....engine import core_steps
from ....engine.core_steps import input_error_of
from ....engine.definition import Step
from ....engine.interpreter import StepOutcome
from ....payload_refs import has_refs, is_ref, replace_refs
from ....storage.models import RunStep, WorkflowRun, utcnow
from ...errors import NotFound
from ..payload_store import PayloadNotFound
from ..run_logs import credential_secrets, mask, redact, seal, unseal
from .journal import FINAL, JOURNAL_COLUMNS, Entry
from .retries import KIND_OF, RETRIES, retry_delay

if TYPE_CHECKING:
    from . import Runs

log = logging.getLogger("patchbay.runs")

CALLED_RUN_POLL = timedelta(seconds=30)  # a run waiting for a called one looks again after


class Suspend(Exception):
    """The run waits until ``when``; it holds no worker meanwhile."""

    def __init__(self, when: datetime) -> None:
        self.when = when


class RunRuntime:
    """The interpreter's runtime for one run, backed by the run's journal."""

    def __init__(self, runs: Runs, run: WorkflowRun, journal: dict[str, RunStep]) -> None:
        self.runs = runs
        self.run = run
        self.journal = journal
        self.steps_run = 0
        self.run_storage = False  # whether it used "Current Run" storage
        self.pending: list[tuple[Any, dict[str, Any]]] = []  # deferred journal writes
        self.loaded: dict[str, Any] = {}  # stored payloads read by this run, by id
        self.secrets: frozenset[str] = frozenset()  # credentials $.auth handed out

    # -- journal --------------------------------------------------------------------------
    async def _write(self, row: RunStep, *, defer: bool = False) -> RunStep:
        """Upsert one journal entry; returns once it is committed (group commit). With
        ``defer``, the write waits for the run's next one, or for its end, and commits with
        it: a step's result is still durable before anything else happens (every other
        write, every step, flushes first), at one commit less per run."""
        params = {c: getattr(row, c) for c in JOURNAL_COLUMNS}
        params["run_id"] = self.run.id
        params["started_at"] = params["started_at"] or utcnow()
        params["attempts"] = params["attempts"] or 0
        self.pending.append((self.runs.journal_upsert, params))
        if not defer:
            await self.flush()
        return row

    async def flush(self) -> None:
        if self.pending:
            writes, self.pending = self.pending, []
            await self.runs.writes.execute_many(writes)

    async def _value(self, key: str, make) -> Any:
        found = self.journal.get(key)
        if found is not None:
            return found.output
        value = make()
        row = Entry(key=key, kind="value", status="succeeded", output=value)
        self.journal[key] = await self._write(row)
        return value

    async def now(self, key: str) -> datetime:
        return datetime.fromisoformat(await self._value(key + "~now", lambda: utcnow().isoformat()))

    async def new_id(self, key: str) -> str:
        return await self._value(key + "~id", lambda: str(uuid.uuid4()))

    async def sleep_until(self, key: str, when: datetime) -> None:
        recorded = await self._value(key + "~sleep", lambda: when.isoformat())
        wake = datetime.fromisoformat(recorded)
        if utcnow() < wake:
            raise Suspend(wake)

    # -- $.auth ---------------------------------------------------------------------------
    async def auth_fields(self, step: Step) -> dict[str, Any]:
        """What ``$.auth`` is in ``step``: its authentication's fields (user data and
        credentials, refreshed first when about to expire). Its credential values are
        masked wherever they show up in a logged input. LookupError when it is unknown or
        needs re-authorizing."""
        try:
            auth = await self._prepared_auth(step)
        except NotFound as exc:
            raise LookupError(exc.message) from None
        except ConnectorError as exc:
            raise LookupError(f"{step.name}'s authentication: {exc.message}") from None
        self.secrets = self.secrets | credential_secrets(auth.credentials)
        return {**auth.user_data, **auth.credentials}

    async def _prepared_auth(self, step: Step):
        """The step's authentication, as Call Connector prepares it: refused when it needs
        re-authorization, refreshed when about to expire. Raises NotFound, ConnectorError."""
        # any of the organisation's authentications (its end users' too) in the workflow's
        # workspace: another workspace's is as if it did not exist
        workspace = await self.runs.versions.workspace(self.run.workflow_id)
        return await self.runs.credentials.ready_for_call(
            self.run.org_id, step.authentication, workspace_id=workspace
        )

    # -- payloads -------------------------------------------------------------------------
    async def load_payload(self, ref: dict[str, Any]) -> Any:
        payload_id = ref.get("$payload")
        if payload_id not in self.loaded:
            self.loaded[payload_id] = await self.runs.payloads.load(self.run.org_id, ref)
        return self.loaded[payload_id]

    async def _values(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the stored payloads it refers to read (for a step that does not
        take references)."""
        if not has_refs(data):
            return data
        return await replace_refs(data, self.load_payload)

    async def _journaled(self, output: Any) -> Any:
        """What the journal keeps of a step's output (see run_logs.seal)."""
        return await self._by_reference(seal(output, self.secrets, self.runs.keyring))

    async def _by_reference(self, value: Any) -> Any:
        """``value``, or a reference to it once stored when its JSON is over the inline
        threshold (what the journal keeps of a large output or input)."""
        if value is None or type(value) in (bool, int, float):
            return value
        try:
            encoded = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            return value
        if len(encoded) <= self.runs.payloads.inline_bytes:
            return value
        payloads = self.runs.payloads
        return await payloads.put(self.run.org_id, self.run.id, encoded, "application/json", "json")

    # -- steps ----------------------------------------------------------------------------
    async def run_step(self, key: str, step: Step, data: dict[str, Any]) -> StepOutcome:
        row = self.journal.get(key)
        if row is not None and row.status in ("succeeded", "failed"):
            output = row.output
            if is_ref(output):  # journaled by reference: replayed as the value it was
                output = await self.load_payload(output)
            return StepOutcome(
                row.status == "succeeded", unseal(output, self.runs.keyring), row.error
            )
        await self.flush()  # the previous step's result is durable before this one starts
        if step.connector == "call-workflow":
            return await self._call_workflow(key, step, data)
        self.steps_run += 1
        limits = self.runs.settings
        if len(self.journal) + self.steps_run > limits.workflow_max_steps:
            message = f"The run exceeded {limits.workflow_max_steps} steps"
            return StepOutcome(False, error={"message": message, "kind": "limit_exceeded"})
        started = self.run.started_at or utcnow()
        if (utcnow() - started).total_seconds() > limits.workflow_max_run_seconds:
            message = f"The run exceeded {limits.workflow_max_run_seconds:g} s"
            return StepOutcome(False, error={"message": message, "kind": "limit_exceeded"})
        if row is None:
            row = self._entry(key, step, data)
            row.input = await self._by_reference(row.input)
        while True:
            # After a failed attempt, wait as Tray's table says (durably). An attempt found
            # "running" was interrupted by a crash: it goes again at once.
            if row.status == "retrying":
                delay = self._delay(row)
                await self.sleep_until(
                    f"{key}~retry{row.attempts}", utcnow() + timedelta(seconds=delay)
                )
            row.attempts += 1
            row.status = "running"
            row.started_at = utcnow()
            if not self.is_pure(step):
                row = await self._write(row)  # checkpoint: this attempt started
            outcome, kind = await self._execute(step, data, f"{self.run.id}:{key}")
            outcome.error = mask(outcome.error, self.secrets)  # a message echoing a credential
            retries = RETRIES.get(kind, ())
            if outcome.ok or row.attempts > len(retries):
                row.status = "succeeded" if outcome.ok else "failed"
                # The journal keeps the real output (a resumed run replays it), sealed when it
                # echoes a credential, by reference when it is large; the API shows it
                # redacted.
                row.output = await self._journaled(outcome.output) if outcome.ok else None
                row.error = outcome.error
                row.finished_at = utcnow()
                row = await self._write(row, defer=True)
                self.journal[key] = row
                if outcome.ok:
                    # the interpreter needs the real output, not the redacted log
                    return StepOutcome(True, outcome.output)
                return outcome
            row.status = "retrying"
            row.error = outcome.error
            row = await self._write(row)
            self.journal[key] = row

    async def _call_workflow(self, key: str, step: Step, data: dict[str, Any]) -> StepOutcome:
        """``call-workflow`` (engine/core_steps.py), journaled once it has its outcome (a
        run suspended while it waits for the called one has nothing to journal yet)."""
        outcome = await core_steps.call_workflow(self, key, step.operation, data)
        return await self._record(key, step, data, outcome)

    async def _record(self, key: str, step: Step, data, outcome: StepOutcome) -> StepOutcome:
        """Journal a step whose execution is its own business (no retries)."""
        now = utcnow()
        row = self._entry(
            key,
            step,
            data,
            status="succeeded" if outcome.ok else "failed",
            output=await self._journaled(outcome.output) if outcome.ok else None,
            error=mask(outcome.error, self.secrets),
            attempts=1,
            started_at=now,
            finished_at=now,
        )
        self.journal[key] = await self._write(row)
        return outcome

    def _entry(self, key: str, step: Step, data: dict[str, Any], **fields: Any) -> Entry:
        """A journal entry for ``step`` (its input as logged: redacted)."""
        return Entry(
            key=key,
            kind="step",
            step_name=step.name,
            connector=step.connector,
            operation=step.operation,
            input=redact(data, self.secrets),
            **fields,
        )

    def _delay(self, row: RunStep) -> float:
        return retry_delay(row.error, row.attempts, self.runs.settings.workflow_retry_scale)

    async def _execute(
        self, step: Step, data: dict[str, Any], idempotency_key: str
    ) -> tuple[StepOutcome, str]:
        """Run one attempt: (outcome, Tray error kind for the retry table)."""
        try:
            if core_steps.is_engine_step(step.connector):
                if step.connector not in core_steps.PAYLOAD_STEPS:
                    data = await self._values(data)
                output = await core_steps.run_engine_step(
                    self, step.connector, step.operation, data
                )
                return StepOutcome(True, output), ""
            return await self._connector_step(step, data, idempotency_key)
        except PayloadNotFound as exc:
            return StepOutcome(False, error=input_error_of(str(exc))), "user_input_error"
        except core_steps.StepInputError as exc:
            return StepOutcome(False, error=input_error_of(str(exc))), "user_input_error"
        except Exception as exc:  # a crash in the connector: retried like Tray
            log.exception("step %s crashed", step.name)
            error = {"message": f"{exc.__class__.__name__}: {exc}", "kind": "connector_crash"}
            return StepOutcome(False, error=error), "connector_crash"

    async def _connector_step(self, step: Step, data, idempotency_key: str):
        connector, _ = self.runs.workflows.connector_for(
            step.connector, step.version, step.operation
        )
        op = connector.operation(step.operation)
        if not op.payloads:
            data = await self._values(data)
        credentials = user_data = refresh = None
        if step.authentication:
            # As for Call Connector: refused when it needs re-authorization, refreshed
            # when about to expire, and once more on a 401.
            try:
                auth = await self._prepared_auth(step)
            except NotFound as exc:
                return StepOutcome(False, error=input_error_of(exc.message)), "user_input_error"
            except ConnectorError as exc:
                error = exc.to_output()
                return StepOutcome(False, error=error), KIND_OF.get(exc.kind, "api_error")
            credentials, user_data, refresh = auth.credentials, auth.user_data, auth.refresh
            # a service may echo any of them back: masked and sealed like $.auth's
            self.secrets = self.secrets | credential_secrets(credentials)
        try:
            result = await run_operation(
                connector,
                op,
                data,
                clients=self.runs.clients,
                credentials=credentials,
                user_data=user_data,
                auth_id=step.authentication,
                refresh=refresh,
                idempotency_key=idempotency_key,
                payloads=self.runs.payloads.access(self.run.org_id, self.run.id),
            )
        except InputInvalid as exc:
            return StepOutcome(False, error=input_error_of(exc.message)), "user_input_error"
        if result.outcome == "success":
            return StepOutcome(True, result.output), ""
        error = dict(result.output)
        return StepOutcome(False, error=error), KIND_OF.get(error.get("kind", ""), "api_error")

    def is_pure(self, step: Step) -> bool:
        """Whether running ``step`` again is harmless (no checkpoint before it)."""
        if core_steps.is_engine_step(step.connector):
            return step.connector in core_steps.PURE_ENGINE_STEPS
        try:
            connector, _ = self.runs.workflows.connector_for(
                step.connector, step.version, step.operation
            )
        except LookupError:
            return False
        return not connector.side_effects

    # -- what the core steps reach (engine.interpreter.Runtime) -----------------------------
    def _scope(self, scope: str) -> str:
        if scope == "Current Run":
            self.run_storage = True  # cleared when the run ends
        run = self.run
        return core_steps.storage_scope(
            scope, run_id=run.id, workflow_id=run.workflow_id, org_id=run.org_id
        )

    async def storage_read(self, scope: str, key: str) -> tuple[bool, Any, Any]:
        return await self.runs.stored.read(self._scope(scope), key)

    async def storage_write(self, scope: str, key: str, value: Any, version: Any) -> bool:
        return await self.runs.stored.write(
            self.run.org_id, self._scope(scope), key, value, version
        )

    async def storage_delete(self, scope: str, key: str) -> bool:
        return await self.runs.stored.delete(self._scope(scope), key)

    async def set_reply(self, reply: dict[str, Any]) -> None:
        await self.runs.replies.set_reply(self.run.id, reply)

    async def start_run(self, key: str, workflow_id: str, data: Any) -> str:
        child_id = core_steps.child_run_id(self.run.id, key)
        try:
            await self.runs.starts.start_child(self.run, child_id, workflow_id, data)
        except NotFound as exc:
            raise LookupError(exc.message) from None
        return child_id

    async def ended_run(self, run_id: str) -> WorkflowRun:
        child = await self.runs.replies.run_state(run_id)
        if child is None or child.status not in FINAL:
            raise Suspend(utcnow() + CALLED_RUN_POLL)  # the child's end wakes us first
        return child
