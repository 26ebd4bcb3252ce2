"""SQLite for SQLAlchemy's asyncio engine, run on the event loop's own thread.

aiosqlite runs every statement on a thread of its own: each call is a trip through a
queue to that thread and back through ``call_soon_threadsafe``, and the two threads take
turns with the GIL (a thread that wants it waits up to the switch interval, 5 ms, while
the event loop runs Python). Patchbay's statements are small, indexed, and batched by the
group commit; executed where they are awaited they take microseconds, while the trips
around them took milliseconds and most of the process's latency under load.

This module is a connection with aiosqlite's asynchronous interface (what SQLAlchemy's
``sqlite+aiosqlite`` dialect drives) whose methods call :mod:`sqlite3` directly and return
at once. SQLAlchemy's dialect, pool and type handling are unchanged. What it gives up:
a statement blocks the event loop while SQLite works (fine for Patchbay's statements; a
long scan would stall other requests as it stalls every other use of the one connection
anyway), and a write that waits for another process's write lock blocks the loop for that
wait (several worker processes on SQLite; PostgreSQL is the answer for those).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url


class Cursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Now:
    """SQLAlchemy sets a connection's isolation level by handing aiosqlite's queue a
    function for its thread: here, it runs at once."""

    __slots__ = ()

    @staticmethod
    def put_nowait(item: tuple[Any, Any]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to whoever awaits the future
            future.set_exception(exc)
        else:
            future.set_result(result)


class Connection:
    _tx = _Now()

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection = connection  # SQLAlchemy checks it to tell an open connection

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return Cursor(self._conn.execute(sql, parameters))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (also SQLAlchemy's last resort on an invalidated connection)."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value


def connector(url: str) -> Callable[[], sqlite3.Connection]:
    """A function opening a connection to the database of ``url`` (a SQLite URL) as
    SQLAlchemy's pysqlite dialect would open it, usable from any thread (the pool hands it
    out on the event loop's thread only)."""
    args, options = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    options["check_same_thread"] = False
    return functools.partial(sqlite3.connect, *args, **options)


def async_creator(connect: Callable[[], sqlite3.Connection]):
    """``create_async_engine``'s ``async_creator``: connections opened by ``connect``."""

    async def create() -> Connection:
        return Connection(connect())

    return create


def in_memory(url: str) -> bool:
    database = make_url(url).database
    return not database or database == ":memory:" or "mode=memory" in url
