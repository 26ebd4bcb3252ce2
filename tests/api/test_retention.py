"""Retention: finished events, their delivery logs and processed intake requests go once
older than the retention; pending work stays whatever its age."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update

from patchbay.services.triggers.retention import prune
from patchbay.storage.models import DeliveryAttempt, IntakeRequest, TriggerEvent, utcnow
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber


async def count(api, model, *where) -> int:
    async with api.platform.db.session() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def test_prune_keeps_pending_and_recent(api):
    hook = Subscriber()
    with serve_in_thread(hook.app) as url:
        r = await api.client.post(
            "/core/v1/subscriptions",
            json={
                "name": "r",
                "trigger": {"name": "segment-trigger", "version": "1.0"},
                "operation": "segment_message",
                "input": {},
                "endpoint": url + "/e",
            },
            headers=api.master,
        )
        intake = "/intake/" + r.json()["intakeUrl"].rsplit("/", 1)[1]
        for n in range(3):
            body = {"type": "track", "messageId": f"m{n}", "userId": "u", "event": "E"}
            assert (await api.client.post(intake, json=body)).status_code == 200
        await hook.await_for(3)
        for _ in range(250):  # the outcome of the last delivery is stored a moment later
            if await count(api, TriggerEvent, TriggerEvent.status == "pending") == 0:
                break
            await asyncio.sleep(0.02)

    db = api.platform.db
    long_ago = utcnow() - timedelta(days=40)
    async with db.engine.begin() as conn:  # two of the three events are old
        old = (
            (await conn.execute(select(TriggerEvent.id).order_by(TriggerEvent.seq).limit(2)))
            .scalars()
            .all()
        )
        await conn.execute(
            update(TriggerEvent).where(TriggerEvent.id.in_(old)).values(created_at=long_ago)
        )
        await conn.execute(update(IntakeRequest).values(received_at=long_ago))
        # A pending event, however old, is work still to do.
        await conn.execute(
            update(TriggerEvent)
            .where(TriggerEvent.id == old[1])
            .values(status="pending", next_attempt_at=utcnow() + timedelta(days=1))
        )

    pruned = await prune(db, utcnow() - timedelta(days=30))
    assert (pruned.events, pruned.requests) == (1, 3)
    assert pruned.attempts == 1
    assert await count(api, TriggerEvent) == 2
    assert await count(api, TriggerEvent, TriggerEvent.id == old[0]) == 0
    assert await count(api, DeliveryAttempt, DeliveryAttempt.event_id == old[0]) == 0
    assert await count(api, DeliveryAttempt) == 2
    assert await count(api, IntakeRequest) == 0
    again = await prune(db, utcnow() - timedelta(days=30))
    assert (again.events, again.requests, again.attempts) == (0, 0, 0)
