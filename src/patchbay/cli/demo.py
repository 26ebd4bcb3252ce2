"""``patchbay demo``: the seed documents' three scenarios, running locally against fakes."""

from __future__ import annotations

import threading
from pathlib import Path

import click

from ..config import Settings
from .options import hold_instance, instance_options

DEFAULT_DIR = Path("patchbay-demo")


@click.command("demo")
@instance_options
@click.option(
    "--port",
    type=click.IntRange(1, 65530),
    default=8080,
    show_default=True,
    help="Patchbay's port; the fakes listen on the next five (TMU, Slack, SMTP, Pendo, "
    "the deletion endpoint and inbox)",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind")
@click.pass_context
def demo_command(ctx: click.Context, port: int, host: str) -> None:
    """Run Patchbay with the three demo workflows and fakes of their services.

    Starts, in this process, Patchbay and loopback fakes of TMU, Slack, an SMTP server,
    Pendo and a product's deletion endpoint; creates (or, on a restart, updates) the
    authentications and workflows; then prints the commands that fire each scenario and,
    as they happen, what each fake receives and how each run ends. Data go to
    ./patchbay-demo unless --data-dir (or PATCHBAY_DATA_DIR) says otherwise; the master
    token and the ids are kept in demo.json there. Ctrl-C stops everything.
    """
    from ..demo import Demo, DemoError

    settings: Settings = ctx.obj
    data_dir = settings.data_dir if "data_dir" in settings.model_fields_set else DEFAULT_DIR
    # Held until the command ends: no second demo or server on the same directory.
    ctx.with_resource(
        hold_instance(
            settings.model_copy(update={"data_dir": data_dir, "host": host, "port": port})
        )
    )
    click.echo(f"Starting the Patchbay demo in {data_dir} ...")
    demo = Demo(data_dir, port=port, host=host, settings=settings, echo=click.echo)
    try:
        demo.start()
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        click.echo(demo.instructions())
        click.echo("\nPress Ctrl-C to stop.\n")
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("\nStopping the demo.")
    finally:
        demo.stop()
