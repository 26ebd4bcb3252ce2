"""Stored authentications: an end user's (or the organisation's) credentials for one
service environment. Credentials are encrypted at rest and shown only by ``/full``.

The organisation's authentications belong to a workspace: a caller sees those of the
workspaces it has a role in, and uses one (a call, a subscription) only where its role allows
the route's action; an end user sees only their own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from sqlalchemy import select

from ...connectors.registry import Registry
from ...connectors.sdk import AuthEnvironment
from ...connectors.sdk.schema import SchemaValidator
from ...crypto import KeyRing
from ...storage.db import Database
from ...storage.models import Authentication
from ..cursors import paginate
from ..errors import BadRequest, NotFound
from ..identity.principal import Principal
from ..scope import guard, in_visible

CACHE_SIZE = 10_000  # decrypted authentications kept for cache_seconds


@dataclass(frozen=True, slots=True)
class LoadedAuth:
    """A decrypted authentication, ready for a call."""

    id: str
    org_id: str
    workspace_id: str
    user_id: str | None
    service_name: str
    service_version: int
    environment_id: str
    credentials: dict[str, Any]
    user_data: dict[str, Any]
    status: str = "active"


def auth_to_api(row: Authentication) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "serviceEnvironmentId": row.service_environment_id,
        "service": {"name": row.service_name, "version": row.service_version},
        "scopes": list(row.scopes or []),
        "status": row.status,
        "createdAt": row.created_at.isoformat(),
    }


def with_tray_token_fields(credentials: dict[str, Any]) -> dict[str, Any]:
    """OAuth credentials as stored, plus the camelCase fields Tray's ``/full`` answers with
    (``accessToken``, ``tokenType``, ``expiresIn`` seconds from now)."""
    if not isinstance(credentials, dict) or "access_token" not in credentials:
        return credentials
    extra: dict[str, Any] = {
        "accessToken": credentials["access_token"],
        "tokenType": credentials.get("token_type") or "Bearer",
    }
    expires_at = credentials.get("expires_at")
    if isinstance(expires_at, int | float):
        extra["expiresIn"] = max(0, int(expires_at - time.time()))
    return {**credentials, **extra}


def check_schema(schema: dict[str, Any], value: Any, what: str) -> None:
    errors = SchemaValidator(schema).errors(value)
    if errors:
        raise BadRequest(f"Invalid {what}: " + "; ".join(errors), f"invalid_{what}")


class Authentications:
    def __init__(
        self, db: Database, keyring: KeyRing, registry: Registry, *, cache_seconds: float = 2.0
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.registry = registry
        self.cache_seconds = cache_seconds
        # id -> (decrypted authentication, cached until); the least recently used go first
        self._cache: LRUCache[str, tuple[LoadedAuth, float]] = LRUCache(CACHE_SIZE)

    def _environment(self, environment_id: str) -> AuthEnvironment:
        found = self.registry.environment(environment_id)
        if found is None:
            raise NotFound("Service environment not found", "service_environment_not_found")
        return found[1]

    @staticmethod
    def _owned(p: Principal):
        owner = (
            Authentication.user_id == p.user_id if p.user_id else Authentication.user_id.is_(None)
        )
        return [Authentication.org_id == p.org_id, owner]

    async def _row(self, s, p: Principal, auth_id: str) -> Authentication:
        row = await s.scalar(
            select(Authentication).where(Authentication.id == auth_id, *self._owned(p))
        )
        if row is None:
            raise _missing()
        guard(p, row.workspace_id, _missing())
        return row

    async def create(
        self, p: Principal, body: dict[str, Any], *, workspace_id: str | None = None
    ) -> dict[str, Any]:
        found = self.registry.environment(body["serviceEnvironmentId"])
        if found is None:
            raise NotFound("Service environment not found", "service_environment_not_found")
        connector, env = found
        credentials = body.get("credentials") or {}
        user_data = body.get("userData") or {}
        check_schema(env.credentials_schema, credentials, "credentials")
        check_schema(env.user_data_schema, user_data, "userData")
        row = Authentication(
            org_id=p.org_id,
            workspace_id=p.target_workspace(workspace_id),
            user_id=p.user_id,
            name=body["name"],
            service_name=connector.service.name,
            service_version=connector.service.version,
            service_environment_id=env.id,
            scopes=list(body.get("scopes") or []),
            user_data=user_data,
            credentials=self.keyring.encrypt(credentials),
        )
        async with self.db.session() as s:
            s.add(row)
            await s.commit()
        return {"id": row.id}

    async def list(
        self,
        p: Principal,
        first: int | None,
        cursor: str | None,
        *,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        query = select(Authentication).where(
            *self._owned(p), *in_visible(p, Authentication.workspace_id, workspace_id)
        )
        async with self.db.session() as s:
            rows, info = await paginate(s, query, Authentication.seq, first, cursor)
        return {"elements": [auth_to_api(r) for r in rows], "pageInfo": info}

    async def get(self, p: Principal, auth_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            return auth_to_api(await self._row(s, p, auth_id))

    async def owned_row(self, p: Principal, auth_id: str) -> Authentication:
        """``p``'s authentication ``auth_id`` as stored (NotFound when not theirs)."""
        async with self.db.session() as s:
            return await self._row(s, p, auth_id)

    def full_to_api(self, row: Authentication) -> dict[str, Any]:
        """What ``/full`` shows: the authentication with its user data and credentials
        (served by :meth:`.ready.Credentials.full`, which refreshes them first on demand)."""
        return {
            **auth_to_api(row),
            "userData": row.user_data or {},
            "credentials": with_tray_token_fields(self.keyring.decrypt(row.credentials)),
        }

    async def update(self, p: Principal, auth_id: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.db.session() as s:
            row = await self._row(s, p, auth_id)
            env = self._environment(row.service_environment_id)
            check_schema(env.credentials_schema, body["credentials"], "credentials")
            row.name = body["name"]
            row.credentials = self.keyring.encrypt(body["credentials"])
            if body.get("userData") is not None:
                check_schema(env.user_data_schema, body["userData"], "userData")
                row.user_data = body["userData"]
            if body.get("scopes") is not None:
                row.scopes = list(body["scopes"])
            row.status = "active"
            await s.commit()
        self._cache.pop(auth_id, None)
        return auth_to_api(row)

    async def delete(self, p: Principal, auth_id: str) -> None:
        async with self.db.session() as s:
            row = await self._row(s, p, auth_id)
            await s.delete(row)
            await s.commit()
        self._cache.pop(auth_id, None)

    async def load(self, p: Principal, auth_id: str) -> LoadedAuth:
        """The decrypted authentication for a call, if ``p`` owns it and its role in the
        authentication's workspace allows the route's action (cached briefly: no database
        round trip on the hot path)."""
        auth = await self._load(auth_id)
        if auth.org_id != p.org_id or auth.user_id != p.user_id:
            raise _missing()
        guard(p, auth.workspace_id, _missing())
        return auth

    async def load_in_org(
        self, org_id: str, auth_id: str, workspace_id: str | None = None
    ) -> LoadedAuth:
        """Any authentication of organisation ``org_id`` (of workspace ``workspace_id``
        when given), its end users' included (for the organisation's workflows: the
        organisation acts for its users)."""
        auth = await self._load(auth_id)
        if auth.org_id != org_id or workspace_id not in (None, auth.workspace_id):
            raise _missing()
        return auth

    async def _load(self, auth_id: str) -> LoadedAuth:
        now = time.monotonic()
        try:
            auth, until = self._cache[auth_id]
        except KeyError:
            until = 0.0
        if until <= now:
            async with self.db.session() as s:
                row = await s.scalar(select(Authentication).where(Authentication.id == auth_id))
            if row is None:
                raise NotFound("Authentication not found", "authentication_not_found")
            auth = LoadedAuth(
                id=row.id,
                org_id=row.org_id,
                workspace_id=row.workspace_id,
                user_id=row.user_id,
                service_name=row.service_name,
                service_version=row.service_version,
                environment_id=row.service_environment_id,
                credentials=self.keyring.decrypt(row.credentials),
                user_data=row.user_data or {},
                status=row.status,
            )
            self._cache[auth_id] = (auth, now + self.cache_seconds)
        return auth

    def invalidate(self, auth_id: str) -> None:
        """Drop one authentication from the cache (its row changed)."""
        self._cache.pop(auth_id, None)

    def forget(self) -> None:
        self._cache.clear()


def _missing() -> NotFound:
    return NotFound("Authentication not found", "authentication_not_found")
