"""The organisation's members: the people who build integrations (Tray's users).

This module holds what every way in shares (the Platform API, invitations, the first
owner's setup, single sign-on, the command line): creating a member, finding one, and the
rule that an organisation always keeps an owner."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ...storage.db import Database
from ...storage.models import Member, WorkspaceMember
from ..errors import Conflict, NotFound
from .tokens import Identity


def normal_email(email: str) -> str:
    return email.strip().lower()


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
            member = await self.add(
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
    async def add(
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
        removed or demoted); call inside the transaction that changes it."""
        if member.org_role != "owner":
            return
        owners = await s.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.org_id == member.org_id, Member.org_role == "owner")
        )
        if owners <= 1:
            raise Conflict("The organisation must keep at least one owner", "last_owner")
