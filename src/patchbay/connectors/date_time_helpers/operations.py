"""Date & Time Helpers: read, write, shift, compare and round dates in any time zone.

Dates come in as ISO-8601 text or unix timestamps (seconds or milliseconds); a date without
an offset is read in the operation's time zone. Seconds, minutes and hours are elapsed
time; days and weeks are calendar days on the wall clock of the time zone (a day across a
DST change may be 23 or 25 hours); months and years are calendar months with the day
clamped to the month's last (Jan 31 + 1 month = Feb 28/29). ``difference`` counts the same
units, so ``difference(d, add_time(d, n, unit), unit) == n``.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from ..sdk import ConnectorError, Context, field, operation

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS_THRESHOLD = 100_000_000_000  # |number| at or above: milliseconds (1973+), else seconds
_NUMERIC = re.compile(r"^[+-]?\d+(\.\d+)?$")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_ISO_NAMES = ("iso8601", "iso-8601", "iso")

Unit = Literal["seconds", "minutes", "hours", "days", "weeks", "months", "years"]
UNIT_LABELS = ["Seconds", "Minutes", "Hours", "Days", "Weeks", "Months", "Years"]
_ELAPSED = {"seconds": 1, "minutes": 60, "hours": 3600}  # in seconds
_CALENDAR_DAYS = {"days": 1, "weeks": 7}
Period = Literal["day", "week", "month", "year"]
InputFormat = Literal["auto", "iso8601", "unix", "unix_ms"]
DateValue = str | int | float


def _fail(message: str) -> ConnectorError:
    return ConnectorError(message, "connector_error")


# -- reading ----------------------------------------------------------------------------
def zone(name: str | None, where: str) -> tzinfo:
    """An IANA zone, ``UTC``/``Z`` (any case) or a fixed offset such as ``+05:30``."""
    text = (name or "UTC").strip()
    if text.upper() in ("UTC", "Z"):
        return UTC
    offset = _OFFSET.match(text)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= timedelta(hours=24):
            raise _fail(f"{where}: {name!r} is not a valid UTC offset")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _fail(f"{where}: unknown time zone {name!r} (use an IANA name)") from None


def _from_number(number: float, unit: str, where: str) -> datetime:
    milliseconds = unit == "unix_ms" or (unit == "auto" and abs(number) >= MS_THRESHOLD)
    try:
        return (
            EPOCH + timedelta(milliseconds=number)
            if milliseconds
            else (EPOCH + timedelta(seconds=number))
        )
    except OverflowError:
        raise _fail(f"{where}: the timestamp {number!r} is out of range") from None


def read_date(value: Any, where: str, tz: tzinfo, input_format: str = "auto") -> datetime:
    """An aware datetime from ISO-8601 text or a unix timestamp; naive text is read in
    ``tz``. ``input_format`` ``auto`` reads numbers (and digit strings) as seconds below
    ``MS_THRESHOLD`` and milliseconds above it, and text as ISO-8601, then RFC 2822.
    The result is in UTC: arithmetic and comparisons between aware datetimes sharing one
    ``tzinfo`` would otherwise use the wall clock."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(f"{where}: expected a date, got {type(value).__name__}")
    if isinstance(value, str) and _NUMERIC.match(value.strip()) and input_format != "iso8601":
        value = float(value) if "." in value else int(value)
    if isinstance(value, int | float):
        if input_format == "iso8601":
            raise _fail(f"{where}: expected ISO-8601 text, got the number {value!r}")
        return _from_number(value, input_format, where)
    if input_format in ("unix", "unix_ms"):
        raise _fail(f"{where}: {value!r} is not a unix timestamp")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        parsed = _rfc2822(text) if input_format == "auto" else None
        if parsed is None:
            raise _fail(f"{where}: {value!r} is not an ISO-8601 date ({exc})") from None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)
    except OverflowError:
        raise _fail(f"{where}: {value!r} is out of range (years 1 to 9999)") from None


def _rfc2822(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


# -- writing ----------------------------------------------------------------------------
def _units(delta: timedelta, unit: timedelta) -> int:
    """Whole ``unit``s in ``delta``, truncated toward zero."""
    micro, per = delta // timedelta(microseconds=1), unit // timedelta(microseconds=1)
    return micro // per if micro >= 0 else -(-micro // per)


def iso(moment: datetime) -> str:
    """ISO-8601 with the offset (``Z`` for UTC), with milliseconds or microseconds only when
    there are any."""
    spec = "seconds"
    if moment.microsecond:
        spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if moment.tzinfo is UTC and text.endswith("+00:00") else text


def render(moment: datetime, fmt: str, tz: tzinfo, where: str = "format") -> str | int:
    """``moment`` in ``tz`` as ISO-8601, unix seconds, unix milliseconds or a strftime
    pattern."""
    name = fmt.strip().lower()
    if name in ("unix", "unix_ms"):
        delta = moment - EPOCH  # exact, floored (timestamp() would round through a float)
        return (
            delta // timedelta(seconds=1) if name == "unix" else delta // timedelta(milliseconds=1)
        )
    try:
        local = moment.astimezone(tz)
    except OverflowError:
        raise _fail("timezone: the date is out of range (years 1 to 9999) there") from None
    if name in _ISO_NAMES:
        return iso(local)
    if "%" not in fmt:
        raise _fail(
            f"{where}: {fmt!r} is not iso8601, unix, unix_ms or a strftime pattern such as "
            "'%Y-%m-%d %H:%M'"
        )
    try:
        return local.strftime(fmt)
    except ValueError as exc:
        raise _fail(f"{where}: {exc}") from None


# -- calendar arithmetic ----------------------------------------------------------------
def at_wall_clock(wall: datetime, tz: tzinfo, where: str = "date") -> datetime:
    """The instant a wall-clock time in ``tz`` names (a time skipped by DST moves forward by
    the gap; an ambiguous one takes the earlier instant)."""
    try:
        return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    except OverflowError:
        raise _fail(f"{where}: the result is out of range (years 1 to 9999)") from None


def add_months(wall: datetime, months: int, where: str = "amount") -> datetime:
    total = wall.year * 12 + wall.month - 1 + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise _fail(f"{where}: the result is out of range (years 1 to 9999)")
    day = min(wall.day, calendar.monthrange(year, month + 1)[1])
    return wall.replace(year=year, month=month + 1, day=day)


def shift(moment: datetime, amount: float, unit: str, tz: tzinfo) -> datetime:
    try:
        if unit in _ELAPSED:
            elapsed = timedelta(seconds=amount * _ELAPSED[unit])
            return (moment.astimezone(UTC) + elapsed).astimezone(tz)
        wall = moment.astimezone(tz).replace(tzinfo=None)
        if unit in _CALENDAR_DAYS:
            days = timedelta(days=amount * _CALENDAR_DAYS[unit])
            return at_wall_clock(wall + days, tz, "amount")
        if amount != int(amount):
            raise _fail(f"amount: {unit} need a whole number, got {amount!r}")
        months = int(amount) * (12 if unit == "years" else 1)
        return at_wall_clock(add_months(wall, months), tz, "amount")
    except OverflowError:
        raise _fail("amount: the result is out of range (years 1 to 9999)") from None


def difference(start: datetime, end: datetime, unit: str, tz: tzinfo) -> int:
    """Whole ``unit``s from ``start`` to ``end`` (negative when end is earlier), truncated
    toward zero; the inverse of :func:`shift`."""
    if unit in _ELAPSED:
        elapsed = end.astimezone(UTC) - start.astimezone(UTC)
        return _units(elapsed, timedelta(seconds=_ELAPSED[unit]))
    first = start.astimezone(tz).replace(tzinfo=None)
    last = end.astimezone(tz).replace(tzinfo=None)
    if unit in _CALENDAR_DAYS:
        return _units(last - first, timedelta(days=_CALENDAR_DAYS[unit]))
    months = (last.year - first.year) * 12 + last.month - first.month
    if months > 0 and add_months(first, months) > last:
        months -= 1
    elif months < 0 and add_months(first, months) < last:
        months += 1
    if unit == "months":
        return months
    return months // 12 if months >= 0 else -(-months // 12)


def start_of(moment: datetime, period: str, tz: tzinfo, week_start: str = "monday") -> datetime:
    wall = moment.astimezone(tz).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        first_day = 0 if week_start == "monday" else 6
        wall -= timedelta(days=(wall.weekday() - first_day) % 7)
    elif period == "month":
        wall = wall.replace(day=1)
    elif period == "year":
        wall = wall.replace(month=1, day=1)
    return at_wall_clock(wall, tz)


def end_of(moment: datetime, period: str, tz: tzinfo, week_start: str = "monday") -> datetime:
    """The last millisecond of the period (the next period's start, less 1 ms)."""
    wall = start_of(moment, period, tz, week_start).replace(tzinfo=None)
    try:
        if period in ("day", "week"):
            following = wall + timedelta(days=1 if period == "day" else 7)
        else:
            following = add_months(wall, 1 if period == "month" else 12, "date")
    except OverflowError:
        raise _fail("date: the result is out of range (years 1 to 9999)") from None
    next_start = at_wall_clock(following, tz).astimezone(UTC)
    return (next_start - timedelta(milliseconds=1)).astimezone(tz)


# -- inputs -----------------------------------------------------------------------------
_DATE_HELP = (
    "ISO-8601 text (2024-05-01T09:30:00+02:00; without an offset it is read in the time "
    "zone) or a unix timestamp in seconds or milliseconds."
)
_FORMAT_HELP = "iso8601, unix (seconds), unix_ms, or a strftime pattern such as '%d/%m/%Y %H:%M'."
_ZONE_HELP = "An IANA time zone (Europe/London), UTC, or an offset such as +05:30."


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Date(_Model):
    date: DateValue = field(title="Date", description=_DATE_HELP, format="datetime")


class _Zone(_Model):
    timezone: str = field(
        "UTC",
        title="Time zone",
        description=_ZONE_HELP + " Dates without an offset are read in it; the result is "
        "written in it.",
    )


class _Format(_Model):
    format: str = field("iso8601", title="Output format", description=_FORMAT_HELP)


class _InputFormat(_Model):
    input_format: InputFormat = field(
        "auto",
        title="Input format",
        description="auto: numbers below 100000000000 are unix seconds, larger ones "
        "milliseconds; text is ISO-8601 (or RFC 2822, as in e-mail and HTTP headers).",
        enum_labels=["Automatic", "ISO-8601", "Unix seconds", "Unix milliseconds"],
        advanced=True,
    )


class NowInput(_Format):
    timezone: str = field("UTC", title="Time zone", description=_ZONE_HELP)


class FormatDateInput(_InputFormat, _Format, _Zone, _Date):
    pass


class ParseDateInput(_Model):
    text: str = field(title="Text", min_length=1)
    format: str | None = field(
        None,
        title="Format",
        description="A strptime pattern such as '%d/%m/%Y %H:%M'. Left out: ISO-8601 (or "
        "RFC 2822).",
    )
    timezone: str = field(
        "UTC", title="Time zone", description=_ZONE_HELP + " Text without an offset is read in it."
    )


class _Amount(_Model):
    amount: float = field(
        title="Amount", description="Months and years take whole numbers; others may be fractional."
    )
    unit: Unit = field(title="Unit", enum_labels=UNIT_LABELS)


class ShiftInput(_InputFormat, _Format, _Zone, _Amount, _Date):
    pass


class DifferenceInput(_InputFormat, _Zone):
    start: DateValue = field(title="Start date", description=_DATE_HELP, format="datetime")
    end: DateValue = field(title="End date", description=_DATE_HELP, format="datetime")
    unit: Unit = field(title="Unit", enum_labels=UNIT_LABELS)


class ConvertInput(_InputFormat, _Format, _Date):
    to_timezone: str = field(title="To time zone", description=_ZONE_HELP)
    from_timezone: str = field(
        "UTC",
        title="From time zone",
        description="The zone a date without an offset is read in.",
        advanced=True,
    )


class _Period(_Model):
    unit: Period = field(title="Unit", enum_labels=["Day", "Week", "Month", "Year"])
    week_start: Literal["monday", "sunday"] = field(
        "monday",
        title="Weeks start on",
        enum_labels=["Monday", "Sunday"],
        advanced=True,
    )


class PeriodInput(_InputFormat, _Format, _Zone, _Period, _Date):
    pass


class CompareInput(_InputFormat, _Zone, _Date):
    compare_to: DateValue = field(title="Compare to", description=_DATE_HELP, format="datetime")


# -- outputs ----------------------------------------------------------------------------
class DateOutput(BaseModel):
    result: str | int = field(title="Result", description="Text, or an integer for unix formats.")


class ParseOutput(BaseModel):
    iso: str = field(title="ISO-8601 (UTC)")
    unix: int = field(title="Unix seconds")
    unix_ms: int = field(title="Unix milliseconds")


class DifferenceOutput(BaseModel):
    result: int = field(title="Result", description="Whole units, truncated toward zero.")


class BooleanOutput(BaseModel):
    result: bool = field(title="Result")


# -- operations -------------------------------------------------------------------------
def _date(value: Any, data: Any, tz: tzinfo, where: str = "date") -> datetime:
    return read_date(value, where, tz, data.input_format)


@operation(title="Now", description="The current date and time.", input=NowInput, output=DateOutput)
async def now(ctx: Context, data: NowInput) -> dict:
    return {"result": render(datetime.now(UTC), data.format, zone(data.timezone, "timezone"))}


@operation(
    title="Format date",
    input=FormatDateInput,
    output=DateOutput,
    description="Write a date in another format or time zone.",
)
async def format_date(ctx: Context, data: FormatDateInput) -> dict:
    tz = zone(data.timezone, "timezone")
    return {"result": render(_date(data.date, data, tz), data.format, tz)}


@operation(
    title="Parse date",
    input=ParseDateInput,
    output=ParseOutput,
    description="Read a date from text, with a strptime pattern or as ISO-8601.",
)
async def parse_date(ctx: Context, data: ParseDateInput) -> dict:
    tz = zone(data.timezone, "timezone")
    if data.format is None:
        moment = read_date(data.text, "text", tz)
    else:
        try:
            moment = datetime.strptime(data.text.strip(), data.format)
        except ValueError as exc:
            raise _fail(f"text: {exc}") from None
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)
    return {
        "iso": iso(moment),
        "unix": render(moment, "unix", UTC),
        "unix_ms": render(moment, "unix_ms", UTC),
    }


@operation(
    title="Add time",
    input=ShiftInput,
    output=DateOutput,
    description="Add an amount of seconds, minutes, hours, days, weeks, months or years to a date.",
)
async def add_time(ctx: Context, data: ShiftInput) -> dict:
    tz = zone(data.timezone, "timezone")
    return {
        "result": render(
            shift(_date(data.date, data, tz), data.amount, data.unit, tz), data.format, tz
        )
    }


@operation(
    title="Subtract time",
    input=ShiftInput,
    output=DateOutput,
    description="Subtract an amount of seconds, minutes, hours, days, weeks, months "
    "or years from a date.",
)
async def subtract_time(ctx: Context, data: ShiftInput) -> dict:
    tz = zone(data.timezone, "timezone")
    return {
        "result": render(
            shift(_date(data.date, data, tz), -data.amount, data.unit, tz), data.format, tz
        )
    }


@operation(
    "difference",
    title="Difference between dates",
    input=DifferenceInput,
    output=DifferenceOutput,
    description="Whole units from the start date to the end date (negative when the "
    "end is earlier).",
)
async def difference_(ctx: Context, data: DifferenceInput) -> dict:
    tz = zone(data.timezone, "timezone")
    start, end = _date(data.start, data, tz, "start"), _date(data.end, data, tz, "end")
    return {"result": difference(start, end, data.unit, tz)}


@operation(
    title="Convert time zone",
    input=ConvertInput,
    output=DateOutput,
    description="Write a date in another time zone.",
)
async def convert_timezone(ctx: Context, data: ConvertInput) -> dict:
    source = zone(data.from_timezone, "from_timezone")
    target = zone(data.to_timezone, "to_timezone")
    return {"result": render(_date(data.date, data, source), data.format, target)}


@operation(
    "start_of",
    title="Start of period",
    input=PeriodInput,
    output=DateOutput,
    description="The first instant of the day, week, month or year holding a date.",
)
async def start_of_(ctx: Context, data: PeriodInput) -> dict:
    tz = zone(data.timezone, "timezone")
    moment = start_of(_date(data.date, data, tz), data.unit, tz, data.week_start)
    return {"result": render(moment, data.format, tz)}


@operation(
    "end_of",
    title="End of period",
    input=PeriodInput,
    output=DateOutput,
    description="The last millisecond of the day, week, month or year holding a date.",
)
async def end_of_(ctx: Context, data: PeriodInput) -> dict:
    tz = zone(data.timezone, "timezone")
    moment = end_of(_date(data.date, data, tz), data.unit, tz, data.week_start)
    return {"result": render(moment, data.format, tz)}


@operation(
    title="Is before",
    input=CompareInput,
    output=BooleanOutput,
    description="Whether a date is strictly earlier than another.",
)
async def is_before(ctx: Context, data: CompareInput) -> dict:
    tz = zone(data.timezone, "timezone")
    return {"result": _date(data.date, data, tz) < _date(data.compare_to, data, tz, "compare_to")}


@operation(
    title="Is after",
    input=CompareInput,
    output=BooleanOutput,
    description="Whether a date is strictly later than another.",
)
async def is_after(ctx: Context, data: CompareInput) -> dict:
    tz = zone(data.timezone, "timezone")
    return {"result": _date(data.date, data, tz) > _date(data.compare_to, data, tz, "compare_to")}


OPERATIONS = [
    now,
    format_date,
    parse_date,
    add_time,
    subtract_time,
    difference_,
    convert_timezone,
    start_of_,
    end_of_,
    is_before,
    is_after,
]
