"""What sign-in leaves behind, pruned: sessions a day after they expired or were ended, and
one-time links (invitations, resets, setup) thirty days after they expired or were used
(kept that long so that an old link still answers 410 "used" or "expired", not 404).

Hourly, and once at start, in the processes that run background work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from ...storage.db import Database
from ...storage.models import MemberSession, OneTimeLink, utcnow

log = logging.getLogger("patchbay.identity")
SESSION_GRACE = timedelta(days=1)
LINK_GRACE = timedelta(days=30)
EVERY_SECONDS = 3600.0


async def prune(db: Database, now: datetime | None = None) -> tuple[int, int]:
    """Delete the sessions and links past their grace; (sessions, links) deleted."""
    now = now or utcnow()
    session_cutoff, link_cutoff = now - SESSION_GRACE, now - LINK_GRACE
    async with db.session() as s:
        sessions = await s.execute(
            delete(MemberSession).where(
                or_(
                    MemberSession.expires_at < session_cutoff,
                    MemberSession.revoked_at < session_cutoff,
                )
            )
        )
        links = await s.execute(
            delete(OneTimeLink).where(
                or_(OneTimeLink.expires_at < link_cutoff, OneTimeLink.used_at < link_cutoff)
            )
        )
        await s.commit()
    return sessions.rowcount, links.rowcount


class Housekeeping:
    def __init__(self, db: Database, every_seconds: float = EVERY_SECONDS) -> None:
        self.db = db
        self.every_seconds = every_seconds
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="patchbay-identity-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                sessions, links = await prune(self.db)
                if sessions or links:
                    log.info("pruned %d ended session(s), %d old link(s)", sessions, links)
            except Exception as exc:  # the next round tries again
                log.warning("identity housekeeping failed: %s", type(exc).__name__)
            await asyncio.sleep(self.every_seconds)
