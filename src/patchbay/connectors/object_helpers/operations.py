"""object-helpers operations. Every output is ``{"result": ...}``; operations that change
an object return a new one (the input is never modified). Key paths: see :mod:`.paths`."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..sdk import ConnectorError, Context, field, operation
from .paths import MISSING, delete_path, get_path, parse_path, set_path

KEY_PATH = 'Keys separated by dots, list positions as numbers: "a.b.0.c" (or "a.b[0].c").'


# -- models -----------------------------------------------------------------------------
class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ObjectInput(_Input):
    object_: dict[str, Any] = field(title="Object", alias="object")


class GetInput(ObjectInput):
    key_path: str = field(title="Key path", description=KEY_PATH)
    default: Any = field(None, title="Default", description="The result when nothing is there.")


class SetInput(ObjectInput):
    key_path: str = field(
        title="Key path", description=KEY_PATH + " Missing objects are created.", min_length=1
    )
    value: Any = field(title="Value")


class KeysInput(ObjectInput):
    key_paths: list[str] = field(title="Key paths", description=KEY_PATH)


class MergeInput(_Input):
    objects: list[dict[str, Any]] = field(
        title="Objects", description="Later objects win where keys collide."
    )
    deep: bool = field(
        False,
        title="Deep",
        description="Merge nested objects key by key (lists are replaced, not merged).",
    )


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = field(title="Key")
    value: Any = field(None, title="Value")


class FromEntriesInput(_Input):
    entries: list[Entry] = field(title="Entries", description="A later entry wins.")


class FlattenInput(ObjectInput):
    separator: str = field(".", title="Separator", min_length=1, advanced=True)


class RenameInput(ObjectInput):
    mapping: dict[str, str] = field(
        title="Mapping",
        description='Old key path -> new key path, e.g. {"first_name": "name.first"}. '
        "Paths that hold nothing are skipped.",
    )


class IsEmptyInput(_Input):
    value: Any = field(title="Value")


class ValueResult(BaseModel):
    result: Any = field(title="Result")
    found: bool = field(title="Found", description="Whether the key path held a value.")


class ObjectResult(BaseModel):
    result: dict[str, Any] = field(title="Result")


class KeysResult(BaseModel):
    result: list[str] = field(title="Result")


class ListResult(BaseModel):
    result: list[Any] = field(title="Result")


class EntriesResult(BaseModel):
    result: list[Entry] = field(title="Result")


class BoolResult(BaseModel):
    result: bool = field(title="Result")


# -- helpers ----------------------------------------------------------------------------
def _deep_merge(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in other.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _flatten(value: Any, prefix: str, separator: str, into: dict[str, Any]) -> None:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        name = f"{prefix}{separator}{key}" if prefix else str(key)
        if isinstance(child, dict | list) and child:
            _flatten(child, name, separator, into)
        else:
            into[name] = child


def _listify(value: Any) -> Any:
    """Objects whose keys are exactly "0".."n-1" become lists (after unflattening)."""
    if not isinstance(value, dict):
        return value
    value = {key: _listify(child) for key, child in value.items()}
    if value and list(value) == [str(i) for i in range(len(value))]:
        return list(value.values())
    return value


# -- operations -------------------------------------------------------------------------
@operation(
    title="Get value",
    description="The value at a key path, or the default when there is none.",
    input=GetInput,
    output=ValueResult,
)
async def get_value(ctx: Context, data: GetInput) -> dict:
    value = get_path(data.object_, data.key_path)
    if value is MISSING:
        return {"result": data.default, "found": False}
    return {"result": value, "found": True}


@operation(
    title="Set value",
    description="A copy of the object with a value at a key path.",
    input=SetInput,
    output=ObjectResult,
)
async def set_value(ctx: Context, data: SetInput) -> dict:
    return {"result": set_path(data.object_, data.key_path, data.value)}


@operation(
    title="Delete keys",
    description="A copy of the object without the given key paths (absent ones are ignored).",
    input=KeysInput,
    output=ObjectResult,
)
async def delete_keys(ctx: Context, data: KeysInput) -> dict:
    result = copy.deepcopy(data.object_)
    for path in data.key_paths:
        delete_path(result, path)
    return {"result": result}


@operation(
    title="Pick keys",
    description="A new object holding only the given key paths, nested as they were (a "
    'list position in a path becomes an object key: "items.1.id" -> {"items": {"1": ...}}).',
    input=KeysInput,
    output=ObjectResult,
)
async def pick_keys(ctx: Context, data: KeysInput) -> dict:
    picked: dict[str, Any] = {}
    for path in data.key_paths:
        value = get_path(data.object_, path)
        if value is not MISSING:
            picked = set_path(picked, path, value)
    return {"result": picked}


@operation(
    title="Merge",
    description="Merge objects into one; later objects win.",
    input=MergeInput,
    output=ObjectResult,
)
async def merge(ctx: Context, data: MergeInput) -> dict:
    result: dict[str, Any] = {}
    for other in data.objects:
        result = _deep_merge(result, other) if data.deep else {**result, **other}
    return {"result": copy.deepcopy(result)}


@operation(title="Keys", description="The object's keys.", input=ObjectInput, output=KeysResult)
async def keys(ctx: Context, data: ObjectInput) -> dict:
    return {"result": list(data.object_)}


@operation(title="Values", description="The object's values.", input=ObjectInput, output=ListResult)
async def values(ctx: Context, data: ObjectInput) -> dict:
    return {"result": list(data.object_.values())}


@operation(
    title="Entries",
    description="The object as a list of {key, value}.",
    input=ObjectInput,
    output=EntriesResult,
)
async def entries(ctx: Context, data: ObjectInput) -> dict:
    return {"result": [{"key": k, "value": v} for k, v in data.object_.items()]}


@operation(
    title="From entries",
    description="An object from a list of {key, value}.",
    input=FromEntriesInput,
    output=ObjectResult,
)
async def from_entries(ctx: Context, data: FromEntriesInput) -> dict:
    return {"result": {entry.key: entry.value for entry in data.entries}}


@operation(
    title="Flatten",
    description='Nested objects and lists as one level: {"a": {"b": [1]}} -> {"a.b.0": 1}. '
    "Empty objects and lists are kept as values.",
    input=FlattenInput,
    output=ObjectResult,
)
async def flatten(ctx: Context, data: FlattenInput) -> dict:
    result: dict[str, Any] = {}
    _flatten(data.object_, "", data.separator, result)
    return {"result": result}


@operation(
    title="Unflatten",
    description='The reverse of Flatten: {"a.b.0": 1} -> {"a": {"b": [1]}}. Objects whose '
    'keys are exactly "0", "1"... become lists.',
    input=FlattenInput,
    output=ObjectResult,
)
async def unflatten(ctx: Context, data: FlattenInput) -> dict:
    result: dict[str, Any] = {}
    for name, value in data.object_.items():
        parts = name.split(data.separator)
        container = result
        for depth, part in enumerate(parts[:-1]):
            child = container.setdefault(part, {})
            if not isinstance(child, dict):
                where = data.separator.join(parts[: depth + 1])
                raise ConnectorError(
                    f"Cannot unflatten {name!r}: {where!r} is also a value", "connector_error"
                )
            container = child
        if parts[-1] in container and isinstance(container[parts[-1]], dict):
            raise ConnectorError(
                f"Cannot unflatten {name!r}: it is also an object", "connector_error"
            )
        container[parts[-1]] = copy.deepcopy(value)
    return {"result": _listify(result)}


@operation(
    title="Rename keys",
    description="A copy of the object with values moved from old key paths to new ones.",
    input=RenameInput,
    output=ObjectResult,
)
async def rename_keys(ctx: Context, data: RenameInput) -> dict:
    for path in [*data.mapping, *data.mapping.values()]:
        parse_path(path)  # a bad path is an error even when it holds nothing
    result = copy.deepcopy(data.object_)
    moved = []
    for old, new in data.mapping.items():
        value = get_path(result, old)
        if value is not MISSING:
            delete_path(result, old)
            moved.append((new, value))
    for new, value in moved:  # all removed first, so {"a": "b", "b": "a"} swaps
        result = set_path(result, new, value)
    return {"result": result}


@operation(
    title="Is empty",
    description="Whether a value is null, an empty object, an empty list or empty text.",
    input=IsEmptyInput,
    output=BoolResult,
)
async def is_empty(ctx: Context, data: IsEmptyInput) -> dict:
    return {"result": data.value in (None, "", [], {})}


OPERATIONS = [
    get_value,
    set_value,
    delete_keys,
    pick_keys,
    merge,
    keys,
    values,
    entries,
    from_entries,
    flatten,
    unflatten,
    rename_keys,
    is_empty,
]
