"""Retention of what triggers leave behind: stored intake requests, finished events and
their delivery logs are deleted once older than ``PATCHBAY_EVENT_RETENTION_DAYS``.

Pending work is never deleted. The retention is also the deduplication window: a
redelivery of a message older than that is taken as new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from ...storage.db import Database
from ...storage.models import DeliveryAttempt, IntakeRequest, TriggerEvent

FINISHED_EVENTS = ("delivered", "dead", "cancelled")
FINISHED_REQUESTS = ("processed", "failed", "cancelled")
BATCH = 1000


@dataclass
class Pruned:
    requests: int = 0
    events: int = 0
    attempts: int = 0


async def prune(db: Database, older_than: datetime) -> Pruned:
    """Delete finished records created before ``older_than``, batch by batch."""
    pruned = Pruned()
    while True:
        async with db.engine.begin() as conn:
            ids = (
                (
                    await conn.execute(
                        select(TriggerEvent.id)
                        .where(
                            TriggerEvent.status.in_(FINISHED_EVENTS),
                            TriggerEvent.created_at < older_than,
                        )
                        .limit(BATCH)
                    )
                )
                .scalars()
                .all()
            )
            if ids:
                result = await conn.execute(
                    delete(DeliveryAttempt).where(DeliveryAttempt.event_id.in_(ids))
                )
                pruned.attempts += result.rowcount
                result = await conn.execute(delete(TriggerEvent).where(TriggerEvent.id.in_(ids)))
                pruned.events += result.rowcount
        if len(ids) < BATCH:
            break
    async with db.engine.begin() as conn:
        result = await conn.execute(
            delete(IntakeRequest).where(
                IntakeRequest.status.in_(FINISHED_REQUESTS),
                IntakeRequest.received_at < older_than,
            )
        )
        pruned.requests += result.rowcount
    return pruned
