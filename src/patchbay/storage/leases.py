"""Leases on rows: whoever holds a row's lease (``lease_owner``, until ``lease_until``) works
on it alone; a lease that is not renewed (its process died) runs out and anyone may take
the row. Workflow runs and trigger subscriptions are leased this way.

The statements are built here once for every table with the two columns; executing them is
the caller's business (in a session, or on a connection with ``RETURNING``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, Update, or_, update


class Leases:
    """Lease statements for ``target`` (a mapped class or a table with ``lease_owner`` and
    ``lease_until`` columns), taken by ``owner`` for ``seconds`` at a time."""

    def __init__(self, target: Any, owner: str, seconds: float) -> None:
        self.target = target
        self._columns = target.c if isinstance(target, Table) else target
        self.owner = owner
        self.duration = timedelta(seconds=seconds)

    @property
    def until(self) -> Any:
        return self._columns.lease_until

    def free(self, now: datetime) -> ColumnElement[bool]:
        """Nobody holds the row (never leased, let go, or run out)."""
        return or_(self.until.is_(None), self.until < now)

    def mine(self) -> ColumnElement[bool]:
        return self._columns.lease_owner == self.owner

    def claim(self, now: datetime, *where: Any, **values: Any) -> Update:
        """Take the lease of the rows matching ``where`` that nobody holds (and set
        ``values`` on them)."""
        return (
            update(self.target)
            .where(*where, self.free(now))
            .values(lease_owner=self.owner, lease_until=now + self.duration, **values)
        )

    def renew(self, now: datetime, *where: Any) -> Update:
        """Extend the lease of the rows matching ``where`` that this owner holds."""
        return (
            update(self.target).where(*where, self.mine()).values(lease_until=now + self.duration)
        )

    def release(self, *where: Any) -> Update:
        """Let go of the rows matching ``where`` that this owner holds."""
        return (
            update(self.target)
            .where(*where, self.mine())
            .values(lease_owner=None, lease_until=None)
        )
