"""Tray's Platform API shapes for the organisation's members and roles
(``UserExternalApiModel``, ``RoleExternalApiModel``, ``CreateUserEndpointBody``, ...)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from .paging import TrayPageInfo

# Tray's email pattern (CreateUserEndpointBody, the users list's email filter).
EMAIL_PATTERN = (
    r"^[a-zA-Z0-9\.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
ROLE_ID = (
    "A role's id (a uuid from the roles list); Patchbay also takes its key "
    "(owner, admin, member; admin, contributor, viewer in a workspace)"
)
# Tray's AccountType (written there as a oneOf of empty objects titled so); members are
# "Regular".
AccountType = Literal["API", "External", "Integration", "Partner", "Regular", "System"]


class Role(BaseModel):
    id: str
    name: str


class Roles(BaseModel):
    elements: list[Role]
    pageInfo: TrayPageInfo


class Member(BaseModel):
    id: str
    email: str
    name: str
    accountType: AccountType
    role: Role


class Members(BaseModel):
    elements: list[Member]
    pageInfo: TrayPageInfo


class Empty(BaseModel):
    """Tray's ``{}`` answer to a change."""

    model_config = ConfigDict(extra="forbid")


class CreateMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=255)
    email: StrictStr = Field(max_length=320, pattern=EMAIL_PATTERN)
    organizationRoleId: StrictStr = Field(min_length=1, max_length=64, description=ROLE_ID)


class SetRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roleId: StrictStr = Field(min_length=1, max_length=64, description=ROLE_ID)
