"""One-time links: an invitation, a password reset or the first owner's setup.

A link carries a random token (in the URL's fragment, so that it reaches neither server
logs nor a ``Referer``); only its SHA-256 is stored. A link is used once and expires.
Redeeming it marks it used and does what it is for in **one transaction**, with a
conditional update (``used_at IS NULL``) that only one of two concurrent redemptions can
win; when the work fails (a weak password, an email taken meanwhile) the transaction rolls
back and the link still works."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ...storage.db import Database
from ...storage.models import OneTimeLink, utcnow
from ..errors import Gone, NotFound
from .tokens import hash_token

KINDS = ("invite", "reset", "setup")
PREFIX = "pbl_"  # what a secret scanner can recognise

T = TypeVar("T")


@dataclass(frozen=True)
class IssuedLink:
    id: str
    token: str  # shown once (in the email, or on the console)
    expires_at: datetime


@dataclass(frozen=True)
class LinkInfo:
    """What a valid, unused link says (read before it is redeemed)."""

    id: str
    org_id: str
    kind: str
    email: str | None
    member_id: str | None
    org_role: str | None


class OneTimeLinks:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def issue(
        self,
        org_id: str,
        kind: str,
        *,
        ttl_seconds: int,
        email: str | None = None,
        member_id: str | None = None,
        org_role: str | None = None,
        created_by: str | None = None,
        replace: bool = False,
    ) -> IssuedLink:
        """A new link. ``replace``: the organisation's unused links of this kind for the
        same email (or, without one, all of them) stop working (expire now)."""
        if kind not in KINDS:
            raise ValueError(f"Unknown link kind {kind!r}")
        token = PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        row = OneTimeLink(
            org_id=org_id,
            kind=kind,
            token_hash=hash_token(token),
            email=email,
            member_id=member_id,
            org_role=org_role,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        async with self.db.session() as s:
            if replace:
                older = (
                    update(OneTimeLink)
                    .where(
                        OneTimeLink.org_id == org_id,
                        OneTimeLink.kind == kind,
                        OneTimeLink.used_at.is_(None),
                        OneTimeLink.expires_at > now,
                    )
                    .values(expires_at=now)
                )
                if email is not None:
                    older = older.where(OneTimeLink.email == email)
                await s.execute(older)
            s.add(row)
            await s.commit()
        return IssuedLink(row.id, token, row.expires_at)

    async def peek(self, kind: str, token: str) -> LinkInfo:
        """The link ``token`` names, when it can still be used (404 ``link_not_found``,
        410 ``link_used`` / ``link_expired`` otherwise). Nothing is changed."""
        async with self.db.session() as s:
            return _info(_usable(await _find(s, kind, token), utcnow()))

    async def redeem(
        self,
        kind: str,
        token: str,
        use: Callable[[AsyncSession, LinkInfo], Awaitable[T]],
    ) -> T:
        """Mark the link used and run ``use(session, link)`` in the same transaction,
        committed when ``use`` returns (rolled back, the link unused, when it raises).
        ``use`` must work through the session it is given (SQLite has one connection)."""
        async with self.db.session() as s:
            now = utcnow()
            link = _usable(await _find(s, kind, token), now)
            won = await s.execute(
                update(OneTimeLink)
                .where(OneTimeLink.id == link.id, OneTimeLink.used_at.is_(None))
                .values(used_at=now)
            )
            if won.rowcount != 1:  # another redemption got there first
                raise _used()
            result = await use(s, _info(link))
            await s.commit()
        return result

    async def expire(self, org_id: str, kind: str) -> None:
        """Every unused link of this kind in the organisation stops working."""
        now = utcnow()
        async with self.db.session() as s:
            await s.execute(
                update(OneTimeLink)
                .where(
                    OneTimeLink.org_id == org_id,
                    OneTimeLink.kind == kind,
                    OneTimeLink.used_at.is_(None),
                    OneTimeLink.expires_at > now,
                )
                .values(expires_at=now)
            )
            await s.commit()


async def _find(s: AsyncSession, kind: str, token: str) -> OneTimeLink:
    link = None
    if token.startswith(PREFIX):
        link = await s.scalar(
            select(OneTimeLink).where(OneTimeLink.token_hash == hash_token(token))
        )
    if link is None or link.kind != kind:
        raise NotFound("This link is not valid: check that it was copied whole", "link_not_found")
    return link


def _usable(link: OneTimeLink, now: datetime) -> OneTimeLink:
    if link.used_at is not None:
        raise _used()
    expires = link.expires_at
    if expires.tzinfo is None:  # SQLite drops the zone
        expires = expires.replace(tzinfo=UTC)
    if expires <= now:
        raise Gone("This link has expired: ask for a new one", "link_expired")
    return link


def _used() -> Gone:
    return Gone("This link has already been used", "link_used")


def _info(link: OneTimeLink) -> LinkInfo:
    return LinkInfo(link.id, link.org_id, link.kind, link.email, link.member_id, link.org_role)


def link_url(public_url: str, page: str, token: str) -> str:
    """The address a link opens: the page, with the token in the fragment (browsers send
    neither the fragment to the server nor it in a ``Referer``)."""
    return f"{public_url.rstrip('/')}/{page}#token={token}"
