"""Tray's scheduled trigger (connector ``scheduled`` 3.5) on Patchbay's schedule trigger.

Tray exports a scheduled workflow's trigger as connector ``scheduled`` with one of the
operations ``simple`` (every ``interval`` ``time_unit``), ``cron``, ``daily``, ``weekly`` and
``monthly``. Each is declared here under Tray's names and properties, and each turns its
settings into the schedule trigger's own (:class:`~.trigger.IntervalSettings` or
:class:`~.trigger.CronSettings`): firing times, cursor, catch-up and dedupe are the schedule
trigger's, unchanged. ``simple``'s properties are those of a real export; the other
operations' follow Tray's public documentation as far as it is known (README.md says which).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel

from ..sdk import TriggerOperation, field
from .trigger import (
    CronExpression,
    CronSettings,
    Firing,
    IntervalSettings,
    Polled,
    ZoneName,
    cron_next_poll,
    cron_poll_at,
    dedupe_key,
    interval_next_poll,
    interval_poll_at,
)

SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
# Plural and singular, lower case or capitalised (the schema's enum; read in lower case).
_NAMES = (*SECONDS, *(u[:-1] for u in SECONDS))
UNITS = (*_NAMES, *(u.capitalize() for u in _NAMES))
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
TIME_PATTERN = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _day_of_week(value: Any) -> int:
    """``monday``, ``Mon``, or a number (0 or 7 Sunday, 1 Monday ... 6 Saturday, as cron)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 7:
        return value % 7
    text = str(value).strip().lower()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text) % 7
    for i, day in enumerate(DAYS):
        if len(text) >= 3 and day.startswith(text):
            return i
    raise ValueError(f"unknown day of the week {value!r}: use a name such as 'monday'")


def _timezone_field() -> Any:
    return field(
        "UTC",
        title="Timezone",
        description="An IANA time zone name (e.g. Europe/Paris), UTC by default.",
        min_length=1,
    )


def _time_field() -> Any:
    return field(
        "00:00",
        title="Time of day",
        description="HH:MM, 24-hour clock, in the time zone.",
        pattern=TIME_PATTERN,
    )


def _hour_minute(text: str) -> tuple[int, int]:
    hour, minute = text.split(":")
    return int(hour), int(minute)


class SimpleSettings(BaseModel):
    interval: int = field(
        title="Interval", description="How many time units between firings.", ge=1
    )
    time_unit: Annotated[Literal[UNITS], AfterValidator(_lower)] = field(  # type: ignore[valid-type]
        "minutes",
        title="Time unit",
        description="seconds, minutes, hours, days or weeks (Tray offers minutes and "
        "longer; seconds are Patchbay's).",
    )
    timezone: ZoneName = _timezone_field()

    def schedule(self) -> IntervalSettings:
        unit = self.time_unit.lower()
        unit = unit if unit.endswith("s") else unit + "s"
        return IntervalSettings(every_seconds=self.interval * SECONDS[unit], timezone=self.timezone)


class CronTraySettings(BaseModel):
    cron: CronExpression = field(
        title="Cron expression",
        description="Five fields: minute, hour, day of month, month, day of week.",
        min_length=1,
        examples=["0 9 * * 1-5"],
    )
    timezone: ZoneName = _timezone_field()

    def schedule(self) -> CronSettings:
        return CronSettings(expression=self.cron, timezone=self.timezone)


class DailySettings(BaseModel):
    time_of_day: str = _time_field()
    timezone: ZoneName = _timezone_field()

    def schedule(self) -> CronSettings:
        hour, minute = _hour_minute(self.time_of_day)
        return CronSettings(expression=f"{minute} {hour} * * *", timezone=self.timezone)


class WeeklySettings(BaseModel):
    day_of_week: Annotated[str | int, AfterValidator(_day_of_week)] = field(
        title="Day of the week",
        description="A day's name (monday, or mon) or its cron number (0 Sunday ... 6 Saturday).",
    )
    time_of_day: str = _time_field()
    timezone: ZoneName = _timezone_field()

    def schedule(self) -> CronSettings:
        hour, minute = _hour_minute(self.time_of_day)
        day = int(self.day_of_week)
        return CronSettings(expression=f"{minute} {hour} * * {day}", timezone=self.timezone)


class MonthlySettings(BaseModel):
    day_of_month: int = field(
        title="Day of the month",
        description="1 to 31; a month without that day has no firing (as in cron).",
        ge=1,
        le=31,
    )
    time_of_day: str = _time_field()
    timezone: ZoneName = _timezone_field()

    def schedule(self) -> CronSettings:
        hour, minute = _hour_minute(self.time_of_day)
        expression = f"{minute} {hour} {self.day_of_month} * *"
        return CronSettings(expression=expression, timezone=self.timezone)


def poll_at(settings: Any, cursor: dict[str, Any] | None, now: datetime) -> Polled:
    """What ``poll`` does at ``now``, for any of Tray's operations."""
    schedule = settings.schedule()
    if isinstance(schedule, IntervalSettings):
        return interval_poll_at(schedule, cursor, now)
    return cron_poll_at(schedule, cursor, now)


async def poll(ctx: Any, settings: Any, cursor: Any) -> Polled:
    return poll_at(settings, cursor, datetime.now(UTC))


def next_poll(settings: Any, cursor: Any, now: datetime) -> datetime:
    schedule = settings.schedule()
    if isinstance(schedule, IntervalSettings):
        return interval_next_poll(schedule, cursor, now)
    return cron_next_poll(schedule, cursor, now)


def _operation(name: str, title: str, description: str, settings: type[BaseModel]):
    return TriggerOperation(
        name=name,
        title=title,
        description=description,
        input=settings,
        output=Firing,
        poll=poll,
        next_poll=next_poll,
        dedupe_key=dedupe_key,
    )


OPERATIONS = [
    _operation(
        "simple",
        "Custom interval",
        "Fires every interval of a time unit, from when the workflow is enabled.",
        SimpleSettings,
    ),
    _operation("cron", "Cron", "Fires on a cron expression in a time zone.", CronTraySettings),
    _operation("daily", "Daily", "Fires every day at a time of day.", DailySettings),
    _operation("weekly", "Weekly", "Fires every week on a day at a time of day.", WeeklySettings),
    _operation(
        "monthly", "Monthly", "Fires every month on a day at a time of day.", MonthlySettings
    ),
]
