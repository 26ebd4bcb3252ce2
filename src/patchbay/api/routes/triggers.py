"""Triggers and their operations (``/core/v1/triggers``), in Tray's shapes."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import platform, principal
from ..responses import json_response

router = APIRouter(prefix="/core/v1/triggers", tags=["triggers"])


@router.get("", summary="List triggers")
async def list_triggers(_: Principal = Depends(principal), pf: Platform = Depends(platform)):
    return json_response(pf.catalog.triggers())


@router.get("/{name}/versions/{version}/operations", summary="List a trigger's operations")
async def list_trigger_operations(
    name: str, version: str, _: Principal = Depends(principal), pf: Platform = Depends(platform)
):
    return json_response(pf.catalog.trigger_operations(name, version))
