"""End users and their tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from .common import PageInfo


class User(BaseModel):
    id: str
    name: str
    externalUserId: str
    isTestUser: bool
    createdAt: datetime


class Users(BaseModel):
    elements: list[User]
    pageInfo: PageInfo


class UserToken(BaseModel):
    accessToken: str
    expiresAt: datetime
