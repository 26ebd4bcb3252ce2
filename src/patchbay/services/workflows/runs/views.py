"""Runs as the API shows them and acts on them: list, get (with the journal's steps), a
stored payload a run refers to, cancel, replay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ....storage.db import Database
from ....storage.models import RunStep, WorkflowRun, utcnow
from ...cursors import paginate
from ...errors import BadRequest, NotFound
from ...identity.principal import Principal
from ..definitions import Workflows
from ..payload_store import PayloadNotFound, Payloads
from ..run_logs import shown
from .journal import FINAL, STATUSES


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


class RunViews:
    def __init__(
        self,
        db: Database,
        workflows: Workflows,
        payloads: Payloads,
        *,
        wake: Callable[[], None],
        cancelled: Callable[[str], None],
    ) -> None:
        self.db = db
        self.workflows = workflows
        self.payloads = payloads
        self._wake = wake  # the executor: a replayed run is stored
        self._cancelled = cancelled  # the executor: stop executing a cancelled run

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
        if status is not None and status not in STATUSES:
            raise BadRequest(
                f"status must be one of {', '.join(STATUSES)}",
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
        return {"elements": [run_to_api(r) for r in rows], "pageInfo": info}

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
        return {**run_to_api(run), "steps": [step_to_api(r) for r in steps]}

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
        self._cancelled(run_id)
        return run_to_api(run)

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
        self._wake()
        return run_to_api(replayed)
