"""Password reset by an emailed one-time link.

Asking (``request``) never tells whether the address is a member's: the answer is the same
and comes at once, the lookup and the email happening afterwards in the background (so the
answer's timing tells nothing either). Requests are limited per address asked about and
per client address (429 with the seconds to wait). Completing the reset sets the new
password, clears failed sign-ins and a lock, and ends every session of the member."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...config import Settings
from ...ratelimit import TokenBucket, buckets
from ...storage.models import Member, utcnow
from ..errors import NotFound, TooManyRequests
from . import passwords
from .mailer import Mailer
from .members import Members, normal_email
from .one_time_links import LinkInfo, OneTimeLinks, link_url
from .sessions import Sessions

log = logging.getLogger("patchbay.identity")

PAGE = "reset-password"
# Requests about one email address: 3 at once, then one per 10 minutes; from one client
# address: 10 at once, then one a minute.
PER_EMAIL = (1 / 600, 3)
PER_CLIENT = (1 / 60, 10)


class PasswordResets:
    def __init__(
        self,
        settings: Settings,
        links: OneTimeLinks,
        members: Members,
        sessions: Sessions,
        mailer: Mailer,
    ) -> None:
        self.settings = settings
        self.links = links
        self.members = members
        self.sessions = sessions
        self.mailer = mailer
        self._by_email = buckets()
        self._by_client = buckets()
        self._pending: set[asyncio.Task] = set()

    def request(self, org_id: str, email: str, client: str | None) -> None:
        """Ask for a reset link for ``email`` (429 ``rate_limited`` past the limits);
        the link is emailed in the background when ``email`` is a member's."""
        email = normal_email(email)
        if client:
            self._take(self._by_client, client, PER_CLIENT)
        self._take(self._by_email, f"{org_id}:{email}", PER_EMAIL)
        task = asyncio.create_task(self._send(org_id, email))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait for the emails being sent (on shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _send(self, org_id: str, email: str) -> None:
        try:
            member = await self.members.by_email(org_id, email)
            if member is None:
                return
            issued = await self.links.issue(
                org_id,
                "reset",
                ttl_seconds=self.settings.password_reset_ttl_seconds,
                email=member.email,
                member_id=member.id,
                replace=True,
            )
            url = link_url(self.settings.effective_public_url, PAGE, issued.token)
            minutes = max(1, self.settings.password_reset_ttl_seconds // 60)
            sent = await self.mailer.send(
                member.email,
                "Reset your Patchbay password",
                "Someone (hopefully you) asked to reset the password of your Patchbay "
                f"account.\n\nTo choose a new password, open this link:\n\n{url}\n\n"
                f"The link works once, within {minutes} minutes. If you did not ask for "
                "this, ignore this email: your password stays as it is.\n",
            )
            if not sent:
                log.warning(
                    "A password reset was asked for member %s, but no email could be sent "
                    "(see PATCHBAY_SMTP_HOST); an administrator can reset the password",
                    member.id,
                )
        except Exception:  # a background task: nobody else would hear of it
            log.exception("Sending a password reset link failed")

    async def complete(self, token: str, password: str) -> Member:
        """Use a reset link: the new password (400 ``weak_password``; 404
        ``link_not_found``, 410 ``link_used`` / ``link_expired``), failed sign-ins and a
        lock cleared, every session of the member ended. A refused password leaves the
        link usable."""
        link = await self.links.peek("reset", token)
        passwords.check_strength(password, email=link.email)
        password_hash = await asyncio.to_thread(passwords.hash_password, password)

        async def reset(s: AsyncSession, link: LinkInfo) -> Member:
            member = await s.scalar(select(Member).where(Member.id == link.member_id))
            if member is None:
                raise NotFound("This link is not valid any more", "link_not_found")
            member.password_hash = password_hash
            member.failed_sign_ins = 0
            member.locked_until = None
            member.updated_at = utcnow()
            await s.flush()
            return member

        member = await self.links.redeem("reset", token, reset)
        await self.sessions.end_all(member.id)
        return member

    @staticmethod
    def _take(table, key: str, limit: tuple[float, int]) -> None:
        now = time.monotonic()
        bucket = table.get(key)
        if bucket is None:
            bucket = table[key] = TokenBucket(limit[0], limit[1], now)
        wait = bucket.take(now)
        if wait:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(
                f"Too many password reset requests: try again in {seconds} seconds",
                "rate_limited",
                headers={"Retry-After": str(seconds)},
            )
