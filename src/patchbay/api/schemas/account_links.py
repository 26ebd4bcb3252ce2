"""Invitations, password resets and the first owner's setup: what they answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

# Tray's pattern for an invited address (InviteUserExternalEndpointBody.email).
EMAIL_PATTERN = (
    r"^[a-zA-Z0-9\.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)


class InviteCreated(BaseModel):
    """Tray's InviteCreatedExternalApiModel, and whether the email went out."""

    inviteId: str
    expires: datetime
    emailSent: bool = Field(
        description="False when the invitation could not be emailed (no SMTP server "
        "configured, or it refused): the invitation stands; `patchbay admin invite` "
        "creates one and prints its link"
    )


class Role(BaseModel):
    id: str
    name: str


class SignedInMember(BaseModel):
    """The member (Tray's UserExternalApiModel)."""

    id: str
    email: str
    name: str
    accountType: str
    role: Role


class SignedIn(BaseModel):
    """A new session (its token is in the ``patchbay_session`` cookie, HttpOnly); send
    ``csrfToken`` in the ``X-CSRF-Token`` header of every write made with the cookie."""

    member: SignedInMember
    csrfToken: str
    expiresAt: datetime


class ResetRequested(BaseModel):
    message: str
