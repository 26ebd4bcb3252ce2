"""Tray's Platform API paging (users, roles, workspaces): ``first`` or ``last`` with a
``cursor``; the page is ``elements`` and ``pageInfo`` (``ExternalApiPageInfoModel``, whose
cursors are left out on an empty page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel

from ...services.cursors import DEFAULT_PAGE


class TrayPageInfo(BaseModel):
    startCursor: str | None = None
    endCursor: str | None = None
    hasNextPage: bool
    hasPreviousPage: bool


def first(maximum: int):
    """The ``first`` query parameter, bounded by the service (400 ``invalid_page_size``)."""
    return Annotated[
        int | None,
        Query(
            description=f"Page size forwards (after cursor), 1 to {maximum} "
            f"(default {DEFAULT_PAGE})",
            json_schema_extra={"minimum": 1, "maximum": maximum},
        ),
    ]


def last(maximum: int):
    return Annotated[
        int | None,
        Query(
            description=f"Page size backwards (the rows before cursor), 1 to {maximum}; "
            "not with first",
            json_schema_extra={"minimum": 1, "maximum": maximum},
        ),
    ]


Cursor = Annotated[
    str | None,
    Query(description="A startCursor or endCursor from a previous page's pageInfo"),
]
