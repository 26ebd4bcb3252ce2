"""The in-process executor: runs are claimed in batches under a lease (renewed while they
execute), executed by the interpreter on a :class:`~.runtime.RunRuntime`, and finished (their
end and last journal writes in one group commit; then Current Run storage cleared, a waiting
parent woken, a failed run's alerting workflow started).

A run is executed by whichever process holds its lease. A waiting run (a delay, a retry
wait, a called run not ended yet) holds no worker: it is ``waiting`` with ``wake_at`` until
a scan finds it due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select, union_all, update

from ....engine.interpreter import Interpreter
from ....storage.leases import Leases
from ....storage.models import RunStep, WorkflowRow, WorkflowRun, utcnow
from ...polling_loop import PollingLoop, cancel_all
from ..run_logs import mask
from .journal import FINAL, finish_statement
from .retention import prune
from .runtime import RunRuntime, Suspend

if TYPE_CHECKING:
    from . import Runs

log = logging.getLogger("patchbay.runs")

CLAIM_BATCH = 256  # runs claimed by one scan
SCAN_INTERVAL = 0.02  # the shortest time between two scans (wakes in between coalesce)
DRIVE_POLL_SECONDS = 0.05  # run_to_completion: how often it looks for a due run of its tree


def run_env(run: WorkflowRun, definition: dict[str, Any], public_url: str) -> dict[str, Any]:
    """``$.env`` of a run: what Tray sets at run time (``public_url``, ``workflow_id``,
    ``execution_id``: the run's id) and Patchbay's own names (``run_id``,
    ``workflow_title``). ``solution_instance_id`` is absent until Patchbay has solution
    instances: a reference to it does not resolve, so Tray's workflows write it with a
    fallback (``{$.env.solution_instance_id or:'dev'}``), which then applies."""
    return {
        "public_url": public_url,
        "workflow_id": run.workflow_id,
        "workflow_title": definition.get("title", ""),
        "execution_id": run.id,
        "run_id": run.id,
    }


class InProcessExecutor:
    """Executes runs in this process (see :class:`~.executor.Executor`)."""

    def __init__(self, runs: Runs) -> None:
        self.runs = runs
        settings = runs.settings
        self.settings = settings
        self.db = runs.db
        self.owner = secrets.token_hex(8)
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self.leases = Leases(WorkflowRun.__table__, self.owner, settings.worker_lease_seconds)
        self._loop = PollingLoop(
            "workflow-executor",
            self._round,
            poll_seconds=settings.worker_poll_seconds,
            min_interval=SCAN_INTERVAL,
        )
        self._next_prune = 0.0
        self._running: dict[str, asyncio.Task] = {}
        self._leased: set[str] = set()
        self._keeper: asyncio.Task | None = None
        self.finish_statement = finish_statement()
        # every column of a run, None: the base of a run row built in memory
        self._blank_run = {c.key: None for c in WorkflowRun.__table__.c}
        self._executing = False  # this process executes runs (start)

    # -- the Executor interface ------------------------------------------------------------
    def start(self) -> None:
        self._executing = True
        self._loop.start()

    async def stop(self) -> None:
        self._executing = False
        await self._loop.stop()
        await cancel_all(self._running)
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None

    def wake(self) -> None:
        self._loop.wake()

    async def lease_for_new(self, workflow_id: str, version: int, now: datetime) -> dict | None:
        if not self._executing or len(self._running) >= self.settings.workflow_concurrency:
            return None
        if await self.runs.versions.concurrency_limit(workflow_id, version) is not None:
            return None
        return {
            "status": "running",
            "lease_owner": self.owner,
            "lease_until": now + self.lease,
            "started_at": now,
        }

    def execute_new(self, row: dict[str, Any]) -> None:
        self._start(SimpleNamespace(**{**self._blank_run, **row}), fresh=True)

    def cancelled(self, run_id: str) -> None:
        task = self._running.get(run_id)
        if task is not None:
            task.cancel()

    async def run_to_completion(self, run_id: str) -> None:
        """Execute the run, and the runs it calls (call-workflow), one at a time, picking
        them as a scan would (queued, waiting and due, or running with a lapsed lease),
        until the run is final. The instance's other runs are left to its workers, and so
        are called runs still unfinished when the run ends (fire and forget) and alerting
        runs."""
        tree = {run_id}
        r = WorkflowRun
        while True:
            now = utcnow()
            async with self.db.session() as s:
                while True:  # the runs called by the runs of the tree, at any depth
                    called = set(await s.scalars(select(r.id).where(r.parent_run_id.in_(tree))))
                    if called <= tree:
                        break
                    tree |= called
                status = await s.scalar(select(r.status).where(r.id == run_id))
                if status is None or status in FINAL:
                    return
                due = await s.scalars(
                    select(r.id)
                    .where(
                        r.id.in_(tree),
                        (r.status == "queued")
                        | ((r.status == "waiting") & (r.wake_at <= now))
                        | ((r.status == "running") & (r.lease_until < now)),
                        self.leases.free(now),
                    )
                    .order_by(r.seq)
                )
                due = list(due)
            for candidate in due:
                claimed = await self._claim_many([candidate])
                if claimed:
                    await self._execute(candidate, claimed[0])
                    break
            else:
                await asyncio.sleep(DRIVE_POLL_SECONDS)

    # -- scan and claim --------------------------------------------------------------------
    async def _round(self) -> None:
        await self.scan()
        now = asyncio.get_running_loop().time()
        if now >= self._next_prune:  # hourly, and once at start
            self._next_prune = now + 3600
            days = self.settings.workflow_run_retention_days
            removed = await prune(self.db, utcnow() - timedelta(days=days))
            if removed:
                log.info("pruned %d run(s) older than %g days", removed, days)
            await self.runs.payloads.prune()

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
            limit = await self.runs.versions.concurrency_limit(workflow_id, version)
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

    def _due_query(self, now: datetime, limit: int):
        """Runs to take, at most ``limit`` of each kind: queued (oldest first), waiting and
        due (their delay or retry wait is over), and running without a live lease (its
        worker died or stopped). Each part reads its own index in order and stops at
        ``limit``, so a scan costs the same with ten queued runs or a million (one query
        over the three, sorted, read and sorted the whole backlog every time)."""
        r = WorkflowRun
        columns = (r.seq, r.id, r.workflow_id, r.version, r.status)
        free = self.leases.free(now)
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
        table = WorkflowRun.__table__
        columns = [c for c in table.c]
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                self.leases.claim(
                    now,
                    table.c.id.in_(run_ids),
                    table.c.status.not_in(FINAL),
                    # in progress from now on (what concurrency limits count)
                    status=case((table.c.status == "queued", "running"), else_=table.c.status),
                    started_at=func.coalesce(table.c.started_at, now),
                ).returning(*columns)
            )
            rows = result.all()
        names = [c.key for c in columns]  # plain objects: cheaper than ORM instances
        return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in rows]

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
                    await s.execute(self.leases.renew(utcnow(), WorkflowRun.id.in_(ids)))
            except Exception:
                log.exception("could not renew the leases of %d run(s)", len(ids))

    def _hold(self, run_id: str) -> None:
        self._leased.add(run_id)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_leases(), name="run-leases")

    # -- execute and finish ----------------------------------------------------------------
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
            versions = self.runs.versions
            definition = await versions.definition(run.workflow_id, run.version)
            runtime = RunRuntime(self.runs, run, journal)
            env = run_env(run, definition, self.settings.effective_public_url)
            interpreter = Interpreter(
                versions.parsed(run.workflow_id, run.version, definition),
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
        writes = self.runs.writes
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
            await writes.execute_many([*pending, (self.finish_statement, params)])
            return
        if pending:
            await writes.execute_many(pending)
        async with self.db.session() as s, s.begin():  # cancelled meanwhile: let go only
            await s.execute(self.leases.release(WorkflowRun.id == run_id))

    async def _after(self, run: WorkflowRun, *, used_run_storage: bool = True) -> None:
        """A run ended: clear its Current Run storage, wake a parent waiting for it,
        answer a waiting webhook, alert."""
        self.runs.replies.wake(run.id)
        if used_run_storage:
            await self.runs.stored.clear(f"run:{run.id}")
        if run.parent_run_id:
            async with self.db.session() as s, s.begin():
                await s.execute(
                    update(WorkflowRun)
                    .where(WorkflowRun.id == run.parent_run_id, WorkflowRun.status == "waiting")
                    .values(wake_at=utcnow())
                )
            self._loop.wake()
        if run.status == "failed" and run.trigger_source != "alerting":
            fresh = await self.runs.replies.run_state(run.id)
            if fresh is not None:
                await self._alert(fresh)

    async def _alert(self, run: WorkflowRun) -> None:
        """Tray's alert payload to the failed workflow's alerting workflow, if it has one."""
        async with self.db.session() as s:
            row = await s.scalar(select(WorkflowRow).where(WorkflowRow.id == run.workflow_id))
            definition = await self.runs.workflows.definition(s, run.workflow_id, run.version)
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
