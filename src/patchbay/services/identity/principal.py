"""Who is calling, and what they may do where.

Three kinds of caller: a **master token** (the organisation's, or scoped to one workspace),
an **end user's token** (a customer of a product that embeds Patchbay: only their own
authentications, subscriptions and calls), and a **member** (a person who builds
integrations, signed in with a session cookie or a personal token) acting with their roles.

Roles (see docs/access.md):
- organisation roles: ``owner`` and ``admin`` administer every workspace and the
  organisation's members; a ``member`` acts only through their workspace roles;
- workspace roles: ``viewer`` reads, ``contributor`` also builds and runs, ``admin`` also
  manages the workspace's members and secrets (authentications, end users, signing keys).

A route declares the action it performs (``READ``, ``BUILD`` or ``MANAGE``: ``api.deps.allow``)
and the services check it against the workspace of each row they touch
(``Principal.check``): a workspace the caller has no role in is invisible (404), a role too
weak for the action is 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ..audit.context import note_workspace
from ..errors import Forbidden, NotFound

READ, BUILD, MANAGE = "read", "build", "manage"
ACTIONS = (READ, BUILD, MANAGE)
ORG_ROLES = ("owner", "admin", "member")
WORKSPACE_ROLES = ("admin", "contributor", "viewer")
ROLE_ACTIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "viewer": frozenset({READ}),
        "contributor": frozenset({READ, BUILD}),
        "admin": frozenset({READ, BUILD, MANAGE}),
    }
)
_NO_ROLES: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: str
    kind: str  # "master" | "user" | "member"
    token_id: str  # the token's id, or the session's
    user_id: str | None = None  # an end user (user tokens)
    # A master token scoped to one workspace, or the end user's workspace.
    workspace_id: str | None = None
    member_id: str | None = None
    org_role: str | None = None  # a member's organisation role
    workspace_roles: Mapping[str, str] = field(default_factory=lambda: _NO_ROLES)  # by workspace
    default_workspace_id: str | None = None  # where a create without a workspace goes
    via: str = "token"  # "token" | "session" (cookie: writes need the CSRF header)
    label: str | None = None  # a member's email or a token's name (the audit log's actor)
    action: str = READ  # what the route being served does (``api.deps.allow``)

    # -- who ----------------------------------------------------------------------------
    @property
    def is_master(self) -> bool:
        return self.kind == "master"

    @property
    def is_member(self) -> bool:
        return self.kind == "member"

    @property
    def is_end_user(self) -> bool:
        return self.kind == "user"

    @property
    def owner(self) -> str:
        """The owner key of what this principal creates: its end user id, or "org"."""
        return self.user_id or "org"

    @property
    def org_wide(self) -> bool:
        """Sees every workspace: an organisation master token, an owner or an admin."""
        if self.kind == "master":
            return self.workspace_id is None
        return self.kind == "member" and self.org_role in ("owner", "admin")

    def acting(self, action: str) -> Principal:
        return replace(self, action=action)

    # -- where --------------------------------------------------------------------------
    def role_in(self, workspace_id: str | None) -> str | None:
        """This caller's role in a workspace (None: it may not even see it)."""
        if self.kind == "master":
            return "admin" if self.workspace_id in (None, workspace_id) else None
        if self.kind == "member":
            if self.org_role in ("owner", "admin"):
                return "admin"
            return self.workspace_roles.get(workspace_id) if workspace_id else None
        # An end user administers their own things (the services select only those), in
        # their own workspace; the routes they may call at all say ``end_users=True``.
        return "admin" if workspace_id == self.workspace_id else None

    def visible_workspaces(self) -> frozenset[str] | None:
        """The workspaces this caller may read (None: all of the organisation's)."""
        if self.org_wide:
            return None
        if self.kind == "member":
            return frozenset(self.workspace_roles)
        return frozenset({self.workspace_id}) if self.workspace_id else frozenset()

    def may(self, action: str, workspace_id: str | None) -> bool:
        role = self.role_in(workspace_id)
        return role is not None and action in ROLE_ACTIONS[role]

    def may_somewhere(self, action: str) -> bool:
        if self.org_wide:
            return True
        if self.kind == "member":
            return any(action in ROLE_ACTIONS[r] for r in self.workspace_roles.values())
        return self.may(action, self.workspace_id)

    def check(self, workspace_id: str | None, action: str | None = None) -> None:
        """Raise unless this caller may do ``action`` (default: the route's) in the
        workspace: 404 where it has no role (it must not learn the thing exists), 403 where
        its role is too weak."""
        action = action or self.action
        note_workspace(workspace_id)  # the audit event's workspace, when a request changes
        role = self.role_in(workspace_id)
        if role is None:
            raise NotFound("Not found", "not_found")
        if action not in ROLE_ACTIONS[role]:
            raise Forbidden(
                f"Your role in this workspace ({role}) cannot {_VERB[action]}",
                "insufficient_role",
            )

    def target_workspace(self, requested: str | None = None) -> str:
        """The workspace a new thing goes to: the one asked for, else the token's, else the
        member's only workspace, else the organisation's default. Checked for the action."""
        workspace_id = requested or self.workspace_id
        if workspace_id is None and self.kind == "member" and not self.org_wide:
            roles = self.workspace_roles
            if len(roles) == 1:
                workspace_id = next(iter(roles))
        workspace_id = workspace_id or self.default_workspace_id
        if workspace_id is None:
            raise NotFound("No workspace to create this in", "workspace_not_found")
        self.check(workspace_id)
        return workspace_id

    # -- organisation-level endpoints ------------------------------------------------------
    def require_org(self, action: str = READ) -> None:
        """Organisation-level endpoints (members, roles, invites, audit log): an
        organisation master token, or a member whose organisation role allows it (any
        member reads; owners and admins manage)."""
        if self.kind == "master" and self.workspace_id is None:
            return
        if self.kind == "member":
            if action == READ or self.org_role in ("owner", "admin"):
                return
            raise Forbidden(
                f"Your organisation role ({self.org_role}) cannot {_VERB[action]}",
                "insufficient_role",
            )
        if self.kind == "master":
            raise Forbidden(
                "This endpoint needs an organisation-wide token, not a workspace's",
                "org_scope_required",
            )
        raise Forbidden("This endpoint needs a master token", "master_token_required")

    def require_master(self) -> None:
        """Not an end user: a master token or a member (the route's action is checked
        against each workspace by ``check``)."""
        if self.kind == "user":
            raise Forbidden("This endpoint needs a master token", "master_token_required")


_VERB = {READ: "read this", BUILD: "build or run", MANAGE: "manage members and secrets"}
