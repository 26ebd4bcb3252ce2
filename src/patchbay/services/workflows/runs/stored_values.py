"""The values the ``storage`` step keeps (``stored_values``), by scope (``run:<id>``,
``workflow:<id>``, ``account:<org>``) and key, each with a revision for compare and swap."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from ....storage.db import Database
from ....storage.models import StoredValue, utcnow


class StoredValues:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, scope: str, key: str) -> tuple[bool, Any, Any]:
        """(whether ``key`` is set, its value, its version for :meth:`write`)."""
        async with self.db.session() as s:
            row = await s.scalar(
                select(StoredValue).where(StoredValue.scope == scope, StoredValue.key == key)
            )
        if row is None:
            return False, None, None
        return True, row.value, (row.seq, row.revision)

    async def write(self, org_id: str, scope: str, key: str, value: Any, version: Any) -> bool:
        """Set ``key`` if it is still at ``version`` (None: unset); False when a concurrent
        write came first."""
        async with self.db.session() as s:
            if version is None:
                s.add(StoredValue(org_id=org_id, scope=scope, key=key, value=value))
            else:
                seq, revision = version
                result = await s.execute(
                    update(StoredValue)
                    .where(StoredValue.seq == seq, StoredValue.revision == revision)
                    .values(value=value, revision=revision + 1, updated_at=utcnow())
                )
                if result.rowcount != 1:
                    await s.rollback()
                    return False
            try:
                await s.commit()
            except Exception:  # a concurrent insert of the same key
                await s.rollback()
                return False
        return True

    async def delete(self, scope: str, key: str) -> bool:
        async with self.db.session() as s, s.begin():
            result = await s.execute(
                delete(StoredValue).where(StoredValue.scope == scope, StoredValue.key == key)
            )
        return result.rowcount > 0

    async def clear(self, scope: str) -> None:
        """Forget every value of ``scope`` (a run's, once it ended)."""
        async with self.db.session() as s, s.begin():
            await s.execute(delete(StoredValue).where(StoredValue.scope == scope))
