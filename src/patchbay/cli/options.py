"""The instance a command works on: its options (``--data-dir``, ``--database-url``),
accepted before the command (``patchbay --data-dir X serve``) and after it (``patchbay serve
--data-dir X``), and holding it while a server runs.

The group reads the options (and their environment variables) into the context's
:class:`~patchbay.config.Settings`; a command decorated with :func:`instance_options` takes
them again, and what it is given there wins."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from ..config import Settings
from ..instance import InstanceError, check_port_free, lock_data_dir

F = TypeVar("F", bound=Callable[..., Any])


def _override(field: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _: click.Parameter, value: Any) -> None:
        if value is None:
            return
        if field == "data_dir":
            value = Path(value).expanduser()
        ctx.obj = ctx.obj.model_copy(update={field: value})

    return callback


DATA_DIR_HELP = "Data directory: the key file, the SQLite database"
DATABASE_URL_HELP = "SQLAlchemy database URL (default: SQLite in the data directory)"


def instance_options(command: F) -> F:
    """``--data-dir`` and ``--database-url`` on a command, as on the group."""
    command = click.option(
        "--database-url",
        callback=_override("database_url"),
        expose_value=False,
        is_eager=True,
        help=DATABASE_URL_HELP,
    )(command)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        callback=_override("data_dir"),
        expose_value=False,
        is_eager=True,
        help=DATA_DIR_HELP,
    )(command)


@contextlib.contextmanager
def hold_instance(settings: Settings) -> Iterator[None]:
    """The port free and the data directory held by this process (on SQLite), else a
    one-line error before anything starts (the port first: nothing is created for a
    server that cannot listen)."""
    try:
        check_port_free(settings.host, settings.port)
        with lock_data_dir(settings):
            yield
    except InstanceError as exc:
        raise click.ClickException(str(exc)) from exc
