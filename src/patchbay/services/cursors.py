"""Cursor pagination over a table's ``seq`` column, in Tray's ``pageInfo`` shape."""

from __future__ import annotations

import base64
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


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise BadRequest(f"first must be between 1 and {MAX_PAGE}", "invalid_page_size")
    return first


async def paginate(session, query: Select, seq_column, first: int | None, cursor: str | None):
    """Rows after ``cursor`` in ``seq`` order, and the pageInfo describing the page."""
    size = page_size(first)
    if cursor:
        query = query.where(seq_column > decode_cursor(cursor))
    rows = list((await session.scalars(query.order_by(seq_column).limit(size + 1))).all())
    has_next = len(rows) > size
    rows = rows[:size]
    info: dict[str, Any] = {
        "startCursor": encode_cursor(rows[0].seq) if rows else None,
        "endCursor": encode_cursor(rows[-1].seq) if rows else None,
        "hasNextPage": has_next,
        "hasPreviousPage": bool(cursor),
    }
    return rows, info
