"""list-helpers 2.0, run through the real SDK path (input validation, handler, output)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.list_helpers.connector import CONNECTORS
from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.testing.connectors import Call, assert_output_valid, loopback_clients, make_call

LIST = CONNECTORS[0]
PEOPLE = [
    {"name": "bob", "age": 30, "team": {"id": "red"}},
    {"name": "Ann", "age": 25.5, "team": {"id": "blue"}},
    {"name": "cy", "age": 41, "team": {"id": "red"}, "tags": ["vip"]},
    {"name": "dee", "age": None},
    {"name": "eve"},
]


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(LIST, clients)


async def run(call: Call, name: str, data: dict[str, Any]) -> dict[str, Any]:
    return assert_output_valid(LIST, name, await call(name, data))


async def ok(call: Call, name: str, data: dict[str, Any]) -> Any:
    return (await run(call, name, data))["result"]


async def error(call: Call, name: str, data: dict[str, Any]) -> str:
    result = await call(name, data)
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    return result.output["message"]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def test_declaration() -> None:
    assert (LIST.name, LIST.version, LIST.requires_auth) == ("list-helpers", "2.0", False)
    assert uuid.UUID(LIST.service.id).version == 4
    assert LIST.operation("filter") is not None and LIST.operation("map") is not None
    assert "list" in LIST.operation("first").input_schema["properties"]


async def test_first_last_get_item(call: Call) -> None:
    assert await run(call, "first", {"list": [1, 2, 3]}) == {"result": 1, "found": True}
    assert await run(call, "last", {"list": [1, 2, 3]}) == {"result": 3, "found": True}
    assert await run(call, "first", {"list": []}) == {"result": None, "found": False}
    assert await run(call, "last", {"list": []}) == {"result": None, "found": False}
    assert await run(call, "first", {"list": [None]}) == {"result": None, "found": True}
    assert await run(call, "get_item", {"list": ["a", "b"], "index": 1}) == {
        "result": "b",
        "found": True,
    }
    assert await ok(call, "get_item", {"list": ["a", "b"], "index": -2}) == "a"
    for index in (2, -3):
        missing = await run(call, "get_item", {"list": ["a", "b"], "index": index})
        assert missing == {"result": None, "found": False}


async def test_length_and_bad_list(call: Call) -> None:
    assert await ok(call, "length", {"list": [1, [2, 3], None]}) == 3
    with pytest.raises(InputInvalid, match="expected type: JSONArray, found: String"):
        await call("length", {"list": "abc"})


async def test_contains(call: Call) -> None:
    assert await ok(call, "contains", {"list": [1, "2", {"a": [1]}], "value": {"a": [1.0]}})
    assert not await ok(call, "contains", {"list": [1, "2"], "value": 2})
    assert not await ok(call, "contains", {"list": [1], "value": True})
    by_path = {"list": PEOPLE, "key_path": "team.id", "value": "blue"}
    assert await ok(call, "contains", by_path) is True
    assert await ok(call, "contains", {**by_path, "value": "green"}) is False
    # a missing key path is not a null
    assert await ok(call, "contains", {"list": [{}], "key_path": "a", "value": None}) is False


async def test_slice_reverse_concatenate(call: Call) -> None:
    items = [0, 1, 2, 3, 4]
    assert await ok(call, "slice", {"list": items, "start": 1, "end": 3}) == [1, 2]
    assert await ok(call, "slice", {"list": items, "start": -2}) == [3, 4]
    assert await ok(call, "slice", {"list": items, "end": -4}) == [0]
    assert await ok(call, "reverse", {"list": items}) == [4, 3, 2, 1, 0]
    assert await ok(call, "concatenate", {"lists": [[1], [], [2, [3]]]}) == [1, 2, [3]]
    with pytest.raises(InputInvalid):
        await call("concatenate", {"lists": [[1], 2]})


async def test_unique(call: Call) -> None:
    items = [1, 1.0, True, "1", {"a": 1, "b": 2}, {"b": 2, "a": 1}, None, None]
    assert await ok(call, "unique", {"list": items}) == [1, True, "1", {"a": 1, "b": 2}, None]
    by_team = await ok(call, "unique", {"list": PEOPLE, "key_path": "team.id"})
    assert names(by_team) == ["bob", "Ann", "dee"]  # dee and eve: no team, both count as null


async def test_sort_numbers_with_missing_last(call: Call) -> None:
    ascending = await ok(call, "sort", {"list": PEOPLE, "key_path": "age"})
    assert names(ascending) == ["Ann", "bob", "cy", "dee", "eve"]
    descending = await ok(call, "sort", {"list": PEOPLE, "key_path": "age", "order": "desc"})
    assert names(descending) == ["cy", "bob", "Ann", "dee", "eve"]


async def test_sort_text_and_stability(call: Call) -> None:
    by_name = await ok(call, "sort", {"list": PEOPLE, "key_path": "name"})
    assert names(by_name) == ["Ann", "bob", "cy", "dee", "eve"]  # code-point order
    by_team = await ok(call, "sort", {"list": PEOPLE, "key_path": "team.id", "order": "desc"})
    assert names(by_team) == ["bob", "cy", "Ann", "dee", "eve"]  # equal keys keep order
    assert await ok(call, "sort", {"list": [10, 9, 100]}) == [9, 10, 100]
    assert await ok(call, "sort", {"list": [10, 9, "100"]}) == [10, "100", 9]  # as text


async def test_sort_compare_as(call: Call) -> None:
    data = {"list": ["10", "9", " 100 ", 2.5], "compare_as": "number"}
    assert await ok(call, "sort", data) == [2.5, "9", "10", " 100 "]
    assert await ok(call, "sort", {"list": [10, 9, 100], "compare_as": "string"}) == [10, 100, 9]
    message = await error(call, "sort", {"list": ["1", "one"], "compare_as": "number"})
    assert message == 'Cannot sort by number: "one" is not a number'
    with pytest.raises(InputInvalid, match="is not a valid enum value"):
        await call("sort", {"list": [], "order": "up"})


@pytest.mark.parametrize(
    ("key_path", "comparison", "value", "expected"),
    [
        ("team.id", "===", "red", ["bob", "cy"]),
        ("team.id", "!==", "red", ["Ann", "dee", "eve"]),
        ("age", "===", 30.0, ["bob"]),
        ("age", ">", 29, ["bob", "cy"]),
        ("age", "<", 30, ["Ann"]),
        ("age", ">=", 30, ["bob", "cy"]),
        ("age", "<=", 25.5, ["Ann"]),
        ("age", ">", "29", []),  # a number and text never compare
        ("name", ">", "c", ["cy", "dee", "eve"]),
        ("name", "contains", "e", ["dee", "eve"]),
        ("name", "not_contains", "e", ["bob", "Ann", "cy"]),
        ("tags", "contains", "vip", ["cy"]),
        ("age", "exists", None, ["bob", "Ann", "cy"]),
        ("age", "not_exists", None, ["dee", "eve"]),
        ("age", "===", None, ["dee"]),
    ],
)
async def test_filter(
    call: Call, key_path: str, comparison: str, value: Any, expected: list[str]
) -> None:
    data = {"list": PEOPLE, "key_path": key_path, "comparison": comparison, "value": value}
    assert names(await ok(call, "filter", data)) == expected


async def test_filter_items_themselves(call: Call) -> None:
    data = {"list": [1, 5, "5", 10, None], "comparison": ">=", "value": 5}
    assert await ok(call, "filter", data) == [5, 10]
    with pytest.raises(InputInvalid, match="is not a valid enum value"):
        await call("filter", {"list": [], "comparison": "=="})


async def test_map(call: Call) -> None:
    assert await ok(call, "map", {"list": PEOPLE, "key_path": "team.id"}) == [
        "red",
        "blue",
        "red",
        None,
        None,
    ]
    data = {"list": PEOPLE, "key_path": "age", "skip_missing": True}
    assert await ok(call, "map", data) == [30, 25.5, 41, None]  # a null is not missing
    assert await ok(call, "map", {"list": [[1, 2], [3]], "key_path": "[-1]"}) == [2, 3]
    with pytest.raises(InputInvalid, match="minLength"):
        await call("map", {"list": [], "key_path": ""})
    assert "empty key" in await error(call, "map", {"list": [], "key_path": "a..b"})


async def test_flatten(call: Call) -> None:
    nested = [1, [2, [3, [4]]], [], "ab"]
    assert await ok(call, "flatten", {"list": nested}) == [1, 2, [3, [4]], "ab"]
    assert await ok(call, "flatten", {"list": nested, "depth": 2}) == [1, 2, 3, [4], "ab"]
    assert await ok(call, "flatten", {"list": nested, "depth": 100}) == [1, 2, 3, 4, "ab"]
    with pytest.raises(InputInvalid, match="depth"):
        await call("flatten", {"list": nested, "depth": 0})


async def test_chunk(call: Call) -> None:
    assert await ok(call, "chunk", {"list": [1, 2, 3, 4, 5], "size": 2}) == [[1, 2], [3, 4], [5]]
    assert await ok(call, "chunk", {"list": [], "size": 3}) == []
    with pytest.raises(InputInvalid, match="size"):
        await call("chunk", {"list": [1], "size": 0})


async def test_join(call: Call) -> None:
    items = ["a", 1, 2.0, False, None, {"k": "v"}]
    assert await ok(call, "join", {"list": items}) == 'a,1,2,false,,{"k":"v"}'
    assert await ok(call, "join", {"list": ["x", "y"], "separator": " - "}) == "x - y"


async def test_group_by(call: Call) -> None:
    groups = await ok(call, "group_by", {"list": PEOPLE, "key_path": "team.id"})
    assert list(groups) == ["red", "blue", "null"]
    assert {key: names(items) for key, items in groups.items()} == {
        "red": ["bob", "cy"],
        "blue": ["Ann"],
        "null": ["dee", "eve"],
    }
    by_number = await ok(
        call, "group_by", {"list": [{"n": 1}, {"n": 1.0}, {"n": True}], "key_path": "n"}
    )
    assert list(by_number) == ["1", "true"]


async def test_numbers(call: Call) -> None:
    assert await ok(call, "sum", {"list": [0.1, 0.2]}) == 0.3
    assert await ok(call, "sum", {"list": []}) == 0
    adults = PEOPLE[:3]
    assert await ok(call, "sum", {"list": adults, "key_path": "age"}) == 96.5
    assert await ok(call, "min", {"list": adults, "key_path": "age"}) == 25.5
    assert await ok(call, "max", {"list": adults, "key_path": "age"}) == 41
    assert await ok(call, "average", {"list": [1, 2, 3, 4]}) == 2.5
    assert await ok(call, "average", {"list": [2, 4]}) == 3


async def test_number_errors(call: Call) -> None:
    message = await error(call, "sum", {"list": PEOPLE, "key_path": "age"})
    assert message == "Item 3 of the list is not a number: null"
    assert 'not a number: "2"' in await error(call, "max", {"list": [1, "2"]})
    assert "not a number: true" in await error(call, "average", {"list": [True]})
    assert "empty list" in await error(call, "min", {"list": []})
    assert "empty list" in await error(call, "average", {"list": []})
