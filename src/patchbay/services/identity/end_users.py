"""End users of an organisation (Tray's external users), in a REST form.

Each end user belongs to a workspace (the one it was created in): managing it takes a
workspace admin there (the routes declare MANAGE); a workspace the caller has no role in
shows none of its end users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...storage.db import Database
from ...storage.models import EndUser
from ..cursors import paginate
from ..errors import Conflict, NotFound
from ..scope import guard, in_visible
from .principal import Principal
from .tokens import Identity


def user_to_api(user: EndUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "externalUserId": user.external_user_id,
        "isTestUser": user.is_test_user,
        "createdAt": user.created_at.isoformat(),
    }


class Users:
    def __init__(self, db: Database, identity: Identity) -> None:
        self.db = db
        self.identity = identity

    async def create(
        self,
        p: Principal,
        *,
        name: str,
        external_user_id: str,
        is_test_user: bool = False,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        p.require_master()
        user = EndUser(
            org_id=p.org_id,
            workspace_id=p.target_workspace(workspace_id),
            name=name,
            external_user_id=external_user_id,
            is_test_user=is_test_user,
        )
        async with self.db.session() as s:
            s.add(user)
            try:
                await s.commit()
            except IntegrityError as exc:
                raise Conflict(
                    f"A user with externalUserId {external_user_id!r} already exists",
                    "external_user_id_taken",
                ) from exc
        return user_to_api(user)

    async def list(
        self,
        p: Principal,
        first: int | None,
        cursor: str | None,
        *,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        p.require_master()
        query = select(EndUser).where(
            EndUser.org_id == p.org_id, *in_visible(p, EndUser.workspace_id, workspace_id)
        )
        async with self.db.session() as s:
            rows, info = await paginate(s, query, EndUser.seq, first, cursor)
        return {"elements": [user_to_api(u) for u in rows], "pageInfo": info}

    async def _own(self, s, p: Principal, user_id: str) -> EndUser:
        user = await s.scalar(
            select(EndUser).where(EndUser.id == user_id, EndUser.org_id == p.org_id)
        )
        if user is None:
            raise NotFound("User not found", "user_not_found")
        guard(p, user.workspace_id, NotFound("User not found", "user_not_found"))
        return user

    async def check(self, p: Principal, user_id: str) -> None:
        """Let ``p`` manage end user ``user_id`` (its tokens): NotFound, Forbidden."""
        p.require_master()
        async with self.db.session() as s:
            await self._own(s, p, user_id)

    async def get(self, p: Principal, user_id: str) -> dict[str, Any]:
        p.require_master()
        async with self.db.session() as s:
            return user_to_api(await self._own(s, p, user_id))

    async def update(self, p: Principal, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        p.require_master()
        async with self.db.session() as s:
            user = await self._own(s, p, user_id)
            if "name" in changes:
                user.name = changes["name"]
            if "externalUserId" in changes:
                user.external_user_id = changes["externalUserId"]
            if "isTestUser" in changes:
                user.is_test_user = changes["isTestUser"]
            try:
                await s.commit()
            except IntegrityError as exc:
                raise Conflict(
                    "Another user already has that externalUserId", "external_user_id_taken"
                ) from exc
            return user_to_api(user)

    async def delete(self, p: Principal, user_id: str) -> None:
        """Deleting a user deletes its tokens and authentications with it."""
        p.require_master()
        async with self.db.session() as s:
            user = await self._own(s, p, user_id)
            await s.delete(user)
            await s.commit()
        self.identity.forget()
