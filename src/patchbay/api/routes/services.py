"""Service environments (``/core/v1/services/{name}/versions/{v}/environments``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import any_reader, platform
from ..responses import json_response
from ..schemas import connectors as C
from ..schemas.common import errors

router = APIRouter(prefix="/core/v1/services", tags=["authentications"])


@router.get(
    "/{name}/versions/{version}/environments",
    summary="List service environments",
    response_model=C.Environments,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_environments(
    name: str, version: str, _: Principal = Depends(any_reader), pf: Platform = Depends(platform)
):
    return json_response(pf.catalog.environments(name, version))
