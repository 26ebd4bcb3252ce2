"""Workspaces and their members: Tray's Platform API ``/core/v1/workspaces``.

Reading a workspace and its members needs a role in it (viewer or more); its roles and
changing its members need a workspace admin (an organisation owner or admin, or a master
token of the organisation or of that workspace). A workspace the caller has no role in is
404. Beyond Tray: ``POST /core/v1/workspaces`` creates one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ...services.identity.principal import MANAGE, READ, Principal
from ...services.identity.workspaces import MAX_WORKSPACES_PAGE
from ...services.platform import Platform
from ..deps import allow, org_level, platform
from ..responses import json_response
from ..schemas import members as M
from ..schemas import workspaces as W
from ..schemas.common import errors
from ..schemas.paging import Cursor, first, last

router = APIRouter(prefix="/core/v1/workspaces", tags=["workspaces"])
First = first(MAX_WORKSPACES_PAGE)
Last = last(MAX_WORKSPACES_PAGE)


@router.get(
    "",
    summary="List the workspaces the caller can see",
    response_model=W.Workspaces,
    responses=errors(400, 401, 403, 429),
)
async def list_workspaces(
    types: list[W.WorkspaceType] | None = Query(
        default=None, alias="type", description="Only workspaces of these types"
    ),
    first: First = None,
    last: Last = None,
    cursor: Cursor = None,
    p: Principal = Depends(allow(READ)),
    pf: Platform = Depends(platform),
):
    page = await pf.workspaces.page(p, types=types, first=first, last=last, cursor=cursor)
    return json_response(page)


@router.post(
    "",
    status_code=201,
    summary="Create a workspace (beyond Tray)",
    response_model=W.Workspace,
    responses=errors(400, 401, 403, 413, 429),
)
async def create_workspace(
    body: W.CreateWorkspace,
    p: Principal = Depends(org_level(MANAGE)),
    pf: Platform = Depends(platform),
):
    workspace = await pf.workspaces.create(p, name=body.name, description=body.description)
    return json_response(workspace, 201)


@router.get(
    "/{workspace_id}",
    summary="Get a workspace",
    response_model=W.Workspace,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_workspace(
    workspace_id: str, p: Principal = Depends(allow(READ)), pf: Platform = Depends(platform)
):
    return json_response(await pf.workspaces.get(p, workspace_id))


@router.get(
    "/{workspace_id}/users",
    summary="List a workspace's members",
    response_model=W.WorkspaceMembers,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_workspace_members(
    workspace_id: str,
    first: First = None,
    last: Last = None,
    cursor: Cursor = None,
    p: Principal = Depends(allow(READ)),
    pf: Platform = Depends(platform),
):
    page = await pf.workspaces.members(p, workspace_id, first=first, last=last, cursor=cursor)
    return json_response(page)


@router.post(
    "/{workspace_id}/users",
    summary="Add a member to a workspace with a role",
    response_model=M.Empty,
    responses=errors(400, 401, 403, 404, 409, 413, 429),
)
async def add_workspace_member(
    workspace_id: str,
    body: W.AddWorkspaceMember,
    p: Principal = Depends(allow(MANAGE)),
    pf: Platform = Depends(platform),
):
    await pf.workspaces.add_member(p, workspace_id, body.userId, body.roleId)
    return json_response({})


@router.get(
    "/{workspace_id}/users/{user_id}",
    summary="Get a workspace's member",
    response_model=W.WorkspaceMember,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_workspace_member(
    workspace_id: str,
    user_id: str,
    p: Principal = Depends(allow(READ)),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.workspaces.member(p, workspace_id, user_id))


@router.put(
    "/{workspace_id}/users/{user_id}",
    summary="Change a member's role in a workspace",
    response_model=M.Empty,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def set_workspace_member_role(
    workspace_id: str,
    user_id: str,
    body: M.SetRole,
    p: Principal = Depends(allow(MANAGE)),
    pf: Platform = Depends(platform),
):
    await pf.workspaces.set_role(p, workspace_id, user_id, body.roleId)
    return json_response({})


@router.delete(
    "/{workspace_id}/users/{user_id}",
    summary="Remove a member from a workspace",
    response_model=M.Empty,
    responses=errors(400, 401, 403, 404, 429),
)
async def remove_workspace_member(
    workspace_id: str,
    user_id: str,
    p: Principal = Depends(allow(MANAGE)),
    pf: Platform = Depends(platform),
):
    await pf.workspaces.remove_member(p, workspace_id, user_id)
    return json_response({})


@router.get(
    "/{workspace_id}/roles",
    summary="List the workspace roles",
    response_model=M.Roles,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_workspace_roles(
    workspace_id: str,
    first: First = None,
    last: Last = None,
    cursor: Cursor = None,
    p: Principal = Depends(allow(MANAGE)),
    pf: Platform = Depends(platform),
):
    page = await pf.workspaces.roles(p, workspace_id, first=first, last=last, cursor=cursor)
    return json_response(page)
