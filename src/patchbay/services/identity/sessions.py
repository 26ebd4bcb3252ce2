"""Members' browser sessions: a random token in an HttpOnly cookie (stored as its SHA-256),
expiring, revocable; and the CSRF token that every cookie-authenticated write must carry.

The CSRF token is derived from the session token (an HMAC), so nothing more is stored: a
page of this origin learns it from the sign-in answer or ``GET /core/v1/session`` and sends
it back in the ``X-CSRF-Token`` header; another site can neither read it nor make a
browser add that header."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ...storage.db import Database
from ...storage.models import MemberSession, utcnow
from .tokens import Identity, hash_token, new_token

COOKIE = "patchbay_session"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"patchbay-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(session_token), sent)


@dataclass
class StartedSession:
    id: str
    token: str
    csrf_token: str
    expires_at: datetime


class Sessions:
    def __init__(self, db: Database, identity: Identity, *, ttl_seconds: int) -> None:
        self.db = db
        self.identity = identity
        self.ttl_seconds = ttl_seconds

    async def start(
        self,
        org_id: str,
        member_id: str,
        *,
        method: str = "password",
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> StartedSession:
        token = new_token("session")
        now = utcnow()
        row = MemberSession(
            org_id=org_id,
            member_id=member_id,
            token_hash=hash_token(token),
            method=method,
            ip=ip,
            user_agent=(user_agent or "")[:500] or None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=self.ttl_seconds),
        )
        async with self.db.session() as s:
            s.add(row)
            await s.commit()
        return StartedSession(row.id, token, csrf_token(token), row.expires_at)

    async def find(self, token: str) -> MemberSession | None:
        async with self.db.session() as s:
            return await s.scalar(
                select(MemberSession).where(MemberSession.token_hash == hash_token(token))
            )

    async def end(self, token: str) -> None:
        async with self.db.session() as s:
            await s.execute(
                update(MemberSession)
                .where(MemberSession.token_hash == hash_token(token))
                .values(revoked_at=utcnow())
            )
            await s.commit()
        self.identity.forget()

    async def end_all(self, member_id: str) -> None:
        """Sign a member out everywhere (password changed or reset, member removed)."""
        async with self.db.session() as s:
            await s.execute(
                update(MemberSession)
                .where(MemberSession.member_id == member_id, MemberSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            await s.commit()
        self.identity.forget()
