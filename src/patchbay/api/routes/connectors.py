"""Connectors, operations and Call Connector (``/core/v1/connectors``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from ...services.platform import Platform
from ...services.principal import Principal
from ..deps import platform, principal, principal_from_header
from ..responses import json_response

router = APIRouter(prefix="/core/v1/connectors", tags=["connectors"])


class CallBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    operation: StrictStr = Field(description="The operation's name")
    authId: StrictStr | None = Field(default=None, description="The authentication to use")
    input: dict[str, Any] = Field(description="Input matching the operation's inputSchema")
    returnOutputSchema: StrictBool = False


@router.get("", summary="List connectors")
async def list_connectors(_: Principal = Depends(principal), pf: Platform = Depends(platform)):
    return json_response(pf.catalog.connectors())


@router.get("/{name}/versions/{version}/operations", summary="List a connector's operations")
async def list_operations(
    name: str, version: str, _: Principal = Depends(principal), pf: Platform = Depends(platform)
):
    return json_response(pf.catalog.operations(name, version))


@router.post(
    "/{name}/versions/{version}/call",
    summary="Call a connector operation",
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
async def call_connector(name: str, version: str, request: Request):
    """The hot path: parsed by hand (one pydantic pass over the raw bytes) rather than
    through dependency injection, which costs more than the rest of the request."""
    pf: Platform = request.app.state.platform
    p = await principal_from_header(request)
    try:
        body = CallBody.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    result = await pf.calls.call(
        p,
        name,
        version,
        operation=body.operation,
        input=body.input,
        auth_id=body.authId,
        return_output_schema=body.returnOutputSchema,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    return json_response(result)
