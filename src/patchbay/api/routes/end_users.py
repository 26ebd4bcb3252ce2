"""End users and their tokens (``/core/v1/end-users``): a workspace admin's (MANAGE), for
the end users of their workspaces; never an end user's token.

End users are the customers of a product that embeds Patchbay. At Tray they live in the
Embedded GraphQL API; ``/core/v1/users`` is the organisation's members (routes/members.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import manager, platform
from ..responses import json_response
from ..schemas import end_users as U
from ..schemas.common import PageSize, TargetWorkspace, WorkspaceFilter, errors

router = APIRouter(prefix="/core/v1/end-users", tags=["end users"])


class CreateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=255)
    externalUserId: StrictStr = Field(min_length=1, max_length=255)
    isTestUser: StrictBool = False


class UpdateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr | None = Field(default=None, min_length=1, max_length=255)
    externalUserId: StrictStr | None = Field(default=None, min_length=1, max_length=255)
    isTestUser: StrictBool | None = None


class CreateToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expiresIn: int | None = Field(
        default=None, ge=60, le=30 * 24 * 3600, description="Lifetime in seconds (default 2 days)"
    )


@router.post(
    "",
    status_code=201,
    summary="Create an end user",
    response_model=U.User,
    responses=errors(400, 401, 403, 404, 409, 413, 429),
)
async def create_end_user(
    body: CreateUser,
    workspace: TargetWorkspace = None,
    p: Principal = Depends(manager),
    pf: Platform = Depends(platform),
):
    user = await pf.users.create(
        p,
        name=body.name,
        external_user_id=body.externalUserId,
        is_test_user=body.isTestUser,
        workspace_id=workspace,
    )
    return json_response(user, 201)


@router.get(
    "",
    summary="List end users",
    response_model=U.Users,
    responses=errors(400, 401, 403, 429),
)
async def list_end_users(
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    workspace: WorkspaceFilter = None,
    p: Principal = Depends(manager),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.users.list(p, first, cursor, workspace_id=workspace))


@router.get(
    "/{user_id}",
    summary="Get an end user",
    response_model=U.User,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_end_user(
    user_id: str, p: Principal = Depends(manager), pf: Platform = Depends(platform)
):
    return json_response(await pf.users.get(p, user_id))


@router.patch(
    "/{user_id}",
    summary="Update an end user",
    response_model=U.User,
    responses=errors(400, 401, 403, 404, 409, 413, 429),
)
async def update_end_user(
    user_id: str,
    body: UpdateUser,
    p: Principal = Depends(manager),
    pf: Platform = Depends(platform),
):
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return json_response(await pf.users.update(p, user_id, changes))


@router.delete(
    "/{user_id}",
    status_code=204,
    summary="Delete an end user",
    responses=errors(400, 401, 403, 404, 429),
)
async def delete_end_user(
    user_id: str, p: Principal = Depends(manager), pf: Platform = Depends(platform)
):
    await pf.users.delete(p, user_id)


@router.post(
    "/{user_id}/tokens",
    status_code=201,
    summary="Create an end user token",
    response_model=U.UserToken,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def create_end_user_token(
    user_id: str,
    body: CreateToken | None = None,
    p: Principal = Depends(manager),
    pf: Platform = Depends(platform),
):
    ttl = (body.expiresIn if body else None) or pf.settings.user_token_ttl_seconds
    await pf.users.check(p, user_id)
    issued = await pf.identity.issue_user_token(p.org_id, user_id, ttl)
    return json_response(
        {"accessToken": issued.token, "expiresAt": issued.expires_at.isoformat()}, 201
    )


@router.delete(
    "/{user_id}/tokens",
    status_code=204,
    summary="Revoke all of an end user's tokens",
    responses=errors(400, 401, 403, 404, 429),
)
async def revoke_end_user_tokens(
    user_id: str, p: Principal = Depends(manager), pf: Platform = Depends(platform)
):
    await pf.users.check(p, user_id)
    await pf.identity.revoke_user_tokens(p.org_id, user_id)
