"""Organisations, bearer tokens and sessions: who a credential is (with a short cache),
creation and revocation.

Tokens are random, shown once, and stored as their SHA-256 only. A master token belongs to
the organisation or to one of its workspaces; a user token to one end user; a personal
token and a session to one member, who acts with their roles."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from cachetools import LRUCache
from sqlalchemy import func, select, update

from ...storage.db import Database
from ...storage.models import (
    ApiToken,
    EndUser,
    Member,
    MemberSession,
    Org,
    Workspace,
    WorkspaceMember,
    utcnow,
)
from ..errors import BadRequest, NotFound, Unauthorized
from .principal import Principal

DEFAULT_ORG = "default"
DEFAULT_WORKSPACE = "Default"
_PREFIXES = {"master": "pbm_", "user": "pbu_", "personal": "pbp_", "session": "pbs_"}
_EXPIRED = ("The token has expired", "token_expired")
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
        """The organisation named ``name`` (created with its default workspace)."""
        async with self.db.session() as s:
            org_id = await s.scalar(select(Org.id).where(Org.name == name))
            if org_id is None:
                org = Org(name=name)
                s.add(org)
                await s.flush()
                org_id = org.id
            if await self._default_workspace(s, org_id) is None:
                s.add(
                    Workspace(
                        org_id=org_id, name=DEFAULT_WORKSPACE, type="Organization", is_default=True
                    )
                )
            await s.commit()
            return org_id

    async def default_workspace(self, org_id: str) -> str:
        async with self.db.session() as s:
            workspace_id = await self._default_workspace(s, org_id)
        if workspace_id is None:
            raise NotFound("The organisation has no default workspace", "workspace_not_found")
        return workspace_id

    @staticmethod
    async def _default_workspace(s, org_id: str) -> str | None:
        return await s.scalar(
            select(Workspace.id).where(Workspace.org_id == org_id, Workspace.is_default)
        )

    async def org_id(self, name: str) -> str:
        async with self.db.session() as s:
            org_id = await s.scalar(select(Org.id).where(Org.name == name))
        if org_id is None:
            raise NotFound(f"No organisation named {name!r}")
        return org_id

    # -- master tokens ---------------------------------------------------------------
    async def create_master_token(
        self, org_id: str, name: str | None = None, workspace_id: str | None = None
    ) -> IssuedToken:
        """A master token for the whole organisation, or for one of its workspaces only."""
        token = new_token("master")
        row = ApiToken(
            org_id=org_id,
            kind="master",
            name=name,
            workspace_id=workspace_id,
            token_hash=hash_token(token),
            prefix=token[:8],
        )
        async with self.db.session() as s:
            if workspace_id is not None:
                found = await s.scalar(
                    select(Workspace.id).where(
                        Workspace.id == workspace_id, Workspace.org_id == org_id
                    )
                )
                if found is None:
                    raise NotFound(f"No workspace {workspace_id} here", "workspace_not_found")
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

    # -- personal tokens (a member's) ---------------------------------------------------
    async def create_personal_token(
        self,
        org_id: str,
        member_id: str,
        name: str | None = None,
        ttl_seconds: int | None = None,
    ) -> IssuedToken:
        """A token acting as the member, with the member's roles (whatever they are when
        it is used); optional expiry."""
        token = new_token("personal")
        expires = utcnow() + timedelta(seconds=ttl_seconds) if ttl_seconds else None
        row = ApiToken(
            org_id=org_id,
            member_id=member_id,
            kind="personal",
            name=name,
            token_hash=hash_token(token),
            prefix=token[:8],
            expires_at=expires,
        )
        async with self.db.session() as s:
            owner = await s.scalar(
                select(Member.id).where(Member.id == member_id, Member.org_id == org_id)
            )
            if owner is None:
                raise NotFound("User not found", "user_not_found")
            s.add(row)
            await s.commit()
        return IssuedToken(row.id, token, expires)

    async def list_personal_tokens(self, member_id: str) -> list[ApiToken]:
        """A member's personal tokens not revoked (expired ones too, till revoked)."""
        async with self.db.session() as s:
            rows = await s.scalars(
                select(ApiToken)
                .where(
                    ApiToken.member_id == member_id,
                    ApiToken.kind == "personal",
                    ApiToken.revoked_at.is_(None),
                )
                .order_by(ApiToken.seq)
            )
            return list(rows.all())

    async def revoke_personal_token(self, member_id: str, token_id: str) -> None:
        """Revoke one of the member's own personal tokens (404 for anyone else's)."""
        async with self.db.session() as s:
            result = await s.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == token_id,
                    ApiToken.member_id == member_id,
                    ApiToken.kind == "personal",
                    ApiToken.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
            await s.commit()
        if result.rowcount == 0:
            raise NotFound("Token not found", "token_not_found")
        self._cache.clear()

    # -- verification ----------------------------------------------------------------
    async def authenticate(self, token: str | None) -> Principal:
        """The caller a bearer token names (a master, user or personal token)."""
        if not token:
            raise Unauthorized("Missing bearer token", "missing_token")
        return await self._verify(hash_token(token), self._token_principal)

    async def authenticate_session(self, token: str) -> Principal:
        """The member a session cookie names."""
        return await self._verify(
            hash_token(token),
            self._session_principal,
            invalid=("Your session has ended", "session_ended"),
            expired=("Your session has expired: sign in again", "session_expired"),
        )

    async def _verify(self, digest: str, load, invalid=None, expired=None) -> Principal:
        now = time.time()
        try:
            principal, expires, until = self._cache[digest]
        except KeyError:
            until = 0.0
        if until > now:
            if expires is not None and expires <= now:
                raise Unauthorized(*(expired or _EXPIRED))
            return principal
        async with self.db.session() as s:
            found = await load(s, digest)
        if found is None:
            self._cache.pop(digest, None)
            message, code = invalid or ("Invalid or revoked token", "invalid_token")
            raise Unauthorized(message, code)
        principal, expires_at = found
        expires = expires_at.timestamp() if expires_at else None
        self._cache[digest] = (principal, expires, now + self.cache_seconds)
        if expires is not None and expires <= now:
            raise Unauthorized(*(expired or _EXPIRED))
        return principal

    async def _token_principal(self, s, digest: str):
        row = await s.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None or row.revoked_at is not None:
            return None
        expires_at = _aware(row.expires_at)
        if row.kind == "personal":
            principal = await self._member_principal(s, row.member_id, row.id, "token")
            return (principal, expires_at) if principal else None
        default = await self._default_workspace(s, row.org_id)
        workspace_id = row.workspace_id
        if row.kind == "user":
            workspace_id = await s.scalar(
                select(EndUser.workspace_id).where(EndUser.id == row.user_id)
            )
        principal = Principal(
            org_id=row.org_id,
            kind=row.kind,
            token_id=row.id,
            user_id=row.user_id,
            workspace_id=workspace_id,
            default_workspace_id=default,
            label=row.name,
        )
        return principal, expires_at

    async def _session_principal(self, s, digest: str):
        row = await s.scalar(select(MemberSession).where(MemberSession.token_hash == digest))
        if row is None or row.revoked_at is not None:
            return None
        principal = await self._member_principal(s, row.member_id, row.id, "session")
        return (principal, _aware(row.expires_at)) if principal else None

    async def _member_principal(
        self, s, member_id: str | None, token_id: str, via: str
    ) -> Principal | None:
        member = await s.scalar(select(Member).where(Member.id == member_id))
        if member is None:
            return None
        roles = dict(
            (
                await s.execute(
                    select(WorkspaceMember.workspace_id, WorkspaceMember.role).where(
                        WorkspaceMember.member_id == member.id
                    )
                )
            ).all()
        )
        return Principal(
            org_id=member.org_id,
            kind="member",
            token_id=token_id,
            member_id=member.id,
            org_role=member.org_role,
            workspace_roles=MappingProxyType(roles),
            default_workspace_id=await self._default_workspace(s, member.org_id),
            via=via,
            label=member.email,
        )

    def forget(self) -> None:
        """Drop cached verifications (after a revocation, a deletion or a role change in
        this process; other processes see it within ``cache_seconds``)."""
        self._cache.clear()
