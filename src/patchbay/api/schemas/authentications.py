"""Stored authentications (credentials are only in the ``/full`` answer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .common import PageInfo


class AuthenticationId(BaseModel):
    id: str


class ServiceRef(BaseModel):
    name: str
    version: int


class Authentication(BaseModel):
    id: str
    name: str
    serviceEnvironmentId: str
    service: ServiceRef
    scopes: list[str]
    status: str = Field(description="active, or why the credentials cannot be used")
    createdAt: datetime


class Authentications(BaseModel):
    elements: list[Authentication]
    pageInfo: PageInfo


class FullAuthentication(Authentication):
    userData: dict[str, Any]
    credentials: dict[str, Any] = Field(
        description="The credentials, with accessToken/tokenType/expiresIn for OAuth 2"
    )
