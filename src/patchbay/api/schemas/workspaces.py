"""Tray's Platform API shapes for workspaces and their members
(``WorkspaceExternalApiModel``, ``WorkspaceUserExternalApiModel``, ...)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from .members import ROLE_ID, AccountType, Role
from .paging import TrayPageInfo

# Tray's WorkspaceType (written there as a oneOf of empty objects titled so).
WorkspaceType = Literal["Embedded", "Organization", "Personal", "PersonalExternal", "Shared"]


class Workspace(BaseModel):
    id: str
    name: str
    type: WorkspaceType
    description: str | None = Field(default=None, description="Left out when there is none")


class Workspaces(BaseModel):
    elements: list[Workspace]
    pageInfo: TrayPageInfo


class WorkspaceMember(BaseModel):
    workspaceId: str
    id: str
    email: str
    accountType: AccountType
    role: Role


class WorkspaceMembers(BaseModel):
    elements: list[WorkspaceMember]
    pageInfo: TrayPageInfo


class CreateWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=255)
    description: StrictStr | None = Field(default=None, max_length=2000)


class AddWorkspaceMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userId: StrictStr = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9-]+$")
    roleId: StrictStr = Field(min_length=1, max_length=64, description=ROLE_ID)
