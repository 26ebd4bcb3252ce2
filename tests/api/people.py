"""Members for the Platform API tests: made through Patchbay's own services (the way the
command line and invitations make them), each with a personal token acting as them."""

from __future__ import annotations

import uuid
from typing import Any

USERS = "/core/v1/users"
ROLES = "/core/v1/roles"
WORKSPACES = "/core/v1/workspaces"


async def member(
    api,
    org_role: str = "member",
    workspaces: dict[str, str] | None = None,
    *,
    email: str | None = None,
    org_id: str | None = None,
) -> tuple[str, dict[str, str]]:
    """A new member with ``org_role`` and workspace roles {workspace id: role key}: their
    id and the headers of a personal token of theirs."""
    pf = api.platform
    org_id = org_id or pf.default_org_id
    created = await pf.members.create(
        org_id,
        email=email or f"{uuid.uuid4().hex[:10]}@example.com",
        name="Member",
        org_role=org_role,
        workspaces=workspaces,
    )
    issued = await pf.identity.create_personal_token(org_id, created.id)
    return created.id, api.auth(issued.token)


async def workspace(api, name: str = "Team", headers: dict[str, str] | None = None) -> str:
    r = await api.client.post(WORKSPACES, json={"name": name}, headers=headers or api.master)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def default_workspace(api) -> str:
    return await api.platform.identity.default_workspace(api.platform.default_org_id)


async def workspace_token(api, workspace_id: str) -> dict[str, str]:
    """The headers of a master token scoped to one workspace."""
    issued = await api.platform.identity.create_master_token(
        api.platform.default_org_id, "scoped", workspace_id
    )
    return api.auth(issued.token)


async def create(api, headers: dict[str, str] | None = None, **body: Any):
    body = {
        "name": "Grace",
        "email": f"{uuid.uuid4().hex[:10]}@example.com",
        "organizationRoleId": "member",
        **body,
    }
    return await api.client.post(USERS, json=body, headers=headers or api.master)
