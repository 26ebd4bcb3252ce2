"""Triggers and their operations (``/core/v1/triggers``), in Tray's shapes."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import any_reader, platform
from ..responses import json_response
from ..schemas import connectors as C
from ..schemas.common import errors

router = APIRouter(prefix="/core/v1/triggers", tags=["triggers"])


@router.get(
    "",
    summary="List triggers",
    response_model=C.Triggers,
    responses=errors(400, 401, 403, 429),
)
async def list_triggers(_: Principal = Depends(any_reader), pf: Platform = Depends(platform)):
    return json_response(pf.catalog.triggers())


@router.get(
    "/{name}/versions/{version}/operations",
    summary="List a trigger's operations",
    response_model=C.Operations,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_trigger_operations(
    name: str, version: str, _: Principal = Depends(any_reader), pf: Platform = Depends(platform)
):
    return json_response(pf.catalog.trigger_operations(name, version))
