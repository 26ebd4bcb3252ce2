"""Workflow versions as the executor reads them: a version never changes, so its definition
and its parsed tree are cached (bounded) in the process."""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
from sqlalchemy import select

from ....engine.definition import Workflow, parse
from ....storage.db import Database
from ....storage.models import WorkflowRow
from ..definitions import Workflows

CACHED = 10_000  # versions kept; the least recently used go first


class Versions:
    def __init__(self, db: Database, workflows: Workflows) -> None:
        self.db = db
        self.workflows = workflows
        self._definitions: LRUCache[tuple[str, int], dict[str, Any]] = LRUCache(CACHED)
        self._parsed: LRUCache[tuple[str, int], Workflow] = LRUCache(CACHED)
        self._workspaces: LRUCache[str, str] = LRUCache(CACHED)

    def parsed(self, workflow_id: str, version: int, definition: dict[str, Any]) -> Workflow:
        """A version's parsed definition (cached; the interpreter does not change it)."""
        key = (workflow_id, version)
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = parse(definition)
        return found

    async def definition(self, workflow_id: str, version: int) -> dict[str, Any]:
        """A version's definition (versions never change: cached)."""
        key = (workflow_id, version)
        found = self._definitions.get(key)
        if found is None:
            async with self.db.session() as s:
                found = await self.workflows.definition(s, workflow_id, version)
            self._definitions[key] = found
        return found

    async def workspace(self, workflow_id: str) -> str | None:
        """The workspace a workflow belongs to (a workflow never moves: cached)."""
        found = self._workspaces.get(workflow_id)
        if found is None:
            async with self.db.session() as s:
                found = await s.scalar(
                    select(WorkflowRow.workspace_id).where(WorkflowRow.id == workflow_id)
                )
            if found is not None:
                self._workspaces[workflow_id] = found
        return found

    async def concurrency_limit(self, workflow_id: str, version: int) -> int | None:
        """The workflow's ``settings.max_concurrent_runs``, when it sets one."""
        settings = (await self.definition(workflow_id, version)).get("settings") or {}
        limit = settings.get("max_concurrent_runs")
        return limit if isinstance(limit, int) and limit > 0 else None
