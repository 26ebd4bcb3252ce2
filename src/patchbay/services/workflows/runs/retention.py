"""Pruning: finished runs older than the retention period go, with their journals, stored
payloads and Current Run storage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from ....storage.db import Database
from ....storage.models import Payload, PayloadChunk, RunStep, StoredValue, WorkflowRun
from .journal import FINAL

BATCH = 500  # runs deleted per transaction


async def prune(db: Database, older_than: datetime) -> int:
    """Delete finished runs (and their journals) created before ``older_than``."""
    removed = 0
    while True:
        async with db.engine.begin() as conn:
            ids = (
                (
                    await conn.execute(
                        select(WorkflowRun.id)
                        .where(WorkflowRun.status.in_(FINAL), WorkflowRun.created_at < older_than)
                        .limit(BATCH)
                    )
                )
                .scalars()
                .all()
            )
            if ids:
                await conn.execute(delete(RunStep).where(RunStep.run_id.in_(ids)))
                stored = select(Payload.id).where(Payload.run_id.in_(ids))
                await conn.execute(delete(PayloadChunk).where(PayloadChunk.payload_id.in_(stored)))
                await conn.execute(delete(Payload).where(Payload.run_id.in_(ids)))
                await conn.execute(
                    delete(StoredValue).where(StoredValue.scope.in_([f"run:{i}" for i in ids]))
                )
                await conn.execute(delete(WorkflowRun).where(WorkflowRun.id.in_(ids)))
                removed += len(ids)
        if len(ids) < BATCH:
            return removed
