"""The migrations build the schema the models describe, on SQLite and on PostgreSQL, and
the queries that must stay cheap as history grows use their indexes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from patchbay.config import normalise_database_url
from patchbay.storage.db import Database
from patchbay.storage.models import Base


async def _migrated(database_url: str) -> Database:
    db = Database(normalise_database_url(database_url))
    await db.migrate()
    return db


async def test_the_migrations_match_the_models(database_url):
    db = await _migrated(database_url)
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await db.dispose()
    assert diff == []


async def test_the_retention_scan_reads_an_index_on_sqlite(tmp_path):
    db = await _migrated(f"sqlite:///{tmp_path / 'patchbay.db'}")
    try:
        async with db.engine.connect() as conn:
            plan = (
                await conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT id FROM workflow_runs"
                        " WHERE status IN ('succeeded', 'failed', 'cancelled')"
                        " AND created_at < '2026-01-01' LIMIT 500"
                    )
                )
            ).all()
    finally:
        await db.dispose()
    assert any("ix_workflow_runs_retention" in row[-1] for row in plan), plan
