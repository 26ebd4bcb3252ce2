"""The organisation's members: the people who build integrations (Tray's users).

This module holds what every way in shares (the Platform API, invitations, the first
owner's setup, single sign-on, the command line): creating a member, finding one, and the
rule that an organisation always keeps an owner; and the Platform API's use cases on them
(``/core/v1/users``, ``/core/v1/roles``), which take the caller (a ``Principal``).

Only an owner grants or takes away the owner role (an admin could otherwise make
themselves one); the organisation's master token, which stands for the organisation, may
too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ...storage.db import Database
from ...storage.models import Member, WorkspaceMember
from ..cursors import paginate, paginate_list, without_null_cursors
from ..errors import Conflict, Forbidden, NotFound
from .principal import MANAGE, READ, Principal
from .roles import ORG_ROLES, org_role, org_role_by_id
from .tokens import Identity

MAX_MEMBERS_PAGE = 1000  # Tray's maximum page size for users and roles


def normal_email(email: str) -> str:
    return email.strip().lower()


def member_to_api(member: Member) -> dict[str, Any]:
    """Tray's ``UserExternalApiModel``."""
    return {
        "id": member.id,
        "email": member.email,
        "name": member.name,
        "accountType": member.account_type,
        "role": org_role(member.org_role).to_api(),
    }


def may_grant_owner(p: Principal) -> bool:
    """An owner, or the organisation's own master token."""
    if p.is_member:
        return p.org_role == "owner"
    return p.is_master and p.workspace_id is None


def _require_owner(p: Principal, what: str) -> None:
    if not may_grant_owner(p):
        raise Forbidden(f"Only an owner can {what}", "owner_required")


class Members:
    def __init__(self, db: Database, identity: Identity) -> None:
        self.db = db
        self.identity = identity

    async def create(
        self,
        org_id: str,
        *,
        email: str,
        name: str,
        org_role: str,
        password_hash: str | None = None,
        workspaces: dict[str, str] | None = None,
    ) -> Member:
        """A new member (409 ``email_taken`` when the organisation has one with that
        email), with optional workspace roles {workspace id: role key}."""
        async with self.db.session() as s:
            member = await self.insert(
                s,
                org_id,
                email=email,
                name=name,
                org_role=org_role,
                password_hash=password_hash,
                workspaces=workspaces,
            )
            await s.commit()
        return member

    @staticmethod
    async def insert(
        s,
        org_id: str,
        *,
        email: str,
        name: str,
        org_role: str,
        password_hash: str | None = None,
        workspaces: dict[str, str] | None = None,
    ) -> Member:
        """:meth:`create` inside the caller's transaction (an invitation or the setup
        link is used up in the same one); the caller commits."""
        member = Member(
            org_id=org_id,
            email=normal_email(email),
            name=name,
            org_role=org_role,
            password_hash=password_hash,
        )
        s.add(member)
        try:
            await s.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"A member with email {member.email!r} already exists", "email_taken"
            ) from exc
        for workspace_id, role in (workspaces or {}).items():
            s.add(WorkspaceMember(workspace_id=workspace_id, member_id=member.id, role=role))
        await s.flush()
        return member

    async def get(self, org_id: str, member_id: str) -> Member:
        async with self.db.session() as s:
            member = await s.scalar(
                select(Member).where(Member.id == member_id, Member.org_id == org_id)
            )
        if member is None:
            raise NotFound("User not found", "user_not_found")
        return member

    async def by_email(self, org_id: str, email: str) -> Member | None:
        async with self.db.session() as s:
            return await s.scalar(
                select(Member).where(Member.org_id == org_id, Member.email == normal_email(email))
            )

    async def all(self, org_id: str) -> list[Member]:
        """Every member of the organisation, oldest first (the command line's list)."""
        async with self.db.session() as s:
            rows = await s.scalars(
                select(Member).where(Member.org_id == org_id).order_by(Member.seq)
            )
            return list(rows.all())

    async def count(self, org_id: str | None = None) -> int:
        query = select(func.count()).select_from(Member)
        if org_id is not None:
            query = query.where(Member.org_id == org_id)
        async with self.db.session() as s:
            return await s.scalar(query)

    @staticmethod
    async def ensure_other_owner(s, member: Member) -> None:
        """409 ``last_owner`` when ``member`` is the organisation's only owner (to be
        removed or demoted); call inside the transaction that changes it. The owners' rows
        are locked (PostgreSQL), so two owners demoting each other at once cannot both
        succeed."""
        if member.org_role != "owner":
            return
        owners = (
            await s.scalars(
                select(Member.id)
                .where(Member.org_id == member.org_id, Member.org_role == "owner")
                .with_for_update()
            )
        ).all()
        if len(owners) <= 1:
            raise Conflict("The organisation must keep at least one owner", "last_owner")

    # -- the Platform API (/core/v1/users, /core/v1/roles) ---------------------------------
    async def page(
        self,
        p: Principal,
        *,
        email: str | None = None,
        first: int | None = None,
        last: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The organisation's members (optionally the one with ``email``), Tray's paging."""
        p.require_org(READ)
        query = select(Member).where(Member.org_id == p.org_id)
        if email is not None:
            query = query.where(Member.email == normal_email(email))
        async with self.db.session() as s:
            rows, info = await paginate(
                s, query, Member.seq, first, cursor, last=last, maximum=MAX_MEMBERS_PAGE
            )
        return {
            "elements": [member_to_api(m) for m in rows],
            "pageInfo": without_null_cursors(info),
        }

    async def describe(self, p: Principal, member_id: str) -> dict[str, Any]:
        p.require_org(READ)
        return member_to_api(await self.get(p.org_id, member_id))

    async def add(self, p: Principal, *, name: str, email: str, role_id: str) -> dict[str, Any]:
        """Tray's Create User: a member without a password, who signs in by single
        sign-on or through a password reset link."""
        p.require_org(MANAGE)
        role = org_role_by_id(role_id)
        if role.key == "owner":
            _require_owner(p, "make someone an owner")
        member = await self.create(p.org_id, email=email, name=name, org_role=role.key)
        return member_to_api(member)

    async def remove(self, p: Principal, member_id: str) -> None:
        """Delete a member: their sessions, personal tokens, workspace roles and pending
        links go with them (the rows cascade), at once in this process."""
        p.require_org(MANAGE)
        async with self.db.session() as s:
            member = await self._own(s, p.org_id, member_id)
            if member.org_role == "owner":
                _require_owner(p, "remove an owner")
                await self.ensure_other_owner(s, member)
            await s.delete(member)
            await s.commit()
        self.identity.forget()

    async def set_role(self, p: Principal, member_id: str, role_id: str) -> None:
        """Change a member's organisation role (it applies at once in this process)."""
        p.require_org(MANAGE)
        role = org_role_by_id(role_id)
        async with self.db.session() as s:
            member = await self._own(s, p.org_id, member_id)
            if role.key == member.org_role:
                return
            if "owner" in (role.key, member.org_role):
                _require_owner(p, "grant or take away the owner role")
                await self.ensure_other_owner(s, member)
            member.org_role = role.key
            await s.commit()
        self.identity.forget()

    @staticmethod
    def roles(
        p: Principal,
        *,
        first: int | None = None,
        last: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The organisation roles (built in: owner, admin, member)."""
        p.require_org(READ)
        rows, info = paginate_list(ORG_ROLES, first, cursor, last=last, maximum=MAX_MEMBERS_PAGE)
        return {"elements": [r.to_api() for r in rows], "pageInfo": without_null_cursors(info)}

    @staticmethod
    async def _own(s, org_id: str, member_id: str) -> Member:
        member = await s.scalar(
            select(Member).where(Member.id == member_id, Member.org_id == org_id)
        )
        if member is None:
            raise NotFound("User not found", "user_not_found")
        return member
