"""math-helpers 1.0, run through the real SDK path (input validation, handler, output)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.math_helpers.connector import CONNECTORS
from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.testing.connectors import Call, assert_output_valid, loopback_clients, make_call

MATH = CONNECTORS[0]


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(MATH, clients)


async def ok(call: Call, name: str, data: dict[str, Any]) -> Any:
    return assert_output_valid(MATH, name, await call(name, data))["result"]


async def error(call: Call, name: str, data: dict[str, Any]) -> str:
    result = await call(name, data)
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    return result.output["message"]


def test_declaration() -> None:
    assert (MATH.name, MATH.version, MATH.requires_auth) == ("math-helpers", "1.0", False)
    assert MATH.environments == [] and MATH.base_url is None
    assert uuid.UUID(MATH.service.id).version == 4
    assert {op.name for op in MATH.operations} == {
        "add",
        "subtract",
        "multiply",
        "divide",
        "modulo",
        "power",
        "round",
        "absolute",
        "min",
        "max",
        "sum",
        "average",
        "random_integer",
        "parse_number",
    }


@pytest.mark.parametrize(
    ("name", "a", "b", "expected"),
    [
        ("add", 0.1, 0.2, 0.3),
        ("add", 2, 3, 5),
        ("add", 1.5, 1.5, 3.0),
        ("subtract", 0.3, 0.1, 0.2),
        ("subtract", 1, 5, -4),
        ("multiply", 0.1, 3, 0.3),
        ("multiply", -4, 5, -20),
        ("divide", 7, 2, 3.5),
        ("divide", 6, 3, 2),
        ("divide", 1, 3, 1 / 3),
        ("modulo", 7, 3, 1),
        ("modulo", -7, 3, -1),  # the sign of the dividend, as JavaScript's %
        ("modulo", 5.5, 2, 1.5),
        ("power", 2, 10, 1024),
        ("power", 2, -1, 0.5),
        ("power", 9, 0.5, 3.0),
        ("power", 2, 0.5, 2**0.5),
    ],
)
async def test_arithmetic(call: Call, name: str, a: float, b: float, expected: float) -> None:
    result = await ok(call, name, {"a": a, "b": b})
    assert result == expected
    assert type(result) is type(expected)


async def test_exact_decimal_results_are_not_float_noise(call: Call) -> None:
    assert 0.1 + 0.2 != 0.3  # what plain floats would give
    assert await ok(call, "add", {"a": 0.1, "b": 0.2}) == 0.3
    assert await ok(call, "sum", {"numbers": [0.1, 0.2, 0.3]}) == 0.6
    assert await ok(call, "multiply", {"a": 1.1, "b": 1.1}) == 1.21


async def test_large_integers_stay_exact(call: Call) -> None:
    big = 2**60 + 1
    assert await ok(call, "add", {"a": big, "b": 1}) == big + 1
    assert await ok(call, "multiply", {"a": big, "b": 3}) == big * 3


@pytest.mark.parametrize(
    ("name", "a", "b", "message"),
    [
        ("divide", 1, 0, "Cannot divide by zero"),
        ("divide", 0.5, 0.0, "Cannot divide by zero"),
        ("modulo", 5, 0, "Cannot divide by zero"),
        ("power", 0, -1, "not a finite number"),
        ("power", -8, 0.5, "not a real number"),
        ("power", 10, 400, "too large"),
        ("multiply", 1e200, 1e200, "too large"),
    ],
)
async def test_arithmetic_errors(call: Call, name: str, a: float, b: float, message: str) -> None:
    assert message in await error(call, name, {"a": a, "b": b})


@pytest.mark.parametrize(
    ("number", "decimals", "mode", "expected"),
    [
        (2.675, 2, "half_up", 2.68),  # float round() gives 2.67
        (2.5, 0, "half_up", 3),
        (-2.5, 0, "half_up", -3),
        (2.5, 0, "half_even", 2),
        (3.5, 0, "half_even", 4),
        (0.125, 2, "half_even", 0.12),
        (1.19, 1, "floor", 1.1),
        (-1.11, 1, "floor", -1.2),
        (1.11, 1, "ceil", 1.2),
        (-1.19, 1, "ceil", -1.1),
        (1234.5, -2, "half_up", 1200),
        (1250, -2, "half_even", 1200),
        (7, 2, "half_up", 7),
        (-0.4, 0, "half_up", 0),
        (1e20, 300, "half_up", 1e20),
    ],
)
async def test_round(call: Call, number: float, decimals: int, mode: str, expected: float) -> None:
    result = await ok(call, "round", {"number": number, "decimals": decimals, "mode": mode})
    assert result == expected
    assert type(result) is type(expected)


async def test_round_defaults_to_whole_numbers_half_up(call: Call) -> None:
    assert await ok(call, "round", {"number": 4.5}) == 5


async def test_round_rejects_bad_mode_and_decimals(call: Call) -> None:
    with pytest.raises(InputInvalid, match="is not a valid enum value"):
        await call("round", {"number": 1, "mode": "up"})
    with pytest.raises(InputInvalid, match="decimals"):
        await call("round", {"number": 1, "decimals": 1.5})


async def test_absolute(call: Call) -> None:
    assert await ok(call, "absolute", {"number": -3.25}) == 3.25
    assert await ok(call, "absolute", {"number": -7}) == 7
    assert await ok(call, "absolute", {"number": 2}) == 2


async def test_list_statistics(call: Call) -> None:
    numbers = [3, -1.5, 10, 2]
    assert await ok(call, "min", {"numbers": numbers}) == -1.5
    assert await ok(call, "max", {"numbers": numbers}) == 10
    assert await ok(call, "sum", {"numbers": numbers}) == 13.5
    assert await ok(call, "average", {"numbers": numbers}) == 3.375
    assert await ok(call, "average", {"numbers": [2, 4]}) == 3
    assert await ok(call, "sum", {"numbers": []}) == 0


@pytest.mark.parametrize("name", ["min", "max", "average"])
async def test_empty_list_statistics_are_errors(call: Call, name: str) -> None:
    assert "empty list" in await error(call, name, {"numbers": []})


async def test_non_numbers_are_refused_by_the_schema(call: Call) -> None:
    with pytest.raises(InputInvalid, match="expected type"):
        await call("sum", {"numbers": [1, "2"]})
    with pytest.raises(InputInvalid, match="expected type"):
        await call("add", {"a": True, "b": 1})
    with pytest.raises(InputInvalid, match="required key"):
        await call("add", {"a": 1})


async def test_random_integer(call: Call) -> None:
    seen = {await ok(call, "random_integer", {"min": -2, "max": 2}) for _ in range(200)}
    assert seen == {-2, -1, 0, 1, 2}
    assert await ok(call, "random_integer", {"min": 5, "max": 5}) == 5
    assert await ok(call, "random_integer", {"max": 0}) == 0


async def test_random_integer_with_min_above_max(call: Call) -> None:
    assert "greater than the maximum" in await error(call, "random_integer", {"min": 3, "max": 1})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"text": "42"}, 42),
        ({"text": " -17 "}, -17),
        ({"text": "+3.50"}, 3.5),
        ({"text": ".5"}, 0.5),
        ({"text": "1e3"}, 1000.0),
        ({"text": "0.1"}, 0.1),
        ({"text": "1,234.5", "thousands_separator": ","}, 1234.5),
        ({"text": "1.234,5", "thousands_separator": ".", "decimal_separator": ","}, 1234.5),
    ],
)
async def test_parse_number(call: Call, data: dict[str, Any], expected: float) -> None:
    result = await ok(call, "parse_number", data)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("text", ["", "abc", "12abc", "1,234", "NaN", "Infinity", "0x10", "1..2"])
async def test_parse_number_refuses_non_numbers(call: Call, text: str) -> None:
    assert "is not a number" in await error(call, "parse_number", {"text": text})


async def test_parse_number_edge_errors(call: Call) -> None:
    assert "too large" in await error(call, "parse_number", {"text": "1e999"})
    message = await error(
        call, "parse_number", {"text": "1", "thousands_separator": ".", "decimal_separator": "."}
    )
    assert "must differ" in message
