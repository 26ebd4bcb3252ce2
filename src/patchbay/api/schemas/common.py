"""Shapes every resource shares: the error body, Tray's ``pageInfo``, and the error
statuses a route declares."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel

from ...services.cursors import DEFAULT_PAGE, MAX_PAGE


class Error(BaseModel):
    """Every error answer: a message, and a stable code (null for Tray's input errors)."""

    message: str
    code: str | None


class PageInfo(BaseModel):
    startCursor: str | None
    endCursor: str | None
    hasNextPage: bool
    hasPreviousPage: bool


class Health(BaseModel):
    status: Literal["ok"]


class IntakeAck(BaseModel):
    """An intake's default answer."""

    ok: bool


_MEANING = {
    400: "Invalid request (body, query or path)",
    401: "Missing or invalid bearer token",
    403: "The token may not do this (a master token is required)",
    404: "Not found",
    408: "The request body did not arrive in time",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    415: "Unsupported Content-Type",
    422: "The request cannot be processed as it is",
    429: "Rate limited (see Retry-After)",
    502: "An upstream service failed",
    503: "Not available right now; try again",
    504: "No answer in time",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses a route can answer, each with the error body.
    A route that reads a body (413) can also answer 408 (the body came too slowly) and 415
    (not JSON: the one Content-Type rule of api/edge.py)."""
    if 413 in statuses:
        statuses = tuple(sorted({*statuses, 408, 415}))
    return {s: {"model": Error, "description": _MEANING[s]} for s in statuses}


# The page size query parameter. Its bounds are checked by the service (with its own error
# code, invalid_page_size), so they are declared in the document only.
PageSize = Annotated[
    int | None,
    Query(
        description=f"Page size, 1 to {MAX_PAGE} (default {DEFAULT_PAGE})",
        json_schema_extra={"minimum": 1, "maximum": MAX_PAGE},
    ),
]

# A list's workspace filter (only the caller's visible workspaces are ever listed).
WorkspaceFilter = Annotated[
    str | None,
    Query(
        alias="workspaceId",
        description="Only this workspace's (a workspace you have no role in lists nothing)",
    ),
]

# Where a create puts the new thing (default: the token's workspace, else your only one,
# else the organisation's default workspace).
TargetWorkspace = Annotated[
    str | None,
    Query(
        alias="workspaceId",
        description="The workspace to create it in (default: the token's, else your only "
        "workspace, else the organisation's default one)",
    ),
]
