"""The SQLite engine: statements on the event loop's thread (storage/inline_sqlite.py)
behave as SQLAlchemy expects of a driver, and WAL checkpoints happen on the checkpointer's
thread (storage/checkpointer.py), not in the serving connection's commits."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from patchbay.storage import checkpointer, inline_sqlite
from patchbay.storage.db import Database


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'patchbay.db'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, body TEXT)"))
    yield database
    await database.dispose()


async def test_statements_run_on_the_event_loop_thread(db):
    seen = []

    def where(_conn, _cursor, _statement, _params, _context, _many):
        seen.append(threading.get_ident())

    event.listen(db.engine.sync_engine, "before_cursor_execute", where)
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO item (id, body) VALUES (1, 'a')"))
    assert seen and set(seen) == {threading.get_ident()}
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, inline_sqlite.Connection)


async def test_commit_rollback_and_errors_as_sqlalchemy_expects(db):
    async with db.session() as session, session.begin():
        await session.execute(
            text("INSERT INTO item (id, body) VALUES (:id, :body)"),
            [{"id": 1, "body": "kept"}, {"id": 2, "body": "kept too"}],
        )
    with pytest.raises(RuntimeError):
        async with db.session() as session, session.begin():
            await session.execute(text("INSERT INTO item (id, body) VALUES (3, 'lost')"))
            raise RuntimeError("the transaction is rolled back")
    with pytest.raises(IntegrityError):
        async with db.session() as session, session.begin():
            await session.execute(text("INSERT INTO item (id, body) VALUES (1, 'twice')"))
    with pytest.raises(OperationalError, match="no such table"):
        async with db.session() as session:
            await session.execute(text("SELECT * FROM missing"))
    # The one connection is still good after each failure.
    async with db.session() as session:
        rows = (await session.execute(text("SELECT id, body FROM item ORDER BY id"))).all()
        streamed = [row async for row in await session.stream(text("SELECT id FROM item"))]
    assert [tuple(row) for row in rows] == [(1, "kept"), (2, "kept too")]
    assert len(streamed) == 2


async def test_concurrent_transactions_queue_on_the_one_connection(db):
    async def add(i: int) -> None:
        async with db.session() as session, session.begin():
            await session.execute(text("INSERT INTO item (id, body) VALUES (:i, 'x')"), {"i": i})
            await asyncio.sleep(0)  # another task's transaction must wait for this one

    await asyncio.gather(*(add(i) for i in range(50)))
    async with db.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM item"))).scalar() == 50


async def test_a_second_process_sees_committed_writes(db, tmp_path):
    async with db.session() as session, session.begin():
        await session.execute(text("INSERT INTO item (id, body) VALUES (7, 'seen')"))
    other = sqlite3.connect(tmp_path / "patchbay.db")
    try:
        assert other.execute("SELECT body FROM item WHERE id = 7").fetchone() == ("seen",)
    finally:
        other.close()


def _sizes(path) -> tuple[int, int]:
    wal = f"{path}-wal"
    return os.path.getsize(path), os.path.getsize(wal) if os.path.exists(wal) else 0


async def _write_a_megabyte(db) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            text("INSERT INTO item (body) VALUES (:body)"),
            [{"body": os.urandom(512).hex()} for _ in range(1024)],
        )


async def test_the_checkpointer_moves_the_log_into_the_database_file(db, tmp_path):
    path = tmp_path / "patchbay.db"
    db.checkpointer.stop()
    await _write_a_megabyte(db)
    await asyncio.sleep(0.3)
    main, wal = _sizes(path)
    # Without the checkpointer the commit leaves its pages in the log: the serving
    # connection's own automatic checkpoint only starts at a much larger log.
    assert main < 100_000 and wal > 1_000_000

    db.checkpointer.interval = 0.05
    db.checkpointer.start()
    for _ in range(100):
        await asyncio.sleep(0.05)
        main, _ = _sizes(path)
        if main > 1_000_000:
            break
    assert main > 1_000_000


def test_a_checkpoint_reports_and_never_raises(tmp_path):
    path = tmp_path / "plain.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    busy, logged, done = checkpointer.Checkpointer.checkpoint(conn)
    assert busy == 0 and logged == done
    conn.close()
    assert checkpointer.Checkpointer.checkpoint(conn) is None  # closed: skipped, logged


def test_in_memory_databases_get_no_checkpointer():
    assert inline_sqlite.in_memory("sqlite+aiosqlite://")
    assert inline_sqlite.in_memory("sqlite+aiosqlite:///:memory:")
    assert inline_sqlite.in_memory("sqlite+aiosqlite:///file:x?mode=memory&uri=true")
    assert not inline_sqlite.in_memory("sqlite+aiosqlite:////var/lib/patchbay.db")


@pytest.mark.parametrize(
    ("configured", "expected"), [({}, 2), ({"sqlite_synchronous": "normal"}, 1)]
)
async def test_commits_are_synced_to_disk_unless_relaxed(tmp_path, configured, expected):
    """synchronous=FULL (2) by default: an acknowledged write survives power loss, not only
    a process crash; PATCHBAY_SQLITE_SYNCHRONOUS=NORMAL (1) relaxes it."""
    from patchbay.config import Settings
    from patchbay.services.platform import Platform

    platform = Platform(Settings(data_dir=tmp_path, **configured))
    try:
        async with platform.db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == expected
    finally:
        await platform.db.dispose()


def test_an_unknown_synchronous_mode_is_refused(tmp_path):
    from pydantic import ValidationError

    from patchbay.config import Settings

    with pytest.raises(ValidationError, match="sqlite_synchronous"):
        Settings(data_dir=tmp_path, sqlite_synchronous="OFF")
