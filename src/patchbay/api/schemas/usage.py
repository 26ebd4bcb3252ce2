"""Billing: tasks per user per day."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class UsageDay(BaseModel):
    userId: str | None
    date: date
    tasks: int


class Usage(BaseModel):
    elements: list[UsageDay]
    total: int
