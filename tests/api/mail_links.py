"""Shared by the one-time link tests: a real SMTP server on loopback (aiosmtpd, through
the email connector's fake), Patchbay set to send through it, the link in a received
message, and members signed in with a session cookie."""

from __future__ import annotations

import asyncio
import re
import uuid
from contextlib import asynccontextmanager

from pydantic import SecretStr

from patchbay.config import Settings
from patchbay.connectors.email.fake import FakeSMTPServer, ReceivedMessage
from patchbay.services.identity import passwords

LINK = re.compile(r"(https?://\S+?)/([a-z-]+)#token=(pbl_[A-Za-z0-9_-]+)")
PASSWORD = "correct horse battery staple"


def smtp_settings(settings: Settings, server: FakeSMTPServer, **extra) -> Settings:
    """``settings`` sending email through ``server`` (plain SMTP on loopback)."""
    if "smtp_password" in extra:  # as the environment gives it
        extra["smtp_password"] = SecretStr(extra["smtp_password"])
    return settings.model_copy(
        update={
            "smtp_host": server.host,
            "smtp_port": server.port,
            "smtp_starttls": False,
            "smtp_from": "Patchbay <patchbay@example.test>",
            **extra,
        }
    )


async def received(server: FakeSMTPServer, count: int = 1, timeout: float = 10) -> ReceivedMessage:
    """The ``count``-th message the server received (waiting for it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(server.state.messages) < count:
        assert asyncio.get_running_loop().time() < deadline, "no email arrived"
        await asyncio.sleep(0.02)
    return server.state.messages[count - 1]


def link_in(message: ReceivedMessage) -> tuple[str, str, str]:
    """(public URL, page, token) of the one link in a message's text."""
    body = message.message.get_content()
    found = LINK.findall(body)
    assert len(found) == 1, body
    return found[0]


async def signed_in(api, org_role: str, workspaces: dict[str, str] | None = None):
    """A new member with ``org_role``, and the headers of a session of theirs (the cookie
    and the CSRF token)."""
    pf = api.platform
    member = await pf.members.create(
        pf.default_org_id,
        email=f"{org_role}-{uuid.uuid4().hex[:8]}@example.test",
        name=org_role.title(),
        org_role=org_role,
        password_hash=passwords.hash_password(PASSWORD),
        workspaces=workspaces,
    )
    started = await pf.sessions.start(pf.default_org_id, member.id)
    return member, {
        "Cookie": f"patchbay_session={started.token}",
        "X-CSRF-Token": started.csrf_token,
    }


@asynccontextmanager
async def no_cookies(api):
    """The client without the cookies it collected (a request as another browser)."""
    saved = api.client.cookies
    api.client.cookies = {}
    try:
        yield
    finally:
        api.client.cookies = saved
