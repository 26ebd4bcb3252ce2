"""Importing Tray exports (``POST /core/v1/workflows/import``), as JSON or YAML. BUILD in
the target workspace; never an end user's token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ...services.workflows.tray_import import YAML_MEDIA_TYPE, WorkflowImporter, parse_body
from ..deps import builder, platform
from ..responses import json_response
from ..schemas.common import TargetWorkspace, errors
from ..schemas.workflows import Imported

router = APIRouter(prefix="/core/v1/workflows", tags=["workflows"])


def body_openapi(description: str) -> dict[str, Any]:
    """An OpenAPI request body taking the same object as JSON or YAML (for routes that read
    the raw body with ``parse_body``)."""
    schema = {"type": "object", "description": description}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                YAML_MEDIA_TYPE: {"schema": schema},
            },
        }
    }


@router.post(
    "/import",
    status_code=201,
    summary="Import a Tray export",
    response_model=Imported,
    responses=errors(400, 401, 403, 404, 413, 429),
    openapi_extra=body_openapi(
        'A Tray export file: {"tray_export_version": 4, "export_type": "workflow" | '
        '"project", "workflows": [...], "projects": []}'
    ),
)
async def import_workflows(
    request: Request,
    workspace: TargetWorkspace = None,
    p: Principal = Depends(builder),
    pf: Platform = Depends(platform),
):
    """Creates every workflow of the export, disabled (whatever the export says), even those
    using connectors Patchbay lacks: they are reported and cannot be enabled until fixed."""
    export = parse_body(request.headers.get("content-type"), await request.body())
    imported = await WorkflowImporter(pf.workflows).run(p, export, workspace_id=workspace)
    return json_response(imported, 201)
