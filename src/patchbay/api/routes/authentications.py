"""Stored authentications (``/core/v1/authentications``), each visible only to its owner."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import any_manager, any_reader, platform
from ..responses import json_response
from ..schemas import authentications as A
from ..schemas.common import PageSize, TargetWorkspace, WorkspaceFilter, errors

router = APIRouter(prefix="/core/v1/authentications", tags=["authentications"])


class CreateAuthentication(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = Field(min_length=1, max_length=255)
    serviceEnvironmentId: StrictStr
    userData: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] = Field(default_factory=dict)
    scopes: list[StrictStr] = Field(default_factory=list)
    onPremAgentGroupId: StrictStr | None = None


class UpdateAuthentication(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: StrictStr = Field(min_length=1, max_length=255)
    credentials: dict[str, Any]
    userData: dict[str, Any] | None = None
    scopes: list[StrictStr] | None = None
    onPremAgentGroupId: StrictStr | None = None


@router.post(
    "",
    summary="Create an authentication",
    response_model=A.AuthenticationId,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def create_authentication(
    body: CreateAuthentication,
    workspace: TargetWorkspace = None,
    p: Principal = Depends(any_manager),
    pf: Platform = Depends(platform),
):
    created = await pf.authentications.create(p, body.model_dump(), workspace_id=workspace)
    return json_response(created)


@router.get(
    "",
    summary="List the caller's authentications",
    response_model=A.Authentications,
    responses=errors(400, 401, 403, 429),
)
async def list_authentications(
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    workspace: WorkspaceFilter = None,
    p: Principal = Depends(any_reader),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.authentications.list(p, first, cursor, workspace_id=workspace))


@router.get(
    "/{auth_id}",
    summary="Get an authentication",
    response_model=A.Authentication,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_authentication(
    auth_id: str, p: Principal = Depends(any_reader), pf: Platform = Depends(platform)
):
    return json_response(await pf.authentications.get(p, auth_id))


@router.get(
    "/{auth_id}/full",
    summary="Get an authentication with its credentials",
    response_model=A.FullAuthentication,
    responses=errors(400, 401, 403, 404, 429, 502),
)
async def get_full_authentication(
    auth_id: str,
    forceRefresh: StrictBool = Query(default=False),
    p: Principal = Depends(any_manager),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.credentials.full(p, auth_id, force_refresh=forceRefresh))


@router.put(
    "/{auth_id}",
    summary="Update an authentication",
    response_model=A.Authentication,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def update_authentication(
    auth_id: str,
    body: UpdateAuthentication,
    p: Principal = Depends(any_manager),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.authentications.update(p, auth_id, body.model_dump()))


@router.delete(
    "/{auth_id}",
    status_code=204,
    summary="Delete an authentication",
    responses=errors(400, 401, 403, 404, 429),
)
async def delete_authentication(
    auth_id: str, p: Principal = Depends(any_manager), pf: Platform = Depends(platform)
):
    await pf.authentications.delete(p, auth_id)
