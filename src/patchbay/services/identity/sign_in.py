"""Signing in with an email and a password, and setting a member's password.

What slows a guesser down:
- per member: after ``sign_in_lockout_after`` consecutive failures the member is locked,
  first for ``sign_in_lockout_seconds``, doubling with each further failure up to
  ``sign_in_lockout_max_seconds``; while locked even the right password answers 429
  ``too_many_attempts`` (with Retry-After), and a success resets the count. The count lives
  on the member row, so every process of the instance sees it;
- per client address: a token bucket (``sign_in_rate_per_minute``, ``sign_in_rate_burst``)
  so that many emails cannot be tried fast from one place;
- an unknown email answers exactly like a wrong password: same message, the same argon2
  work (``passwords.verify_password`` checks a dummy hash), and the same lockout (counted
  in memory for emails no member has, so that a lock does not tell which emails exist).

``set_password`` is the one way a password changes (the member's own change, a reset by
link, the command line): it checks the strength rules, clears the lockout and ends the
member's sessions everywhere."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import LRUCache
from sqlalchemy import select, update

from ...config import Settings
from ...ratelimit import TokenBucket, buckets
from ...storage.db import Database
from ...storage.models import Member, Org, utcnow
from ..errors import BadRequest, Forbidden, ServiceError, TooManyRequests, Unauthorized
from .members import normal_email
from .passwords import check_strength, hash_password, needs_rehash, verify_password
from .sessions import Sessions, StartedSession
from .tokens import DEFAULT_ORG

INVALID = "The email or the password is wrong"
GHOSTS = 10_000  # unknown emails whose failures are remembered (least recently used go)


@dataclass
class SignedIn:
    member: Member
    session: StartedSession


class SignIn:
    def __init__(self, settings: Settings, db: Database, sessions: Sessions) -> None:
        self.settings = settings
        self.db = db
        self.sessions = sessions
        self._addresses = buckets()  # client address -> TokenBucket
        # (org id, email) of no member -> (consecutive failures, locked until epoch)
        self._ghosts: LRUCache[tuple[str, str], tuple[int, float]] = LRUCache(GHOSTS)

    # -- the hook single sign-on uses --------------------------------------------------
    def ensure_passwords_allowed(self) -> None:
        """403 ``sso_only`` when the organisation signs in through its identity provider
        only (``settings.sso_only``): no password sign-in, no password change."""
        if self.settings.sso_only:
            raise Forbidden(
                "Passwords are turned off here: sign in with single sign-on", "sso_only"
            )

    # -- signing in --------------------------------------------------------------------
    async def with_password(
        self,
        email: str,
        password: str,
        *,
        org: str = DEFAULT_ORG,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> SignedIn:
        """A new session for the member with this email and password (401
        ``invalid_credentials``, 429 ``too_many_attempts``, 403 ``sso_only``)."""
        self.ensure_passwords_allowed()
        self._take_attempt(ip)
        email = normal_email(email)
        async with self.db.session() as s:
            member = await s.scalar(
                select(Member)
                .join(Org, Org.id == Member.org_id)
                .where(Org.name == org, Member.email == email)
            )
        if member is None:
            await self._unknown_email(org, email, password)
            raise Unauthorized(INVALID, "invalid_credentials")
        self._refuse_while_locked(member.locked_until)
        if not await asyncio.to_thread(verify_password, member.password_hash, password):
            await self._failed(member.id)
            raise Unauthorized(INVALID, "invalid_credentials")
        await self._succeeded(member, password)
        started = await self.sessions.start(
            member.org_id, member.id, method="password", ip=ip, user_agent=user_agent
        )
        return SignedIn(member, started)

    def _take_attempt(self, ip: str | None) -> None:
        """429 when this client address has tried too often lately."""
        rate = self.settings.sign_in_rate_per_minute / 60
        if rate <= 0:
            return
        key = ip or "unknown"
        now = time.monotonic()
        try:
            bucket = self._addresses[key]
        except KeyError:
            bucket = self._addresses[key] = TokenBucket(rate, self.settings.sign_in_rate_burst, now)
        wait = bucket.take(now)
        if wait:
            raise _too_many("Too many sign-in attempts from your address", wait)

    async def _unknown_email(self, org: str, email: str, password: str) -> None:
        """Behave as for a member with a wrong password: the same work, the same lock."""
        key = (org, email)
        failures, locked = self._ghosts.get(key, (0, 0.0))
        now = time.time()
        if locked > now:
            raise _too_many(_LOCKED, locked - now)
        await asyncio.to_thread(verify_password, None, password)
        failures += 1
        lock = self._lock_seconds(failures)
        self._ghosts[key] = (failures, now + lock if lock else 0.0)

    def _refuse_while_locked(self, locked_until: datetime | None) -> None:
        if locked_until is None:
            return
        wait = (locked_until - utcnow()).total_seconds()
        if wait > 0:
            raise _too_many(_LOCKED, wait)

    def _lock_seconds(self, failures: int) -> float:
        """How long ``failures`` consecutive failures lock a member (0: not yet)."""
        over = failures - self.settings.sign_in_lockout_after
        if over < 0:
            return 0.0
        first = self.settings.sign_in_lockout_seconds
        return min(first * 2 ** min(over, 32), self.settings.sign_in_lockout_max_seconds)

    async def _failed(self, member_id: str) -> None:
        """Count a failure (atomically: concurrent guesses each count) and lock the member
        once there are enough."""
        async with self.db.session() as s:
            failures = await s.scalar(
                update(Member)
                .where(Member.id == member_id)
                .values(failed_sign_ins=Member.failed_sign_ins + 1)
                .returning(Member.failed_sign_ins)
            )
            lock = self._lock_seconds(failures or 0)
            if lock:
                await s.execute(
                    update(Member)
                    .where(Member.id == member_id)
                    .values(locked_until=utcnow() + timedelta(seconds=lock))
                )
            await s.commit()

    async def _succeeded(self, member: Member, password: str) -> None:
        values: dict = {"failed_sign_ins": 0, "locked_until": None, "last_sign_in_at": utcnow()}
        if needs_rehash(member.password_hash):  # argon2's parameters were raised since
            values["password_hash"] = await asyncio.to_thread(hash_password, password)
        async with self.db.session() as s:
            await s.execute(update(Member).where(Member.id == member.id).values(**values))
            await s.commit()

    # -- passwords ---------------------------------------------------------------------
    async def change_password(self, member_id: str, current: str, new: str) -> None:
        """The member's own change: the current password first (a wrong one counts as a
        failed sign-in), then ``set_password``."""
        self.ensure_passwords_allowed()
        async with self.db.session() as s:
            member = await s.scalar(select(Member).where(Member.id == member_id))
        if member is None:
            raise Unauthorized("Your session has ended", "session_ended")
        self._refuse_while_locked(member.locked_until)
        if not await asyncio.to_thread(verify_password, member.password_hash, current):
            await self._failed(member.id)
            raise BadRequest("The current password is wrong", "wrong_password")
        if new == current:
            raise BadRequest("The new password is the current one", "same_password")
        await self.set_password(member, new)

    async def set_password(self, member: Member, password: str) -> None:
        """Set ``member``'s password (400 ``weak_password`` naming the rule broken), clear
        their lockout and sign them out everywhere."""
        check_strength(password, email=member.email)
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self.db.session() as s:
            await s.execute(
                update(Member)
                .where(Member.id == member.id)
                .values(password_hash=password_hash, failed_sign_ins=0, locked_until=None)
            )
            await s.commit()
        await self.sessions.end_all(member.id)


_LOCKED = "Too many failed sign-ins: try again later"


def _too_many(message: str, wait: float) -> ServiceError:
    return TooManyRequests(
        message, "too_many_attempts", headers={"Retry-After": str(max(1, math.ceil(wait)))}
    )
