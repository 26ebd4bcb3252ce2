"""list-helpers operations. Every output is ``{"result": ...}`` (a list inside an object, as
Tray's List Helpers answer). Where an operation takes a ``key_path`` it looks at that path
inside each item (see :mod:`..object_helpers.paths`); an empty key path means the item
itself. Arithmetic is decimal (see :mod:`..math_helpers.numbers`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..math_helpers.numbers import Number, average, extreme, fail, is_number, show, to_decimal
from ..math_helpers.numbers import total as total_of
from ..object_helpers.paths import MISSING, canonical, get_path, parse_path, same_value
from ..sdk import Context, Operation, field, operation
from ..text_helpers.convert import to_text

KEY_PATH = 'Where to look inside each item: "a.b.0.c" (or "a.b[0].c"). Empty: the item itself.'


# -- models -----------------------------------------------------------------------------
class ListInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    list_: list[Any] = field(title="List", alias="list")


class KeyPathInput(ListInput):
    key_path: str = field("", title="Key path", description=KEY_PATH)


class RequiredKeyPathInput(ListInput):
    key_path: str = field(title="Key path", description=KEY_PATH, min_length=1)


class IndexInput(ListInput):
    index: int = field(title="Index", description="From 0; negative counts from the end.")


class ContainsInput(KeyPathInput):
    value: Any = field(title="Value", description="Compared as JSON (1 equals 1.0).")


class SortInput(KeyPathInput):
    order: Literal["asc", "desc"] = field(
        "asc", title="Order", enum_labels=["Ascending", "Descending"]
    )
    compare_as: Literal["auto", "number", "string"] = field(
        "auto",
        title="Compare as",
        description="auto compares numbers as numbers when every value is a number, else as "
        "text; number also reads numeric text. Missing and null values go last.",
        enum_labels=["Automatic", "Numbers", "Text"],
    )


Comparison = Literal[
    "===", "!==", ">", "<", ">=", "<=", "contains", "not_contains", "exists", "not_exists"
]


class FilterInput(KeyPathInput):
    comparison: Comparison = field(
        title="Comparison",
        description="=== and !== compare JSON values; >, <, >=, <= compare two numbers or two "
        "texts (anything else does not match); contains looks in text or a list; exists "
        "means present and not null.",
        enum_labels=[
            "Equal to",
            "Not equal to",
            "Greater than",
            "Less than",
            "Greater than or equal to",
            "Less than or equal to",
            "Contains",
            "Does not contain",
            "Exists",
            "Does not exist",
        ],
    )
    value: Any = field(None, title="Value", description="Not used by exists / not_exists.")


class MapInput(RequiredKeyPathInput):
    skip_missing: bool = field(
        False,
        title="Skip missing",
        description="Leave out items without the key path (else they give null).",
    )


class FlattenInput(ListInput):
    depth: int = field(
        1, title="Depth", description="How many levels of lists to open.", ge=1, le=100
    )


class ChunkInput(ListInput):
    size: int = field(title="Chunk size", ge=1)


class JoinInput(ListInput):
    separator: str = field(",", title="Separator")


class SliceInput(ListInput):
    start: int = field(0, title="Start", description="Negative counts from the end.")
    end: int | None = field(
        None, title="End", description="Excluded; negative counts from the end; empty: to the end."
    )


class ConcatenateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lists: list[list[Any]] = field(title="Lists")


class ItemResult(BaseModel):
    result: Any = field(title="Result")
    found: bool = field(title="Found", description="Whether the list had that item.")


class ListResult(BaseModel):
    result: list[Any] = field(title="Result")


class IntResult(BaseModel):
    result: int = field(title="Result")


class BoolResult(BaseModel):
    result: bool = field(title="Result")


class TextResult(BaseModel):
    result: str = field(title="Result")


class NumberResult(BaseModel):
    result: Number = field(title="Result")


class GroupsResult(BaseModel):
    result: dict[str, list[Any]] = field(
        title="Result", description='Items by the text of their key; null or missing: "null".'
    )


# -- helpers ----------------------------------------------------------------------------
def _pluck(items: list[Any], key_path: str) -> list[Any]:
    """The value at ``key_path`` in each item (:data:`MISSING` where there is none)."""
    if not key_path:
        return list(items)
    parse_path(key_path)  # a bad path fails even on an empty list
    return [get_path(item, key_path) for item in items]


def _present(values: list[Any]) -> list[Any]:
    return [None if v is MISSING else v for v in values]


def _item(items: list[Any], index: int) -> dict:
    if -len(items) <= index < len(items):
        return {"result": items[index], "found": True}
    return {"result": None, "found": False}


def _as_number(value: Any) -> Decimal:
    if is_number(value):
        return to_decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            number = None
        if number is not None and number.is_finite():
            return number
    raise fail(f"Cannot sort by number: {show(value)} is not a number")


def _compare(left: Any, comparison: str, right: Any) -> bool:
    if comparison == "===":
        return left is not MISSING and same_value(left, right)
    if comparison == "!==":
        return left is MISSING or not same_value(left, right)
    if comparison in ("exists", "not_exists"):
        return (left is not MISSING and left is not None) == (comparison == "exists")
    if comparison in ("contains", "not_contains"):
        if isinstance(left, str) and isinstance(right, str):
            found = right in left
        elif isinstance(left, list):
            found = any(same_value(item, right) for item in left)
        else:
            found = False
        return found == (comparison == "contains")
    if is_number(left) and is_number(right):
        a, b = to_decimal(left), to_decimal(right)
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        return False
    return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[comparison]


# -- picking ----------------------------------------------------------------------------
@operation(
    title="First item",
    description="The first item (null, found false, for an empty list).",
    input=ListInput,
    output=ItemResult,
)
async def first(ctx: Context, data: ListInput) -> dict:
    return _item(data.list_, 0)


@operation(
    title="Last item",
    description="The last item (null, found false, for an empty list).",
    input=ListInput,
    output=ItemResult,
)
async def last(ctx: Context, data: ListInput) -> dict:
    return _item(data.list_, -1)


@operation(
    title="Get item",
    description="The item at an index (null, found false, when there is none).",
    input=IndexInput,
    output=ItemResult,
)
async def get_item(ctx: Context, data: IndexInput) -> dict:
    return _item(data.list_, data.index)


@operation(title="Length", description="The number of items.", input=ListInput, output=IntResult)
async def length(ctx: Context, data: ListInput) -> dict:
    return {"result": len(data.list_)}


@operation(
    title="Contains",
    description="Whether an item (or an item's value at the key path) equals the value.",
    input=ContainsInput,
    output=BoolResult,
)
async def contains(ctx: Context, data: ContainsInput) -> dict:
    values = _pluck(data.list_, data.key_path)
    return {"result": any(v is not MISSING and same_value(v, data.value) for v in values)}


@operation(
    "slice",
    title="Slice",
    description="The items from start up to (not including) end, like JavaScript's slice.",
    input=SliceInput,
    output=ListResult,
)
async def slice_list(ctx: Context, data: SliceInput) -> dict:
    return {"result": data.list_[data.start : data.end]}


# -- reshaping --------------------------------------------------------------------------
@operation(
    title="Unique",
    description="The list without repeated items (JSON equality; the first one stays). With "
    "a key path, items are the same when their values there are (missing counts as null).",
    input=KeyPathInput,
    output=ListResult,
)
async def unique(ctx: Context, data: KeyPathInput) -> dict:
    seen: set[str] = set()
    result = []
    for item, value in zip(data.list_, _present(_pluck(data.list_, data.key_path)), strict=True):
        key = canonical(value)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return {"result": result}


@operation(
    title="Sort",
    description="Sort the items (by their value at a key path); equal items keep their order.",
    input=SortInput,
    output=ListResult,
)
async def sort(ctx: Context, data: SortInput) -> dict:
    pairs = zip(_pluck(data.list_, data.key_path), data.list_, strict=True)
    present, absent = [], []
    for value, item in pairs:
        (absent if value is MISSING or value is None else present).append((value, item))
    kind = data.compare_as
    if kind == "auto":
        kind = "number" if all(is_number(v) for v, _ in present) else "string"
    key = _as_number if kind == "number" else to_text
    present.sort(key=lambda pair: key(pair[0]), reverse=data.order == "desc")
    return {"result": [item for _, item in present + absent]}


@operation(
    "filter",
    title="Filter",
    description="The items whose value (at the key path) passes a comparison with a value.",
    input=FilterInput,
    output=ListResult,
)
async def filter_list(ctx: Context, data: FilterInput) -> dict:
    values = _pluck(data.list_, data.key_path)
    kept = [
        item
        for item, value in zip(data.list_, values, strict=True)
        if _compare(value, data.comparison, data.value)
    ]
    return {"result": kept}


@operation(
    "map",
    title="Map (pluck)",
    description="Each item's value at a key path.",
    input=MapInput,
    output=ListResult,
)
async def map_list(ctx: Context, data: MapInput) -> dict:
    values = _pluck(data.list_, data.key_path)
    if data.skip_missing:
        return {"result": [v for v in values if v is not MISSING]}
    return {"result": _present(values)}


def _flatten(items: list[Any], depth: int) -> list[Any]:
    result: list[Any] = []
    for item in items:
        if isinstance(item, list) and depth > 0:
            result.extend(_flatten(item, depth - 1))
        else:
            result.append(item)
    return result


@operation(
    title="Flatten",
    description="Open lists inside the list, to a depth: [1, [2, [3]]] -> [1, 2, [3]].",
    input=FlattenInput,
    output=ListResult,
)
async def flatten(ctx: Context, data: FlattenInput) -> dict:
    return {"result": _flatten(data.list_, data.depth)}


@operation(
    title="Chunk",
    description="Split the list into lists of a size (the last may be shorter).",
    input=ChunkInput,
    output=ListResult,
)
async def chunk(ctx: Context, data: ChunkInput) -> dict:
    items, size = data.list_, data.size
    return {"result": [items[i : i + size] for i in range(0, len(items), size)]}


@operation(
    title="Join",
    description="The items as one text, with a separator (null as nothing, objects as JSON).",
    input=JoinInput,
    output=TextResult,
)
async def join(ctx: Context, data: JoinInput) -> dict:
    return {"result": data.separator.join(to_text(item) for item in data.list_)}


@operation(
    title="Reverse", description="The items in reverse order.", input=ListInput, output=ListResult
)
async def reverse(ctx: Context, data: ListInput) -> dict:
    return {"result": data.list_[::-1]}


@operation(
    title="Concatenate",
    description="The lists one after the other, as one list.",
    input=ConcatenateInput,
    output=ListResult,
)
async def concatenate(ctx: Context, data: ConcatenateInput) -> dict:
    return {"result": [item for items in data.lists for item in items]}


@operation(
    title="Group by",
    description="An object of lists: the items by the text of their value at a key path.",
    input=RequiredKeyPathInput,
    output=GroupsResult,
)
async def group_by(ctx: Context, data: RequiredKeyPathInput) -> dict:
    groups: dict[str, list[Any]] = {}
    for item, value in zip(data.list_, _pluck(data.list_, data.key_path), strict=True):
        name = "null" if value is MISSING or value is None else to_text(value)
        groups.setdefault(name, []).append(item)
    return {"result": groups}


# -- numbers ----------------------------------------------------------------------------
def _aggregate(name: str, title: str, description: str, reduce: Any) -> Operation:
    async def handler(ctx: Context, data: KeyPathInput) -> dict:
        return {"result": reduce(_present(_pluck(data.list_, data.key_path)))}

    return operation(
        name, title=title, description=description, input=KeyPathInput, output=NumberResult
    )(handler)


_NUMBERS_NOTE = " Every value must be a number (decimal arithmetic: 0.1 + 0.2 is 0.3)."
total = _aggregate("sum", "Sum", "The sum of the numbers (0 for none)." + _NUMBERS_NOTE, total_of)
minimum = _aggregate(
    "min",
    "Minimum",
    "The smallest number (an empty list is an error)." + _NUMBERS_NOTE,
    lambda values: extreme(values, largest=False),
)
maximum = _aggregate(
    "max",
    "Maximum",
    "The largest number (an empty list is an error)." + _NUMBERS_NOTE,
    lambda values: extreme(values, largest=True),
)
mean = _aggregate(
    "average",
    "Average",
    "The mean of the numbers (an empty list is an error)." + _NUMBERS_NOTE,
    average,
)


OPERATIONS = [
    first,
    last,
    get_item,
    length,
    contains,
    slice_list,
    unique,
    sort,
    filter_list,
    map_list,
    flatten,
    chunk,
    join,
    reverse,
    concatenate,
    group_by,
    total,
    minimum,
    maximum,
    mean,
]
