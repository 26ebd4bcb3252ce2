"""The schedule trigger's polling hooks: when to poll next, which firings a poll emits, how
the cursor moves, no backfill on the first poll, the catch-up cap, DST days, settings
validation and stable dedupe keys. Times are fixed through ``*_poll_at``; the declared
``poll`` hooks run once against the real clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from pydantic import ValidationError

from patchbay.connectors.registry import Registry, builtin_triggers
from patchbay.connectors.schedule.trigger import (
    CATCH_UP,
    CRON,
    INTERVAL,
    cron_poll_at,
    interval_poll_at,
)
from patchbay.connectors.sdk.runner import hook_context
from patchbay.testing.connectors import loopback_clients

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cron(expression: str, timezone: str | None = None):
    data = {"expression": expression} | ({"timezone": timezone} if timezone else {})
    assert CRON.validator.errors(data) == [], data
    return CRON.parse_settings(data)


def interval(every: int, start_at: str | None = None, timezone: str | None = None):
    data: dict = {"every_seconds": every}
    if start_at:
        data["start_at"] = start_at
    if timezone:
        data["timezone"] = timezone
    assert INTERVAL.validator.errors(data) == [], data
    return INTERVAL.parse_settings(data)


def run(op, poll_at, settings, start: datetime, polls: int, late=timedelta(milliseconds=3)):
    """The platform's loop: poll when ``next_poll_at`` says (a little late), keep the cursor.
    Returns every event emitted and the cursors after each poll."""
    events, cursors, cursor, now = [], [], None, start
    for _ in range(polls):
        new, cursor = poll_at(settings, cursor, now)
        for event in new:
            assert op.shape(event.data) == event.data
            jsonschema.Draft4Validator(op.output_schema).validate(event.data)
        events.extend(new)
        cursors.append(cursor)
        due = op.next_poll_at(settings, cursor, now)
        assert due > now or not new  # never asks to be polled again for what it just emitted
        now = max(due, now) + late
    return events, cursors


def scheduled(events) -> list[str]:
    return [e.data["scheduledAt"] for e in events]


# -- declaration and settings -----------------------------------------------------------


def test_declared_as_a_schedule_trigger():
    [trigger] = [t for t in builtin_triggers() if t.name == "schedule-trigger"]
    assert (trigger.name, trigger.version) == ("schedule-trigger", "1.0")
    assert Registry.discover().trigger("schedule-trigger", "1.0") is trigger
    assert trigger.operation("cron") is CRON and trigger.operation("interval") is INTERVAL
    assert not trigger.requires_auth and trigger.environments == []
    for op in (CRON, INTERVAL):
        assert op.is_polling and op.on_request is None and op.reply is None
        assert op.next_poll is not None and op.dedupe_key is not None
        jsonschema.Draft4Validator.check_schema(op.input_schema)
        assert op.output_schema["required"] == ["firedAt", "scheduledAt", "timezone"]
    assert CRON.input_schema["required"] == ["expression"]
    assert CRON.input_schema["properties"]["timezone"]["default"] == "UTC"
    assert INTERVAL.input_schema["required"] == ["every_seconds"]
    assert INTERVAL.input_schema["properties"]["every_seconds"]["minimum"] == 1
    assert CRON.validator.errors({})
    assert CRON.validator.errors({"expression": "* * * * *", "other": 1})
    assert INTERVAL.validator.errors({"every_seconds": 0})
    assert INTERVAL.validator.errors({"every_seconds": 5, "start_at": "tomorrow"})
    assert INTERVAL.validator.errors({"every_seconds": 5, "start_at": "2024-01-01T09:00:00"})


@pytest.mark.parametrize(
    "expression", ["* * * * *", "0 9 * * 1-5", "*/15 * * * *", "0 12 * * MON-FRI", "0 0 L * *"]
)
def test_valid_cron_expressions(expression):
    assert cron(expression).expression == expression
    assert cron(f"  {expression.replace(' ', '   ')} ").expression == expression  # normalized


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "5 fields"),
        ("0 * * * * *", "5 fields"),  # croniter's seconds field
        ("0 0 1 1 * 2030", "5 fields"),
        ("@daily", "5 fields"),
        ("   ", "5 fields"),
        ("61 * * * *", "invalid cron expression"),
        ("* 24 * * *", "invalid cron expression"),
        ("*/0 * * * *", "invalid cron expression"),
        ("a b c d e", "invalid cron expression"),
        ("R * * * *", "invalid cron expression"),  # random: not deterministic
        ("H * * * *", "invalid cron expression"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_invalid_cron_expressions_are_refused_with_a_clear_message(expression, message):
    with pytest.raises(ValidationError, match=message) as caught:
        CRON.parse_settings({"expression": expression})
    assert caught.value.errors()[0]["loc"] == ("expression",)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/Pariss", "", "../etc/passwd"])
def test_unknown_time_zones_are_refused(zone):
    for op, data in ((CRON, {"expression": "* * * * *"}), (INTERVAL, {"every_seconds": 5})):
        with pytest.raises(ValidationError, match="time zone|at least 1 character"):
            op.parse_settings(data | {"timezone": zone})


def test_known_time_zones():
    assert cron("* * * * *").timezone == "UTC"
    assert cron("* * * * *", "America/New_York").zone == NEW_YORK
    assert interval(5, timezone="Europe/Paris").zone == PARIS


def test_interval_start_without_offset_is_utc_in_the_model():
    settings = INTERVAL.parse_settings({"every_seconds": 5, "start_at": "2024-01-01T09:00:00"})
    assert settings.start_at == utc(2024, 1, 1, 9)


# -- cron -------------------------------------------------------------------------------


def test_first_poll_starts_now_without_backfill():
    settings = cron("*/15 * * * *")
    now = utc(2024, 5, 1, 10, 7, 12)
    assert CRON.next_poll_at(settings, None, now) == now  # poll at once to start the clock
    events, cursor = cron_poll_at(settings, None, now)
    assert events == []  # 10:00 (and everything before) is not replayed
    assert cursor == {"last": "2024-05-01T10:07:12Z"}
    assert CRON.next_poll_at(settings, cursor, now) == utc(2024, 5, 1, 10, 15)


def test_poll_emits_exactly_the_due_firings():
    settings = cron("*/15 * * * *")
    cursor = {"last": "2024-05-01T10:00:00Z"}
    assert CRON.next_poll_at(settings, cursor, utc(2024, 5, 1, 10, 1)) == utc(2024, 5, 1, 10, 15)
    events, after = cron_poll_at(settings, cursor, utc(2024, 5, 1, 10, 14, 59, 999999))
    assert events == [] and after == cursor  # nothing due yet: the cursor stays
    now = utc(2024, 5, 1, 10, 15)  # exactly on time
    [event], after = cron_poll_at(settings, cursor, now)
    assert event.data == {
        "firedAt": "2024-05-01T10:15:00Z",
        "scheduledAt": "2024-05-01T10:15:00+00:00",
        "timezone": "UTC",
    }
    assert event.id == "2024-05-01T10:15:00Z" and event.occurred_at == now
    assert after == {"last": "2024-05-01T10:15:00Z"}
    # polled again (a crash before the cursor was kept is the other case): nothing more
    assert cron_poll_at(settings, after, now + timedelta(minutes=10)) == ([], after)
    assert CRON.next_poll_at(settings, after, now) == utc(2024, 5, 1, 10, 30)


def test_cursor_progression_follows_the_schedule():
    settings = cron("0 9 * * 1-5", "Europe/Paris")  # weekdays at 09:00 Paris time
    events, cursors = run(CRON, cron_poll_at, settings, utc(2024, 5, 2, 12), polls=6)
    assert scheduled(events) == [
        "2024-05-03T09:00:00+02:00",  # Friday
        "2024-05-06T09:00:00+02:00",  # Monday
        "2024-05-07T09:00:00+02:00",
        "2024-05-08T09:00:00+02:00",
        "2024-05-09T09:00:00+02:00",
    ]
    assert [c["last"] for c in cursors[1:]] == [
        "2024-05-03T07:00:00Z",
        "2024-05-06T07:00:00Z",
        "2024-05-07T07:00:00Z",
        "2024-05-08T07:00:00Z",
        "2024-05-09T07:00:00Z",
    ]
    assert all(e.data["timezone"] == "Europe/Paris" for e in events)
    # each one was handled a few milliseconds after it was due
    for event in events:
        fired = datetime.fromisoformat(event.data["firedAt"])
        assert timedelta(0) < fired - event.occurred_at < timedelta(seconds=1)


def test_catch_up_after_downtime_is_capped():
    assert CATCH_UP == 1
    settings = cron("*/15 * * * *")
    cursor = {"last": "2024-05-01T10:00:00Z"}
    now = utc(2024, 5, 1, 13, 7)  # 12 firings were missed
    assert CRON.next_poll_at(settings, cursor, now) == utc(2024, 5, 1, 10, 15)  # overdue
    events, after = cron_poll_at(settings, cursor, now)
    assert scheduled(events) == ["2024-05-01T13:00:00+00:00"]  # only the latest
    assert after == {"last": "2024-05-01T13:00:00Z"}
    assert CRON.next_poll_at(settings, after, now) == utc(2024, 5, 1, 13, 15)
    # weeks of downtime on an every-minute schedule: still one event, found at once
    events, after = cron_poll_at(cron("* * * * *"), cursor, utc(2024, 6, 1, 8, 30, 40))
    assert scheduled(events) == ["2024-06-01T08:30:00+00:00"]


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        (
            "Europe/Paris",  # 2024-03-31: 02:00 -> 03:00
            utc(2024, 3, 29, 12),
            [
                "2024-03-30T02:30:00+01:00",
                "2024-03-31T03:00:00+02:00",  # 02:30 does not exist: croniter fires at 03:00
                "2024-04-01T02:30:00+02:00",
            ],
        ),
        (
            "America/New_York",  # 2024-03-10: 02:00 -> 03:00
            utc(2024, 3, 8, 18),
            [
                "2024-03-09T02:30:00-05:00",
                "2024-03-10T03:00:00-04:00",
                "2024-03-11T02:30:00-04:00",
            ],
        ),
    ],
)
def test_spring_forward_day(zone, start, expected):
    events, _ = run(CRON, cron_poll_at, cron("30 2 * * *", zone), start, polls=4)
    assert scheduled(events) == expected
    keys = [CRON.key_for(e) for e in events]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        (
            "Europe/Paris",  # 2024-10-27: 03:00 -> 02:00, 02:30 happens twice
            utc(2024, 10, 25, 12),
            [
                "2024-10-26T02:30:00+02:00",
                "2024-10-27T02:30:00+02:00",
                "2024-10-27T02:30:00+01:00",  # croniter fires both 02:30s
                "2024-10-28T02:30:00+01:00",
            ],
        ),
        (
            "America/New_York",  # 2024-11-03: 02:00 -> 01:00, 01:30 happens twice
            utc(2024, 11, 1, 18),
            [
                "2024-11-02T01:30:00-04:00",
                "2024-11-03T01:30:00-04:00",
                "2024-11-03T01:30:00-05:00",
                "2024-11-04T01:30:00-05:00",
            ],
        ),
    ],
)
def test_fall_back_day(zone, start, expected):
    hour = "2" if zone == "Europe/Paris" else "1"
    events, _ = run(CRON, cron_poll_at, cron(f"30 {hour} * * *", zone), start, polls=5)
    assert scheduled(events) == expected
    keys = [CRON.key_for(e) for e in events]
    assert len(set(keys)) == len(keys)  # the two firings of the repeated hour stay distinct


def test_hourly_across_both_dst_changes_is_hourly_in_utc():
    settings = cron("0 * * * *", "Europe/Paris")
    for start in (utc(2024, 3, 30, 22, 30), utc(2024, 10, 26, 21, 30)):
        events, _ = run(CRON, cron_poll_at, settings, start, polls=7)
        instants = [e.occurred_at for e in events]
        assert all(
            b - a == timedelta(hours=1) for a, b in zip(instants, instants[1:], strict=False)
        )
        assert len(events) == 6


def test_catch_up_across_the_repeated_hour():
    settings = cron("30 2 * * *", "Europe/Paris")
    cursor = {"last": "2024-10-27T00:30:00Z"}  # the first 02:30 (+02:00) was handled
    events, after = cron_poll_at(settings, cursor, utc(2024, 10, 27, 1, 45))
    assert scheduled(events) == ["2024-10-27T02:30:00+01:00"]
    assert after == {"last": "2024-10-27T01:30:00Z"}
    assert CRON.next_poll_at(settings, after, utc(2024, 10, 27, 1, 45)) == utc(2024, 10, 28, 1, 30)


# -- interval ---------------------------------------------------------------------------


def test_interval_from_a_start_time():
    settings = interval(60, "2024-05-01T10:00:00Z")
    events, cursors = run(INTERVAL, interval_poll_at, settings, utc(2024, 5, 1, 10, 0, 30), 4)
    assert scheduled(events) == [
        "2024-05-01T10:01:00+00:00",  # 10:00 was before the first poll: not backfilled
        "2024-05-01T10:02:00+00:00",
        "2024-05-01T10:03:00+00:00",
    ]
    assert cursors[0] == {"last": "2024-05-01T10:00:30Z"}
    assert cursors[-1] == {"last": "2024-05-01T10:03:00Z"}


def test_interval_start_in_the_future():
    settings = interval(3600, "2024-05-02T08:00:00+02:00", timezone="Europe/Paris")
    now = utc(2024, 5, 1, 12)
    _, cursor = interval_poll_at(settings, None, now)
    assert INTERVAL.next_poll_at(settings, cursor, now) == utc(2024, 5, 2, 6)
    assert interval_poll_at(settings, cursor, utc(2024, 5, 2, 5, 59, 59)) == ([], cursor)
    [event], cursor = interval_poll_at(settings, cursor, utc(2024, 5, 2, 6))
    assert event.data["scheduledAt"] == "2024-05-02T08:00:00+02:00"
    assert event.data["timezone"] == "Europe/Paris"
    assert INTERVAL.key_for(event) == "2024-05-02T06:00:00Z"
    assert INTERVAL.next_poll_at(settings, cursor, utc(2024, 5, 2, 6)) == utc(2024, 5, 2, 7)


def test_interval_without_a_start_counts_from_the_first_poll():
    settings = interval(90)
    now = utc(2024, 5, 1, 10, 0, 0, 250000)
    events, cursor = interval_poll_at(settings, None, now)
    assert events == []
    assert cursor == {"last": "2024-05-01T10:00:00.250000Z", "anchor": "2024-05-01T10:00:00Z"}
    events, _ = run(INTERVAL, interval_poll_at, settings, now, polls=4)
    assert scheduled(events) == [
        "2024-05-01T10:01:30+00:00",
        "2024-05-01T10:03:00+00:00",
        "2024-05-01T10:04:30+00:00",
    ]


def test_interval_every_second_and_catch_up():
    settings = interval(1, "2024-05-01T00:00:00Z")
    cursor = {"last": "2024-05-01T10:00:00Z"}
    events, after = interval_poll_at(settings, cursor, utc(2024, 5, 1, 10, 0, 0, 999999))
    assert events == [] and after == cursor
    [event], after = interval_poll_at(settings, cursor, utc(2024, 5, 1, 10, 0, 1))
    assert event.data["scheduledAt"] == "2024-05-01T10:00:01+00:00"
    # a day down: one event, the latest firing
    events, after = interval_poll_at(settings, after, utc(2024, 5, 2, 10, 0, 7, 500))
    assert scheduled(events) == ["2024-05-02T10:00:07+00:00"]
    assert INTERVAL.next_poll_at(settings, after, utc(2024, 5, 2, 10, 0, 7)) == utc(
        2024, 5, 2, 10, 0, 8
    )


# -- dedupe -----------------------------------------------------------------------------


def test_dedupe_keys_are_the_scheduled_time_and_stable():
    settings = cron("0 */6 * * *", "America/New_York")
    cursor = {"last": "2024-05-01T10:00:00Z"}  # 06:00 in New York
    # a poll whose cursor was lost in a crash runs again later: the same firing, the same key
    [first], _ = cron_poll_at(settings, cursor, utc(2024, 5, 1, 16, 0, 1))
    [again], _ = cron_poll_at(settings, cursor, utc(2024, 5, 1, 16, 4))
    assert first.data["firedAt"] != again.data["firedAt"]
    assert first.data["scheduledAt"] == again.data["scheduledAt"] == "2024-05-01T12:00:00-04:00"
    assert CRON.key_for(first) == CRON.key_for(again) == "2024-05-01T16:00:00Z" == first.id
    # the same instant in another zone is the same key; an interval's too
    same = interval(3600, "2024-05-01T16:00:00Z", timezone="Asia/Tokyo")
    [tokyo], _ = interval_poll_at(same, cursor, utc(2024, 5, 1, 16, 30))
    assert tokyo.data["scheduledAt"] == "2024-05-02T01:00:00+09:00"
    assert INTERVAL.key_for(tokyo) == "2024-05-01T16:00:00Z"


# -- the declared hooks, on the real clock ----------------------------------------------


async def test_declared_poll_hooks_on_the_real_clock():
    [trigger] = [t for t in builtin_triggers() if t.name == "schedule-trigger"]
    async with loopback_clients() as clients:
        for op, settings in ((CRON, cron("* * * * *")), (INTERVAL, interval(1))):
            ctx = hook_context(trigger, op, clients=clients)
            before = datetime.now(UTC)
            events, cursor = await op.poll(ctx, settings, None)
            assert events == []
            assert before <= datetime.fromisoformat(cursor["last"]) <= datetime.now(UTC)
            # as if the last firing handled was a few minutes ago
            past = (before - timedelta(minutes=3)).replace(microsecond=0)
            cursor = {**cursor, "last": past.isoformat()}
            [event], after = await op.poll(ctx, settings, cursor)
            when = event.occurred_at
            assert past < when <= datetime.now(UTC)
            assert datetime.now(UTC) - when < timedelta(minutes=1, seconds=1)
            assert after["last"] == event.id
            assert op.next_poll_at(settings, after, datetime.now(UTC)) > when
