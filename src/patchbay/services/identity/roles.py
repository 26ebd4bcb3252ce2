"""The built-in roles and their stable ids (Tray's API names roles by uuid).

Organisation roles: owner, admin, member. Workspace roles: admin, contributor, viewer. What
each may do is in ``principal.py`` and docs/access.md."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BadRequest


@dataclass(frozen=True)
class Role:
    id: str
    key: str  # owner | admin | member | contributor | viewer
    name: str  # as shown: "Owner", ...

    def to_api(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


ORG_ROLES: tuple[Role, ...] = (
    Role("b33a32f2-94ae-5991-92ec-a1de0e9e9568", "owner", "Owner"),
    Role("1c7710da-429a-55b5-9a05-5a664df0e290", "admin", "Admin"),
    Role("c401d0db-f7a8-5ca3-b1d6-43387a81dabc", "member", "Member"),
)
WORKSPACE_ROLES: tuple[Role, ...] = (
    Role("edced476-3e9b-5a0f-95df-68e2c55f8e44", "admin", "Admin"),
    Role("b3618a18-ab6f-5792-a4e4-a8975653f6d0", "contributor", "Contributor"),
    Role("da73ddf6-52ea-590b-b603-42cda2c38ba4", "viewer", "Viewer"),
)
_ORG_BY_KEY = {r.key: r for r in ORG_ROLES}
_WORKSPACE_BY_KEY = {r.key: r for r in WORKSPACE_ROLES}


def org_role(key: str) -> Role:
    return _ORG_BY_KEY[key]


def workspace_role(key: str) -> Role:
    return _WORKSPACE_BY_KEY[key]


def org_role_by_id(role_id: str) -> Role:
    """The organisation role with this id (or key): 400 ``unknown_role`` naming the choices."""
    return _find(role_id, ORG_ROLES, "organisation")


def workspace_role_by_id(role_id: str) -> Role:
    return _find(role_id, WORKSPACE_ROLES, "workspace")


def _find(role_id: str, roles: tuple[Role, ...], what: str) -> Role:
    for role in roles:
        if role_id in (role.id, role.key):
            return role
    choices = ", ".join(f"{r.id} ({r.name})" for r in roles)
    raise BadRequest(f"Unknown {what} role {role_id!r}: one of {choices}", "unknown_role")
