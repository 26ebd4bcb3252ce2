"""Decimal arithmetic on JSON numbers: shared by math-helpers and list-helpers.

Every calculation runs on :class:`decimal.Decimal` values made from the numbers as they are
written (``0.1`` is the decimal 0.1, not the nearest binary float), with 50 significant
digits, so ``0.1 + 0.2`` is ``0.3`` and ``round(2.675, 2)`` is ``2.68``. A result is an
integer when it is whole and every operand was an integer, else a float. Results beyond
1e308 (what a JSON/JavaScript number can hold) are an error.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from ..sdk import ConnectorError

Number = int | float

CONTEXT = decimal.Context(
    prec=50,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=308,
    Emin=-400,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def fail(message: str) -> ConnectorError:
    return ConnectorError(message, "connector_error")


def show(value: Any) -> str:
    """A value for an error message, as JSON."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_decimal(value: Number) -> Decimal:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise fail(f"{value} is not a finite number")
        return Decimal(repr(value))
    return Decimal(value)


def to_number(value: Decimal, *, integer: bool) -> Number:
    """``value`` as JSON: an int when ``integer`` and it is whole, else a float."""
    if not value.is_finite():  # 0 to a negative power gives Infinity without a signal
        raise fail("The result is not a finite number")
    if integer and value == value.to_integral_value():
        return int(value)
    result = float(value)
    if result in (float("inf"), float("-inf")):
        raise fail("The result is too large")
    return 0.0 if result == 0 else result  # no -0.0


def calculate(function: Callable[..., Decimal], *operands: Number) -> Number:
    """``function`` (a method of :data:`CONTEXT`) over ``operands``, as a JSON number."""
    try:
        result = function(*(to_decimal(x) for x in operands))
    except decimal.DivisionByZero as exc:
        raise fail("Cannot divide by zero") from exc
    except decimal.Overflow as exc:
        raise fail("The result is too large") from exc
    except decimal.InvalidOperation as exc:
        raise fail("The result is not a real number (or is undefined)") from exc
    return to_number(result, integer=all(isinstance(x, int) for x in operands))


def numbers(values: Iterable[Any], what: str = "list") -> list[Number]:
    """``values`` checked to be numbers (not booleans, not numeric text)."""
    found = list(values)
    for position, value in enumerate(found):
        if not is_number(value):
            raise fail(f"Item {position} of the {what} is not a number: {show(value)}")
    return found


def total(values: Iterable[Any]) -> Number:
    found = numbers(values)
    result = Decimal(0)
    try:
        for value in found:
            result = CONTEXT.add(result, to_decimal(value))
    except decimal.Overflow as exc:
        raise fail("The result is too large") from exc
    return to_number(result, integer=all(isinstance(x, int) for x in found))


def average(values: Iterable[Any]) -> Number:
    found = numbers(values)
    if not found:
        raise fail("Cannot average an empty list")
    integer = all(isinstance(x, int) for x in found)
    whole = total(found)
    return to_number(CONTEXT.divide(to_decimal(whole), Decimal(len(found))), integer=integer)


def extreme(values: Iterable[Any], *, largest: bool) -> Number:
    """The smallest (or largest) number, as given."""
    found = numbers(values)
    if not found:
        raise fail(f"Cannot take the {'maximum' if largest else 'minimum'} of an empty list")
    pick = max if largest else min
    return pick(found, key=to_decimal)
