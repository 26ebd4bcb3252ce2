"""What the server benchmarks share: the configurations to run side by side (worker
processes x database) and a fresh PostgreSQL database for each PostgreSQL run."""

from __future__ import annotations

import argparse
import asyncio
import uuid

import asyncpg


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    ap.add_argument(
        "--postgres",
        default=None,
        help="also run on PostgreSQL (a fresh database is created on this server)",
    )
    ap.add_argument(
        "--sqlite-synchronous",
        choices=["FULL", "NORMAL"],
        default=None,
        help="SQLite's synchronous setting for the server (default: the server's, FULL)",
    )


def server_env(args: argparse.Namespace, **env: str) -> dict[str, str]:
    """The server's ``PATCHBAY_*`` variables: ``env``, plus ``--sqlite-synchronous``."""
    if args.sqlite_synchronous:
        env["PATCHBAY_SQLITE_SYNCHRONOUS"] = args.sqlite_synchronous
    return env


def configurations(args: argparse.Namespace) -> list[tuple[int, str]]:
    """(workers, database) for every run asked for: SQLite, then PostgreSQL if given."""
    workers = [int(w) for w in args.workers.split(",")]
    configs = [(w, "sqlite") for w in workers]
    if args.postgres:
        configs += [(w, "postgresql") for w in workers]
    return configs


def fresh_postgres(url: str) -> str:
    """The URL of a new, empty database on the server of ``url``."""

    async def create() -> str:
        name = f"pbbench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return url.rsplit("/", 1)[0] + "/" + name

    return asyncio.run(create())


def ms(seconds: float) -> str:
    """A latency as the reports print it."""
    return f"{seconds * 1000:.2f} ms"
