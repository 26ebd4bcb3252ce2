"""Connectors, operations and Call Connector (``/core/v1/connectors``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ..call_endpoint import CallBody, answer_call
from ..deps import any_builder, any_reader, platform
from ..responses import json_response
from ..schemas import connectors as C
from ..schemas.common import errors

router = APIRouter(prefix="/core/v1/connectors", tags=["connectors"])


@router.get(
    "",
    summary="List connectors",
    response_model=C.Connectors,
    responses=errors(400, 401, 403, 429),
)
async def list_connectors(_: Principal = Depends(any_reader), pf: Platform = Depends(platform)):
    return json_response(pf.catalog.connectors())


@router.get(
    "/{name}/versions/{version}/operations",
    summary="List a connector's operations",
    response_model=C.Operations,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_operations(
    name: str, version: str, _: Principal = Depends(any_reader), pf: Platform = Depends(platform)
):
    return json_response(pf.catalog.operations(name, version))


@router.post(
    "/{name}/versions/{version}/call",
    summary="Call a connector operation",
    responses={
        200: {"model": C.CallResult, "description": "The operation's outcome and output"},
        **errors(400, 401, 403, 404, 409, 413, 422, 429),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CallBody.model_json_schema()}},
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Repeat a call safely: a repeat answers the stored result",
            },
        ],
        "security": [{"HTTPBearer": []}],
    },
)
async def call_connector(
    name: str, version: str, request: Request, p: Principal = Depends(any_builder)
):
    """Served by :class:`~patchbay.api.call_endpoint.CallConnectorFastPath` in front of
    the app; documented here, and answered the same way should a request get this far."""
    status, body, headers = await answer_call(
        request.app.state.platform,
        name,
        version,
        authorization=request.headers.get("authorization"),
        body=await request.body(),
        idempotency_key=request.headers.get("idempotency-key"),
        principal=p,
    )
    return Response(
        body,
        status_code=status,
        headers={k.decode(): v.decode() for k, v in headers},
        media_type="application/json",
    )
