"""The audit log (``/core/v1/audit-events``): owners, admins and organisation-wide master
tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ...services.identity.principal import MANAGE, Principal
from ...services.platform import Platform
from ..deps import org_level, platform
from ..responses import json_response
from ..schemas.audit import AuditEvents
from ..schemas.common import PageSize, errors

router = APIRouter(prefix="/core/v1/audit-events", tags=["audit log"])

# Checked by the service (400 invalid_date with its own message), declared here.
_INSTANT = {"type": "string", "format": "date-time"}


@router.get(
    "",
    summary="List audit events, newest first",
    response_model=AuditEvents,
    responses=errors(400, 401, 403, 429),
)
async def list_audit_events(
    actor: str | None = Query(default=None, description="A member's id or a token's id"),
    resource_type: str | None = Query(
        default=None, alias="resourceType", description="e.g. workflows"
    ),
    resource_id: str | None = Query(default=None, alias="resourceId"),
    workspace_id: str | None = Query(default=None, alias="workspaceId"),
    start: str | None = Query(
        default=None,
        alias="from",
        description="Events at or after this ISO 8601 date-time (no zone: UTC)",
        json_schema_extra=_INSTANT,
    ),
    end: str | None = Query(
        default=None,
        alias="to",
        description="Events before this ISO 8601 date-time (no zone: UTC)",
        json_schema_extra=_INSTANT,
    ),
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    p: Principal = Depends(org_level(MANAGE)),
    pf: Platform = Depends(platform),
):
    return json_response(
        await pf.audit.list(
            p,
            actor=actor,
            resource_type=resource_type,
            resource_id=resource_id,
            workspace_id=workspace_id,
            start=start,
            end=end,
            first=first,
            cursor=cursor,
        )
    )
