"""The JSON Transformer connector: JSONata and JMESPath through the real SDK path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.json_transformer.connector import CONNECTORS
from patchbay.connectors.json_transformer.operations import plain_json
from patchbay.connectors.sdk import ConnectorError
from patchbay.connectors.sdk.runner import CallResult, InputInvalid
from patchbay.testing.connectors import Call, assert_output_valid, loopback_clients, make_call

CONNECTOR = CONNECTORS[0]

ORDER = {
    "customer": {"name": "Ada", "email": "ada@example.com"},
    "items": [
        {"sku": "A1", "qty": 2, "price": 10.5},
        {"sku": "B2", "qty": 1, "price": 4},
        {"sku": "C3", "qty": 5, "price": 1},
    ],
}


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(CONNECTOR, clients)


async def result_of(call: Call, operation: str, query: str, data: Any = ORDER, **more: Any):
    result = await call(operation, {"query": query, "data": data, **more})
    return assert_output_valid(CONNECTOR, operation, result)["result"]


def assert_error(result: CallResult, *fragments: str) -> None:
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    for fragment in fragments:
        assert fragment in result.output["message"], result.output["message"]


def test_declared() -> None:
    assert (CONNECTOR.name, CONNECTOR.version) == ("json-transformer", "1.0")
    assert [op.name for op in CONNECTOR.operations] == ["jsonata", "jmespath"]
    schema = CONNECTOR.operation("jsonata").input_schema
    assert schema["required"] == ["query"]
    assert set(schema["advanced"]) == {"time_limit_seconds", "bindings"}


# -- JSONata ----------------------------------------------------------------------------
async def test_jsonata_queries_and_transforms(call: Call) -> None:
    assert await result_of(call, "jsonata", "customer.name") == "Ada"
    assert await result_of(call, "jsonata", "$sum(items.(qty * price))") == 30
    assert await result_of(call, "jsonata", "items[qty > 1].sku") == ["A1", "C3"]
    assert await result_of(
        call, "jsonata", '{"who": customer.name, "skus": items.sku, "n": $count(items)}'
    ) == {"who": "Ada", "skus": ["A1", "B2", "C3"], "n": 3}
    assert await result_of(call, "jsonata", "[1..3]", None) == [1, 2, 3]


async def test_jsonata_no_match_is_null(call: Call) -> None:
    assert await result_of(call, "jsonata", "customer.phone") is None
    # JSONata's own null marker becomes JSON null, inside structures too.
    assert await result_of(call, "jsonata", "[null, {'a': null}, 1]") == [None, {"a": None}, 1]


async def test_jsonata_bindings(call: Call) -> None:
    result = await result_of(call, "jsonata", "$sum(items.qty) * $rate", bindings={"rate": 1.5})
    assert result == 12


async def test_jsonata_syntax_error(call: Call) -> None:
    result = await call("jsonata", {"query": "items[", "data": ORDER})
    assert_error(result, "Invalid JSONata expression", "Expected ]")
    assert result.output["code"].startswith("S0")


async def test_jsonata_runtime_error(call: Call) -> None:
    result = await call("jsonata", {"query": "customer.name + 1", "data": ORDER})
    assert_error(result, "JSONata error", "must evaluate to a number")
    assert result.output["code"] == "T2001"


async def test_jsonata_function_result_is_not_json(call: Call) -> None:
    assert_error(await call("jsonata", {"query": "$sum", "data": 1}), "not JSON")


async def test_jsonata_deep_recursion_stops(call: Call) -> None:
    query = "( $f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000) )"
    assert_error(await call("jsonata", {"query": query}), "Stack overflow")
    small = "( $f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(50) )"
    assert await result_of(call, "jsonata", small, None) == 50


async def test_jsonata_runaway_expression_hits_the_time_limit(call: Call) -> None:
    query = "( $f := function($n){ $n > 0 ? $f($n + 1) : 0 }; $f(1) )"  # tail recursion
    started = time.monotonic()
    result = await call("jsonata", {"query": query, "time_limit_seconds": 0.3})
    assert time.monotonic() - started < 3
    assert_error(result, "did not finish within 0.3 s")


async def test_jsonata_exponential_result_is_refused(call: Call) -> None:
    # 40 doublings of a shared value: instant to build, 2**40 values to write out.
    query = "(" + "".join(f"$v{i + 1} := {{'a': $v{i}, 'b': $v{i}}}; " for i in range(40))
    query += "$v40)"
    started = time.monotonic()
    result = await call(
        "jsonata",
        {"query": query, "bindings": {"v0": "x" * 10}, "time_limit_seconds": 5},
    )
    assert_error(result, "too large")
    assert time.monotonic() - started < 5


# -- JMESPath ---------------------------------------------------------------------------
async def test_jmespath_queries(call: Call) -> None:
    assert await result_of(call, "jmespath", "customer.name") == "Ada"
    assert await result_of(call, "jmespath", "items[?qty > `1`].sku") == ["A1", "C3"]
    assert await result_of(call, "jmespath", "sum(items[].qty)") == 8
    assert await result_of(call, "jmespath", "{who: customer.name, first: items[0].sku}") == {
        "who": "Ada",
        "first": "A1",
    }
    assert await result_of(call, "jmespath", "customer.phone") is None


async def test_jmespath_errors(call: Call) -> None:
    result = await call("jmespath", {"query": "items[", "data": ORDER})
    assert_error(result, "Incomplete expression")
    assert result.output["message"].lower().startswith("invalid jmespath expression: ")
    assert result.output["message"].lower().count("invalid jmespath expression") == 1
    assert result.output["code"] == "IncompleteExpressionError"
    assert_error(
        await call("jmespath", {"query": "nope(@)", "data": ORDER}), "Unknown function: nope()"
    )
    assert_error(
        await call("jmespath", {"query": "abs(customer.name)", "data": ORDER}),
        "JMESPath error",
        "invalid type",
    )


async def test_jmespath_exponential_result_is_refused(call: Call) -> None:
    query = " | ".join(["[@, @]"] * 40)
    assert_error(await call("jmespath", {"query": query, "data": "x"}), "too large")


async def test_jmespath_runaway_projection_hits_the_time_limit(call: Call) -> None:
    # Each projection stage visits every element of an ever larger result.
    query = "[@, @, @, @]" + "[*][@, @, @, @]" * 14 + "[]"
    started = time.monotonic()
    result = await call("jmespath", {"query": query, "data": 1, "time_limit_seconds": 0.3})
    assert time.monotonic() - started < 3
    assert_error(result, "did not finish within 0.3 s")


# -- bad input --------------------------------------------------------------------------
async def test_schema_refuses_bad_input(call: Call) -> None:
    with pytest.raises(InputInvalid):
        await call("jsonata", {"query": "", "data": {}})
    with pytest.raises(InputInvalid):
        await call("jmespath", {"data": {}})
    with pytest.raises(InputInvalid):
        await call("jmespath", {"query": "a", "time_limit_seconds": 41})


def test_plain_json_converts_and_bounds() -> None:
    assert plain_json((1, [2, {"a": (3,)}])) == [1, [2, {"a": [3]}]]
    with pytest.raises(ConnectorError, match="too large"):
        plain_json(["abcdef"] * 3, limit=10)
    with pytest.raises(ConnectorError, match="not JSON"):
        plain_json({"f": object()})
