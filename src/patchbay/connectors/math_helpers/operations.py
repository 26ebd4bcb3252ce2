"""math-helpers operations. Every output is ``{"result": <number>}``; arithmetic is decimal
(see :mod:`.numbers`)."""

from __future__ import annotations

import decimal
import re
import secrets
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..sdk import Context, Operation, field, operation
from .numbers import CONTEXT, Number, average, calculate, extreme, fail, to_decimal, to_number
from .numbers import total as total_of

MAX_SAFE_INTEGER = 2**53 - 1


# -- models -----------------------------------------------------------------------------
class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairInput(_Input):
    a: Number = field(title="First number")
    b: Number = field(title="Second number")


class NumberInput(_Input):
    number: Number = field(title="Number")


class RoundInput(NumberInput):
    decimals: int = field(
        0,
        title="Decimal places",
        description="Negative values round to tens, hundreds...",
        ge=-300,
        le=300,
    )
    mode: Literal["half_up", "half_even", "floor", "ceil"] = field(
        "half_up",
        title="Rounding mode",
        description="half_up rounds ties away from zero (2.5 -> 3, -2.5 -> -3); half_even "
        "rounds ties to the even neighbour (2.5 -> 2); floor and ceil round down and up.",
        enum_labels=["Half up", "Half even (banker's)", "Floor", "Ceiling"],
    )


class ListInput(_Input):
    numbers: list[Number] = field(title="Numbers")


class RandomInput(_Input):
    min: int = field(0, title="Minimum", ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)
    max: int = field(title="Maximum", ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)


class ParseInput(_Input):
    text: str = field(title="Text", max_length=1000)
    thousands_separator: str = field(
        "",
        title="Thousands separator",
        description='Removed before parsing, e.g. "," for "1,234.5". Empty for none.',
        max_length=1,
        advanced=True,
    )
    decimal_separator: str = field(
        ".",
        title="Decimal separator",
        description='e.g. "," for "1.234,5" (with "." as the thousands separator).',
        min_length=1,
        max_length=1,
        advanced=True,
    )


class NumberResult(BaseModel):
    result: Number = field(title="Result")


class IntegerResult(BaseModel):
    result: int = field(title="Result")


# -- arithmetic -------------------------------------------------------------------------
def _binary(name: str, title: str, description: str, method: str) -> Operation:
    async def handler(ctx: Context, data: PairInput) -> dict:
        if method in ("divide", "remainder") and data.b == 0:
            raise fail("Cannot divide by zero")
        return {"result": calculate(getattr(CONTEXT, method), data.a, data.b)}

    return operation(
        name, title=title, description=description, input=PairInput, output=NumberResult
    )(handler)


add = _binary("add", "Add", "a + b.", "add")
subtract = _binary("subtract", "Subtract", "a - b.", "subtract")
multiply = _binary("multiply", "Multiply", "a × b.", "multiply")
divide = _binary("divide", "Divide", "a ÷ b. Dividing by zero is an error.", "divide")
modulo = _binary(
    "modulo",
    "Modulo",
    "The remainder of a ÷ b, with the sign of a (as JavaScript's %: -7 % 3 is -1).",
    "remainder",
)
power = _binary("power", "Power", "a to the power b.", "power")


@operation(
    "round",
    title="Round",
    description="Round to a number of decimal places.",
    input=RoundInput,
    output=NumberResult,
)
async def round_number(ctx: Context, data: RoundInput) -> dict:
    rounding = {
        "half_up": decimal.ROUND_HALF_UP,
        "half_even": decimal.ROUND_HALF_EVEN,
        "floor": decimal.ROUND_FLOOR,
        "ceil": decimal.ROUND_CEILING,
    }[data.mode]
    value = to_decimal(data.number)
    try:
        rounded = value.quantize(
            Decimal(1).scaleb(-data.decimals), rounding=rounding, context=CONTEXT
        )
    except decimal.InvalidOperation:  # more digits than the context holds: already exact
        rounded = value
    try:
        rounded = CONTEXT.plus(rounded)
    except decimal.Overflow as exc:
        raise fail("The result is too large") from exc
    integer = data.decimals <= 0 or isinstance(data.number, int)
    return {"result": to_number(rounded, integer=integer)}


@operation(title="Absolute value", description="|number|.", input=NumberInput, output=NumberResult)
async def absolute(ctx: Context, data: NumberInput) -> dict:
    return {"result": abs(data.number)}


# -- lists ------------------------------------------------------------------------------
@operation(
    "min",
    title="Minimum",
    description="The smallest number of a list (an empty list is an error).",
    input=ListInput,
    output=NumberResult,
)
async def minimum(ctx: Context, data: ListInput) -> dict:
    return {"result": extreme(data.numbers, largest=False)}


@operation(
    "max",
    title="Maximum",
    description="The largest number of a list (an empty list is an error).",
    input=ListInput,
    output=NumberResult,
)
async def maximum(ctx: Context, data: ListInput) -> dict:
    return {"result": extreme(data.numbers, largest=True)}


@operation(
    "sum",
    title="Sum",
    description="The sum of a list of numbers (0 for an empty list).",
    input=ListInput,
    output=NumberResult,
)
async def total(ctx: Context, data: ListInput) -> dict:
    return {"result": total_of(data.numbers)}


@operation(
    "average",
    title="Average",
    description="The mean of a list of numbers (an empty list is an error).",
    input=ListInput,
    output=NumberResult,
)
async def mean(ctx: Context, data: ListInput) -> dict:
    return {"result": average(data.numbers)}


# -- other ------------------------------------------------------------------------------
@operation(
    title="Random integer",
    description="A random integer between min and max, both included.",
    input=RandomInput,
    output=IntegerResult,
)
async def random_integer(ctx: Context, data: RandomInput) -> dict:
    if data.min > data.max:
        raise fail(f"The minimum ({data.min}) is greater than the maximum ({data.max})")
    return {"result": data.min + secrets.randbelow(data.max - data.min + 1)}


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


@operation(
    title="Parse number",
    description='Read a number from text: "42", "-3.5", "1e3", " 1,234.50 " (with a '
    "thousands separator). Anything else is an error.",
    input=ParseInput,
    output=NumberResult,
)
async def parse_number(ctx: Context, data: ParseInput) -> dict:
    if data.thousands_separator == data.decimal_separator:
        raise fail("The thousands and decimal separators must differ")
    text = data.text.strip()
    if data.thousands_separator:
        text = text.replace(data.thousands_separator, "")
    text = text.replace(data.decimal_separator, ".")
    if _INTEGER.fullmatch(text):
        return {"result": int(text)}
    if not _NUMBER.fullmatch(text):
        raise fail(f"{data.text!r} is not a number")
    try:
        return {"result": to_number(CONTEXT.plus(Decimal(text)), integer=False)}
    except decimal.Overflow as exc:
        raise fail("The number is too large") from exc


OPERATIONS = [
    add,
    subtract,
    multiply,
    divide,
    modulo,
    power,
    round_number,
    absolute,
    minimum,
    maximum,
    total,
    mean,
    random_integer,
    parse_number,
]
