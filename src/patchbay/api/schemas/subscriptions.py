"""Trigger subscriptions, their events (dead letters), replays and delivery logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import PageInfo

EventStatus = Literal["pending", "delivered", "dead", "cancelled"]


class TriggerRef(BaseModel):
    name: str
    version: str


class SubscriptionError(BaseModel):
    code: str
    message: str


class Subscription(BaseModel):
    id: str
    name: str
    trigger: TriggerRef
    operation: str
    input: dict[str, Any] = Field(description="The input, its password fields masked")
    endpoint: str
    state: str
    createdAt: datetime
    authenticationId: str | None = None
    externalId: str | None = None
    error: SubscriptionError | None = None
    intakeUrl: str | None = Field(
        default=None, description="Where the service sends events (not for polling triggers)"
    )


class CreatedSubscription(Subscription):
    signingKey: str = Field(description="Signs x-tray-signature; shown at creation only")


class Subscriptions(BaseModel):
    elements: list[Subscription]
    pageInfo: PageInfo


class SigningKey(BaseModel):
    signingKey: str
    previousKeyExpiresAt: datetime | None


class Event(BaseModel):
    id: str
    status: EventStatus
    attempts: int
    createdAt: datetime
    nextAttemptAt: datetime | None
    deliveredAt: datetime | None
    lastStatusCode: int | None
    lastError: str | None
    payload: Any = None


class Events(BaseModel):
    elements: list[Event]
    pageInfo: PageInfo


class Delivery(BaseModel):
    id: str
    eventId: str
    attempt: int
    startedAt: datetime
    statusCode: int | None
    latencyMs: float | None
    outcome: str
    error: str | None


class EventWithDeliveries(Event):
    deliveries: list[Delivery]


class Deliveries(BaseModel):
    elements: list[Delivery]
    pageInfo: PageInfo


class Replayed(BaseModel):
    replayed: int
