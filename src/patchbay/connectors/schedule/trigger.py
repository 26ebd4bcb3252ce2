"""The schedule trigger: polling operations whose "service" is the clock.

``next_poll`` says when the next firing is due; ``poll`` emits the firings due since the
cursor. The cursor is ``{"last": <the last firing handled, UTC ISO-8601>}`` (an interval's
also keeps its ``anchor``). The first poll (no cursor) only starts the clock: nothing before
it is backfilled, and ``next_poll`` without a cursor is "now", so the platform polls once
right away to set it. After downtime, at most :data:`CATCH_UP` missed firings (the latest
ones) are emitted; older ones are skipped. The dedupe key is the firing's scheduled time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AfterValidator, BaseModel

from ..sdk import Event, TriggerOperation, field

# How many missed firings a poll emits after downtime: the latest one only, so a schedule
# does not replay a burst of stale runs when the server comes back (older ones are skipped).
CATCH_UP = 1

_MICROSECOND = timedelta(microseconds=1)
# croniter's non-deterministic extensions (R: random, H: hashed), which would break dedupe.
_NON_DETERMINISTIC = re.compile(r"(?<![A-Za-z])[RH](?![A-Za-z])")


def _zone_name(value: str) -> str:
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None
    return name


def _cron_expression(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)} in {value!r}"
        )
    expression = " ".join(fields)
    if _NON_DETERMINISTIC.search(expression) or not croniter.is_valid(expression):
        raise ValueError(f"invalid cron expression {value!r}")
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except Exception:  # croniter's CroniterBadDateError: e.g. "0 0 30 2 *"
        raise ValueError(f"the cron expression {value!r} never fires") from None
    return expression


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


ZoneName = Annotated[str, AfterValidator(_zone_name)]
CronExpression = Annotated[str, AfterValidator(_cron_expression)]


def _timezone_field() -> Any:
    return field(
        "UTC",
        title="Time zone",
        description="An IANA time zone name (e.g. Europe/Paris), UTC by default.",
        min_length=1,
    )


class CronSettings(BaseModel):
    expression: CronExpression = field(
        title="Cron expression",
        description="Five fields: minute, hour, day of month, month, day of week, "
        "e.g. '0 9 * * 1-5' for 09:00 on weekdays.",
        min_length=1,
        examples=["0 9 * * 1-5"],
    )
    timezone: ZoneName = _timezone_field()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class IntervalSettings(BaseModel):
    every_seconds: int = field(
        title="Every (seconds)",
        description="The time between firings, at least 1 second (the platform's scheduler "
        "may poll less often; firings are then caught up as documented).",
        ge=1,
    )
    start_at: Annotated[datetime | None, AfterValidator(_aware)] = field(
        None,
        title="Start at",
        description="The first firing; the next ones follow every interval. Without it the "
        "first firing is one interval after the subscription starts. ISO-8601 with an "
        "offset, e.g. 2024-01-01T09:00:00Z.",
        format="date-time",
    )
    timezone: ZoneName = _timezone_field()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Firing(BaseModel):
    firedAt: str = field(
        title="Fired at",
        description="When the firing was handled (its poll), ISO-8601 in UTC",
        format="date-time",
    )
    scheduledAt: str = field(
        title="Scheduled at",
        description="The firing's scheduled time in the chosen time zone, ISO-8601 with offset",
        format="date-time",
    )
    timezone: str = field(title="Time zone", description="The chosen IANA time zone")


# ---------------------------------------------------------------------------------------
# Firing times
# ---------------------------------------------------------------------------------------


def _utc_iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cron_next(settings: CronSettings, cursor: dict[str, Any], after: datetime) -> datetime:
    """The first firing strictly after ``after`` (in UTC: datetimes sharing a zone compare
    and subtract by wall time, which is wrong across a DST change)."""
    it = croniter(settings.expression, after.astimezone(settings.zone))
    return it.get_next(datetime).astimezone(UTC)


def _cron_due(
    settings: CronSettings, cursor: dict[str, Any], last: datetime, now: datetime
) -> list[datetime]:
    """The latest firings in (last, now], oldest first, at most CATCH_UP of them."""
    # get_prev is strictly before its start: start just after now to include a firing at now.
    found: list[datetime] = []
    it = croniter(settings.expression, (now + _MICROSECOND).astimezone(settings.zone))
    while len(found) < CATCH_UP:
        when = it.get_prev(datetime).astimezone(UTC)
        if when <= last:
            break
        if when <= now:
            found.append(when)
    return found[::-1]


def _anchor(settings: IntervalSettings, cursor: dict[str, Any]) -> datetime:
    if settings.start_at is not None:
        return settings.start_at.astimezone(UTC)
    return datetime.fromisoformat(cursor.get("anchor") or cursor["last"]).astimezone(UTC)


def _interval_next(settings: IntervalSettings, cursor: dict[str, Any], after: datetime) -> datetime:
    anchor, step = _anchor(settings, cursor), timedelta(seconds=settings.every_seconds)
    if after < anchor:
        return anchor
    return anchor + ((after - anchor) // step + 1) * step


def _interval_due(
    settings: IntervalSettings, cursor: dict[str, Any], last: datetime, now: datetime
) -> list[datetime]:
    anchor, step = _anchor(settings, cursor), timedelta(seconds=settings.every_seconds)
    if now < anchor:
        return []
    latest = anchor + ((now - anchor) // step) * step
    found = [latest - k * step for k in range(CATCH_UP)]
    return [when for when in reversed(found) if last < when and when >= anchor]


def _start_cursor(settings: Any, now: datetime) -> dict[str, Any]:
    cursor = {"last": _utc_iso(now)}
    if isinstance(settings, IntervalSettings) and settings.start_at is None:
        # Whole seconds, so firings fall on whole seconds too.
        cursor["anchor"] = _utc_iso(now.replace(microsecond=0))
    return cursor


Polled = tuple[list[Event], dict[str, Any]]
Due = Callable[[Any, dict[str, Any], datetime, datetime], list[datetime]]
Next = Callable[[Any, dict[str, Any], datetime], datetime]


def _poll_at(due: Due, settings: Any, cursor: dict[str, Any] | None, now: datetime) -> Polled:
    if cursor is None:  # the first poll starts the clock: no backfill
        return [], _start_cursor(settings, now)
    last, now = datetime.fromisoformat(cursor["last"]).astimezone(UTC), now.astimezone(UTC)
    firings = due(settings, cursor, last, now)
    events = [
        Event(
            data={
                "firedAt": _utc_iso(now),
                "scheduledAt": when.astimezone(settings.zone).isoformat(),
                "timezone": settings.timezone,
            },
            id=_utc_iso(when),
            occurred_at=when,
        )
        for when in firings
    ]
    return events, ({**cursor, "last": _utc_iso(firings[-1])} if firings else dict(cursor))


def _next_at(
    next_after: Next, settings: Any, cursor: dict[str, Any] | None, now: datetime
) -> datetime:
    if cursor is None:
        return now  # poll right away, to start the clock
    return next_after(settings, cursor, datetime.fromisoformat(cursor["last"]).astimezone(UTC))


def cron_poll_at(settings: CronSettings, cursor: dict[str, Any] | None, now: datetime) -> Polled:
    """What ``poll`` does at ``now``: ``(events, cursor)``."""
    return _poll_at(_cron_due, settings, cursor, now)


def interval_poll_at(
    settings: IntervalSettings, cursor: dict[str, Any] | None, now: datetime
) -> Polled:
    """What ``poll`` does at ``now``: ``(events, cursor)``."""
    return _poll_at(_interval_due, settings, cursor, now)


async def cron_poll(ctx: Any, settings: CronSettings, cursor: Any) -> Polled:
    return cron_poll_at(settings, cursor, datetime.now(UTC))


async def interval_poll(ctx: Any, settings: IntervalSettings, cursor: Any) -> Polled:
    return interval_poll_at(settings, cursor, datetime.now(UTC))


def cron_next_poll(settings: CronSettings, cursor: Any, now: datetime) -> datetime:
    return _next_at(_cron_next, settings, cursor, now)


def interval_next_poll(settings: IntervalSettings, cursor: Any, now: datetime) -> datetime:
    return _next_at(_interval_next, settings, cursor, now)


def dedupe_key(event: Event) -> str | None:
    """The firing's scheduled time in UTC: one delivery per firing, however often polled."""
    scheduled = event.data.get("scheduledAt")
    return _utc_iso(datetime.fromisoformat(scheduled)) if isinstance(scheduled, str) else None


CRON = TriggerOperation(
    name="cron",
    title="Cron Schedule",
    description="Fires on a cron expression (five fields) in a time zone.",
    input=CronSettings,
    output=Firing,
    poll=cron_poll,
    next_poll=cron_next_poll,
    dedupe_key=dedupe_key,
)

INTERVAL = TriggerOperation(
    name="interval",
    title="Interval",
    description="Fires every N seconds, from a start time or from when the subscription starts.",
    input=IntervalSettings,
    output=Firing,
    poll=interval_poll,
    next_poll=interval_next_poll,
    dedupe_key=dedupe_key,
)
