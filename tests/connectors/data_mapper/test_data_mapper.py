"""The Data Mapper connector, called through the real SDK path."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.data_mapper.connector import CONNECTORS
from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.testing.connectors import Call, assert_output_valid, loopback_clients, make_call

CONNECTOR = CONNECTORS[0]

CUSTOMERS = [
    {
        "id": 1,
        "first_name": "Barnabas",
        "address": {"city": "Toronto", "country": "Canada"},
        "status": "active",
    },
    {"id": 2, "first_name": "Clary", "address": {"country": "France"}, "status": None},
]


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(CONNECTOR, clients)


async def map_values(call: Call, **data: Any) -> Any:
    result = await call("map_values", data)
    return assert_output_valid(CONNECTOR, "map_values", result)["result"]


def test_declared() -> None:
    assert (CONNECTOR.name, CONNECTOR.version) == ("data-mapper", "1.0")
    assert [op.name for op in CONNECTOR.operations] == ["map_values", "map_value"]
    item = CONNECTOR.operation("map_values").input_schema["properties"]["mappings"]["items"]
    assert set(item["properties"]) == {"from", "to"}


# -- map_values -------------------------------------------------------------------------
async def test_renames_keys_of_each_object_in_a_list(call: Call) -> None:
    original = copy.deepcopy(CUSTOMERS)
    result = await map_values(
        call,
        value=CUSTOMERS,
        mappings=[
            {"from": "first_name", "to": "name"},
            {"from": "address.city", "to": "location.city"},
            {"from": "status", "to": "state"},
        ],
    )
    assert result == [
        {"name": "Barnabas", "location": {"city": "Toronto"}, "state": "active"},
        {"name": "Clary", "state": None},  # absent source: nothing written; null is kept
    ]
    assert CUSTOMERS == original  # the input is not modified


async def test_keep_unmapped_keeps_the_rest_and_drops_moved_sources(call: Call) -> None:
    result = await map_values(
        call,
        value=CUSTOMERS[0],
        mappings=[
            {"from": "first_name", "to": "name"},
            {"from": "address.city", "to": "city"},
        ],
        keep_unmapped=True,
    )
    assert result == {
        "id": 1,
        "name": "Barnabas",
        "address": {"country": "Canada"},
        "city": "Toronto",
        "status": "active",
    }


async def test_one_source_to_two_targets_and_swaps(call: Call) -> None:
    result = await map_values(
        call,
        value={"a": 1, "b": 2},
        mappings=[
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},
            {"from": "a", "to": "copy"},
        ],
        keep_unmapped=True,
    )
    assert result == {"a": 2, "b": 1, "copy": 1}  # sources are read before anything moves


async def test_escaped_dots_and_list_indexes(call: Call) -> None:
    result = await map_values(
        call,
        value={"user.name": "ada", "items": [{"sku": "X1"}, {"sku": "Y2"}]},
        mappings=[
            {"from": "user\\.name", "to": "name"},
            {"from": "items.1.sku", "to": "second\\.sku"},
            {"from": "items.7.sku", "to": "missing"},
        ],
    )
    assert result == {"name": "ada", "second.sku": "Y2"}


async def test_keep_unmapped_drops_a_source_read_through_a_list(call: Call) -> None:
    """A source read through a list index is removed like any other (the data mapper's own
    key paths used to leave it, contrary to its documentation)."""
    result = await map_values(
        call,
        value={"items": [{"sku": "X1", "n": 1}], "id": 7},
        mappings=[{"from": "items[0].sku", "to": "sku"}, {"from": "items.-1.n", "to": "n"}],
        keep_unmapped=True,
    )
    assert result == {"items": [{}], "id": 7, "sku": "X1", "n": 1}


async def test_target_path_replaces_a_scalar_on_the_way(call: Call) -> None:
    result = await map_values(
        call,
        value={"a": 1, "b": 2},
        mappings=[{"from": "b", "to": "a.b"}],
        keep_unmapped=True,
    )
    assert result == {"a": {"b": 2}}


async def test_map_values_bad_input(call: Call) -> None:
    cases = [
        ({"value": "text", "mappings": [{"from": "a", "to": "b"}]}, "value must be an object"),
        (
            {"value": [{"a": 1}, 5], "mappings": [{"from": "a", "to": "b"}]},
            "value[1] must be an object",
        ),
        ({"value": {}, "mappings": [{"from": "a..b", "to": "b"}]}, "mappings[0].from"),
        ({"value": {}, "mappings": [{"from": "a", "to": "b."}]}, "mappings[0].to"),
    ]
    for data, message in cases:
        result = await call("map_values", data)
        assert result.outcome == "error", data
        assert result.output["kind"] == "connector_error"
        assert message in result.output["message"]
    with pytest.raises(InputInvalid):
        await call("map_values", {"value": {}, "mappings": [{"from": "a"}]})
    with pytest.raises(InputInvalid):
        await call("map_values", {"value": {}, "mappings": [{"from": "", "to": "b"}]})


async def test_empty_list_maps_to_empty_list(call: Call) -> None:
    assert await map_values(call, value=[], mappings=[{"from": "a", "to": "b"}]) == []


# -- map_value --------------------------------------------------------------------------
TABLE = [
    {"from": "landline call", "to": "phone call"},
    {"from": "cellphone call", "to": "phone call"},
    {"from": 1, "to": "one"},
    {"from": True, "to": "yes"},
    {"from": None, "to": "nothing"},
    {"from": [1, 2], "to": "pair"},
]


async def map_value(call: Call, **data: Any) -> dict[str, Any]:
    result = await call("map_value", {"mappings": TABLE, **data})
    return assert_output_valid(CONNECTOR, "map_value", result)


async def test_map_value_matches(call: Call) -> None:
    assert await map_value(call, value="cellphone call") == {
        "result": "phone call",
        "matched": True,
    }
    assert (await map_value(call, value=1.0))["result"] == "one"
    assert (await map_value(call, value=True))["result"] == "yes"
    assert (await map_value(call, value=None))["result"] == "nothing"
    assert (await map_value(call, value=[1, 2]))["result"] == "pair"


async def test_map_value_does_not_coerce(call: Call) -> None:
    assert await map_value(call, value="1") == {"result": "1", "matched": False}
    assert await map_value(call, value=[True, 2]) == {"result": [True, 2], "matched": False}
    # 1 must not match True, nor True 1: the first row wins, so order them the other way.
    result = await call(
        "map_value", {"value": 1, "mappings": [{"from": True, "to": "yes"}, {"from": 1, "to": 1}]}
    )
    assert result.output == {"result": 1, "matched": True}


async def test_map_value_default(call: Call) -> None:
    assert await map_value(call, value="fax", default="other") == {
        "result": "other",
        "matched": False,
    }
    assert await map_value(call, value="fax", default=None) == {"result": None, "matched": False}
    assert await map_value(call, value="fax") == {"result": "fax", "matched": False}


async def test_map_value_case_insensitive(call: Call) -> None:
    assert (await map_value(call, value="Landline CALL"))["matched"] is False
    assert await map_value(call, value="Landline CALL", case_sensitive=False) == {
        "result": "phone call",
        "matched": True,
    }


async def test_map_value_first_match_wins_and_bad_rows(call: Call) -> None:
    result = await call(
        "map_value",
        {"value": "a", "mappings": [{"from": "a", "to": 1}, {"from": "a", "to": 2}]},
    )
    assert result.output == {"result": 1, "matched": True}
    with pytest.raises(InputInvalid):
        await call("map_value", {"value": "a", "mappings": [{"to": 1}]})
