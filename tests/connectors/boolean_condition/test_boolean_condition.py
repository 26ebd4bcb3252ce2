"""The Boolean Condition connector: evaluate() semantics and the operation through the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.boolean_condition import evaluate
from patchbay.connectors.boolean_condition.connector import CONNECTORS
from patchbay.connectors.boolean_condition.operations import COMPARISONS
from patchbay.connectors.sdk import ConnectorError
from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.testing.connectors import (
    Call,
    assert_output_valid,
    loop_ticks_during,
    loopback_clients,
    make_call,
)

CONNECTOR = CONNECTORS[0]


def cond(value1: Any, comparison: str, value2: Any = None) -> dict[str, Any]:
    return {"value1": value1, "comparison_type": comparison, "value2": value2}


def check(value1: Any, comparison: str, value2: Any = None) -> bool:
    return evaluate([cond(value1, comparison, value2)], "All")


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(CONNECTOR, clients)


# -- declaration ------------------------------------------------------------------------
def test_declared_with_trays_name_version_and_operation() -> None:
    assert (CONNECTOR.name, CONNECTOR.version) == ("boolean-condition", "2.3")
    assert [op.name for op in CONNECTOR.operations] == ["boolean_condition"]
    assert CONNECTOR.requires_auth is False
    schema = CONNECTOR.operation("boolean_condition").input_schema
    comparison = schema["properties"]["conditions"]["items"]["properties"]["comparison_type"]
    assert comparison["enum"] == list(COMPARISONS)
    assert len(comparison["enumLabels"]) == len(comparison["enum"])
    assert comparison["enumLabels"][:2] == ["Equal to", "Not equal to"]
    assert schema["properties"]["strictness"]["enum"] == ["All", "Any"]


# -- equality ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1, True),
        (1, 1.0, True),
        (1, "1", False),
        (1, True, False),
        (0, False, False),
        (None, None, True),
        (None, "", False),
        ("Tray", "Tray", True),
        ("Tray", "tray", False),
        ([1, {"a": 2}], [1, {"a": 2}], True),
        ([1, 2], [2, 1], False),
        ([1], [True], False),
        ({"a": 1, "b": [1]}, {"b": [1], "a": 1}, True),
        ({"a": 1}, {"a": 1, "b": None}, False),
    ],
)
def test_strict_equality(a: Any, b: Any, equal: bool) -> None:
    assert check(a, "===", b) is equal
    assert check(a, "!==", b) is (not equal)


# -- ordering ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "op", "b", "expected"),
    [
        (5, ">", 2, True),
        (2, ">", 2, False),
        (2, ">=", 2, True),
        (0, "<", 1, True),
        (1.5, "<=", 1, False),
        ("apple", "<", "banana", True),
        ("Zebra", "<", "apple", True),  # code point order
        ("10", "<", "9", True),  # strings stay strings
        (10, ">", "9", False),  # mixed types: false, not an error
        ("10", ">", 9, False),
        (10, "<=", "9", False),
        (True, ">", 0, False),  # booleans are not numbers
        (None, "<", 1, False),
        ([2], ">", [1], False),
    ],
)
def test_ordering(a: Any, op: str, b: Any, expected: bool) -> None:
    assert check(a, op, b) is expected


# -- text and lists ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "op", "b", "expected"),
    [
        ("Tray is awesome", "contains", "is aw", True),
        ("Tray", "contains", "tray", False),
        ("a1b", "contains", 1, False),
        ([1, 2, 3], "contains", 2, True),
        ([1, 2, 3], "contains", "2", False),
        ([{"id": 1}], "contains", {"id": 1}, True),
        ({"a": 1}, "contains", "a", False),
        (123, "contains", 2, False),
        ("Tray", "not_contains", "x", True),
        ([1], "not_contains", 1, False),
        (123, "not_contains", 2, True),  # the negation of contains
        ("hello", "starts_with", "he", True),
        ("hello", "starts_with", "lo", False),
        ("hello", "ends_with", "lo", True),
        (["a", "b"], "starts_with", "a", False),
        ("2", "in_list", ["1", "2"], True),
        (2, "in_list", ["1", "2"], False),
        (2, "not_in_list", ["1", "2"], True),
    ],
)
def test_text_and_list_comparisons(a: Any, op: str, b: Any, expected: bool) -> None:
    assert check(a, op, b) is expected


# -- unary ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "empty"),
    [("", True), ([], True), ({}, True), (None, True), (" ", False), (0, False),
     (False, False), ([None], False), ({"a": None}, False)],
)  # fmt: skip
def test_is_empty(value: Any, empty: bool) -> None:
    assert check(value, "is_empty") is empty
    assert check(value, "is_not_empty") is (not empty)


def test_null_and_boolean_checks_are_strict() -> None:
    assert check(None, "is_null") and not check("", "is_null") and not check(0, "is_null")
    assert check(0, "is_not_null") and not check(None, "is_not_null")
    assert check(True, "is_true") and not check(1, "is_true") and not check("true", "is_true")
    assert check(False, "is_false") and not check(0, "is_false") and not check(None, "is_false")
    assert check(True, "is_true", "ignored")  # value2 is not read


@pytest.mark.parametrize(
    ("value", "type_name"),
    [("x", "string"), (1, "number"), (1.5, "number"), (True, "boolean"), ([], "array"),
     ({}, "object"), (None, "null")],
)  # fmt: skip
def test_is_type(value: Any, type_name: str) -> None:
    assert check(value, "is_type", type_name)
    others = {"string", "number", "boolean", "array", "object", "null"} - {type_name}
    assert not any(check(value, "is_type", other) for other in others)


def test_matches_regex() -> None:
    assert check("order-1234", "matches_regex", r"^order-\d+$")
    assert check("The Order", "matches_regex", "(?i)order")
    assert check("abc", "matches_regex", "b")  # search, not a full match
    assert not check("order-x", "matches_regex", r"^order-\d+$")
    assert not check(1234, "matches_regex", r"\d+")  # not a string: false


# -- strictness -------------------------------------------------------------------------
def test_all_and_any() -> None:
    yes, no = cond(1, "===", 1), cond(1, "===", 2)
    assert evaluate([yes, yes], "All") is True
    assert evaluate([yes, no], "All") is False
    assert evaluate([yes, no], "Any") is True
    assert evaluate([no, no], "Any") is False
    assert evaluate([], "All") is True and evaluate([], "Any") is False
    assert evaluate([yes, no], "any") is True  # case-insensitive


def test_configuration_errors_name_the_field_even_when_the_result_is_decided() -> None:
    cases = [
        ([cond(1, "===", 1), cond(1, "==", 1)], "conditions[1].comparison_type"),
        ([cond(1, "is_type", "integer")], "conditions[0].value2"),
        ([cond("a", "matches_regex", "(")], "conditions[0].value2: invalid regular"),
        ([cond("a", "matches_regex", 5)], "conditions[0].value2"),
        ([cond("a", "in_list", "abc")], "conditions[0].value2"),
        (["not a condition"], "conditions[0]"),
    ]
    for conditions, where in cases:
        with pytest.raises(ConnectorError) as info:
            evaluate(conditions, "Any")
        assert info.value.kind == "connector_error"
        assert where in info.value.message
    with pytest.raises(ConnectorError, match="strictness"):
        evaluate([cond(1, "===", 1)], "Most")


def test_missing_values_are_null() -> None:
    assert evaluate([{"comparison_type": "is_null"}], "All") is True
    assert evaluate([{"value1": None, "comparison_type": "==="}], "All") is True


# -- the operation ----------------------------------------------------------------------
async def test_operation_returns_result(call: Call) -> None:
    result = await call(
        "boolean_condition",
        {
            "conditions": [
                {"value1": "active", "comparison_type": "===", "value2": "active"},
                {"value1": 3, "comparison_type": ">", "value2": 5},
            ],
            "strictness": "Any",
        },
    )
    assert assert_output_valid(CONNECTOR, "boolean_condition", result) == {"result": True}
    result = await call(
        "boolean_condition",
        {"conditions": [{"value1": 3, "comparison_type": ">", "value2": 5}]},
    )
    assert assert_output_valid(CONNECTOR, "boolean_condition", result) == {"result": False}


async def test_tray_export_style_not_equal(call: Call) -> None:
    result = await call(
        "boolean_condition",
        {
            "conditions": [{"value1": 1, "comparison_type": "!==", "value2": "1"}],
            "strictness": "All",
        },
    )
    assert result.output == {"result": True}


async def test_bad_regex_is_a_connector_error(call: Call) -> None:
    result = await call(
        "boolean_condition",
        {"conditions": [{"value1": "a", "comparison_type": "matches_regex", "value2": "[a-"}]},
    )
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert "conditions[0].value2" in result.output["message"]


async def test_schema_refuses_unknown_comparison_and_strictness(call: Call) -> None:
    with pytest.raises(InputInvalid):
        await call(
            "boolean_condition",
            {"conditions": [{"value1": 1, "comparison_type": "==", "value2": 1}]},
        )
    with pytest.raises(InputInvalid):
        await call(
            "boolean_condition",
            {"conditions": [{"value1": 1, "value2": 1}], "strictness": "Most"},
        )
    with pytest.raises(InputInvalid):
        await call("boolean_condition", {"conditions": []})


def test_a_catastrophic_regex_is_stopped_after_a_second() -> None:
    with pytest.raises(ConnectorError) as info:
        check("a" * 64 + "b", "matches_regex", "(a|aa)+$")
    assert info.value.kind == "connector_error"
    assert "took longer than 1 s" in info.value.message


async def test_a_slow_regex_does_not_hold_the_event_loop(call: Call) -> None:
    conditions = [cond("a" * 64 + "b", "matches_regex", "(a|aa)+$")]
    result, ticks = await loop_ticks_during(call("boolean_condition", {"conditions": conditions}))
    assert result.outcome == "error" and "took longer than 1 s" in result.output["message"]
    assert ticks >= 20  # matching ran off the event loop: it went on meanwhile (~100 ticks)
