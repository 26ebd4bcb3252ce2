"""Tray's ``scheduled`` 3.5 trigger: its operations map onto the schedule trigger's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from patchbay.connectors.schedule.connector import TRIGGERS
from patchbay.connectors.schedule.tray import poll_at
from patchbay.connectors.schedule.trigger import CronSettings, IntervalSettings

SCHEDULED = next(t for t in TRIGGERS if t.name == "scheduled")
NOW = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)  # a Wednesday


def settings(operation: str, **data):
    op = SCHEDULED.operation(operation)
    assert list(op.validator.errors(data)) == []
    return op.parse_settings(data)


def test_declaration():
    assert SCHEDULED.version == "3.5"
    assert [op.name for op in SCHEDULED.operations] == [
        "simple",
        "cron",
        "daily",
        "weekly",
        "monthly",
    ]
    assert all(op.is_polling for op in SCHEDULED.operations)


@pytest.mark.parametrize(
    ("interval", "unit", "seconds"),
    [(5, "minutes", 300), (1, "hour", 3600), (2, "Days", 172800), (1, "weeks", 604800)],
)
def test_simple_is_an_interval(interval, unit, seconds):
    schedule = settings("simple", interval=interval, time_unit=unit).schedule()
    assert schedule == IntervalSettings(every_seconds=seconds)


@pytest.mark.parametrize(
    ("operation", "data", "expression"),
    [
        ("cron", {"cron": "*/15 9-17 * * 1-5"}, "*/15 9-17 * * 1-5"),
        ("daily", {"time_of_day": "09:30"}, "30 9 * * *"),
        ("daily", {}, "0 0 * * *"),
        ("weekly", {"day_of_week": "Monday", "time_of_day": "7:05"}, "5 7 * * 1"),
        ("weekly", {"day_of_week": "sun"}, "0 0 * * 0"),
        ("weekly", {"day_of_week": 7}, "0 0 * * 0"),
        ("monthly", {"day_of_month": 15, "time_of_day": "23:59"}, "59 23 15 * *"),
    ],
)
def test_calendar_operations_are_cron(operation, data, expression):
    schedule = settings(operation, timezone="Europe/Paris", **data).schedule()
    assert schedule == CronSettings(expression=expression, timezone="Europe/Paris")


def test_firings_come_from_the_schedule_trigger():
    weekly = settings("weekly", day_of_week="friday", time_of_day="09:00", timezone="Europe/Paris")
    events, cursor = poll_at(weekly, None, NOW)
    assert events == []  # the first poll starts the clock
    events, cursor = poll_at(weekly, cursor, NOW + timedelta(days=3))
    [event] = events
    assert event.data["scheduledAt"] == "2024-05-03T09:00:00+02:00"
    assert event.id == "2024-05-03T07:00:00Z"
    simple = settings("simple", interval=10, time_unit="seconds")
    _, cursor = poll_at(simple, None, NOW)
    events, _ = poll_at(simple, cursor, NOW + timedelta(seconds=25))
    assert [e.id for e in events] == ["2024-05-01T06:00:20Z"]


@pytest.mark.parametrize(
    ("operation", "data"),
    [
        ("simple", {"interval": 0, "time_unit": "minutes"}),
        ("simple", {"interval": 5, "time_unit": "fortnights"}),
        ("simple", {"time_unit": "minutes"}),
        ("daily", {"time_of_day": "25:00"}),
        ("monthly", {"day_of_month": 32}),
        ("cron", {"cron": "0 9 * * 1-5", "unknown": 1}),
    ],
)
def test_bad_settings_are_refused_by_the_schema(operation, data):
    assert list(SCHEDULED.operation(operation).validator.errors(data))


@pytest.mark.parametrize(
    ("operation", "data", "words"),
    [
        ("cron", {"cron": "0 9 * *"}, "5 fields"),
        ("weekly", {"day_of_week": "someday"}, "day of the week"),
        ("daily", {"timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_bad_settings_are_refused_when_parsed(operation, data, words):
    with pytest.raises(ValidationError) as caught:
        SCHEDULED.operation(operation).parse_settings(data)
    assert words in str(caught.value)
