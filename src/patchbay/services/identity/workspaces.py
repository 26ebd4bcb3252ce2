"""Workspaces and who works in them (Tray's ``/core/v1/workspaces``).

A workspace owns what is built in it (workflows, authentications, subscriptions, end
users). Who sees one is the caller's business (``Principal``): the organisation's master
token, owners and admins see every workspace; a workspace's master token only its own; a
member the workspaces they hold a role in. A workspace the caller cannot see is 404, as if
it did not exist; a role too weak for the route's action is 403.

A workspace's members are the rows of ``workspace_members``: the organisation's owners and
admins act as admins everywhere without one, and are listed only where they were added."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...storage.db import Database
from ...storage.models import Member, Workspace, WorkspaceMember
from ..cursors import paginate, paginate_list, without_null_cursors
from ..errors import Conflict, NotFound
from .principal import MANAGE, Principal
from .roles import WORKSPACE_ROLES, workspace_role, workspace_role_by_id
from .tokens import Identity

# Tray's WorkspaceType (Patchbay's default workspace is "Organization"; new ones "Shared").
WORKSPACE_TYPES = ("Embedded", "Organization", "Personal", "PersonalExternal", "Shared")
MAX_WORKSPACES_PAGE = 100


def workspace_to_api(workspace: Workspace) -> dict[str, Any]:
    """Tray's ``WorkspaceExternalApiModel`` (no ``description`` when there is none)."""
    data: dict[str, Any] = {"id": workspace.id, "name": workspace.name, "type": workspace.type}
    if workspace.description is not None:
        data["description"] = workspace.description
    return data


def workspace_member_to_api(row: WorkspaceMember, member: Member) -> dict[str, Any]:
    """Tray's ``WorkspaceUserExternalApiModel``: the member and their workspace role."""
    return {
        "workspaceId": row.workspace_id,
        "id": member.id,
        "email": member.email,
        "accountType": member.account_type,
        "role": workspace_role(row.role).to_api(),
    }


class Workspaces:
    def __init__(self, db: Database, identity: Identity) -> None:
        self.db = db
        self.identity = identity

    # -- workspaces ----------------------------------------------------------------------
    async def page(
        self,
        p: Principal,
        *,
        types: list[str] | None = None,
        first: int | None = None,
        last: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The workspaces this caller can see (optionally of some ``types``)."""
        query = select(Workspace).where(Workspace.org_id == p.org_id)
        visible = p.visible_workspaces()
        if visible is not None:
            query = query.where(Workspace.id.in_(sorted(visible)))
        if types:
            query = query.where(Workspace.type.in_(types))
        async with self.db.session() as s:
            rows, info = await paginate(
                s, query, Workspace.seq, first, cursor, last=last, maximum=MAX_WORKSPACES_PAGE
            )
        return {
            "elements": [workspace_to_api(w) for w in rows],
            "pageInfo": without_null_cursors(info),
        }

    async def get(self, p: Principal, workspace_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            return workspace_to_api(await self._visible(s, p, workspace_id))

    async def create(
        self, p: Principal, *, name: str, description: str | None = None
    ) -> dict[str, Any]:
        """A new (``Shared``) workspace: beyond Tray, for the organisation's owners, admins
        and master token."""
        p.require_org(MANAGE)
        workspace = Workspace(org_id=p.org_id, name=name, description=description, type="Shared")
        async with self.db.session() as s:
            s.add(workspace)
            await s.commit()
        return workspace_to_api(workspace)

    async def _visible(self, s, p: Principal, workspace_id: str) -> Workspace:
        """The workspace, checked for the route's action: 404 ``workspace_not_found`` when
        it is not the organisation's or the caller has no role in it, 403 when the role is
        too weak."""
        workspace = await s.scalar(
            select(Workspace).where(Workspace.id == workspace_id, Workspace.org_id == p.org_id)
        )
        if workspace is None or p.role_in(workspace.id) is None:
            raise NotFound("Workspace not found", "workspace_not_found")
        p.check(workspace.id)
        return workspace

    # -- roles ---------------------------------------------------------------------------
    async def roles(
        self,
        p: Principal,
        workspace_id: str,
        *,
        first: int | None = None,
        last: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The workspace roles (built in: admin, contributor, viewer)."""
        async with self.db.session() as s:
            await self._visible(s, p, workspace_id)
        rows, info = paginate_list(
            WORKSPACE_ROLES, first, cursor, last=last, maximum=MAX_WORKSPACES_PAGE
        )
        return {"elements": [r.to_api() for r in rows], "pageInfo": without_null_cursors(info)}

    # -- members -------------------------------------------------------------------------
    async def members(
        self,
        p: Principal,
        workspace_id: str,
        *,
        first: int | None = None,
        last: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        async with self.db.session() as s:
            await self._visible(s, p, workspace_id)
            query = select(WorkspaceMember).where(WorkspaceMember.workspace_id == workspace_id)
            rows, info = await paginate(
                s,
                query,
                WorkspaceMember.seq,
                first,
                cursor,
                last=last,
                maximum=MAX_WORKSPACES_PAGE,
            )
            ids = [r.member_id for r in rows]
            members = {
                m.id: m for m in (await s.scalars(select(Member).where(Member.id.in_(ids)))).all()
            }
        return {
            "elements": [workspace_member_to_api(r, members[r.member_id]) for r in rows],
            "pageInfo": without_null_cursors(info),
        }

    async def member(self, p: Principal, workspace_id: str, member_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            await self._visible(s, p, workspace_id)
            row, member = await self._membership(s, workspace_id, member_id)
            return workspace_member_to_api(row, member)

    async def add_member(
        self, p: Principal, workspace_id: str, member_id: str, role_id: str
    ) -> None:
        """Give an organisation member a role in the workspace (409 ``already_in_workspace``
        when they have one: change it with ``set_role``)."""
        async with self.db.session() as s:
            await self._visible(s, p, workspace_id)
            role = workspace_role_by_id(role_id)
            member = await s.scalar(
                select(Member).where(Member.id == member_id, Member.org_id == p.org_id)
            )
            if member is None:
                raise NotFound("User not found", "user_not_found")
            s.add(WorkspaceMember(workspace_id=workspace_id, member_id=member.id, role=role.key))
            try:
                await s.commit()
            except IntegrityError as exc:
                raise Conflict(
                    "The user is already in this workspace (change their role with PUT)",
                    "already_in_workspace",
                ) from exc
        self.identity.forget()

    async def set_role(self, p: Principal, workspace_id: str, member_id: str, role_id: str) -> None:
        async with self.db.session() as s:
            await self._visible(s, p, workspace_id)
            role = workspace_role_by_id(role_id)
            row, _ = await self._membership(s, workspace_id, member_id)
            row.role = role.key
            await s.commit()
        self.identity.forget()

    async def remove_member(self, p: Principal, workspace_id: str, member_id: str) -> None:
        async with self.db.session() as s:
            await self._visible(s, p, workspace_id)
            row, _ = await self._membership(s, workspace_id, member_id)
            await s.delete(row)
            await s.commit()
        self.identity.forget()

    @staticmethod
    async def _membership(s, workspace_id: str, member_id: str) -> tuple[WorkspaceMember, Member]:
        """The member's row in the workspace: 404 ``user_not_found`` for an unknown member,
        another organisation's, or one without a role in this workspace."""
        found = (
            await s.execute(
                select(WorkspaceMember, Member)
                .join(Member, Member.id == WorkspaceMember.member_id)
                .where(
                    WorkspaceMember.workspace_id == workspace_id,
                    WorkspaceMember.member_id == member_id,
                )
            )
        ).first()
        if found is None:
            raise NotFound("User not found in this workspace", "user_not_found")
        return found[0], found[1]
