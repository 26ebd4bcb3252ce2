"""The Date & Time Helpers connector, called through the real SDK path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from patchbay.connectors.date_time_helpers.connector import CONNECTORS
from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.testing.connectors import Call, assert_output_valid, loopback_clients, make_call

CONNECTOR = CONNECTORS[0]
OPERATIONS = [
    "now",
    "format_date",
    "parse_date",
    "add_time",
    "subtract_time",
    "difference",
    "convert_timezone",
    "start_of",
    "end_of",
    "is_before",
    "is_after",
]


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(CONNECTOR, clients)


async def output(call: Call, operation: str, **data: Any) -> Any:
    result = await call(operation, data)
    return assert_output_valid(CONNECTOR, operation, result)


async def result_of(call: Call, operation: str, **data: Any) -> Any:
    return (await output(call, operation, **data))["result"]


async def error_of(call: Call, operation: str, **data: Any) -> str:
    result = await call(operation, data)
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    return result.output["message"]


def test_declared() -> None:
    assert (CONNECTOR.name, CONNECTOR.version) == ("date-time-helpers", "3.0")
    assert [op.name for op in CONNECTOR.operations] == OPERATIONS
    assert CONNECTOR.requires_auth is False


# -- now --------------------------------------------------------------------------------
async def test_now(call: Call) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    text = await result_of(call, "now")
    after = datetime.now(UTC)
    assert text.endswith("Z")
    assert before <= datetime.fromisoformat(text) <= after
    unix = await result_of(call, "now", format="unix")
    assert isinstance(unix, int) and abs(unix - after.timestamp()) < 5
    tokyo = await result_of(call, "now", timezone="Asia/Tokyo")
    assert tokyo.endswith("+09:00")
    assert await result_of(call, "now", timezone="UTC", format="%Y") == str(after.year)


# -- format_date ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("date", "fmt", "tz", "expected"),
    [
        ("2024-05-01T10:00:00+02:00", "iso8601", "UTC", "2024-05-01T08:00:00Z"),
        ("2024-05-01T08:00:00Z", "ISO-8601", "Europe/Berlin", "2024-05-01T10:00:00+02:00"),
        ("2024-05-01T08:00:00.250Z", "iso8601", "UTC", "2024-05-01T08:00:00.250Z"),
        ("2024-05-01T08:00:00Z", "unix", "UTC", 1714550400),
        ("2024-05-01T08:00:00.250Z", "unix_ms", "UTC", 1714550400250),
        (1714550400, "iso8601", "UTC", "2024-05-01T08:00:00Z"),
        (1714550400250, "iso8601", "UTC", "2024-05-01T08:00:00.250Z"),
        ("1714550400", "iso8601", "UTC", "2024-05-01T08:00:00Z"),
        (1714550400.5, "unix_ms", "UTC", 1714550400500),
        ("2024-05-01T08:00:00Z", "%d/%m/%Y %H:%M", "Asia/Kolkata", "01/05/2024 13:30"),
        ("2024-05-01T08:00:00Z", "%A %d %B", "+05:30", "Wednesday 01 May"),
        ("2024-05-01 08:00", "iso8601", "America/New_York", "2024-05-01T08:00:00-04:00"),
        ("2024-05-01", "iso8601", "UTC", "2024-05-01T00:00:00Z"),
        ("Wed, 01 May 2024 08:00:00 GMT", "unix", "UTC", 1714550400),
        (-1.5, "unix", "UTC", -2),  # floored, as unix seconds are
    ],
)
async def test_format_date(call: Call, date: Any, fmt: str, tz: str, expected: Any) -> None:
    assert await result_of(call, "format_date", date=date, format=fmt, timezone=tz) == expected


async def test_format_date_input_format(call: Call) -> None:
    # Explicit units override the automatic threshold.
    assert (
        await result_of(call, "format_date", date=1714550400, input_format="unix_ms")
        == "1970-01-20T20:15:50.400Z"
    )
    message = await error_of(call, "format_date", date="2024-05-01T08:00:00Z", input_format="unix")
    assert message.startswith("date:")
    message = await error_of(call, "format_date", date=1714550400, input_format="iso8601")
    assert message.startswith("date:")


async def test_format_date_errors_name_the_field(call: Call) -> None:
    assert (await error_of(call, "format_date", date="next tuesday")).startswith("date:")
    assert (await error_of(call, "format_date", date="2024-02-30")).startswith("date:")
    assert (await error_of(call, "format_date", date=1e20)).startswith("date:")
    message = await error_of(call, "format_date", date="2024-05-01", timezone="Mars/Base")
    assert message.startswith("timezone:") and "Mars/Base" in message
    for bad_zone in ("../../etc/passwd", "America", "+25:00", "Europe/Berlin\x00"):
        message = await error_of(call, "format_date", date="2024-05-01", timezone=bad_zone)
        assert message.startswith("timezone:"), bad_zone
    message = await error_of(call, "format_date", date="2024-05-01", format="YYYY-MM-DD")
    assert message.startswith("format:")
    with pytest.raises(InputInvalid):
        await call("format_date", {"date": True})
    with pytest.raises(InputInvalid):
        await call("format_date", {})


# -- parse_date -------------------------------------------------------------------------
async def test_parse_date(call: Call) -> None:
    assert await output(call, "parse_date", text="2024-05-01T10:00:00+02:00") == {
        "iso": "2024-05-01T08:00:00Z",
        "unix": 1714550400,
        "unix_ms": 1714550400000,
    }
    parsed = await output(
        call, "parse_date", text="01/05/2024 10:00", format="%d/%m/%Y %H:%M",
        timezone="Europe/London",
    )  # fmt: skip
    assert parsed["iso"] == "2024-05-01T09:00:00Z"
    parsed = await output(
        call, "parse_date", text="2024-05-01 10:00 -0700", format="%Y-%m-%d %H:%M %z"
    )
    assert parsed["unix"] == 1714582800
    assert (await output(call, "parse_date", text="1714550400"))["iso"] == "2024-05-01T08:00:00Z"


async def test_parse_date_errors(call: Call) -> None:
    message = await error_of(call, "parse_date", text="May 1st", format="%d/%m/%Y")
    assert message.startswith("text:") and "does not match" in message
    assert (await error_of(call, "parse_date", text="soon")).startswith("text:")
    message = await error_of(call, "parse_date", text="2024-05-01", timezone="Nowhere")
    assert message.startswith("timezone:")


# -- add_time / subtract_time -----------------------------------------------------------
@pytest.mark.parametrize(
    ("date", "amount", "unit", "tz", "expected"),
    [
        ("2024-05-01T08:00:00Z", 90, "seconds", "UTC", "2024-05-01T08:01:30Z"),
        ("2024-05-01T08:00:00Z", 1.5, "hours", "UTC", "2024-05-01T09:30:00Z"),
        ("2024-05-01T08:00:00Z", 2, "weeks", "UTC", "2024-05-15T08:00:00Z"),
        ("2024-01-31T08:00:00Z", 1, "months", "UTC", "2024-02-29T08:00:00Z"),
        ("2023-01-31T08:00:00Z", 1, "months", "UTC", "2023-02-28T08:00:00Z"),
        ("2024-03-31T08:00:00Z", -1, "months", "UTC", "2024-02-29T08:00:00Z"),
        ("2024-02-29T08:00:00Z", 1, "years", "UTC", "2025-02-28T08:00:00Z"),
        ("2024-11-30T08:00:00Z", 14, "months", "UTC", "2026-01-30T08:00:00Z"),
        # Days follow the wall clock across DST (23 hours here), hours do not.
        ("2024-03-09T12:00:00", 1, "days", "America/New_York", "2024-03-10T12:00:00-04:00"),
        ("2024-03-09T12:00:00", 24, "hours", "America/New_York", "2024-03-10T13:00:00-04:00"),
    ],
)
async def test_add_time(
    call: Call, date: str, amount: float, unit: str, tz: str, expected: str
) -> None:
    data = {"date": date, "amount": amount, "unit": unit, "timezone": tz}
    assert await result_of(call, "add_time", **data) == expected
    back = {**data, "date": expected}
    if unit not in ("months", "years"):  # clamping makes months lossy
        assert await result_of(call, "subtract_time", **back) == (
            await result_of(call, "format_date", date=date, timezone=tz)
        )


async def test_add_time_into_a_dst_gap_moves_forward(call: Call) -> None:
    # 02:30 does not exist on 2024-03-10 in New York: the result moves forward by the gap.
    data = {"date": "2024-03-09T02:30:00", "amount": 1, "unit": "days"}
    assert (
        await result_of(call, "add_time", **data, timezone="America/New_York")
        == "2024-03-10T03:30:00-04:00"
    )


async def test_empty_timezone_means_utc(call: Call) -> None:
    assert await result_of(call, "format_date", date=0, timezone="") == "1970-01-01T00:00:00Z"
    assert await result_of(call, "format_date", date=0, timezone="utc") == "1970-01-01T00:00:00Z"


async def test_subtract_time(call: Call) -> None:
    assert (
        await result_of(call, "subtract_time", date="2024-03-31T00:00:00Z", amount=1, unit="months")
        == "2024-02-29T00:00:00Z"
    )
    assert (
        await result_of(
            call, "subtract_time", date=1714550400, amount=1, unit="days", format="unix"
        )
        == 1714550400 - 86400
    )


async def test_add_time_errors(call: Call) -> None:
    message = await error_of(call, "add_time", date="2024-05-01", amount=1.5, unit="months")
    assert message.startswith("amount:") and "whole number" in message
    message = await error_of(call, "add_time", date="9999-06-01", amount=1, unit="years")
    assert message.startswith("amount:") and "out of range" in message
    message = await error_of(call, "add_time", date="9999-12-31", amount=2, unit="days")
    assert message.startswith("amount:")
    with pytest.raises(InputInvalid):
        await call("add_time", {"date": "2024-05-01", "amount": 1, "unit": "fortnights"})


# -- difference -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "unit", "tz", "expected"),
    [
        ("2024-05-01T08:00:00Z", "2024-05-01T09:59:59Z", "hours", "UTC", 1),
        ("2024-05-01T09:59:59Z", "2024-05-01T08:00:00Z", "hours", "UTC", -1),
        ("2024-05-01T08:00:00Z", "2024-05-01T08:00:00.999Z", "seconds", "UTC", 0),
        ("2024-05-01", "2024-05-29", "weeks", "UTC", 4),
        ("2024-01-31", "2024-02-29", "months", "UTC", 1),
        ("2024-01-31", "2024-02-28", "months", "UTC", 0),
        ("2024-02-29", "2024-01-31", "months", "UTC", 0),
        ("2024-03-31", "2024-02-29", "months", "UTC", -1),
        ("2020-02-29", "2024-02-28", "years", "UTC", 3),
        ("2020-02-29", "2024-02-29", "years", "UTC", 4),
        ("2024-05-01", "2020-05-02", "years", "UTC", -3),
        ("2024-03-09T12:00:00", "2024-03-10T12:00:00", "days", "America/New_York", 1),
        ("2024-03-09T12:00:00", "2024-03-10T12:00:00", "hours", "America/New_York", 23),
        (1714550400, 1714550400000 + 86_400_000, "days", "UTC", 1),
    ],
)
async def test_difference(
    call: Call, start: Any, end: Any, unit: str, tz: str, expected: int
) -> None:
    assert (
        await result_of(call, "difference", start=start, end=end, unit=unit, timezone=tz)
        == expected
    )


async def test_difference_inverts_add_time(call: Call) -> None:
    start = "2023-10-15T18:45:00"
    for unit in ("minutes", "hours", "days", "weeks", "months", "years"):
        for amount in (-13, 1, 29):
            end = await result_of(
                call, "add_time", date=start, amount=amount, unit=unit, timezone="Europe/Paris"
            )
            assert (
                await result_of(
                    call, "difference", start=start, end=end, unit=unit, timezone="Europe/Paris"
                )
                == amount
            ), (unit, amount)


async def test_difference_names_the_bad_date(call: Call) -> None:
    message = await error_of(call, "difference", start="2024-05-01", end="later", unit="days")
    assert message.startswith("end:")


# -- convert_timezone -------------------------------------------------------------------
async def test_convert_timezone(call: Call) -> None:
    assert (
        await result_of(
            call, "convert_timezone", date="2024-07-01T12:00:00Z", to_timezone="America/Los_Angeles"
        )
        == "2024-07-01T05:00:00-07:00"
    )
    assert (
        await result_of(
            call,
            "convert_timezone",
            date="2024-07-01 12:00",
            from_timezone="Asia/Tokyo",
            to_timezone="Europe/London",
            format="%H:%M %Z",
        )
        == "04:00 BST"
    )
    message = await error_of(call, "convert_timezone", date="2024-07-01", to_timezone="PST8")
    assert message.startswith("to_timezone:")
    message = await error_of(
        call, "convert_timezone", date="2024-07-01", to_timezone="UTC", from_timezone="Nope"
    )
    assert message.startswith("from_timezone:")


# -- start_of / end_of ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit", "tz", "extra", "start", "end"),
    [
        ("day", "UTC", {}, "2024-05-15T00:00:00Z", "2024-05-15T23:59:59.999Z"),
        # 2024-05-15 is a Wednesday.
        ("week", "UTC", {}, "2024-05-13T00:00:00Z", "2024-05-19T23:59:59.999Z"),
        ("week", "UTC", {"week_start": "sunday"}, "2024-05-12T00:00:00Z",
         "2024-05-18T23:59:59.999Z"),
        ("month", "UTC", {}, "2024-05-01T00:00:00Z", "2024-05-31T23:59:59.999Z"),
        ("year", "UTC", {}, "2024-01-01T00:00:00Z", "2024-12-31T23:59:59.999Z"),
        # 21:30 UTC is already the 16th in Tokyo.
        ("day", "Asia/Tokyo", {}, "2024-05-16T00:00:00+09:00", "2024-05-16T23:59:59.999+09:00"),
        ("month", "America/New_York", {}, "2024-05-01T00:00:00-04:00",
         "2024-05-31T23:59:59.999-04:00"),
    ],
)  # fmt: skip
async def test_start_and_end_of(
    call: Call, unit: str, tz: str, extra: dict, start: str, end: str
) -> None:
    data = {"date": "2024-05-15T21:30:00Z", "unit": unit, "timezone": tz, **extra}
    assert await result_of(call, "start_of", **data) == start
    assert await result_of(call, "end_of", **data) == end


async def test_start_and_end_of_across_dst(call: Call) -> None:
    # March in New York starts in EST and ends in EDT; in Santiago 2024-09-08 has no
    # midnight (clocks jump from 00:00 to 01:00).
    assert (
        await result_of(
            call, "end_of", date="2024-03-15", unit="month", timezone="America/New_York"
        )
        == "2024-03-31T23:59:59.999-04:00"
    )
    assert (
        await result_of(
            call, "start_of", date="2024-09-08T12:00:00", unit="day", timezone="America/Santiago"
        )
        == "2024-09-08T01:00:00-03:00"
    )
    assert (
        await result_of(
            call, "end_of", date="2024-09-07T12:00:00", unit="day", timezone="America/Santiago"
        )
        == "2024-09-07T23:59:59.999-04:00"
    )
    assert (
        await result_of(call, "end_of", date="2024-05-15", unit="day", format="unix_ms")
        == 1715817599999
    )


async def test_start_and_end_of_errors(call: Call) -> None:
    message = await error_of(call, "end_of", date="9999-06-01", unit="year")
    assert message.startswith("date:") and "out of range" in message
    assert await result_of(call, "start_of", date="9999-06-01", unit="year") == (
        "9999-01-01T00:00:00Z"
    )
    message = await error_of(call, "start_of", date="0001-01-01T02:00:00Z", unit="day",
                             timezone="+05:00")  # fmt: skip
    assert message.startswith("date:") and "out of range" in message
    message = await error_of(call, "format_date", date="9999-12-31T23:00:00Z", timezone="+05:00")
    assert message.startswith("timezone:") and "out of range" in message
    message = await error_of(call, "format_date", date="0001-01-01T00:00:00+05:00")
    assert message.startswith("date:") and "out of range" in message
    message = await error_of(call, "start_of", date="2024-05-01", unit="day", timezone="Bad/Zone")
    assert message.startswith("timezone:")
    with pytest.raises(InputInvalid):
        await call("start_of", {"date": "2024-05-01", "unit": "quarter"})


# -- is_before / is_after ---------------------------------------------------------------
async def test_is_before_and_after(call: Call) -> None:
    earlier, later = "2024-05-01T10:00:00+02:00", "2024-05-01T08:30:00Z"
    assert await result_of(call, "is_before", date=earlier, compare_to=later) is True
    assert await result_of(call, "is_after", date=earlier, compare_to=later) is False
    assert await result_of(call, "is_after", date=later, compare_to=1714550400) is True
    # Equal instants are neither before nor after.
    same = {"date": "2024-05-01T10:00:00+02:00", "compare_to": "2024-05-01T08:00:00Z"}
    assert await result_of(call, "is_before", **same) is False
    assert await result_of(call, "is_after", **same) is False
    # Naive dates are read in the time zone; 01:30 on the fall-back night happens twice,
    # and the earlier one (EDT) is taken.
    assert (
        await result_of(
            call,
            "is_before",
            date="2024-11-03T01:30:00",
            compare_to="2024-11-03T05:45:00Z",
            timezone="America/New_York",
        )
        is True
    )
    message = await error_of(call, "is_before", date="2024-05-01", compare_to="x")
    assert message.startswith("compare_to:")
