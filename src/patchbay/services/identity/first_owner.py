"""The first owner: while an organisation has no member, each start of the server prints
one setup link (the earlier ones stop working); following it creates the first owner (also
admin of the default workspace). Once the organisation has a member, every setup link is
410. Master tokens are another matter: ``patchbay admin token create``."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...config import Settings
from ...storage.models import Member, Workspace
from ..errors import Gone
from . import passwords
from .members import Members
from .one_time_links import LinkInfo, OneTimeLinks, link_url

PAGE = "setup"
TTL_SECONDS = 24 * 3600


class FirstOwner:
    def __init__(self, settings: Settings, links: OneTimeLinks, members: Members) -> None:
        self.settings = settings
        self.links = links
        self.members = members

    async def setup_link(self, org_id: str) -> str | None:
        """A new setup link when the organisation has no member yet (None otherwise)."""
        if await self.members.count(org_id):
            return None
        issued = await self.links.issue(org_id, "setup", ttl_seconds=TTL_SECONDS, replace=True)
        return link_url(self.settings.effective_public_url, PAGE, issued.token)

    async def complete(self, token: str, *, email: str, name: str, password: str) -> Member:
        """Use the setup link: the first owner (400 ``weak_password``; 404
        ``link_not_found``; 410 ``link_used`` / ``link_expired``, or ``setup_complete``
        when the organisation has a member already)."""
        link = await self.links.peek("setup", token)
        if await self.members.count(link.org_id):
            raise _complete()
        passwords.check_strength(password, email=email)
        password_hash = await asyncio.to_thread(passwords.hash_password, password)

        async def create(s: AsyncSession, link: LinkInfo) -> Member:
            members = await s.scalar(
                select(func.count()).select_from(Member).where(Member.org_id == link.org_id)
            )
            if members:
                raise _complete()
            default = await s.scalar(
                select(Workspace.id).where(Workspace.org_id == link.org_id, Workspace.is_default)
            )
            return await Members.insert(
                s,
                link.org_id,
                email=email,
                name=name,
                org_role="owner",
                password_hash=password_hash,
                workspaces={default: "admin"} if default else None,
            )

        member = await self.links.redeem("setup", token, create)
        await self.links.expire(member.org_id, "setup")
        return member


def _complete() -> Gone:
    return Gone("This organisation has its first owner already: sign in", "setup_complete")
