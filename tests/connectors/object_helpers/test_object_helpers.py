"""object-helpers 2.0 and the shared key-path module, run through the real SDK path."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.object_helpers.connector import CONNECTORS
from patchbay.connectors.object_helpers.paths import (
    MISSING,
    canonical,
    delete_path,
    get_path,
    parse_path,
    same_value,
    set_path,
)
from patchbay.connectors.sdk import ConnectorError
from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.testing.connectors import Call, assert_output_valid, loopback_clients, make_call

OBJECT = CONNECTORS[0]
DATA = {"a": {"b": [{"c": 1}, {"c": 2, "d": None}]}, "x": "text", "e": {}, "k.dot": 5}


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(OBJECT, clients)


async def run(call: Call, name: str, data: dict[str, Any]) -> dict[str, Any]:
    return assert_output_valid(OBJECT, name, await call(name, data))


async def ok(call: Call, name: str, data: dict[str, Any]) -> Any:
    return (await run(call, name, data))["result"]


async def error(call: Call, name: str, data: dict[str, Any]) -> str:
    result = await call(name, data)
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    return result.output["message"]


def test_declaration() -> None:
    assert (OBJECT.name, OBJECT.version, OBJECT.requires_auth) == ("object-helpers", "2.0", False)
    assert uuid.UUID(OBJECT.service.id).version == 4
    assert len(OBJECT.operations) == 13


# -- key paths --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("", []),
        ("a", ["a"]),
        ("a.b.0.c", ["a", "b", "0", "c"]),
        ("a.b[0].c", ["a", "b", "0", "c"]),
        ("a[0][-1]", ["a", "0", "-1"]),
        ("[2].x", ["2", "x"]),
        (r"k\.dot.y", ["k.dot", "y"]),
        (r"back\\slash", ["back\\slash"]),
        ("with space.é", ["with space", "é"]),
    ],
)
def test_parse_path(path: str, segments: list[str]) -> None:
    assert parse_path(path) == segments


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("a..b", "empty key"),
        (".a", "empty key"),
        ("a.", "ends with '.'"),
        ("a[x]", "is not a list index"),
        ("a[0", "without ']'"),
        ("a[0]b", "expected '.' or '['"),
        ("a.[0]", "empty key before '['"),
        ("a\\", "lone backslash"),
    ],
)
def test_parse_path_errors(path: str, why: str) -> None:
    with pytest.raises(ConnectorError, match=re.escape(why)) as info:
        parse_path(path)
    assert info.value.kind == "connector_error"


def test_get_path() -> None:
    assert get_path(DATA, "a.b.1.c") == 2
    assert get_path(DATA, "a.b[-1].c") == 2
    assert get_path(DATA, "a.b.1.d") is None  # a found null
    assert get_path(DATA, "a.b.2.c") is MISSING
    assert get_path(DATA, "a.b.-3") is MISSING
    assert get_path(DATA, "x.length") is MISSING  # no attributes of text
    assert get_path(DATA, r"k\.dot") == 5
    assert get_path(DATA, "") is DATA
    assert get_path({"0": "key"}, "0") == "key"  # an index on an object is a key
    assert get_path(DATA, "nope", default=7) == 7


def test_set_path_copies_and_creates() -> None:
    before = copy.deepcopy(DATA)
    changed = set_path(DATA, "a.b.0.new.deep", [1])
    assert changed["a"]["b"][0] == {"c": 1, "new": {"deep": [1]}}
    assert DATA == before
    assert set_path({"l": [1]}, "l.1", 2) == {"l": [1, 2]}  # the next index appends
    assert set_path({"l": [1, 2]}, "l.-1", 9) == {"l": [1, 9]}
    assert set_path({"a": None}, "a.b", 1) == {"a": {"b": 1}}
    assert set_path([0], "0", "x") == ["x"]


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"a": "text"}, "a.b", "a is a text, not an object or a list"),
        ({"a": [1]}, "a.x", "is a list and 'x' is not an index"),
        ({"a": [1]}, "a.5", "index 5 is outside a (1 items)"),
        ({"a": 3}, "a.b.c", "a is a number"),
    ],
)
def test_set_path_errors(data: Any, path: str, message: str) -> None:
    with pytest.raises(ConnectorError, match=re.escape(message)):
        set_path(data, path, 1)


def test_delete_path() -> None:
    data = copy.deepcopy(DATA)
    assert delete_path(data, "a.b.0") is True
    assert data["a"]["b"] == [{"c": 2, "d": None}]
    assert delete_path(data, "a.b.0.d") is True
    assert delete_path(data, "a.b.0.d") is False
    assert delete_path(data, "nope.deeper") is False
    with pytest.raises(ConnectorError, match="whole value"):
        delete_path(data, "")


def test_canonical_equality() -> None:
    assert same_value({"a": 1, "b": [1.0]}, {"b": [1], "a": 1.0})
    assert not same_value(True, 1)
    assert not same_value(None, 0)
    assert not same_value("1", 1)
    assert canonical({"b": 2, "a": 1}) == '{"a":1,"b":2}'


# -- operations -------------------------------------------------------------------------
async def test_get_value(call: Call) -> None:
    found = await run(call, "get_value", {"object": DATA, "key_path": "a.b[1].c"})
    assert found == {"result": 2, "found": True}
    null = await run(call, "get_value", {"object": DATA, "key_path": "a.b.1.d", "default": 0})
    assert null == {"result": None, "found": True}
    missing = {"object": DATA, "key_path": "a.z", "default": {"fallback": True}}
    assert await run(call, "get_value", missing) == {"result": {"fallback": True}, "found": False}
    assert await run(call, "get_value", {"object": DATA, "key_path": "q"}) == {
        "result": None,
        "found": False,
    }


async def test_get_value_bad_input(call: Call) -> None:
    assert "empty key" in await error(call, "get_value", {"object": {}, "key_path": "a..b"})
    with pytest.raises(InputInvalid, match="expected type: JSONObject, found: JSONArray"):
        await call("get_value", {"object": [1], "key_path": "0"})
    with pytest.raises(InputInvalid, match="required key"):
        await call("get_value", {"object": {}})


async def test_set_value(call: Call) -> None:
    result = await ok(call, "set_value", {"object": DATA, "key_path": "a.b.0.c", "value": "z"})
    assert result["a"]["b"][0] == {"c": "z"}
    assert result["x"] == "text"
    assert await ok(call, "set_value", {"object": {}, "key_path": "p.q", "value": None}) == {
        "p": {"q": None}
    }
    message = await error(call, "set_value", {"object": DATA, "key_path": "x.y", "value": 1})
    assert "x is a text" in message
    with pytest.raises(InputInvalid, match="minLength"):
        await call("set_value", {"object": {}, "key_path": "", "value": 1})


async def test_delete_keys(call: Call) -> None:
    result = await ok(
        call, "delete_keys", {"object": DATA, "key_paths": ["a.b.0", "x", "nope", r"k\.dot"]}
    )
    assert result == {"a": {"b": [{"c": 2, "d": None}]}, "e": {}}


async def test_pick_keys(call: Call) -> None:
    result = await ok(call, "pick_keys", {"object": DATA, "key_paths": ["x", "a.b.1.c", "zz"]})
    assert result == {"x": "text", "a": {"b": {"1": {"c": 2}}}}
    assert await ok(call, "pick_keys", {"object": DATA, "key_paths": []}) == {}


async def test_merge(call: Call) -> None:
    objects = [{"a": {"b": 1, "l": [1]}, "x": 1}, {"a": {"c": 2, "l": [2]}}, {"x": 3}]
    shallow = await ok(call, "merge", {"objects": objects})
    assert shallow == {"a": {"c": 2, "l": [2]}, "x": 3}
    deep = await ok(call, "merge", {"objects": objects, "deep": True})
    assert deep == {"a": {"b": 1, "c": 2, "l": [2]}, "x": 3}
    assert await ok(call, "merge", {"objects": []}) == {}
    with pytest.raises(InputInvalid):
        await call("merge", {"objects": [{"a": 1}, "not an object"]})


async def test_keys_values_entries(call: Call) -> None:
    obj = {"b": 1, "a": [2], "c": None}
    assert await ok(call, "keys", {"object": obj}) == ["b", "a", "c"]
    assert await ok(call, "values", {"object": obj}) == [1, [2], None]
    entries = await ok(call, "entries", {"object": obj})
    assert entries == [
        {"key": "b", "value": 1},
        {"key": "a", "value": [2]},
        {"key": "c", "value": None},
    ]
    assert await ok(call, "from_entries", {"entries": entries}) == obj


async def test_from_entries(call: Call) -> None:
    entries = [{"key": "a", "value": 1}, {"key": "a", "value": 2}, {"key": "b"}]
    assert await ok(call, "from_entries", {"entries": entries}) == {"a": 2, "b": None}
    with pytest.raises(InputInvalid, match="required key \\[key\\]"):
        await call("from_entries", {"entries": [{"value": 1}]})


async def test_flatten_and_unflatten_round_trip(call: Call) -> None:
    nested = {"a": {"b": [{"c": 1}, {"c": [True]}], "e": {}, "l": []}, "x": None}
    flat = await ok(call, "flatten", {"object": nested})
    assert flat == {"a.b.0.c": 1, "a.b.1.c.0": True, "a.e": {}, "a.l": [], "x": None}
    assert await ok(call, "unflatten", {"object": flat}) == nested
    slashed = await ok(call, "flatten", {"object": {"a": {"b": 1}}, "separator": "/"})
    assert slashed == {"a/b": 1}
    assert await ok(call, "unflatten", {"object": slashed, "separator": "/"}) == {"a": {"b": 1}}


async def test_unflatten_lists_need_every_index(call: Call) -> None:
    assert await ok(call, "unflatten", {"object": {"l.0": "a", "l.2": "c"}}) == {
        "l": {"0": "a", "2": "c"}
    }
    assert await ok(call, "unflatten", {"object": {"l.1": "b", "l.0": "a"}}) == {
        "l": {"1": "b", "0": "a"}  # keys out of order: kept as an object
    }


@pytest.mark.parametrize("flat", [{"a": 1, "a.b": 2}, {"a.b": 2, "a": 1}])
async def test_unflatten_conflicts(call: Call, flat: dict[str, Any]) -> None:
    assert "Cannot unflatten" in await error(call, "unflatten", {"object": flat})


async def test_rename_keys(call: Call) -> None:
    obj = {"first": "Ada", "last": "L", "meta": {"id": 1}}
    mapping = {"first": "name.first", "last": "name.last", "meta.id": "id", "nope": "x"}
    result = await ok(call, "rename_keys", {"object": obj, "mapping": mapping})
    assert result == {"meta": {}, "name": {"first": "Ada", "last": "L"}, "id": 1}
    swapped = await ok(
        call, "rename_keys", {"object": {"a": 1, "b": 2}, "mapping": {"a": "b", "b": "a"}}
    )
    assert swapped == {"b": 1, "a": 2}
    assert obj == {"first": "Ada", "last": "L", "meta": {"id": 1}}


async def test_rename_keys_bad_path(call: Call) -> None:
    message = await error(call, "rename_keys", {"object": {}, "mapping": {"a": "b..c"}})
    assert "Key path 'b..c'" in message


@pytest.mark.parametrize(
    ("value", "empty"),
    [
        (None, True),
        ("", True),
        ([], True),
        ({}, True),
        (0, False),
        (False, False),
        (" ", False),
        ([None], False),
        ({"a": None}, False),
    ],
)
async def test_is_empty(call: Call, value: Any, empty: bool) -> None:
    assert await ok(call, "is_empty", {"value": value}) is empty
