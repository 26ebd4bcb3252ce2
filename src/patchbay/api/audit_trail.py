"""The audit trail: one event per write to the platform API, recorded in one place so that
no route can forget it (plain ASGI, innermost: it sees the route the framework chose and the
status it answered).

Recorded: every ``POST``, ``PUT``, ``PATCH`` and ``DELETE`` under ``/core/v1/`` that reached
an authenticated caller (``api.deps.principal`` leaves it in ``request.state.principal``),
whatever its outcome (a 403 too: refused attempts are visible), and the sign-in routes'
writes whoever makes them (``ANONYMOUS_PATHS``: the caller is the member they signed in,
else ``anonymous``). Not recorded: reads, unauthenticated writes elsewhere (401), and the
public high-volume paths (intake URLs, workflow webhooks, Call Connector: a call is not a
change).

What an event holds (never a secret; no body, query string or header is read):
- who: the actor's type, id (a member's id; a token's id) and label (email, token name);
- what: ``action``, derived from the method and the route's template (``describe``), and
  ``details`` with the template and method (and, for a create, the new resource's id);
- which: the resource type (the path's first segment) and id (its path parameter, or the
  ``id`` of a create's JSON answer); the workspace the services checked
  (``services.audit.context``), else the caller's;
- when, from where (the client address: behind a proxy, as uvicorn's proxy headers set
  it), and the status answered.

The event is queued after the answer is sent (``AuditLog.record`` appends to a list); a
failure to record is logged and never changes the answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from ..services.audit.context import noting
from ..services.audit.log import AuditLog
from ..services.identity.principal import Principal
from .limits import CALL_PATH

log = logging.getLogger("patchbay.audit")

PREFIX = "/core/v1/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Written to by people who are not signed in yet. Their path parameters may be one-time
# secrets (a reset link's token): no id is taken from them.
ANONYMOUS_PATHS = (
    "/core/v1/session",
    "/core/v1/setup",
    "/core/v1/invites/accept",
    "/core/v1/password-resets",
)
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
CREATED_ID_BYTES = 65_536  # a create's answer is parsed for its id when this small
_LEADING_ID = re.compile(rb'^\s*\{\s*"id"\s*:\s*"([^"\\]{1,255})"')


def _anonymous(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in ANONYMOUS_PATHS)


def _param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _plural(word: str) -> bool:
    return word.endswith("s") and not word.endswith(("ss", "us"))


def _singular(word: str) -> str:
    return word[:-1] if _plural(word) else word


def describe(method: str, template: str) -> tuple[str, str, str | None]:
    """``(action, resource type, name of the resource's id parameter)`` of a write to a
    route template under ``/core/v1/``. The action is the resource (singular), the
    sub-resources named on the way, and a verb: the method's (POST create, PUT and PATCH
    update, DELETE delete; a POST to an item updates it) on a collection or an item, else
    the path's last word (``POST .../enable``)::

        POST   /core/v1/workflows                          workflow.create
        PUT    /core/v1/workflows/{workflow_id}            workflow.update
        POST   /core/v1/workflows/{workflow_id}/enable     workflow.enable
        POST   /core/v1/workflows/{workflow_id}/runs       workflow.run.create
        POST   /core/v1/workflows/{id}/runs/{run}/cancel   workflow.run.cancel
        DELETE /core/v1/users/{user_id}/tokens             user.token.delete
    """
    parts = [p for p in template[len(PREFIX) :].split("/") if p]
    resource_type = parts[0]
    id_param = parts[1][1:-1] if len(parts) > 1 and _param(parts[1]) else None
    words = [p for p in parts if not _param(p)]
    last = parts[-1]
    if len(parts) > 1 and not _param(last) and not _plural(last) and method == "POST":
        nouns, verb = words[:-1], last  # an action on what comes before
    elif method == "POST" and _param(last):
        nouns, verb = words, "update"  # a POST to an item acts on it
    else:
        nouns, verb = words, _VERBS[method]
    return ".".join([*(_singular(w) for w in nouns), verb]), resource_type, id_param


def _actor(p: Principal | None) -> tuple[str, str | None, str | None, dict[str, Any]]:
    """``(actor type, actor id, label, extra details)`` of a caller."""
    if p is None:
        return "anonymous", None, None, {}
    if p.kind == "member":
        if p.via == "session":
            return "member", p.member_id, p.label, {}
        # A personal token acts as its member: the member is the actor, the token noted.
        return "personal_token", p.member_id, p.label, {"tokenId": p.token_id}
    if p.kind == "user":
        return "user_token", p.token_id, p.label, {"userId": p.user_id}
    return "master_token", p.token_id, p.label, {}


def _created_id(body: bytes, whole: bool) -> str | None:
    """The ``id`` of a JSON object answer (nothing else of it is kept); of a large answer
    (only its head read), the ``id`` it begins with."""
    if not body:
        return None
    if not whole:
        found = _LEADING_ID.match(body)
        return found.group(1).decode() if found else None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, dict):
        value = document.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)[:255]
    return None


class AuditTrail:
    def __init__(self, app, platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or not scope["path"].startswith(PREFIX)
            or CALL_PATH.match(scope["path"])
        ):
            return await self.app(scope, receive, send)
        status: int | None = None
        keep_body = False
        chunks: list[bytes] = []
        size = 0

        async def watching_send(message):
            nonlocal status, keep_body, size
            if message["type"] == "http.response.start":
                status = message["status"]
                # A create's answer names the new resource: read its id (only that).
                keep_body = scope["method"] == "POST" and 200 <= status < 300
            elif message["type"] == "http.response.body" and keep_body:
                if size <= CREATED_ID_BYTES:  # a larger answer: its head only
                    chunk = message.get("body", b"")
                    chunks.append(chunk)
                    size += len(chunk)
            await send(message)

        with noting() as note:
            try:
                await self.app(scope, receive, watching_send)
            finally:
                try:
                    created = _created_id(b"".join(chunks), size <= CREATED_ID_BYTES)
                    self._record(scope, status or 500, note.workspace_id, created)
                except Exception as exc:  # the answer is sent: never let this change it
                    route = getattr(scope.get("route"), "path", None)
                    log.error(
                        "audit log: could not record %s %s (%s)",
                        scope["method"],
                        route or "(no route)",
                        type(exc).__name__,
                    )

    def _record(self, scope, status: int, noted_workspace: str | None, created: str | None) -> None:
        state = scope.get("state") or {}
        principal: Principal | None = state.get("principal")
        anonymous = _anonymous(scope["path"])
        if principal is None and not anonymous:
            return  # refused before anyone was known (401): not a change by anyone
        template = getattr(scope.get("route"), "path", None)
        if not isinstance(template, str) or not template.startswith(PREFIX):
            return  # no route answered (404, 405): nothing was done
        method = scope["method"]
        action, resource_type, id_param = describe(method, template)
        resource_id = None
        if id_param is not None and not anonymous:
            value = (scope.get("path_params") or {}).get(id_param)
            resource_id = str(value) if value is not None else None
        details: dict[str, Any] = {"route": template, "method": method}
        if created is not None:
            details["createdId"] = created
            resource_id = resource_id or created
        actor_type, actor_id, label, extra = _actor(principal)
        details.update(extra)
        workspace_id = noted_workspace
        if workspace_id is None and principal is not None:
            workspace_id = principal.workspace_id
        if workspace_id is None and resource_type == "workspaces":
            workspace_id = resource_id
        org_id = principal.org_id if principal is not None else self.platform.default_org_id
        if org_id is None:
            return
        client = scope.get("client")
        audit: AuditLog = self.platform.audit
        audit.record(
            org_id=org_id,
            actor_type=actor_type,
            actor_id=actor_id,
            actor_label=label,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            workspace_id=workspace_id,
            status_code=status,
            ip=client[0] if client else None,
            details=details,
        )
