"""Cursor pagination over a table's ``seq`` column, in Tray's ``pageInfo`` shape."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from .errors import BadRequest

DEFAULT_PAGE = 20
MAX_PAGE = 100


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "seq":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Invalid cursor", "invalid_cursor") from exc


def page_size(first: int | None, maximum: int = MAX_PAGE, name: str = "first") -> int:
    if first is None:
        return min(DEFAULT_PAGE, maximum)
    if not 1 <= first <= maximum:
        raise BadRequest(f"{name} must be between 1 and {maximum}", "invalid_page_size")
    return first


def _direction(first: int | None, last: int | None, maximum: int) -> tuple[int, bool]:
    """The page size and whether the page runs backwards (Tray's ``last``)."""
    if first is not None and last is not None:
        raise BadRequest("Give first or last, not both", "invalid_page_size")
    if last is not None:
        return page_size(last, maximum, "last"), True
    return page_size(first, maximum), False


async def paginate(
    session,
    query: Select,
    seq_column,
    first: int | None,
    cursor: str | None,
    *,
    last: int | None = None,
    maximum: int = MAX_PAGE,
):
    """Rows after ``cursor`` in ``seq`` order (with ``last``: the ``last`` rows before it,
    still in ``seq`` order), and the pageInfo describing the page."""
    size, backwards = _direction(first, last, maximum)
    if cursor:
        after = decode_cursor(cursor)
        query = query.where(seq_column < after if backwards else seq_column > after)
    order = seq_column.desc() if backwards else seq_column
    rows = list((await session.scalars(query.order_by(order).limit(size + 1))).all())
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    info: dict[str, Any] = {
        "startCursor": encode_cursor(rows[0].seq) if rows else None,
        "endCursor": encode_cursor(rows[-1].seq) if rows else None,
        "hasNextPage": bool(cursor) if backwards else more,
        "hasPreviousPage": more if backwards else bool(cursor),
    }
    return rows, info


def paginate_list(
    items: Sequence[Any],
    first: int | None,
    cursor: str | None,
    *,
    last: int | None = None,
    maximum: int = MAX_PAGE,
) -> tuple[list[Any], dict[str, Any]]:
    """``paginate`` over a fixed list (the built-in roles): positions stand for ``seq``."""
    size, backwards = _direction(first, last, maximum)
    positions = range(1, len(items) + 1)
    if cursor:
        after = decode_cursor(cursor)
        positions = [i for i in positions if (i < after if backwards else i > after)]
    positions = list(positions)
    chosen = positions[-size:] if backwards else positions[:size]
    more = len(positions) > size
    info: dict[str, Any] = {
        "startCursor": encode_cursor(chosen[0]) if chosen else None,
        "endCursor": encode_cursor(chosen[-1]) if chosen else None,
        "hasNextPage": bool(cursor) if backwards else more,
        "hasPreviousPage": more if backwards else bool(cursor),
    }
    return [items[i - 1] for i in chosen], info


def without_null_cursors(info: dict[str, Any]) -> dict[str, Any]:
    """Tray's Platform API pageInfo leaves out the cursors of an empty page (its schema
    types them as strings, never null)."""
    return {k: v for k, v in info.items() if v is not None}
