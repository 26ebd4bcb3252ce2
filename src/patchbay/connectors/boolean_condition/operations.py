"""Boolean Condition: compare pairs of values and combine the results with All / Any.

:func:`evaluate` is the whole logic, pure and synchronous: the operation calls it, and the
workflow engine calls it directly to choose a boolean branch. The semantics (strict, no
coercion; a comparison between values of the wrong types is false, never an error) are
documented in this folder's README. Only a mis-configured condition is an error: an unknown
comparison type or strictness, an unknown type name for ``is_type``, a pattern that is not
a string or does not compile for ``matches_regex``, a list operand that is not a list for
``in_list``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..sdk import ConnectorError, Context, field, operation, user_regex

# Tray's spellings, with the labels its form shows.
COMPARISONS: dict[str, str] = {
    "===": "Equal to",
    "!==": "Not equal to",
    ">": "Greater than",
    "<": "Less than",
    ">=": "Greater than or equal to",
    "<=": "Less than or equal to",
    "contains": "Contains",
    "not_contains": "Does not contain",
    "starts_with": "Starts with",
    "ends_with": "Ends with",
    "is_empty": "Is empty",
    "is_not_empty": "Is not empty",
    "is_null": "Is null",
    "is_not_null": "Is not null",
    "is_true": "Is true",
    "is_false": "Is false",
    "is_type": "Is of type",
    "matches_regex": "Matches regex",
    "in_list": "In list",
    "not_in_list": "Not in list",
}
ComparisonType = Literal[
    "===",
    "!==",
    ">",
    "<",
    ">=",
    "<=",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
    "is_null",
    "is_not_null",
    "is_true",
    "is_false",
    "is_type",
    "matches_regex",
    "in_list",
    "not_in_list",
]
# Comparisons that look at value1 only (value2 is ignored).
UNARY = frozenset({"is_empty", "is_not_empty", "is_null", "is_not_null", "is_true", "is_false"})
JSON_TYPES = ("string", "number", "boolean", "array", "object", "null")
STRICTNESS = ("All", "Any")


# -- JSON value helpers -----------------------------------------------------------------
def json_type(value: Any) -> str:
    """The JSON type name of a value (``bool`` is ``"boolean"``, never ``"number"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__  # not JSON; equal only to itself


def strict_equal(a: Any, b: Any) -> bool:
    """JavaScript's ``===`` extended to arrays and objects (compared deeply): same JSON type
    and same value. ``1 === 1.0`` (JSON has one number type); ``1 !== "1"``,
    ``1 !== true``."""
    kind = json_type(a)
    if kind != json_type(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return a == b


def _ordered(a: Any, b: Any, compare: Callable[[Any, Any], bool]) -> bool:
    """Numbers compare numerically, strings by code point; any other pairing is false."""
    kinds = (json_type(a), json_type(b))
    if kinds in (("number", "number"), ("string", "string")):
        return compare(a, b)
    return False


def _contains(a: Any, b: Any) -> bool:
    if isinstance(a, str):
        return isinstance(b, str) and b in a
    if json_type(a) == "array":
        return any(strict_equal(item, b) for item in a)
    return False


def _is_empty(value: Any) -> bool:
    return value is None or (json_type(value) in ("string", "array", "object") and not value)


def _strings(a: Any, b: Any, test: Callable[[str, str], bool]) -> bool:
    return isinstance(a, str) and isinstance(b, str) and test(a, b)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "===": strict_equal,
    "!==": lambda a, b: not strict_equal(a, b),
    ">": lambda a, b: _ordered(a, b, lambda x, y: x > y),
    "<": lambda a, b: _ordered(a, b, lambda x, y: x < y),
    ">=": lambda a, b: _ordered(a, b, lambda x, y: x >= y),
    "<=": lambda a, b: _ordered(a, b, lambda x, y: x <= y),
    "contains": _contains,
    "not_contains": lambda a, b: not _contains(a, b),
    "starts_with": lambda a, b: _strings(a, b, str.startswith),
    "ends_with": lambda a, b: _strings(a, b, str.endswith),
    "is_empty": lambda a, _: _is_empty(a),
    "is_not_empty": lambda a, _: not _is_empty(a),
    "is_null": lambda a, _: a is None,
    "is_not_null": lambda a, _: a is not None,
    "is_true": lambda a, _: a is True,
    "is_false": lambda a, _: a is False,
    "is_type": lambda a, b: json_type(a) == b,
    "matches_regex": lambda a, b: (
        isinstance(a, str) and user_regex.limited(b.search, a) is not None
    ),
    "in_list": lambda a, b: any(strict_equal(item, a) for item in b),
    "not_in_list": lambda a, b: not any(strict_equal(item, a) for item in b),
}


# -- evaluation -------------------------------------------------------------------------
def _fail(message: str) -> ConnectorError:
    return ConnectorError(message, "connector_error")


def _prepare(index: int, condition: Any) -> tuple[str, Any, Any]:
    """(comparison, value1, value2) of one condition, value2 made ready for the comparison;
    a mis-configured condition raises ConnectorError naming the field."""
    where = f"conditions[{index}]"
    if isinstance(condition, BaseModel):
        condition = condition.model_dump()
    if not isinstance(condition, Mapping):
        raise _fail(f"{where} must be an object with value1, comparison_type and value2")
    comparison = condition.get("comparison_type")
    if not isinstance(comparison, str) or comparison not in _COMPARE:
        known = ", ".join(COMPARISONS)
        raise _fail(f"{where}.comparison_type: unknown comparison {comparison!r} (one of {known})")
    value1, value2 = condition.get("value1"), condition.get("value2")
    if comparison == "is_type" and value2 not in JSON_TYPES:
        raise _fail(f"{where}.value2: {value2!r} is not a type name ({', '.join(JSON_TYPES)})")
    if comparison == "matches_regex":
        if not isinstance(value2, str):
            raise _fail(f"{where}.value2: the regular expression must be a string")
        try:
            value2 = user_regex.compile(value2)
        except user_regex.error as exc:
            raise _fail(f"{where}.value2: invalid regular expression: {exc}") from exc
    if comparison in ("in_list", "not_in_list") and json_type(value2) != "array":
        raise _fail(f"{where}.value2: {comparison} needs a list, got {json_type(value2)}")
    return comparison, value1, value2


def _strictness(strictness: Any) -> str:
    for name in STRICTNESS:
        if isinstance(strictness, str) and strictness.lower() == name.lower():
            return name
    raise _fail(f"strictness: {strictness!r} is not one of All, Any")


def evaluate(conditions: Iterable[Any], strictness: str = "All") -> bool:
    """Whether ``conditions`` hold: every one (``"All"``) or at least one (``"Any"``).

    Each condition is a mapping (or model) with ``value1``, ``comparison_type`` and
    ``value2`` (a missing value is ``null``). Every condition is checked for configuration
    errors before any is evaluated, so a mistake surfaces whatever the data. No conditions:
    ``All`` is true, ``Any`` is false. Raises :class:`ConnectorError` (``connector_error``)
    naming the field for a mis-configured condition or strictness.
    """
    mode = _strictness(strictness)
    prepared = [_prepare(i, condition) for i, condition in enumerate(conditions)]
    results = (_COMPARE[comparison](a, b) for comparison, a, b in prepared)
    return all(results) if mode == "All" else any(results)


# -- the operation ----------------------------------------------------------------------
class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value1: Any = field(None, title="Value 1", description="Any JSON value.")
    comparison_type: ComparisonType = field(
        "===",
        title="Comparison type",
        enum_labels=list(COMPARISONS.values()),
    )
    value2: Any = field(
        None,
        title="Value 2",
        description="Ignored by the is empty / is null / is true / is false comparisons; a "
        "type name for is_type, a regular expression for matches_regex, a list for in_list.",
    )


class BooleanConditionInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conditions: list[Condition] = field(
        title="Conditions", description="Compared in order.", min_length=1
    )
    strictness: Literal["All", "Any"] = field(
        "All",
        title="Strictness",
        enum_labels=["Satisfy ALL conditions", "Satisfy ANY conditions"],
    )


class BooleanConditionOutput(BaseModel):
    result: bool = field(title="Result")


@operation(
    title="Boolean condition",
    description="Compare values and take the true or the false branch.",
    input=BooleanConditionInput,
    output=BooleanConditionOutput,
)
async def boolean_condition(ctx: Context, data: BooleanConditionInput) -> dict:
    if any(c.comparison_type == "matches_regex" for c in data.conditions):
        # a user's pattern may take up to its time limit: off the event loop
        result = await asyncio.to_thread(evaluate, data.conditions, data.strictness)
    else:
        result = evaluate(data.conditions, data.strictness)
    return {"result": result}


OPERATIONS = [boolean_condition]
