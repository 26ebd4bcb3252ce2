"""A member's session and personal API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from .account_links import SignedIn


class Session(SignedIn):
    """The signed-in member (Tray's user shape, ``role`` their organisation role) and the
    CSRF token to send in ``X-CSRF-Token`` with every write made with the cookie."""


class PersonalToken(BaseModel):
    id: str
    name: str | None
    prefix: str  # the token's first characters, to recognise it
    createdAt: datetime
    expiresAt: datetime | None


class PersonalTokens(BaseModel):
    elements: list[PersonalToken]


class NewPersonalToken(BaseModel):
    id: str
    name: str | None
    token: str  # shown once
    expiresAt: datetime | None
