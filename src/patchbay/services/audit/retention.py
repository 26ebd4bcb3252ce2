"""Retention of the audit log: events older than ``PATCHBAY_AUDIT_RETENTION_DAYS`` are
deleted, batch by batch (a short transaction each: recording goes on meanwhile)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select

from ...storage.db import Database
from ...storage.models import AuditEvent

BATCH = 1000


async def prune(
    db: Database, older_than: datetime, stopping: Callable[[], bool] = lambda: False
) -> int:
    """Delete the events created before ``older_than``; how many went. ``stopping``: asked
    between batches (a shutdown does not wait for a long first pruning; the next start
    goes on)."""
    removed = 0
    while not stopping():
        async with db.engine.begin() as conn:
            seqs = (
                (
                    await conn.execute(
                        select(AuditEvent.seq)
                        .where(AuditEvent.created_at < older_than)
                        .order_by(AuditEvent.seq)
                        .limit(BATCH)
                    )
                )
                .scalars()
                .all()
            )
            if seqs:
                await conn.execute(delete(AuditEvent).where(AuditEvent.seq.in_(seqs)))
                removed += len(seqs)
        if len(seqs) < BATCH:
            break
    return removed
