"""Organisations and bearer tokens: creation, verification (with a short cache), revocation.

Tokens are random, shown once, and stored as their SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cachetools import LRUCache
from sqlalchemy import func, select, update

from ...storage.db import Database
from ...storage.models import ApiToken, EndUser, Org, utcnow
from ..errors import BadRequest, NotFound, Unauthorized
from .principal import Principal

DEFAULT_ORG = "default"
_PREFIXES = {"master": "pbm_", "user": "pbu_"}
CACHE_SIZE = 50_000  # verified tokens kept; the least recently used go first


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(kind: str) -> str:
    return _PREFIXES[kind] + secrets.token_urlsafe(32)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite drops the zone
        return value.replace(tzinfo=UTC)
    return value


@dataclass
class IssuedToken:
    id: str
    token: str
    expires_at: datetime | None


class Identity:
    def __init__(
        self, db: Database, *, cache_seconds: float = 2.0, cache_size: int = CACHE_SIZE
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        # token hash -> (principal, expires_at epoch or None, cached until)
        self._cache: LRUCache[str, tuple[Principal, float | None, float]] = LRUCache(cache_size)

    # -- organisations ---------------------------------------------------------------
    async def ensure_org(self, name: str = DEFAULT_ORG) -> str:
        async with self.db.session() as s:
            org_id = await s.scalar(select(Org.id).where(Org.name == name))
            if org_id:
                return org_id
            org = Org(name=name)
            s.add(org)
            await s.commit()
            return org.id

    async def org_id(self, name: str) -> str:
        async with self.db.session() as s:
            org_id = await s.scalar(select(Org.id).where(Org.name == name))
        if org_id is None:
            raise NotFound(f"No organisation named {name!r}")
        return org_id

    # -- master tokens ---------------------------------------------------------------
    async def create_master_token(self, org_id: str, name: str | None = None) -> IssuedToken:
        token = new_token("master")
        row = ApiToken(
            org_id=org_id, kind="master", name=name, token_hash=hash_token(token), prefix=token[:8]
        )
        async with self.db.session() as s:
            s.add(row)
            await s.commit()
        return IssuedToken(row.id, token, None)

    async def count_master_tokens(self) -> int:
        async with self.db.session() as s:
            return await s.scalar(
                select(func.count()).select_from(ApiToken).where(ApiToken.kind == "master")
            )

    async def list_master_tokens(self, org_id: str | None = None) -> list[ApiToken]:
        query = select(ApiToken).where(ApiToken.kind == "master").order_by(ApiToken.seq)
        if org_id:
            query = query.where(ApiToken.org_id == org_id)
        async with self.db.session() as s:
            return list((await s.scalars(query)).all())

    async def revoke_token(self, token_id: str) -> None:
        async with self.db.session() as s:
            result = await s.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            await s.commit()
        if result.rowcount == 0:
            raise NotFound(f"No active token with id {token_id}")
        self._cache.clear()

    # -- user tokens -----------------------------------------------------------------
    async def issue_user_token(self, org_id: str, user_id: str, ttl_seconds: int) -> IssuedToken:
        if ttl_seconds <= 0:
            raise BadRequest("Token lifetime must be positive", "invalid_ttl")
        token = new_token("user")
        expires = utcnow() + timedelta(seconds=ttl_seconds)
        async with self.db.session() as s:
            owner = await s.scalar(
                select(EndUser.id).where(EndUser.id == user_id, EndUser.org_id == org_id)
            )
            if owner is None:
                raise NotFound("User not found", "user_not_found")
            row = ApiToken(
                org_id=org_id,
                user_id=user_id,
                kind="user",
                token_hash=hash_token(token),
                prefix=token[:8],
                expires_at=expires,
            )
            s.add(row)
            await s.commit()
        return IssuedToken(row.id, token, expires)

    async def revoke_user_tokens(self, org_id: str, user_id: str) -> int:
        async with self.db.session() as s:
            result = await s.execute(
                update(ApiToken)
                .where(
                    ApiToken.org_id == org_id,
                    ApiToken.user_id == user_id,
                    ApiToken.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
            await s.commit()
        self._cache.clear()
        return result.rowcount

    # -- verification ----------------------------------------------------------------
    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("Missing bearer token", "missing_token")
        digest = hash_token(token)
        now = time.time()
        try:
            principal, expires, until = self._cache[digest]
        except KeyError:
            until = 0.0
        if until > now:
            if expires is not None and expires <= now:
                raise Unauthorized("The token has expired", "token_expired")
            return principal
        async with self.db.session() as s:
            row = await s.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None or row.revoked_at is not None:
            self._cache.pop(digest, None)
            raise Unauthorized("Invalid or revoked token", "invalid_token")
        expires_at = _aware(row.expires_at)
        expires = expires_at.timestamp() if expires_at else None
        principal = Principal(
            org_id=row.org_id, kind=row.kind, token_id=row.id, user_id=row.user_id
        )
        self._cache[digest] = (principal, expires, now + self.cache_seconds)
        if expires is not None and expires <= now:
            raise Unauthorized("The token has expired", "token_expired")
        return principal

    def forget(self) -> None:
        """Drop cached verifications (after a revocation or deletion in this process)."""
        self._cache.clear()
