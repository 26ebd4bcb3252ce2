"""``patchbay run FILE``: run one workflow once from a file, printing each step as it
finishes.

The workflow is created through the same service as ``POST /core/v1/workflows`` and run as
a manual run (``platform.runs.start``), executed here by ``platform.runs.run_to_completion``
(the executor's own claim and execute). The command executes only the run it started and
the runs that run calls: it does not act as a worker for the instance's other runs (it
would leave them half done when it exits).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
import yaml

from ..config import Settings
from ..services.errors import BadRequest, ServiceError

POLL_SECONDS = 0.05
SHOWN = 200  # characters of a step's output or error on its line


class Refused(click.ClickException):
    """A bad file or bad input: ``Error: <one line>`` on stderr, exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


# -- reading the file and the input -------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """YAML's dates as ISO strings, keys as strings: plain JSON, as the API would take."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return str(exc)


def load_definition(path: str) -> dict[str, Any]:
    """One workflow in Tray's shape from a YAML (``.yaml``/``.yml``) or JSON file: the
    workflow itself, or a Tray export holding exactly one workflow."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise Refused(f"{path} is not valid YAML: {_yaml_problem(exc)}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Refused(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Refused(f"{path} must hold a workflow (an object), not {type(data).__name__}")
    if "workflows" in data:  # a Tray export
        workflows = data["workflows"]
        if not isinstance(workflows, list) or len(workflows) != 1:
            count = len(workflows) if isinstance(workflows, list) else "no list of"
            raise Refused(f"{path} is an export with {count} workflows; run needs exactly one")
        data = workflows[0]
        if not isinstance(data, dict):
            raise Refused(f"{path}: the export's workflow must be an object")
    return _jsonable(data)


def load_input(input_json: str | None, input_file: str | None) -> Any:
    if input_json is not None and input_file is not None:
        raise Refused("Give --input or --input-file, not both")
    if input_file is not None:
        try:
            text = Path(input_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise Refused(f"Cannot read --input-file {input_file}: {reason}") from exc
        where = f"--input-file {input_file}"
    else:
        text = "{}" if input_json is None else input_json
        where = "--input"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"{where} is not valid JSON: {exc}") from exc


# -- printing -------------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def step_line(step: dict[str, Any]) -> str:
    """``✓ storage-1 (storage.set) 3.2 ms  {"value": 10}`` or
    ``✗ http-client-1 (http-client.get_request) attempt 4  api_error: ...``. A step inside a
    loop is named by its key (``storage-1/loop-1#2``: the third iteration of loop-1)."""
    name = step["key"] if step["key"] != step["step"] else step["step"]
    head = f"{name} ({step['connector']}.{step['operation']})"
    if step["status"] == "succeeded":
        attempts = f" attempt {step['attempts']}" if step["attempts"] > 1 else ""
        return f"✓ {head} {_duration(step['durationMs'])}{attempts}  {_short(step['output'])}"
    error = step["error"] or {}
    message = f"{error.get('kind') or 'error'}: {error.get('message') or ''}".rstrip(": ")
    if len(message) > SHOWN:
        message = message[: SHOWN - 1] + "…"
    return f"✗ {head} attempt {step['attempts']}  {message}"


def _verbose(step: dict[str, Any]) -> str:
    lines = ["    input: " + json.dumps(step["input"], indent=2, ensure_ascii=False, default=str)]
    if step["status"] == "succeeded":
        lines.append(
            "    output: " + json.dumps(step["output"], indent=2, ensure_ascii=False, default=str)
        )
    else:
        lines.append(
            "    error: " + json.dumps(step["error"], indent=2, ensure_ascii=False, default=str)
        )
    return "\n".join(line.replace("\n", "\n    ") for line in lines)


def summary(run: dict[str, Any]) -> str:
    if run["status"] == "succeeded":
        return f"Run {run['id']} succeeded"
    error = run.get("error") or {}
    at = f" at {run['failedStep']}" if run.get("failedStep") else ""
    message = error.get("message") or ""
    kind = error.get("kind")
    detail = f": {kind}: {message}" if kind else (f": {message}" if message else "")
    return f"Run {run['id']} {run['status']}{at}{detail}"


# -- running --------------------------------------------------------------------------------


async def _follow(platform, principal, workflow_id: str, run_id: str, verbose: bool) -> dict:
    """Print each step once it has finished; the final run."""
    from ..services.workflows.runs import FINAL

    printed: set[str] = set()
    driver = asyncio.create_task(platform.runs.run_to_completion(run_id), name="patchbay-run")
    try:
        while True:
            body = await platform.runs.get(principal, workflow_id, run_id)
            for step in body["steps"]:
                if step["key"] in printed or step["status"] not in ("succeeded", "failed"):
                    continue
                printed.add(step["key"])
                click.echo(step_line(step))
                if verbose:
                    click.echo(_verbose(step))
            if body["status"] in FINAL:
                await driver
                return body
            if driver.done():
                driver.result()  # raises what stopped it
            await asyncio.sleep(POLL_SECONDS)
    finally:
        if not driver.done():
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await driver
            with contextlib.suppress(ServiceError):  # interrupted: the run stops here
                await platform.runs.cancel(principal, workflow_id, run_id)


async def _run(
    settings: Settings, definition: dict[str, Any], trigger: Any, keep: bool, verbose: bool
) -> str:
    from ..services.identity.principal import Principal
    from ..services.platform import Platform

    # Only this run is executed (Runs.run_to_completion): no executor or delivery worker
    # for the rest.
    platform = Platform(settings.model_copy(update={"background_workers": False}))
    try:
        first_token = await platform.start()
        if first_token:
            click.echo(
                "Patchbay created the first master token (it is shown only once):\n" + first_token
            )
        principal = Principal(
            org_id=platform.default_org_id,
            kind="master",
            token_id="cli",
            default_workspace_id=await platform.identity.default_workspace(platform.default_org_id),
        )
        try:
            created = await platform.workflows.create(principal, definition)
        except BadRequest as exc:
            raise Refused(exc.message) from exc
        workflow_id = created["id"]
        try:
            for note in created.get("notes") or []:
                click.echo(f"Note: {note}")
            run = await platform.runs.start(principal, workflow_id, trigger)
            click.echo(f"Running {created['title']!r}: workflow {workflow_id}, run {run['id']}")
            final = await _follow(platform, principal, workflow_id, run["id"], verbose)
            click.echo(summary(final))
        finally:
            if keep:
                click.echo(f"The workflow stays in the instance: {workflow_id}")
            else:
                with contextlib.suppress(ServiceError):
                    await platform.workflows.delete(principal, workflow_id)
        return final["status"]
    finally:
        await platform.stop()


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "input_json", default=None, help="The trigger's output as JSON")
@click.option(
    "--input-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Read the trigger's output from this JSON file",
)
@click.option("--keep", is_flag=True, help="Keep the workflow in the instance (its id is printed)")
@click.option("--verbose", "-v", is_flag=True, help="Print every step's full input and output")
@click.pass_context
def run_command(
    ctx: click.Context,
    file: str,
    input_json: str | None,
    input_file: str | None,
    keep: bool,
    verbose: bool,
) -> None:
    """Run the workflow in FILE once, printing each step as it finishes.

    FILE (.yaml/.yml, else JSON) holds one workflow in Tray's shape, as POST
    /core/v1/workflows takes it, or a Tray export with exactly one workflow. The input
    (--input, default {}) is the manual trigger's output. The workflow is created in the
    instance, run by the same engine as the server's, and deleted afterwards unless --keep
    is given. Only this run, and the runs it calls while it runs, are executed here; the
    instance's other runs are left to its server. Exit code: 0 when the run succeeded, 1
    when it failed, 2 for a bad file or bad input.
    """
    definition = load_definition(file)
    trigger = load_input(input_json, input_file)
    settings: Settings = ctx.obj
    try:
        status = asyncio.run(_run(settings, definition, trigger, keep, verbose))
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    ctx.exit(0 if status == "succeeded" else 1)
