"""Invitations (Tray's ``POST /core/v1/invites``): an owner, an admin or an organisation
master token invites an email address with an organisation role; the person follows the
emailed link, picks a name and a password, and is a member, signed in.

Inviting the same address again replaces the earlier invitation (its link stops working)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ...config import Settings
from ...storage.models import Member
from ..errors import Conflict, Forbidden
from . import passwords, roles
from .mailer import Mailer
from .members import Members, normal_email
from .one_time_links import LinkInfo, OneTimeLinks, link_url
from .principal import Principal

PAGE = "accept-invite"


@dataclass(frozen=True)
class Invitation:
    id: str
    email: str
    role: roles.Role
    expires_at: datetime
    url: str  # secret: for the email, or for the operator when it could not be sent
    email_sent: bool


class Invitations:
    def __init__(
        self, settings: Settings, links: OneTimeLinks, members: Members, mailer: Mailer
    ) -> None:
        self.settings = settings
        self.links = links
        self.members = members
        self.mailer = mailer

    async def invite(self, p: Principal, email: str, role_id: str) -> Invitation:
        """Invite ``email`` with an organisation role (400 ``unknown_role``); only an owner
        (or an organisation master token) invites an owner (403); 409 ``email_taken``
        for a member's address. The email is sent before this returns."""
        role = roles.org_role_by_id(role_id)
        if role.key == "owner" and p.is_member and p.org_role != "owner":
            raise Forbidden("Only an owner can invite an owner", "insufficient_role")
        email = normal_email(email)
        if await self.members.by_email(p.org_id, email) is not None:
            raise Conflict(f"A member with email {email!r} already exists", "email_taken")
        issued = await self.links.issue(
            p.org_id,
            "invite",
            ttl_seconds=self.settings.invite_ttl_seconds,
            email=email,
            org_role=role.key,
            created_by=p.member_id or p.token_id,
            replace=True,
        )
        url = link_url(self.settings.effective_public_url, PAGE, issued.token)
        inviter = p.label if p.is_member else None
        text = _invite_text(inviter, role, url, issued)
        sent = await self.mailer.send(email, "You are invited to Patchbay", text)
        return Invitation(issued.id, email, role, issued.expires_at, url, sent)

    async def accept(self, token: str, *, name: str, password: str) -> Member:
        """Use an invitation: a new member with the invited role (400 ``weak_password``,
        404 ``link_not_found``, 410 ``link_used`` / ``link_expired``, 409 ``email_taken``).
        A refused password leaves the invitation usable."""
        link = await self.links.peek("invite", token)
        passwords.check_strength(password, email=link.email)
        password_hash = await asyncio.to_thread(passwords.hash_password, password)

        async def create(s: AsyncSession, link: LinkInfo) -> Member:
            return await Members.insert(
                s,
                link.org_id,
                email=link.email or "",
                name=name,
                org_role=link.org_role or "member",
                password_hash=password_hash,
            )

        return await self.links.redeem("invite", token, create)


def _invite_text(inviter: str | None, role: roles.Role, url: str, issued) -> str:
    who = f"{inviter} has" if inviter else "You have been"
    invited = "invited you" if inviter else "invited"
    return (
        f"{who} {invited} to join Patchbay as {role.name.lower()}.\n\n"
        f"To accept, open this link, choose your name and a password:\n\n{url}\n\n"
        f"The link works once, until {issued.expires_at:%Y-%m-%d %H:%M} UTC. "
        "If you did not expect this invitation, ignore this email.\n"
    )
