"""Trigger subscriptions (``/core/v1/subscriptions``): Tray's contract, plus signing-key
rotation, event lists (dead letters), replay and delivery logs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ...services.identity.principal import Principal
from ...services.platform import Platform
from ...services.triggers.subscriptions import EVENT_STATUSES
from ..deps import any_builder, any_manager, any_reader, platform
from ..responses import json_response
from ..schemas import subscriptions as S
from ..schemas.common import PageSize, TargetWorkspace, WorkspaceFilter, errors

router = APIRouter(prefix="/core/v1/subscriptions", tags=["subscriptions"])


class TriggerRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=100)
    version: StrictStr = Field(min_length=1, max_length=20)


class CreateSubscription(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=255)
    trigger: TriggerRef
    operation: StrictStr = Field(min_length=1, max_length=200)
    input: dict[str, Any] = Field(default_factory=dict)
    endpoint: StrictStr = Field(min_length=1, max_length=2048)
    authenticationId: StrictStr | None = None
    externalId: StrictStr | None = Field(default=None, max_length=255)


class RotateKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlapSeconds: int | None = Field(
        default=None,
        ge=0,
        le=30 * 24 * 3600,
        description="How long the previous key keeps signing x-tray-signature "
        "(default PATCHBAY_SIGNING_KEY_OVERLAP_SECONDS, one day)",
    )


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["dead", "delivered"] = "dead"
    eventIds: list[StrictStr] | None = Field(default=None, max_length=1000)


@router.post(
    "",
    summary="Create a subscription",
    response_model=S.CreatedSubscription,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def create_subscription(
    body: CreateSubscription,
    workspace: TargetWorkspace = None,
    p: Principal = Depends(any_builder),
    pf: Platform = Depends(platform),
):
    created = await pf.subscriptions.create(p, body.model_dump(), workspace_id=workspace)
    return json_response(created)


@router.get(
    "",
    summary="List subscriptions",
    response_model=S.Subscriptions,
    responses=errors(400, 401, 403, 429),
)
async def list_subscriptions(
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    workspace: WorkspaceFilter = None,
    p: Principal = Depends(any_reader),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.subscriptions.list(p, first, cursor, workspace_id=workspace))


@router.get(
    "/{subscription_id}",
    summary="Get a subscription",
    response_model=S.Subscription,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_subscription(
    subscription_id: str, p: Principal = Depends(any_reader), pf: Platform = Depends(platform)
):
    return json_response(await pf.subscriptions.get(p, subscription_id))


@router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Delete a subscription",
    responses=errors(400, 401, 403, 404, 429),
)
async def delete_subscription(
    subscription_id: str, p: Principal = Depends(any_builder), pf: Platform = Depends(platform)
):
    await pf.subscriptions.delete(p, subscription_id)


@router.post(
    "/{subscription_id}/signing-key",
    summary="Rotate the signing key",
    response_model=S.SigningKey,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def rotate_signing_key(
    subscription_id: str,
    body: RotateKey | None = None,
    p: Principal = Depends(any_manager),
    pf: Platform = Depends(platform),
):
    overlap = body.overlapSeconds if body else None
    return json_response(await pf.subscriptions.rotate_signing_key(p, subscription_id, overlap))


@router.get(
    "/{subscription_id}/events",
    summary="List a subscription's events",
    response_model=S.Events,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_events(
    subscription_id: str,
    status: str | None = Query(
        default=None,
        description="pending, delivered, dead, cancelled",
        json_schema_extra={"enum": list(EVENT_STATUSES)},
    ),
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    p: Principal = Depends(any_reader),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.subscriptions.events(p, subscription_id, status, first, cursor))


@router.get(
    "/{subscription_id}/dead-letters",
    summary="List a subscription's dead letters",
    response_model=S.Events,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_dead_letters(
    subscription_id: str,
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    p: Principal = Depends(any_reader),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.subscriptions.events(p, subscription_id, "dead", first, cursor))


@router.post(
    "/{subscription_id}/events/replay",
    summary="Replay events in bulk",
    response_model=S.Replayed,
    responses=errors(400, 401, 403, 404, 413, 429),
)
async def replay_events(
    subscription_id: str,
    body: Replay | None = None,
    p: Principal = Depends(any_builder),
    pf: Platform = Depends(platform),
):
    body = body or Replay()
    return json_response(
        await pf.subscriptions.replay_many(p, subscription_id, body.status, body.eventIds)
    )


@router.get(
    "/{subscription_id}/events/{event_id}",
    summary="Get an event and its deliveries",
    response_model=S.EventWithDeliveries,
    responses=errors(400, 401, 403, 404, 429),
)
async def get_event(
    subscription_id: str,
    event_id: str,
    p: Principal = Depends(any_reader),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.subscriptions.event(p, subscription_id, event_id))


@router.post(
    "/{subscription_id}/events/{event_id}/replay",
    summary="Replay one event",
    response_model=S.Event,
    responses=errors(400, 401, 403, 404, 429),
)
async def replay_event(
    subscription_id: str,
    event_id: str,
    p: Principal = Depends(any_builder),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.subscriptions.replay(p, subscription_id, event_id))


@router.get(
    "/{subscription_id}/deliveries",
    summary="A subscription's delivery log",
    response_model=S.Deliveries,
    responses=errors(400, 401, 403, 404, 429),
)
async def list_deliveries(
    subscription_id: str,
    first: PageSize = None,
    cursor: str | None = Query(default=None),
    p: Principal = Depends(any_reader),
    pf: Platform = Depends(platform),
):
    return json_response(await pf.subscriptions.deliveries(p, subscription_id, first, cursor))
