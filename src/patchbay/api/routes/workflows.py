"""Workflows and their runs (``/core/v1/workflows``), and their public webhook URLs
(``/hooks/{id}``, public). Reading takes READ in the workflow's workspace, everything else
BUILD; never an end user's token."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...services.errors import BadRequest
from ...services.identity.principal import Principal
from ...services.platform import Platform
from ...services.workflows.tray_import import YAML_MEDIA_TYPE, parse_body, to_yaml
from ..deps import builder, platform, reader
from ..hook_endpoint import answer_hook
from ..responses import json_response
from ..schemas import workflows as W
from ..schemas.common import PageSize, TargetWorkspace, WorkspaceFilter, errors
from .workflow_import import body_openapi

router = APIRouter(prefix="/core/v1/workflows", tags=["workflows"])
hooks = APIRouter(tags=["workflows"])


@router.post(
    "",
    status_code=201,
    summary="Create a workflow",
    response_model=W.SavedWorkflow,
    responses=errors(400, 401, 403, 404, 413, 429),
    openapi_extra=body_openapi("One workflow in Tray's export shape (JSON or YAML)"),
)
async def create_workflow(
    request: Request,
    workspace: TargetWorkspace = None,
    p: Principal = Depends(builder),
    pf: Platform = Depends(platform),
):
    body = parse_body(request.headers.get("content-type"), await request.body())
    return json_response(await pf.workflows.create(p, body, workspace_id=workspace), 201)


@router.get(
    "",
    summary="List workflows",
    response_model=W.Workflows,
    responses=errors(400, 401, 403, 429),
)
async def list_workflows(
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    workspace: WorkspaceFilter = None,
    p: Principal = Depends(reader),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.workflows.list(p, first, cursor, workspace_id=workspace))


@router.get(
    "/{workflow_id}",
    summary="Get a workflow and its current definition",
    response_model=W.WorkflowDefinition,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_workflow(
    workflow_id: str, p: Principal = Depends(reader), pf: Platform = Depends(platform)
):
    return json_response(await pf.workflows.get(p, workflow_id))


@router.put(
    "/{workflow_id}",
    summary="Save a new version of a workflow",
    response_model=W.SavedWorkflow,
    responses=errors(400, 401, 403, 404, 413, 429),
    openapi_extra=body_openapi("One workflow in Tray's export shape (JSON or YAML)"),
)
async def update_workflow(
    workflow_id: str,
    request: Request,
    p: Principal = Depends(builder),
    pf: Platform = Depends(platform),
):
    body = parse_body(request.headers.get("content-type"), await request.body())
    return json_response(await pf.workflows.update(p, workflow_id, body))


@router.delete(
    "/{workflow_id}",
    status_code=204,
    summary="Delete a workflow",
    responses=errors(400, 401, 403, 404, 429),
)
async def delete_workflow(
    workflow_id: str, p: Principal = Depends(builder), pf: Platform = Depends(platform)
):
    await pf.workflows.delete(p, workflow_id)


@router.post(
    "/{workflow_id}/enable",
    summary="Enable a workflow",
    response_model=W.Workflow,
    responses=errors(400, 401, 403, 404, 429),
)
async def enable_workflow(
    workflow_id: str, p: Principal = Depends(builder), pf: Platform = Depends(platform)
):
    return json_response(await pf.workflows.set_enabled(p, workflow_id, True))


@router.post(
    "/{workflow_id}/disable",
    summary="Disable a workflow",
    response_model=W.Workflow,
    responses=errors(400, 401, 403, 404, 429),
)
async def disable_workflow(
    workflow_id: str, p: Principal = Depends(builder), pf: Platform = Depends(platform)
):
    return json_response(await pf.workflows.set_enabled(p, workflow_id, False))


@router.get(
    "/{workflow_id}/versions",
    summary="List a workflow's versions",
    response_model=W.WorkflowVersions,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_versions(
    workflow_id: str, p: Principal = Depends(reader), pf: Platform = Depends(platform)
):
    return json_response(await pf.workflows.versions(p, workflow_id))


@router.post(
    "/{workflow_id}/versions/{version}/rollback",
    summary="Roll back to a version",
    response_model=W.WorkflowDefinition,
    responses=errors(400, 401, 403, 404, 429),
)
async def rollback(
    workflow_id: str,
    version: int,
    p: Principal = Depends(builder),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.workflows.rollback(p, workflow_id, version))


@router.get(
    "/{workflow_id}/export",
    summary="Export as a tray_export_version 4 file",
    response_model=W.Export,
    responses=errors(400, 401, 403, 404, 429),
    openapi_extra={
        "responses": {"200": {"content": {YAML_MEDIA_TYPE: {"schema": {"type": "string"}}}}}
    },
)
async def export_workflow(
    workflow_id: str,
    format: Literal["json", "yaml"] = Query(default="json"),
    p: Principal = Depends(reader),
    pf: Platform = Depends(platform),
):
    export = await pf.workflows.export(p, workflow_id)
    if format == "yaml":
        return Response(to_yaml(export), media_type=YAML_MEDIA_TYPE)
    return json_response(export)


@router.post(
    "/{workflow_id}/runs",
    status_code=201,
    summary="Start a manual run",
    response_model=W.Run,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def start_run(
    workflow_id: str,
    request: Request,
    p: Principal = Depends(builder),
    pf: Platform = Depends(platform),
):
    raw = await request.body()
    try:
        trigger_output = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}", "invalid_json") from exc
    return json_response(await pf.runs.start(p, workflow_id, trigger_output), 201)


@router.get(
    "/{workflow_id}/runs",
    summary="List a workflow's runs",
    response_model=W.Runs,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_runs(
    workflow_id: str,
    status: str | None = Query(
        default=None, json_schema_extra={"enum": list(get_args(W.RunStatus))}
    ),
    trigger: str | None = Query(default=None, description="webhook, manual, a trigger name"),
    since: datetime | None = Query(default=None, description="created at or after"),
    until: datetime | None = Query(default=None, description="created before"),
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    p: Principal = Depends(reader),
    pf: Platform = Depends(platform),
):
    return json_response(
        await pf.runs.list(
            p, workflow_id, status, first, cursor, trigger=trigger, since=since, until=until
        )
    )


@router.get(
    "/{workflow_id}/runs/{run_id}",
    summary="Get a run with its steps",
    response_model=W.RunDetail,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_run(
    workflow_id: str, run_id: str, p: Principal = Depends(reader), pf: Platform = Depends(platform)
):
    return json_response(await pf.runs.get(p, workflow_id, run_id))


@router.get(
    "/{workflow_id}/runs/{run_id}/payloads/{payload_id}",
    summary="Download a stored payload a run refers to",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The payload's bytes, with its content type",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **errors(400, 401, 403, 404, 429),
    },
)
async def get_payload(
    workflow_id: str,
    run_id: str,
    payload_id: str,
    p: Principal = Depends(reader),
    pf: Platform = Depends(platform),
):
    """The bytes of a value the run carries by reference (``{"$payload": id, ...}`` in its
    trigger output or a step's input or output), streamed with its content type."""
    header, chunks = await pf.runs.payload(p, workflow_id, run_id, payload_id)
    return StreamingResponse(
        chunks,
        media_type=header.content_type or "application/octet-stream",
        headers={"content-length": str(header.size)},
    )


@router.post(
    "/{workflow_id}/runs/{run_id}/cancel",
    summary="Cancel a run",
    response_model=W.Run,
    responses=errors(400, 401, 403, 404, 429),
)
async def cancel_run(
    workflow_id: str, run_id: str, p: Principal = Depends(builder), pf: Platform = Depends(platform)
):
    return json_response(await pf.runs.cancel(p, workflow_id, run_id))


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_: Literal["start", "failed_step"] = Field(default="start", alias="from")
    version: Literal["original", "latest"] = "original"


@router.post(
    "/{workflow_id}/runs/{run_id}/replay",
    status_code=201,
    summary="Replay a run",
    response_model=W.Run,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def replay_run(
    workflow_id: str,
    run_id: str,
    body: ReplayBody | None = None,
    p: Principal = Depends(builder),
    pf: Platform = Depends(platform),
):
    body = body or ReplayBody()
    return json_response(
        await pf.runs.replay(p, workflow_id, run_id, start=body.from_, version=body.version),
        201,
    )


@hooks.post(
    "/hooks/{trigger_id}",
    status_code=202,
    summary="A workflow's webhook trigger",
    responses={
        202: {"model": W.HookAccepted, "description": "The run is stored (fire and forget)"},
        200: {
            "model": W.HookFinished,
            "description": "await_response: the run succeeded without a reply step",
        },
        "default": {"description": "await_response: the workflow's trigger reply, as sent"},
        **errors(400, 404, 413, 504),
    },
)
async def workflow_hook(trigger_id: str, request: Request, pf: Platform = Depends(platform)):
    """Starts a run of an enabled workflow with the request (``body``, ``headers``,
    ``query``, ``method``) as its trigger output; answers 202 ``{"runId"}`` once the run is
    durably stored, or, for a trigger in ``await_response`` mode, with the workflow's
    trigger reply (504 when none comes in time). Answered in front of the framework by
    :class:`patchbay.api.hook_endpoint.HookEndpoint`; this route documents it."""
    status, body, headers = await answer_hook(
        pf,
        trigger_id,
        method=request.method,
        headers=list(request.headers.items()),
        query=request.url.query,
        body=await request.body(),
    )
    return Response(body, status, headers=dict(headers))
