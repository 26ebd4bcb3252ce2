"""Who is calling: the organisation (master token) or one of its end users (user token)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Forbidden


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: str
    kind: str  # "master" | "user"
    token_id: str
    user_id: str | None = None

    @property
    def is_master(self) -> bool:
        return self.kind == "master"

    @property
    def owner(self) -> str:
        """The owner key of what this principal creates: its user id, or "org"."""
        return self.user_id or "org"

    def require_master(self) -> None:
        if not self.is_master:
            raise Forbidden("This endpoint needs a master token", "master_token_required")
