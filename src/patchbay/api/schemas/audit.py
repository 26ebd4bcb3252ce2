"""The audit log's events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .common import PageInfo


class Actor(BaseModel):
    type: Literal["member", "master_token", "user_token", "personal_token", "anonymous"]
    id: str | None = Field(
        description="The member's id (also for a personal token), or the token's"
    )
    label: str | None = Field(description="The member's email, or the token's name")


class AuditEventDetails(BaseModel):
    route: str = Field(description="The route's path template")
    method: str
    createdId: str | None = Field(default=None, description="A create's new resource")
    tokenId: str | None = Field(default=None, description="The personal token used")
    userId: str | None = Field(default=None, description="The end user a user token acts for")


class AuditEvent(BaseModel):
    id: str
    createdAt: datetime
    actor: Actor
    action: str = Field(description="e.g. workflow.create (docs/access.md, The audit log)")
    resourceType: str | None
    resourceId: str | None
    workspaceId: str | None
    ip: str | None = Field(description="The client's address")
    statusCode: int | None = Field(description="The status the request was answered")
    details: AuditEventDetails


class AuditEvents(BaseModel):
    elements: list[AuditEvent]
    pageInfo: PageInfo
