"""Data Mapper: rename keys of objects (``map_values``) and translate one value through a
lookup table (``map_value``).

Key paths are :mod:`patchbay.keypaths` (``"address.city"``; ``\\.`` is a literal dot in a
key). When reading, an integer segment indexes into a list (``"items.0.sku"``); when writing,
every segment is an object key and missing objects are created.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from ... import keypaths
from ...payload_refs import is_ref
from ..sdk import ConnectorError, Context, field, operation

Segments = tuple[str, ...]


def _fail(message: str) -> ConnectorError:
    return ConnectorError(message, "connector_error")


def parse_path(path: str, where: str) -> Segments:
    """``"a.b\\.c"`` -> ``("a", "b.c")`` (parsed once: :func:`keypaths.parse` is cached); a
    malformed or empty path is an error naming ``where``."""
    try:
        segments = keypaths.parse(path)
    except keypaths.KeyPathError as exc:
        raise _fail(f"{where}: {path!r} is not a key path ({exc.reason})") from None
    if not segments:
        raise _fail(f"{where}: {path!r} is not a key path (empty key)")
    return segments


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else type(value).__name__


# -- map_values -------------------------------------------------------------------------
class KeyMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = field(
        title="From", alias="from", min_length=1, description='A key path, e.g. "address.city".'
    )
    to: str = field(title="To", min_length=1, description='A key path, e.g. "city".')


class MapValuesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = field(title="Value", description="An object, or a list of objects.")
    mappings: list[KeyMapping] = field(
        title="Mappings", description="Each copies the value at `from` to `to`."
    )
    keep_unmapped: bool = field(
        False,
        title="Keep unmapped keys",
        description="Also keep the keys no mapping reads from (mapped source keys are "
        "removed). Off: the result holds only the mapped keys.",
    )


class MapValuesOutput(BaseModel):
    result: Any = field(title="Result", description="The mapped object or list of objects.")


def _map_object(item: Any, where: str, mappings: list[tuple[Segments, Segments]], keep: bool):
    if not isinstance(item, Mapping):
        raise _fail(f"{where} must be an object, got {_kind(item)}")
    found = [(to, keypaths.get(item, source)) for source, to in mappings]
    result: dict[str, Any] = {}
    if keep:
        result = copy.deepcopy(dict(item))
        for source, _ in mappings:
            keypaths.delete(result, source)
    for to, value in found:
        if value is not keypaths.MISSING:  # an absent source key writes nothing
            keypaths.put(result, to, copy.deepcopy(value))
    return result


async def _read_along(value: Any, paths: list[Segments], ctx: Context) -> Any:
    """``value`` with the stored payloads (``patchbay.payload_refs``) that a path goes *into*
    read; a payload a path only reaches (a value moved whole) stays a reference, so a large
    value is moved without being copied. Containers on the way are copied, not changed."""
    if ctx.payloads is None:
        return value
    if is_ref(value):
        value = await ctx.payloads.load(value)
    for path in paths:
        value = await _read_path(value, path, ctx)
    return value


async def _read_path(node: Any, path: Segments, ctx: Context) -> Any:
    if len(path) < 2:
        return node
    if isinstance(node, list):
        items = [await _read_path(item, path, ctx) for item in node]
        return node if all(a is b for a, b in zip(items, node, strict=True)) else items
    if not isinstance(node, Mapping) or path[0] not in node:
        return node
    child = node[path[0]]
    opened = await ctx.payloads.load(child) if is_ref(child) else child
    opened = await _read_path(opened, path[1:], ctx)
    return node if opened is child else {**node, path[0]: opened}


@operation(
    title="Map keys",
    description="Rename the keys of an object or of every object in a list, following a "
    "table of {from, to} key paths.",
    input=MapValuesInput,
    output=MapValuesOutput,
    payloads=True,
)
async def map_values(ctx: Context, data: MapValuesInput) -> dict:
    mappings = [
        (parse_path(m.from_, f"mappings[{i}].from"), parse_path(m.to, f"mappings[{i}].to"))
        for i, m in enumerate(data.mappings)
    ]
    data.value = await _read_along(data.value, [source for source, _ in mappings], ctx)
    if isinstance(data.value, list):
        result: Any = [
            _map_object(item, f"value[{i}]", mappings, data.keep_unmapped)
            for i, item in enumerate(data.value)
        ]
    else:
        result = _map_object(data.value, "value", mappings, data.keep_unmapped)
    return {"result": result}


# -- map_value --------------------------------------------------------------------------
class ValueMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Any = field(title="From", alias="from", description="Any JSON value, null too.")
    to: Any = field(title="To", description="Any JSON value, null too.")


class MapValueInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Any = field(None, title="Value", description="The value to look up.")
    mappings: list[ValueMapping] = field(
        title="Mappings", description="The lookup table; the first matching `from` wins."
    )
    default: Any = field(
        None,
        title="Default",
        description="The result when nothing matches. Left out: the value itself.",
    )
    case_sensitive: bool = field(
        True,
        title="Case sensitive",
        description="Off: strings match regardless of case.",
        advanced=True,
    )


class MapValueOutput(BaseModel):
    result: Any = field(title="Result")
    matched: bool = field(title="Matched", description="Whether a mapping matched.")


def _same(a: Any, b: Any, case_sensitive: bool) -> bool:
    """Equality without coercion: 1 and "1" differ, 1 and true differ, 1 and 1.0 match;
    lists and objects compare item by item."""
    if isinstance(a, str) and isinstance(b, str):
        return a == b if case_sensitive else a.casefold() == b.casefold()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            _same(x, y, case_sensitive) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k], case_sensitive) for k in a)
    return a is None and b is None


@operation(
    title="Map one value",
    description="Translate one value through a lookup table of {from, to} pairs.",
    input=MapValueInput,
    output=MapValueOutput,
)
async def map_value(ctx: Context, data: MapValueInput) -> dict:
    for mapping in data.mappings:
        if _same(data.value, mapping.from_, data.case_sensitive):
            return {"result": mapping.to, "matched": True}
    fallback = data.default if "default" in data.model_fields_set else data.value
    return {"result": fallback, "matched": False}


OPERATIONS = [map_values, map_value]
