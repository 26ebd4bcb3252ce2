"""Workflow runs: starting them, the in-process executor, and the runtime the interpreter
talks to (journal, steps, durable sleeps).

A run is executed by whichever process holds its lease. The interpreter replays from the
top on every resumption; the runtime answers from the run's journal (``run_steps``) for
everything that already finished, so a finished step never runs twice. Each step's row is
written *before* the step runs and completed after it: a row found ``running`` on
resumption was interrupted (the process died mid-call) and is run again with the same
idempotency key. Sleeps (delays, retry waits) are journaled wake-up times: a waiting run
holds no worker; it is ``waiting`` with ``wake_at`` until a worker picks it up again.

Automatic retries follow Tray's table by error kind (scaled by
``PATCHBAY_WORKFLOW_RETRY_SCALE``): third-party API errors (and timeouts, rate limits)
3 times every 40 s; a connector crash 3 times; an authentication problem at once, then
twice 20 s apart; bad input never.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import bindparam, case, delete, func, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from ...config import Settings
from ...connectors.sdk.errors import ConnectorError
from ...connectors.sdk.http import HttpClientPool
from ...connectors.sdk.runner import InputInvalid, run_operation
from ...engine import core_steps
from ...engine.definition import Step, Workflow, parse
from ...engine.interpreter import Interpreter, StepOutcome
from ...payload_refs import has_refs, is_ref, replace_refs
from ...storage.db import Database
from ...storage.group_commit import GroupCommit
from ...storage.models import (
    Payload,
    PayloadChunk,
    RunStep,
    StoredValue,
    WorkflowRow,
    WorkflowRun,
    utcnow,
)
from ..credentials.authentications import Authentications
from ..cursors import paginate
from ..errors import BadRequest, NotFound
from ..identity.principal import Principal
from ..polling_loop import PollingLoop, cancel_all
from .definitions import Workflows, plain_value
from .payload_store import PayloadNotFound, Payloads
from .run_logs import credential_secrets, mask, redact, seal, shown, unseal

log = logging.getLogger("patchbay.runs")

# Tray's automatic retries: kind -> delays (seconds) before each retry.
RETRIES: dict[str, tuple[float, ...]] = {
    "api_error": (40, 40, 40),
    "connector_crash": (5, 5, 5),
    "oauth_refresh": (0, 20, 20),
    "user_input_error": (),
}
KIND_OF = {
    "api_error": "api_error",
    "rate_limited": "api_error",
    "timeout": "api_error",
    "auth_error": "oauth_refresh",
    "connector_error": "user_input_error",
}
FINAL = ("succeeded", "failed", "cancelled")
CLAIM_BATCH = 256  # runs claimed by one scan
SCAN_INTERVAL = 0.02  # the shortest time between two scans (wakes in between coalesce)


def input_error_of(message: str) -> dict[str, Any]:
    return {"message": message, "kind": "user_input_error"}


JOURNAL_COLUMNS = (
    "run_id",
    "key",
    "kind",
    "step_name",
    "connector",
    "operation",
    "status",
    "input",
    "output",
    "error",
    "attempts",
    "started_at",
    "finished_at",
)


def journal_upsert(is_sqlite: bool):
    """``INSERT ... ON CONFLICT (run_id, key) DO UPDATE``: one statement for every journal
    write, so the group commit runs them together."""
    table = RunStep.__table__
    insert = sqlite.insert if is_sqlite else postgresql.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={c: statement.excluded[c] for c in JOURNAL_COLUMNS if c not in ("run_id", "key")},
    )


def finish_statement():
    """A run's end (or wait), for the group commit: its outcome, and the lease let go."""
    t = WorkflowRun.__table__
    return (
        update(t)
        .where(
            t.c.id == bindparam("b_id"),
            t.c.lease_owner == bindparam("b_owner"),
            t.c.status != "cancelled",
        )
        .values(
            status=bindparam("status"),
            wake_at=bindparam("wake_at", type_=t.c.wake_at.type),
            finished_at=bindparam("finished_at", type_=t.c.finished_at.type),
            error=bindparam("error", type_=t.c.error.type),
            failed_step=bindparam("failed_step"),
            lease_owner=None,
            lease_until=None,
        )
    )


@dataclass(slots=True)
class Entry:
    """A journal entry being written (rows read back are RunStep objects: same fields)."""

    key: str
    kind: str = "step"
    step_name: str | None = None
    connector: str | None = None
    operation: str | None = None
    status: str = "running"
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None


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
        # any of the organisation's authentications (its end users' too)
        auth = await self.runs.authentications.load_in_org(self.run.org_id, step.authentication)
        oauth = self.runs.authentications.oauth
        if oauth is not None:
            auth = await oauth.prepare(auth)
        return auth

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
            if not self.runs.is_pure(step):
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
        """Start the called workflow's run (its id derived from this step's key, so a
        resumed parent never starts it twice); with ``fire_and_wait``, wait (durably, woken
        when the child ends) for its callable response."""
        target = data.get("workflow_id")
        if not isinstance(target, str) or not target:
            return await self._record(
                key, step, data, StepOutcome(False, error=input_error_of("workflow_id is missing"))
            )
        child_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"patchbay:{self.run.id}:{key}"))
        try:
            await self.runs.start_child(self.run, child_id, target, data.get("data") or {})
        except NotFound as exc:
            return await self._record(
                key, step, data, StepOutcome(False, error=input_error_of(exc.message))
            )
        if step.operation == "fire_and_forget":
            return await self._record(key, step, data, StepOutcome(True, {"runId": child_id}))
        child = await self.runs.run_state(child_id)
        if child is None or child.status not in FINAL:
            raise Suspend(utcnow() + timedelta(seconds=30))  # the child's end wakes us first
        if child.status != "succeeded":
            error = {
                "message": f"The called workflow's run {child_id} {child.status}: "
                + str((child.error or {}).get("message", "")),
                "kind": "workflow_error",
                "runId": child_id,
            }
            return await self._record(key, step, data, StepOutcome(False, error=error))
        response = (child.reply or {}).get("body")
        output = {"runId": child_id, "status": child.status, "response": response}
        return await self._record(key, step, data, StepOutcome(True, output))

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
        kind = (row.error or {}).get("kind", "api_error")
        delays = RETRIES.get(KIND_OF.get(kind, kind), (5,))
        base = delays[min(row.attempts, len(delays)) - 1] if delays else 0
        return base * self.runs.settings.workflow_retry_scale

    async def _execute(
        self, step: Step, data: dict[str, Any], idempotency_key: str
    ) -> tuple[StepOutcome, str]:
        """Run one attempt: (outcome, Tray error kind for the retry table)."""
        try:
            if core_steps.is_engine_step(step.connector):
                if step.connector not in core_steps.PAYLOAD_STEPS:
                    data = await self._values(data)
                return StepOutcome(True, await self._engine_step(step, data)), ""
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
            oauth = self.runs.authentications.oauth
            if oauth is not None:
                refresh = oauth.refresher(auth)
            credentials, user_data = auth.credentials, auth.user_data
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

    async def _engine_step(self, step: Step, data: dict[str, Any]) -> Any:
        name = step.connector
        if name == "loop":
            return core_steps.loop_items(step.operation, data)
        if name == "branch":
            return core_steps.pick_branch(data)
        if name == "storage":
            if (data.get("scope") or "Current Run") == "Current Run":
                self.run_storage = True
            return await self.runs.storage(self.run, step.operation, data)
        if name == "trigger-reply":
            reply = {
                "status": int(data.get("status") or 200),
                "headers": dict(data.get("headers") or {}),
                "body": data.get("body"),
            }
            await self.runs.set_reply(self.run.id, reply)
            return reply
        if name == "callable-response":
            reply = {"body": data.get("data")}
            await self.runs.set_reply(self.run.id, reply)
            return reply
        return {}


class Runs:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        workflows: Workflows,
        authentications: Authentications,
        clients: HttpClientPool,
    ) -> None:
        self.settings = settings
        self.db = db
        self.workflows = workflows
        self.authentications = authentications
        self.keyring = authentications.keyring  # seals outputs echoing a credential
        self.clients = clients
        self.owner = secrets.token_hex(8)
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self._loop = PollingLoop(
            "workflow-executor",
            self._round,
            poll_seconds=settings.worker_poll_seconds,
            min_interval=SCAN_INTERVAL,
        )
        self._next_prune = 0.0
        self._running: dict[str, asyncio.Task] = {}
        self._reply_waiters: dict[str, asyncio.Event] = {}
        self._definitions: dict[tuple[str, int], dict[str, Any]] = {}
        self._parsed: dict[tuple[str, int], Workflow] = {}
        self._leased: set[str] = set()
        self._keeper: asyncio.Task | None = None
        self.writes = GroupCommit(db, "run-journal")
        self.payloads = Payloads(db, settings.workflow_inline_bytes)
        self.journal_upsert = journal_upsert(db.is_sqlite)
        self.finish_statement = finish_statement()
        self.insert_run = WorkflowRun.__table__.insert()
        # every column of a run, None: the base of a run row built in memory
        self._blank_run = {c.key: None for c in WorkflowRun.__table__.c}
        self._hooks: dict[str, tuple[tuple | None, float]] = {}
        self._executing = False  # this process executes runs (start_worker)

    # -- API use cases ---------------------------------------------------------------------
    async def start(
        self, p: Principal, workflow_id: str, trigger_output: Any, source: str = "manual"
    ) -> dict[str, Any]:
        async with self.db.session() as s:
            row = await self.workflows._row(s, p, workflow_id)
            run = WorkflowRun(
                org_id=row.org_id,
                workflow_id=row.id,
                version=row.current_version,
                trigger_source=source,
                trigger_output=trigger_output,
            )
            s.add(run)
            await s.commit()
        self._loop.wake()
        return self.run_to_api(run)

    async def start_child(
        self, parent: WorkflowRun, child_id: str, workflow_id: str, data: Any
    ) -> None:
        async with self.db.session() as s:
            if await s.scalar(select(WorkflowRun.id).where(WorkflowRun.id == child_id)):
                return
            row = await s.scalar(
                select(WorkflowRow).where(
                    WorkflowRow.id == workflow_id,
                    WorkflowRow.org_id == parent.org_id,
                    WorkflowRow.deleted_at.is_(None),
                )
            )
            if row is None:
                raise NotFound(f"Workflow {workflow_id} not found", "workflow_not_found")
            s.add(
                WorkflowRun(
                    id=child_id,
                    org_id=row.org_id,
                    workflow_id=row.id,
                    version=row.current_version,
                    trigger_source="call-workflow",
                    trigger_output=data,
                    parent_run_id=parent.id,
                )
            )
            await s.commit()
        self._loop.wake()

    async def run_state(self, run_id: str) -> WorkflowRun | None:
        async with self.db.session() as s:
            return await s.scalar(select(WorkflowRun).where(WorkflowRun.id == run_id))

    async def set_reply(self, run_id: str, reply: dict[str, Any]) -> None:
        async with self.db.session() as s, s.begin():
            await s.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(reply=reply))
        waiter = self._reply_waiters.get(run_id)
        if waiter is not None:
            waiter.set()

    async def wait_reply(self, run_id: str, timeout: float) -> WorkflowRun | None:
        """The run once it replied (trigger reply) or ended; None after ``timeout``."""
        event = self._reply_waiters.setdefault(run_id, asyncio.Event())
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while True:
                run = await self.run_state(run_id)
                if run is not None and (run.reply is not None or run.status in FINAL):
                    return run
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    # woken at once in this process; another process's run is polled
                    async with asyncio.timeout(min(remaining, 0.05)):
                        await event.wait()
                event.clear()
        finally:
            self._reply_waiters.pop(run_id, None)

    async def start_for_event(self, workflow_id: str, event_id: str, data: Any) -> None:
        """A run for one event of the workflow's trigger subscription. The run's id is the
        event's, so an event delivered twice (at least once) starts one run."""
        async with self.db.session() as s:
            if await s.scalar(select(WorkflowRun.id).where(WorkflowRun.id == event_id)):
                return
            row = await s.scalar(
                select(WorkflowRow).where(
                    WorkflowRow.id == workflow_id,
                    WorkflowRow.enabled.is_(True),
                    WorkflowRow.deleted_at.is_(None),
                )
            )
            if row is None:
                return  # disabled or deleted meanwhile: the event is dropped
            definition = await self.workflows.definition(s, row.id, row.current_version)
            trigger = definition["steps"]["trigger"]["connector"]["name"]
            s.add(
                WorkflowRun(
                    id=event_id,
                    org_id=row.org_id,
                    workflow_id=row.id,
                    version=row.current_version,
                    trigger_source=trigger,
                    trigger_output=data,
                )
            )
            await s.commit()
        self._loop.wake()

    async def hook_target(self, trigger_id: str) -> tuple[str, str, int, dict] | None:
        """(workflow id, org id, version, trigger settings) of the enabled webhook workflow
        behind ``trigger_id``; cached briefly (enabling, disabling and saving forget it in
        this process; other processes see it within ``PATCHBAY_AUTH_CACHE_SECONDS``)."""
        now = time.monotonic()
        cached = self._hooks.get(trigger_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self.db.session() as s:
            row = await s.scalar(
                select(WorkflowRow).where(
                    WorkflowRow.trigger_id == trigger_id,
                    WorkflowRow.enabled.is_(True),
                    WorkflowRow.deleted_at.is_(None),
                )
            )
        target = None
        if row is not None:
            definition = await self.definition(row.id, row.current_version)
            trigger = definition["steps"]["trigger"]
            if trigger["connector"]["name"] == "webhook":
                settings = {k: plain_value(v) for k, v in (trigger.get("properties") or {}).items()}
                target = (row.id, row.org_id, row.current_version, settings)
        if len(self._hooks) > 10_000:
            self._hooks.clear()
        self._hooks[trigger_id] = (target, now + self.settings.auth_cache_seconds)
        return target

    def forget_hooks(self) -> None:
        self._hooks.clear()

    async def start_from_hook(
        self, trigger_id: str, trigger_output: Any, run_id: str | None = None
    ) -> tuple[str, dict[str, Any]] | None:
        """A webhook run of the enabled workflow behind ``trigger_id``, durably stored
        (group commit), and its trigger's settings; None when there is no such workflow.
        ``run_id``: the id a large body was stored for (else a new one)."""
        target = await self.hook_target(trigger_id)
        if target is None:
            return None
        workflow_id, org_id, version, settings = target
        run_id = run_id or str(uuid.uuid4())
        now = utcnow()
        row = {
            "id": run_id,
            "org_id": org_id,
            "workflow_id": workflow_id,
            "version": version,
            "status": "queued",
            "trigger_source": "webhook",
            "trigger_output": trigger_output,
            "created_at": now,
        }
        # Executed here when this process has room (and the workflow no concurrency limit):
        # stored already claimed, under this process's lease, and started once committed,
        # without the round trip through the queue (a scan and a claim). Should the process
        # die, the lease runs out and any worker resumes it, as any claimed run.
        direct = await self._may_start_here(workflow_id, version)
        if direct:
            row.update(
                status="running",
                lease_owner=self.owner,
                lease_until=now + self.lease,
                started_at=now,
            )
        await self.writes.execute(self.insert_run, row)
        if direct:
            self._start(SimpleNamespace(**{**self._blank_run, **row}), fresh=True)
        else:
            self._loop.wake()
        return run_id, settings

    async def _may_start_here(self, workflow_id: str, version: int) -> bool:
        if not self._executing or len(self._running) >= self.settings.workflow_concurrency:
            return False
        return await self._concurrency_limit(workflow_id, version) is None

    async def _concurrency_limit(self, workflow_id: str, version: int) -> int | None:
        """The workflow's ``settings.max_concurrent_runs``, when it sets one."""
        settings = (await self.definition(workflow_id, version)).get("settings") or {}
        limit = settings.get("max_concurrent_runs")
        return limit if isinstance(limit, int) and limit > 0 else None

    async def _run_row(self, s, p: Principal, workflow_id: str, run_id: str) -> WorkflowRun:
        await self.workflows._row(s, p, workflow_id)
        run = await s.scalar(
            select(WorkflowRun).where(
                WorkflowRun.id == run_id, WorkflowRun.workflow_id == workflow_id
            )
        )
        if run is None:
            raise NotFound("Run not found", "run_not_found")
        return run

    @staticmethod
    def run_to_api(run: WorkflowRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "workflowId": run.workflow_id,
            "version": run.version,
            "status": run.status,
            "trigger": run.trigger_source,
            "createdAt": run.created_at.isoformat(),
            "startedAt": run.started_at.isoformat() if run.started_at else None,
            "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
            "error": run.error,
            "failedStep": run.failed_step,
        }

    @staticmethod
    def step_to_api(row: RunStep) -> dict[str, Any]:
        duration = None
        if row.finished_at and row.started_at:
            duration = round((row.finished_at - row.started_at).total_seconds() * 1000, 3)
        return {
            "key": row.key,
            "step": row.step_name,
            "connector": row.connector,
            "operation": row.operation,
            "status": row.status,
            "input": row.input,
            "output": shown(row.output),
            "error": row.error,
            "attempts": row.attempts,
            "startedAt": row.started_at.isoformat(),
            "finishedAt": row.finished_at.isoformat() if row.finished_at else None,
            "durationMs": duration,
        }

    async def list(
        self,
        p: Principal,
        workflow_id: str,
        status: str | None,
        first: int | None,
        cursor: str | None,
        *,
        trigger: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """Runs, oldest first, filtered by status, trigger (``webhook``, a trigger's name,
        ``alerting``...) and creation time (``since`` inclusive, ``until`` exclusive)."""
        if status is not None and status not in (*FINAL, "queued", "running", "waiting"):
            raise BadRequest(
                "status must be queued, running, waiting, succeeded, failed or cancelled",
                "invalid_status",
            )
        async with self.db.session() as s:
            await self.workflows._row(s, p, workflow_id)
            query = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow_id)
            if status:
                query = query.where(WorkflowRun.status == status)
            if trigger:
                query = query.where(WorkflowRun.trigger_source == trigger)
            if since is not None:
                query = query.where(WorkflowRun.created_at >= since)
            if until is not None:
                query = query.where(WorkflowRun.created_at < until)
            rows, info = await paginate(s, query, WorkflowRun.seq, first, cursor)
        return {"elements": [self.run_to_api(r) for r in rows], "pageInfo": info}

    async def get(self, p: Principal, workflow_id: str, run_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            run = await self._run_row(s, p, workflow_id, run_id)
            steps = (
                await s.scalars(
                    select(RunStep)
                    .where(RunStep.run_id == run.id, RunStep.kind == "step")
                    .order_by(RunStep.seq)
                )
            ).all()
        return {**self.run_to_api(run), "steps": [self.step_to_api(r) for r in steps]}

    async def payload(self, p: Principal, workflow_id: str, run_id: str, payload_id: str):
        """A stored payload a run refers to: (its header, its bytes chunk by chunk)."""
        async with self.db.session() as s:
            await self._run_row(s, p, workflow_id, run_id)
        try:
            header = await self.payloads.header(p.org_id, payload_id)
        except PayloadNotFound as exc:
            raise NotFound(str(exc), "payload_not_found") from None
        return header, self.payloads.chunks(header)

    async def cancel(self, p: Principal, workflow_id: str, run_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            run = await self._run_row(s, p, workflow_id, run_id)
            if run.status in FINAL:
                raise BadRequest(f"The run is already {run.status}", "run_finished")
            run.status = "cancelled"
            run.finished_at = utcnow()
            await s.commit()
        task = self._running.get(run_id)
        if task is not None:
            task.cancel()
        return self.run_to_api(run)

    async def replay(
        self,
        p: Principal,
        workflow_id: str,
        run_id: str,
        *,
        start: str = "start",
        version: str = "original",
    ) -> dict[str, Any]:
        """A new run with the same trigger output, on the version the run had
        (``original``) or the current one (``latest``); from the start, or from the failed
        step (the steps that succeeded are carried over and replayed, not executed)."""
        if start not in ("start", "failed_step") or version not in ("original", "latest"):
            raise BadRequest(
                "from must be start or failed_step; version original or latest", "invalid_replay"
            )
        async with self.db.session() as s:
            original = await self._run_row(s, p, workflow_id, run_id)
            if start == "failed_step" and original.status != "failed":
                raise BadRequest("Only a failed run replays from its failed step", "run_not_failed")
            row = await self.workflows._row(s, p, workflow_id)
            replayed = WorkflowRun(
                org_id=original.org_id,
                workflow_id=original.workflow_id,
                version=original.version if version == "original" else row.current_version,
                trigger_source=f"replay:{original.id}",
                trigger_output=original.trigger_output,
            )
            if start == "failed_step":  # a journal to replay: resumed, not started afresh
                replayed.status, replayed.wake_at = "waiting", utcnow()
            s.add(replayed)
            await s.flush()
            if start == "failed_step":
                kept = (
                    await s.scalars(
                        select(RunStep).where(
                            RunStep.run_id == original.id, RunStep.status == "succeeded"
                        )
                    )
                ).all()
                for r in kept:
                    s.add(
                        RunStep(
                            run_id=replayed.id,
                            key=r.key,
                            kind=r.kind,
                            step_name=r.step_name,
                            connector=r.connector,
                            operation=r.operation,
                            status=r.status,
                            input=r.input,
                            output=r.output,
                            attempts=0,  # carried over, not executed
                            started_at=r.started_at,
                            finished_at=r.finished_at,
                        )
                    )
            await s.commit()
        self._loop.wake()
        return self.run_to_api(replayed)

    async def prune(self, older_than: datetime) -> int:
        """Delete finished runs (and their journals) created before ``older_than``."""
        removed = 0
        while True:
            async with self.db.engine.begin() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(WorkflowRun.id)
                            .where(
                                WorkflowRun.status.in_(FINAL), WorkflowRun.created_at < older_than
                            )
                            .limit(500)
                        )
                    )
                    .scalars()
                    .all()
                )
                if ids:
                    await conn.execute(delete(RunStep).where(RunStep.run_id.in_(ids)))
                    stored = select(Payload.id).where(Payload.run_id.in_(ids))
                    await conn.execute(
                        delete(PayloadChunk).where(PayloadChunk.payload_id.in_(stored))
                    )
                    await conn.execute(delete(Payload).where(Payload.run_id.in_(ids)))
                    await conn.execute(
                        delete(StoredValue).where(StoredValue.scope.in_([f"run:{i}" for i in ids]))
                    )
                    await conn.execute(delete(WorkflowRun).where(WorkflowRun.id.in_(ids)))
                    removed += len(ids)
            if len(ids) < 500:
                return removed

    # -- storage steps ---------------------------------------------------------------------
    async def storage(self, run: WorkflowRun, operation: str, data: dict[str, Any]) -> Any:
        scope = core_steps.storage_scope(
            str(data.get("scope") or "Current Run"),
            run_id=run.id,
            workflow_id=run.workflow_id,
            org_id=run.org_id,
        )
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise core_steps.StepInputError("storage needs a key")
        for _ in range(50):  # compare and swap under concurrent runs
            async with self.db.session() as s:
                row = await s.scalar(
                    select(StoredValue).where(StoredValue.scope == scope, StoredValue.key == key)
                )
                current = row.value if row is not None else None
                if operation == "get":
                    return {"value": current if row is not None else data.get("default")}
                if operation == "delete":
                    if row is not None:
                        await s.delete(row)
                        await s.commit()
                    return {"deleted": row is not None}
                if operation == "set":
                    new = data.get("value")
                elif operation == "append_to_list":
                    base = current if isinstance(current, list) else []
                    new = [*base, data.get("value")]
                elif operation == "atomic_increment":
                    amount = data.get("value_to_add", 1)
                    if not isinstance(amount, int | float) or isinstance(amount, bool):
                        raise core_steps.StepInputError("value_to_add must be a number")
                    if current is not None and not isinstance(current, int | float):
                        raise core_steps.StepInputError(f"the value at {key} is not a number")
                    new = (current or 0) + amount
                else:
                    raise core_steps.StepInputError(f"unknown storage operation {operation}")
                if row is None:
                    s.add(StoredValue(org_id=run.org_id, scope=scope, key=key, value=new))
                else:
                    result = await s.execute(
                        update(StoredValue)
                        .where(StoredValue.seq == row.seq, StoredValue.revision == row.revision)
                        .values(value=new, revision=row.revision + 1, updated_at=utcnow())
                    )
                    if result.rowcount != 1:
                        await s.rollback()
                        continue
                try:
                    await s.commit()
                except Exception:  # a concurrent insert of the same key: try again
                    await s.rollback()
                    continue
                return {"value": new}
        raise RuntimeError(f"storage key {key} is too contended")

    # -- the executor ----------------------------------------------------------------------
    def open(self) -> None:
        """The journal's writer (needed to start runs, with or without the executor)."""
        self.writes.start()

    async def close(self) -> None:
        await self.stop_worker()
        await self.writes.stop()

    def start_worker(self) -> None:
        self._executing = True
        self._loop.start()

    async def stop_worker(self) -> None:
        self._executing = False
        await self._loop.stop()
        await cancel_all(self._running)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None

    async def _round(self) -> None:
        await self.scan()
        now = asyncio.get_running_loop().time()
        if now >= self._next_prune:  # hourly, and once at start
            self._next_prune = now + 3600
            days = self.settings.workflow_run_retention_days
            removed = await self.prune(utcnow() - timedelta(days=days))
            if removed:
                log.info("pruned %d run(s) older than %g days", removed, days)
            await self.payloads.prune()

    def is_pure(self, step: Step) -> bool:
        """Whether running ``step`` again is harmless (no checkpoint before it)."""
        if core_steps.is_engine_step(step.connector):
            return step.connector in core_steps.PURE_ENGINE_STEPS
        try:
            connector, _ = self.workflows.connector_for(
                step.connector, step.version, step.operation
            )
        except LookupError:
            return False
        return not connector.side_effects

    def parsed(self, workflow_id: str, version: int, definition: dict[str, Any]) -> Workflow:
        """A version's parsed definition (cached; the interpreter does not change it)."""
        key = (workflow_id, version)
        found = self._parsed.get(key)
        if found is None:
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            found = self._parsed[key] = parse(definition)
        return found

    async def definition(self, workflow_id: str, version: int) -> dict[str, Any]:
        """A version's definition (versions never change: cached)."""
        key = (workflow_id, version)
        found = self._definitions.get(key)
        if found is None:
            async with self.db.session() as s:
                found = await self.workflows.definition(s, workflow_id, version)
            if len(self._definitions) > 10_000:
                self._definitions.clear()
            self._definitions[key] = found
        return found

    async def scan(self) -> None:
        room = min(CLAIM_BATCH, self.settings.workflow_concurrency - len(self._running))
        if room <= 0:
            return
        now = utcnow()
        async with self.db.session() as s:
            rows = (await s.execute(self._due_query(now, room + len(self._running)))).all()
        # oldest first, across the three kinds
        candidates = sorted((r for r in rows if r[1] not in self._running), key=lambda r: r[0])
        candidates = [r[1:] for r in candidates[: room + len(self._running)]]
        if not candidates:
            return
        limits: dict[str, int] = {}
        for _run_id, workflow_id, version, _status in candidates:
            limit = await self._concurrency_limit(workflow_id, version)
            if limit is not None:
                limits[workflow_id] = limit
        busy: dict[str, int] = {}
        if limits:
            async with self.db.session() as s:
                rows = await s.execute(
                    select(WorkflowRun.workflow_id, func.count())
                    .where(
                        WorkflowRun.workflow_id.in_(list(limits)),
                        WorkflowRun.status.in_(("running", "waiting")),  # started, not ended
                    )
                    .group_by(WorkflowRun.workflow_id)
                )
                busy = dict(rows.all())
        chosen: list[tuple[str, bool]] = []
        for run_id, workflow_id, _version, status in candidates:
            if len(chosen) >= room:
                break
            fresh = status == "queued"  # a resumption is already counted as in progress
            if fresh and workflow_id in limits and busy.get(workflow_id, 0) >= limits[workflow_id]:
                continue  # the workflow has as many runs in progress as it may: later
            if fresh:
                busy[workflow_id] = busy.get(workflow_id, 0) + 1
            chosen.append((run_id, fresh))
        if not chosen:
            return
        fresh_ids = {run_id for run_id, fresh in chosen if fresh}
        for claimed in await self._claim_many([run_id for run_id, _ in chosen]):
            self._start(claimed, fresh=claimed.id in fresh_ids)

    def _start(self, claimed: Any, *, fresh: bool) -> None:
        """Execute a run this process holds the lease of."""
        task = asyncio.create_task(self._execute(claimed.id, claimed, fresh=fresh), name="run")
        self._running[claimed.id] = task
        task.add_done_callback(lambda _t, rid=claimed.id: self._running.pop(rid, None))

    @staticmethod
    def _due_query(now: datetime, limit: int):
        """Runs to take, at most ``limit`` of each kind: queued (oldest first), waiting and
        due (their delay or retry wait is over), and running without a live lease (its
        worker died or stopped). Each part reads its own index in order and stops at
        ``limit``, so a scan costs the same with ten queued runs or a million (one query
        over the three, sorted, read and sorted the whole backlog every time)."""
        r = WorkflowRun
        columns = (r.seq, r.id, r.workflow_id, r.version, r.status)
        free = or_(r.lease_until.is_(None), r.lease_until < now)
        parts = [
            select(*columns).where(r.status == "queued", free).order_by(r.seq).limit(limit),
            select(*columns)
            .where(r.status == "waiting", r.wake_at <= now, free)
            .order_by(r.wake_at)
            .limit(limit),
            select(*columns).where(r.status == "running", free).order_by(r.seq).limit(limit),
        ]
        return union_all(*(select(part.subquery()) for part in parts))

    async def _claim_many(self, run_ids: list[str]) -> list[Any]:
        """Take the leases of the runs nobody holds, in one statement; the runs as claimed."""
        now = utcnow()
        columns = [c for c in WorkflowRun.__table__.c]
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(WorkflowRun.__table__)
                .where(
                    WorkflowRun.__table__.c.id.in_(run_ids),
                    WorkflowRun.__table__.c.status.not_in(FINAL),
                    or_(
                        WorkflowRun.__table__.c.lease_until.is_(None),
                        WorkflowRun.__table__.c.lease_until < now,
                    ),
                )
                .values(self._claim_values(now))
                .returning(*columns)
            )
            rows = result.all()
        names = [c.key for c in columns]  # plain objects: cheaper than ORM instances
        return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in rows]

    def _claim_values(self, now: datetime) -> dict[str, Any]:
        table = WorkflowRun.__table__
        return {
            "lease_owner": self.owner,
            "lease_until": now + self.lease,
            # in progress from now on (what concurrency limits count)
            "status": case((table.c.status == "queued", "running"), else_=table.c.status),
            "started_at": func.coalesce(table.c.started_at, now),
        }

    async def _claim(self, run_id: str) -> bool:
        now = utcnow()
        async with self.db.session() as s, s.begin():
            result = await s.execute(
                update(WorkflowRun)
                .where(
                    WorkflowRun.id == run_id,
                    WorkflowRun.status.not_in(FINAL),
                    or_(WorkflowRun.lease_until.is_(None), WorkflowRun.lease_until < now),
                )
                .values(
                    lease_owner=self.owner,
                    lease_until=now + self.lease,
                    # in progress from now on (what concurrency limits count)
                    status=case(
                        (WorkflowRun.status == "queued", "running"), else_=WorkflowRun.status
                    ),
                )
            )
        return result.rowcount == 1

    async def _keep_leases(self) -> None:
        """Renew the leases of every run this process executes, in one statement, every
        third of the lease."""
        while self._leased:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            ids = list(self._leased)
            if not ids:
                continue
            try:
                async with self.db.session() as s, s.begin():
                    await s.execute(
                        update(WorkflowRun)
                        .where(WorkflowRun.id.in_(ids), WorkflowRun.lease_owner == self.owner)
                        .values(lease_until=utcnow() + self.lease)
                    )
            except Exception:
                log.exception("could not renew the leases of %d run(s)", len(ids))

    def _hold(self, run_id: str) -> None:
        self._leased.add(run_id)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_leases(), name="run-leases")

    async def _execute(
        self, run_id: str, claimed: WorkflowRun | None = None, *, fresh: bool = False
    ) -> None:
        """Run (or resume) one claimed run. A fresh run (it was queued) has no journal and
        its row came back from the claim: it starts without reading anything."""
        self._hold(run_id)
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        run = claimed
        runtime: RunRuntime | None = None
        try:
            journal: dict[str, RunStep] = {}
            if run is None or not fresh:
                async with self.db.session() as s:
                    run = await s.scalar(select(WorkflowRun).where(WorkflowRun.id == run_id))
                    if run is None or run.status in FINAL:
                        return
                    journal = {
                        r.key: r
                        for r in (
                            await s.scalars(select(RunStep).where(RunStep.run_id == run.id))
                        ).all()
                    }
            definition = await self.definition(run.workflow_id, run.version)
            if run.started_at is None:  # claimed one by one (the CLI)
                run.started_at = utcnow()
                async with self.db.session() as s, s.begin():
                    await s.execute(
                        update(WorkflowRun)
                        .where(WorkflowRun.id == run.id)
                        .values(status="running", started_at=run.started_at)
                    )
            runtime = RunRuntime(self, run, journal)
            env = {
                "workflow_id": run.workflow_id,
                "workflow_title": definition.get("title", ""),
                "run_id": run.id,
                "public_url": self.settings.effective_public_url,
            }
            interpreter = Interpreter(
                self.parsed(run.workflow_id, run.version, definition),
                runtime,
                trigger_output=run.trigger_output,
                env=env,
            )
            try:
                result = await interpreter.run()
            except Suspend as wait:
                values.update(status="waiting", wake_at=wait.when)
                return
            values.update(
                status=result.status,
                finished_at=utcnow(),
                error=mask(result.error, runtime.secrets),
                failed_step=result.failed_step if result.status == "failed" else None,
            )
        except asyncio.CancelledError:
            values.pop("status", None)
            raise
        except Exception:
            log.exception("run %s failed in the executor; it will be resumed", run_id)
            values.update(status="waiting", wake_at=utcnow() + timedelta(seconds=5))
        finally:
            self._leased.discard(run_id)
            with contextlib.suppress(Exception):
                pending = runtime.pending if runtime is not None else []
                await asyncio.shield(self._finish(run_id, values, pending))
                if values.get("status") in FINAL and run is not None:
                    run.status = values["status"]
                    await self._after(run, used_run_storage=bool(runtime and runtime.run_storage))
            self._loop.wake()

    async def _finish(
        self, run_id: str, values: dict[str, Any], pending: list | None = None
    ) -> None:
        """Store the run's end (or wait) with its last journal writes, in one commit."""
        pending = list(pending or [])
        if "status" in values:  # the usual end: through the group commit
            params = {
                "b_id": run_id,
                "b_owner": self.owner,
                "status": values["status"],
                "wake_at": values.get("wake_at"),
                "finished_at": values.get("finished_at"),
                "error": values.get("error"),
                "failed_step": values.get("failed_step"),
            }
            await self.writes.execute_many([*pending, (self.finish_statement, params)])
            return
        if pending:
            await self.writes.execute_many(pending)
        async with self.db.session() as s, s.begin():  # cancelled meanwhile: let go only
            await s.execute(
                update(WorkflowRun)
                .where(WorkflowRun.id == run_id, WorkflowRun.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    async def _after(self, run: WorkflowRun, *, used_run_storage: bool = True) -> None:
        """A run ended: clear its Current Run storage, wake a parent waiting for it,
        answer a waiting webhook, alert."""
        waiter = self._reply_waiters.get(run.id)
        if waiter is not None:
            waiter.set()
        if used_run_storage:
            async with self.db.session() as s, s.begin():
                await s.execute(delete(StoredValue).where(StoredValue.scope == f"run:{run.id}"))
        if run.parent_run_id:
            async with self.db.session() as s, s.begin():
                await s.execute(
                    update(WorkflowRun)
                    .where(WorkflowRun.id == run.parent_run_id, WorkflowRun.status == "waiting")
                    .values(wake_at=utcnow())
                )
            self._loop.wake()
        if run.status == "failed" and run.trigger_source != "alerting":
            fresh = await self.run_state(run.id)
            if fresh is not None:
                await self._alert(fresh)

    async def _alert(self, run: WorkflowRun) -> None:
        """Tray's alert payload to the failed workflow's alerting workflow, if it has one."""
        async with self.db.session() as s:
            row = await s.scalar(select(WorkflowRow).where(WorkflowRow.id == run.workflow_id))
            definition = await self.workflows.definition(s, run.workflow_id, run.version)
        target = (definition.get("settings") or {}).get("alerting_workflow_id")
        if not target or row is None:
            return
        base = self.settings.effective_public_url + f"/core/v1/workflows/{run.workflow_id}"
        error = run.error or {}
        step = (definition.get("steps") or {}).get(run.failed_step or "", {})
        payload = {
            "workflow_uuid": run.workflow_id,
            "workflow_url": base,
            "workflow_title": row.title,
            "step_name": run.failed_step,
            "step_log_url": f"{base}/runs/{run.id}",
            "connector": (step.get("connector") or {}).get("name"),
            "message": error.get("message"),
            "created": (run.finished_at or utcnow()).isoformat(),
            "run_id": run.id,
        }
        async with self.db.session() as s:
            alerting = await s.scalar(
                select(WorkflowRow).where(
                    WorkflowRow.id == target,
                    WorkflowRow.org_id == run.org_id,
                    WorkflowRow.deleted_at.is_(None),
                )
            )
            if alerting is None:
                log.warning("alerting workflow %s of %s not found", target, run.workflow_id)
                return
            s.add(
                WorkflowRun(
                    org_id=run.org_id,
                    workflow_id=alerting.id,
                    version=alerting.current_version,
                    trigger_source="alerting",
                    trigger_output=payload,
                )
            )
            await s.commit()
        self._loop.wake()
