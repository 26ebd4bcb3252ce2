"""Engine and sessions for SQLite (default, WAL) or PostgreSQL, with migrations on start."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from . import checkpointer, inline_sqlite

MIGRATIONS = Path(__file__).with_name("migrations")


def _dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _loads(value):
    # SQLite's numeric affinity hands a JSON number back as a number already.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


# JSON columns (run journals, trigger outputs) are encoded and decoded with orjson: several
# times faster than the standard library on the hot paths.
JSON_CODEC = {"json_serializer": _dumps, "json_deserializer": _loads}


# FULL: a commit is on disk (the WAL synced) before it is acknowledged, so it survives an
# operating-system crash or power loss, not only a process crash. NORMAL (a setting) syncs
# at checkpoints only: a power loss may undo the last acknowledged commits.
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def _sqlite_pragmas(synchronous: str, dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Checkpoints are the checkpointer thread's job; this is only a safety net.
    cursor.execute(f"PRAGMA wal_autocheckpoint={checkpointer.SAFETY_NET_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={checkpointer.LOG_SIZE_LIMIT}")
    cursor.close()


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.checkpointer: checkpointer.Checkpointer | None = None
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            # Statements run on the event loop's thread (see inline_sqlite), checkpoints
            # on a thread of their own (see checkpointer).
            connect = inline_sqlite.connector(url)
            # One connection per process: SQLite has one writer at a time, and writers on
            # several connections wait for each other in SQLite's busy handler, which
            # sleeps up to 100 ms at a time. Through one connection, transactions queue in
            # order instead (and the group commit batches them).
            # Sessions and engine.begin() always end their transaction (commit, or
            # rollback on close), so the pool's own rollback on return is skipped: on the
            # single connection it was one more trip to the driver thread per use.
            self.engine: AsyncEngine = create_async_engine(
                url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                pool_reset_on_return=None,
                async_creator=inline_sqlite.async_creator(connect),
                **JSON_CODEC,
            )
            if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
                raise ValueError(f"SQLite synchronous must be one of {SQLITE_SYNCHRONOUS}")
            pragmas = functools.partial(_sqlite_pragmas, sqlite_synchronous)
            event.listen(self.engine.sync_engine, "connect", pragmas)
            if not inline_sqlite.in_memory(url):
                self.checkpointer = checkpointer.Checkpointer(connect)
                self.checkpointer.start()
        else:
            self.engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True, **JSON_CODEC
            )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessions()

    async def migrate(self) -> None:
        """Apply every Alembic migration not yet applied.

        On SQLite, foreign keys are off while migrations run: a batch migration rebuilds a
        table (copy, drop, rename), and dropping the old table with foreign keys on would
        delete every row referring to it through ``ON DELETE CASCADE``. SQLite ignores the
        pragma inside a transaction, so it is set before the first statement and set back
        after the commit, and the references are checked then."""
        async with self.engine.begin() as conn:
            if self.is_sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.run_sync(_upgrade)
        if self.is_sqlite:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                await conn.rollback()
            if broken:
                raise RuntimeError(f"Migrations left broken references: {broken[:5]}")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.checkpointer is not None:
            self.checkpointer.stop()


def _upgrade(sync_connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = sync_connection
    command.upgrade(cfg, "head")


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
