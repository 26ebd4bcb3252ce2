"""Stored authentications (``/core/v1/authentications``), each visible only to its owner."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import platform, principal
from ..responses import json_response

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


@router.post("", summary="Create an authentication")
async def create_authentication(
    body: CreateAuthentication, p: Principal = Depends(principal), pf: Platform = Depends(platform)
):
    return json_response(await pf.authentications.create(p, body.model_dump()))


@router.get("", summary="List the caller's authentications")
async def list_authentications(
    first: int | None = Query(default=None),
    cursor: str | None = Query(default=None),
    p: Principal = Depends(principal),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.authentications.list(p, first, cursor))


@router.get("/{auth_id}", summary="Get an authentication")
async def get_authentication(
    auth_id: str, p: Principal = Depends(principal), pf: Platform = Depends(platform)
):
    return json_response(await pf.authentications.get(p, auth_id))


@router.get("/{auth_id}/full", summary="Get an authentication with its credentials")
async def get_full_authentication(
    auth_id: str,
    forceRefresh: StrictBool = Query(default=False),
    p: Principal = Depends(principal),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.credentials.full(p, auth_id, force_refresh=forceRefresh))


@router.put("/{auth_id}", summary="Update an authentication")
async def update_authentication(
    auth_id: str,
    body: UpdateAuthentication,
    p: Principal = Depends(principal),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.authentications.update(p, auth_id, body.model_dump()))


@router.delete("/{auth_id}", status_code=204, summary="Delete an authentication")
async def delete_authentication(
    auth_id: str, p: Principal = Depends(principal), pf: Platform = Depends(platform)
):
    await pf.authentications.delete(p, auth_id)
