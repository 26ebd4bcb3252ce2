"""Connectors, operations and Call Connector (``/core/v1/connectors``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from ...services.platform import Platform
from ...services.principal import Principal
from ..deps import platform, principal
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


@router.post("/{name}/versions/{version}/call", summary="Call a connector operation")
async def call_connector(
    name: str,
    version: str,
    body: CallBody,
    p: Principal = Depends(principal),
    pf: Platform = Depends(platform),
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
):
    result = await pf.calls.call(
        p,
        name,
        version,
        operation=body.operation,
        input=body.input,
        auth_id=body.authId,
        return_output_schema=body.returnOutputSchema,
        idempotency_key=idempotency_key,
    )
    return json_response(result)
