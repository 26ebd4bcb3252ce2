"""Starting runs: manual (API), called (``call-workflow``), for a trigger subscription's
event, and for a webhook (the hot path: the enabled workflow behind a trigger id is cached,
and the run stored through the group commit, taken by the executor at once when it has
room)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from cachetools import LRUCache
from sqlalchemy import select

from ....config import Settings
from ....storage.db import Database
from ....storage.group_commit import GroupCommit
from ....storage.models import WorkflowRow, WorkflowRun, utcnow
from ...errors import NotFound
from ...identity.principal import Principal
from ..definitions import Workflows, plain_value
from .executor import Executor
from .versions import Versions
from .views import run_to_api

HOOKS_CACHED = 10_000  # trigger ids whose workflow is cached; least recently used go first


class RunStarts:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        workflows: Workflows,
        versions: Versions,
        writes: GroupCommit,
        executor: Executor,
    ) -> None:
        self.settings = settings
        self.db = db
        self.workflows = workflows
        self.versions = versions
        self.writes = writes
        self.executor = executor
        self.insert_run = WorkflowRun.__table__.insert()
        self._hooks: LRUCache[str, tuple[tuple | None, float]] = LRUCache(HOOKS_CACHED)

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
        self.executor.wake()
        return run_to_api(run)

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
        self.executor.wake()

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
        self.executor.wake()

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
            definition = await self.versions.definition(row.id, row.current_version)
            trigger = definition["steps"]["trigger"]
            if trigger["connector"]["name"] == "webhook":
                settings = {k: plain_value(v) for k, v in (trigger.get("properties") or {}).items()}
                target = (row.id, row.org_id, row.current_version, settings)
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
        # Executed here when the executor has room (and the workflow no concurrency limit):
        # stored already claimed, under the executor's lease, and started once committed,
        # without the round trip through the queue (a scan and a claim). Should the process
        # die, the lease runs out and any worker resumes it, as any claimed run.
        taken = await self.executor.lease_for_new(workflow_id, version, now)
        if taken is not None:
            row.update(taken)
        await self.writes.execute(self.insert_run, row)
        if taken is not None:
            self.executor.execute_new(row)
        else:
            self.executor.wake()
        return run_id, settings
