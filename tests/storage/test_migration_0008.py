"""Migration 0008 (workspaces) on a database holding data in every table: each organisation
gets exactly one default workspace, which receives its end users, authentications,
subscriptions, workflows and OAuth states; no row of any table is lost or changed; and a
master token made before keeps working through the API. SQLite and PostgreSQL.

The rows are made from the schema as it stands at 0007 (reflected), so a table added by an
earlier migration cannot be forgotten here."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from patchbay.api.app import create_app
from patchbay.config import Settings, normalise_database_url
from patchbay.services.platform import Platform
from patchbay.storage.db import MIGRATIONS, Database

PG_URL = os.environ.get("PATCHBAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLES_AT_0007 = {
    "orgs",
    "users",
    "api_tokens",
    "authentications",
    "tasks",
    "idempotency_keys",
    "oauth_states",
    "subscriptions",
    "intake_requests",
    "trigger_events",
    "delivery_attempts",
    "workflows",
    "workflow_versions",
    "workflow_runs",
    "run_steps",
    "stored_values",
    "payloads",
    "payload_chunks",
}
OWNED = ("users", "authentications", "subscriptions", "workflows", "oauth_states")
ROWS = 2  # per table: two organisations' worth
TOKEN = "pbm_" + "before-the-migration-" + "x" * 22


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def empty_database(database_url):
    """A database with nothing in it (the ``database_url`` fixture's PostgreSQL database
    is already migrated to head: this one is made afresh)."""
    if database_url.startswith("sqlite"):
        yield database_url
        return
    name = f"pbt_m8_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _upgrade_to(revision: str):
    def run(sync_connection) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = sync_connection
        command.upgrade(cfg, revision)

    return run


def _reflect(sync_connection) -> sa.MetaData:
    metadata = sa.MetaData()
    metadata.reflect(bind=sync_connection)
    return metadata


def _value(table: sa.Table, column: sa.Column, i: int, sqlite: bool) -> Any:
    """A value of the column's type, distinct per row."""
    if isinstance(column.type, sa.JSON):
        return {"k": i, "list": [i]}
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = None
    if kind is str:
        if column.name == "id" or column.name.endswith(("_id", "_hash")):
            return str(uuid.uuid4())
        length = getattr(column.type, "length", None) or 255
        return f"{table.name[:5]}-{column.name[:10]}-{i}"[:length]
    if kind is bool:
        return i % 2 == 0
    if kind is int:
        return 7 + i
    if kind in (float, Decimal):
        return 1.5 + i
    if kind is datetime:
        at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(minutes=i)
        return at.replace(tzinfo=None) if sqlite else at
    if kind is bytes:
        return b"bytes-%d" % i
    raise AssertionError(f"no value for {table.name}.{column.name} ({column.type})")


def _overrides(table: str, i: int) -> dict[str, Any]:
    """What the rows must say for Patchbay to use them afterwards."""
    if table == "orgs":
        return {"name": ("default", "second")[i]}
    if table == "api_tokens":  # row 0: the default organisation's master token
        if i == 0:
            return {
                "kind": "master",
                "user_id": None,
                "token_hash": hashlib.sha256(TOKEN.encode()).hexdigest(),
                "prefix": TOKEN[:8],
                "revoked_at": None,
                "expires_at": None,
            }
        return {"kind": "user"}
    if table == "workflows":
        return {"deleted_at": None, "subscription_id": None}
    if table == "workflow_runs":
        return {"parent_run_id": None}
    return {}


def _fill(sync_connection) -> None:
    sqlite = sync_connection.dialect.name == "sqlite"
    metadata = _reflect(sync_connection)
    assert TABLES_AT_0007 <= set(metadata.tables) - {"alembic_version"}
    made: dict[str, list[dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        references = {
            fk.parent.name: (fk.column.table.name, fk.column.name)
            for fk in table.foreign_keys
            if fk.column.table.name != table.name
        }
        rows = []
        for i in range(ROWS):
            row: dict[str, Any] = {}
            for column in table.columns:
                if column.primary_key and column.name == "seq":
                    continue  # the database numbers them
                if column.name in references:
                    parent, key = references[column.name]
                    row[column.name] = made[parent][i][key]
                else:
                    row[column.name] = _value(table, column, i, sqlite)
            row.update(_overrides(table.name, i))
            rows.append(row)
        sync_connection.execute(table.insert(), rows)
        made[table.name] = rows


def _snapshot(sync_connection, names: set[str]) -> dict[str, list[tuple]]:
    """Every row of every table (the columns of 0007 only), in a stable order."""
    metadata = _reflect(sync_connection)
    before_columns = getattr(_snapshot, "columns", None)
    out = {}
    for name in sorted(names):
        table = metadata.tables[name]
        columns = before_columns[name] if before_columns else [c.name for c in table.columns]
        query = sa.select(*(table.c[c] for c in columns)).order_by(*table.primary_key.columns)
        out[name] = [tuple(r) for r in sync_connection.execute(query).all()]
    return out


def _columns(sync_connection, names: set[str]) -> dict[str, list[str]]:
    metadata = _reflect(sync_connection)
    return {n: [c.name for c in metadata.tables[n].columns] for n in names}


def _workspaces(sync_connection):
    rows = sync_connection.execute(sa.text("SELECT org_id, id, is_default FROM workspaces")).all()
    defaults = {}
    for org_id, workspace_id, is_default in rows:
        assert is_default, rows
        assert org_id not in defaults, f"two workspaces for {org_id}"
        defaults[org_id] = workspace_id
    orgs = {r[0] for r in sync_connection.execute(sa.text("SELECT id FROM orgs")).all()}
    assert set(defaults) == orgs
    placed = {
        table: sync_connection.execute(sa.text(f"SELECT org_id, workspace_id FROM {table}")).all()
        for table in OWNED
    }
    return defaults, placed


async def test_0008_moves_everything_to_a_default_workspace(empty_database, tmp_path):
    db = Database(normalise_database_url(empty_database))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade_to("0007"))
            await conn.run_sync(_fill)
        async with db.engine.connect() as conn:
            names = (await conn.run_sync(lambda c: set(_reflect(c).tables))) - {"alembic_version"}
            assert names == TABLES_AT_0007
            columns = await conn.run_sync(_columns, names)
            before = await conn.run_sync(_snapshot, names)
        assert all(len(rows) == ROWS for rows in before.values()), before
        await db.migrate()
        async with db.engine.connect() as conn:
            _snapshot.columns = columns  # compare what existed, not the new columns
            try:
                after = await conn.run_sync(_snapshot, names)
            finally:
                del _snapshot.columns
            defaults, placed = await conn.run_sync(_workspaces)
            version = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    finally:
        await db.dispose()
    assert version >= "0008"
    changed = sorted(n for n in names if after[n] != before[n])
    assert not changed, {n: (len(before[n]), len(after[n])) for n in changed}
    assert len(defaults) == ROWS
    for table, rows in placed.items():
        assert len(rows) == ROWS, table
        for org_id, workspace_id in rows:
            assert workspace_id == defaults[org_id], (table, org_id, workspace_id)

    # the master token made before the migration still works, and sees what was there
    settings = Settings(
        data_dir=tmp_path / "data", database_url=empty_database, background_workers=False
    )
    platform = Platform(settings)
    app = create_app(settings, platform)
    assert await platform.start() is None  # a master token exists: no first one
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pb.test") as c:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            r = await c.get("/core/v1/connectors", headers=headers)
            assert r.status_code == 200, r.text
            r = await c.get("/core/v1/workflows", headers=headers)
            assert r.status_code == 200, r.text
            org_id = platform.default_org_id
            mine = [w for w in placed["workflows"] if w[0] == org_id]
            assert len(r.json()["elements"]) == len(mine) == 1
            r = await c.get("/core/v1/end-users", headers=headers)
            assert r.status_code == 200, r.text
            assert len(r.json()["elements"]) == 1
    finally:
        await platform.stop()
