"""The organisation's members and roles: Tray's Platform API ``/core/v1/users`` and
``/core/v1/roles``. Any member and the organisation's master token read; owners, admins
and that token change (only an owner grants or takes away the owner role). End users are
at ``/core/v1/end-users`` (routes/end_users.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ...services.identity.members import MAX_MEMBERS_PAGE
from ...services.identity.principal import MANAGE, READ, Principal
from ...services.platform import Platform
from ..deps import org_level, platform
from ..responses import json_response
from ..schemas import members as M
from ..schemas.common import errors
from ..schemas.paging import Cursor, first, last

router = APIRouter(prefix="/core/v1", tags=["users"])
First = first(MAX_MEMBERS_PAGE)
Last = last(MAX_MEMBERS_PAGE)


@router.get(
    "/users",
    summary="List the organisation's members (Tray's users)",
    response_model=M.Members,
    responses=errors(400, 401, 403, 429),
)
async def list_members(
    email: str | None = Query(
        default=None, max_length=320, pattern=M.EMAIL_PATTERN, description="Filter by email"
    ),
    first: First = None,
    last: Last = None,
    cursor: Cursor = None,
    p: Principal = Depends(org_level(READ)),
    pf: Platform = Depends(platform),
):
    page = await pf.members.page(p, email=email, first=first, last=last, cursor=cursor)
    return json_response(page)


@router.post(
    "/users",
    summary="Create a member (signs in by single sign-on or a password reset link)",
    response_model=M.Member,
    responses=errors(400, 401, 403, 409, 413, 429),
)
async def create_member(
    body: M.CreateMember,
    p: Principal = Depends(org_level(MANAGE)),
    pf: Platform = Depends(platform),
):
    member = await pf.members.add(
        p, name=body.name, email=body.email, role_id=body.organizationRoleId
    )
    return json_response(member)


@router.get(
    "/users/{user_id}",
    summary="Get a member",
    response_model=M.Member,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_member(
    user_id: str, p: Principal = Depends(org_level(READ)), pf: Platform = Depends(platform)
):
    return json_response(await pf.members.describe(p, user_id))


@router.delete(
    "/users/{user_id}",
    status_code=204,
    summary="Delete a member (their sessions and personal tokens end at once)",
    responses=errors(400, 401, 403, 404, 409, 429),
)
async def delete_member(
    user_id: str, p: Principal = Depends(org_level(MANAGE)), pf: Platform = Depends(platform)
):
    await pf.members.remove(p, user_id)


@router.put(
    "/users/{user_id}/roles",
    summary="Change a member's organisation role",
    response_model=M.Empty,
    responses=errors(400, 401, 403, 404, 409, 413, 429),
)
async def set_member_role(
    user_id: str,
    body: M.SetRole,
    p: Principal = Depends(org_level(MANAGE)),
    pf: Platform = Depends(platform),
):
    await pf.members.set_role(p, user_id, body.roleId)
    return json_response({})


@router.get(
    "/roles",
    summary="List the organisation roles",
    response_model=M.Roles,
    responses=errors(400, 401, 403, 429),
)
async def list_org_roles(
    first: First = None,
    last: Last = None,
    cursor: Cursor = None,
    p: Principal = Depends(org_level(READ)),
    pf: Platform = Depends(platform),
):
    return json_response(pf.members.roles(p, first=first, last=last, cursor=cursor))
