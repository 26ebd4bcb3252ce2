"""Workspace scoping shared by the services: what a list shows, and what a load by id
lets through.

A list shows the rows of the workspaces the caller may read
(``Principal.visible_workspaces``), narrowed to one when the request asks (``workspaceId``);
asking for a workspace the caller cannot see lists nothing (it must not learn the workspace
exists). A row loaded by id is checked against the caller's role in its workspace: no role
there answers the resource's own 404 (exactly as if the id did not exist), a role too weak
for the route's action 403 ``insufficient_role``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false

from .errors import NotFound
from .identity.principal import Principal


def in_visible(p: Principal, column: Any, workspace_id: str | None = None) -> list:
    """The filter clauses keeping the rows (``column``: their workspace id) that ``p`` may
    read, in ``workspace_id`` only when given."""
    seen = p.visible_workspaces()
    if workspace_id is not None:
        if seen is not None and workspace_id not in seen:
            return [false()]
        return [column == workspace_id]
    if seen is None:
        return []
    return [column.in_(sorted(seen))] if seen else [false()]


def guard(
    p: Principal, workspace_id: str | None, missing: NotFound, action: str | None = None
) -> None:
    """Let ``p`` act (``action``, default the route's) on a row of ``workspace_id``:
    ``missing`` (the resource's own 404) where ``p`` has no role there, 403 where its role
    is too weak."""
    if p.role_in(workspace_id) is None:
        raise missing
    p.check(workspace_id, action)
