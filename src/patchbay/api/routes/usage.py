"""Billing: tasks per user per day (``/core/v1/usage``): MANAGE (see
``UsageRecorder.summary`` for what a workspace admin sees)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..deps import manager, platform
from ..responses import json_response
from ..schemas.common import WorkspaceFilter, errors
from ..schemas.usage import Usage

router = APIRouter(prefix="/core/v1/usage", tags=["usage"])


@router.get(
    "",
    summary="Tasks per user per day",
    response_model=Usage,
    responses=errors(400, 401, 403, 429),
)
async def usage(
    start: date | None = Query(default=None, alias="from"),
    end: date | None = Query(default=None, alias="to"),
    workspace: WorkspaceFilter = None,
    p: Principal = Depends(manager),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.usage.summary(p, start, end, workspace_id=workspace))
