"""A member's session and personal API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class SessionMember(BaseModel):
    id: str
    email: str
    name: str
    role: Literal["owner", "admin", "member"]  # the organisation role


class Session(BaseModel):
    member: SessionMember
    csrfToken: str  # send it back in X-CSRF-Token on every write
    expiresAt: datetime


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
