"""What a local instance needs before it serves: its data directory (owner-only, kept out
of git, used by one server at a time) and a free port.

The data directory holds the encryption key (``secret.key``), the SQLite database and, for
``patchbay demo``, a master token (``demo.json``): :func:`prepare_data_dir` makes it and the
database readable by their owner alone and writes a ``.gitignore`` that ignores everything in
it, so a quickstart run inside a git checkout leaves nothing ready to be committed.
:func:`lock_data_dir` is taken by ``patchbay serve`` and ``patchbay demo`` on SQLite: a
second server on the same directory is refused instead of sharing the database unseen.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from .config import Settings

log = logging.getLogger("patchbay")

LOCK_FILE = "patchbay.lock"
GITIGNORE = (
    "# Patchbay's data directory: the encryption key, the database, tokens.\n"
    "# Written by Patchbay so that none of it is ever committed.\n"
    "*\n"
)


class InstanceError(Exception):
    """The instance cannot start: ``str(exc)`` says why, in one line."""


# Files that say a directory is a Patchbay data directory (not, say, a home or a checkout).
_OWN_FILES = ("secret.key", "patchbay.db", LOCK_FILE, "demo.json")


def _is_data_dir(path: Path) -> bool:
    """Empty, or holding Patchbay's files: a directory Patchbay may tighten and mark."""
    return not any(path.iterdir()) or any((path / name).exists() for name in _OWN_FILES)


def _owner_only(path: Path, mode: int) -> None:
    """``path``'s mode as ``mode`` when it gives anything to the group or others (only
    for a path this user owns: another user's directory is left as it is)."""
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, mode)
        log.info("%s was readable by others: now owner-only (%o)", path, mode)


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite database file, when the database is a SQLite file."""
    if not settings.is_sqlite:
        return None
    database = make_url(settings.effective_database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory owner-only (0700), with a ``.gitignore`` ignoring
    everything, and the SQLite database file 0600 (SQLite gives its ``-wal`` and ``-shm``
    files the database file's mode). A pre-existing directory is tightened and marked only
    when it is empty or already Patchbay's (``--data-dir .`` in a checkout, or ``/tmp``,
    is left as it is, with a warning)."""
    data_dir = settings.data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _is_data_dir(data_dir):
        _owner_only(data_dir, 0o700)
        ignore = data_dir / ".gitignore"
        if not ignore.exists():
            with contextlib.suppress(OSError):  # a read-only directory still serves
                ignore.write_text(GITIGNORE, encoding="utf-8")
    elif stat.S_IMODE(data_dir.stat().st_mode) & 0o077:
        log.warning(
            "The data directory %s holds other files and is readable by others: Patchbay "
            "leaves its mode as it is; give Patchbay a directory of its own",
            data_dir,
        )
    database = sqlite_path(settings)
    if database is None:
        return
    if not database.exists():
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        if path.exists():
            _owner_only(path, 0o600)


@contextlib.contextmanager
def lock_data_dir(settings: Settings) -> Iterator[None]:
    """Hold the data directory for this process (an OS file lock on ``patchbay.lock``,
    which holds the pid); :class:`InstanceError` naming the holder's pid when another
    process holds it. Only SQLite needs it (a server database is shared by design); the
    lock goes with the process, however it ends."""
    if not settings.is_sqlite:
        yield
        return
    prepare_data_dir(settings)
    fd = os.open(settings.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            raise InstanceError(
                f"The data directory {settings.data_dir} is in use by process {holder} "
                "(another 'patchbay serve' or 'patchbay demo'): stop that one, or give this "
                "one another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds: ``SO_REUSEADDR``), or
    :class:`InstanceError` saying the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use (by another Patchbay or another program)"
        else:
            reason = exc.strerror or str(exc)
        raise InstanceError(f"Cannot listen on {host}:{port}: {reason}") from exc
    return sock


def check_port_free(host: str, port: int) -> None:
    """:class:`InstanceError` when ``host:port`` cannot be listened on (port 0: any)."""
    if port:
        bind(host, port).close()
