"""OAuth 2 authorization: the start, and the callback's answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Authorization(BaseModel):
    authorizeUrl: str = Field(description="Where to send the user's browser")
    state: str
    expiresAt: datetime


class Authorized(BaseModel):
    authenticationId: str
