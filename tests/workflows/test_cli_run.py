"""``patchbay run FILE``: one workflow run once from a file, through click's runner, on a
temporary data directory and each database."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from test_workflow_api import node, step, workflow

from patchbay.cli.main import cli
from patchbay.config import Settings
from patchbay.services.platform import Platform
from patchbay.testing.fakeserver import serve_in_thread

CLEAN_ENV = {
    "PATCHBAY_OUTBOUND_ALLOW": None,
    "PATCHBAY_TOKEN": None,
    "PATCHBAY_WORKFLOW_RETRY_SCALE": None,
}

SUM = """\
title: Sum the items
steps_structure:
  - {name: trigger, type: normal, content: {}}
  - name: loop-1
    type: loop
    content:
      _loop:
        - {name: storage-1, type: normal, content: {}}
  - {name: storage-2, type: normal, content: {}}
steps:
  trigger:
    connector: {name: manual, version: "1.0"}
    operation: trigger
  loop-1:
    connector: {name: loop, version: "1.3"}
    operation: loop_array
    properties:
      array: {type: jsonpath, value: $.steps.trigger.items}
  storage-1:
    connector: {name: storage, version: "1.4"}
    operation: atomic_increment
    properties:
      scope: {type: string, value: Current Run}
      key: {type: string, value: total}
      value_to_add: {type: jsonpath, value: $.steps.loop-1.value}
  storage-2:
    connector: {name: storage, version: "1.4"}
    operation: get
    properties:
      scope: {type: string, value: Current Run}
      key: {type: string, value: total}
"""

MS = r"\d+\.\d ms"


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def patchbay(data_dir, database_url):
    """``patchbay("run", file, ...)``: the CLI on this test's data dir and database."""

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        return CliRunner().invoke(
            cli,
            ["--data-dir", str(data_dir), "--database-url", database_url, *args],
            env={**CLEAN_ENV, **(env or {})},
            catch_exceptions=False,
        )

    return invoke


def workflows_in(data_dir: Path, database_url: str) -> list[dict]:
    """The default organisation's workflows, read by a fresh Patchbay on the same data."""
    settings = Settings(data_dir=data_dir, database_url=database_url, background_workers=False)

    async def main() -> list[dict]:
        platform = Platform(settings)
        await platform.start()
        try:
            p = platform.operator("test")
            return (await platform.workflows.list(p, None, None))["elements"]
        finally:
            await platform.stop()

    return asyncio.run(main())


def step_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[:1] in ("✓", "✗")]


def test_a_yaml_workflow_runs_and_prints_its_steps(patchbay, tmp_path, data_dir, database_url):
    path = tmp_path / "sum.yaml"
    path.write_text(SUM)
    result = patchbay("run", str(path), "--input", '{"items": [1, 2, 3, 4]}')
    assert result.exit_code == 0, result.output
    lines = step_lines(result.stdout)
    expected = [
        rf'✓ loop-1 \(loop\.loop_array\) {MS}  \{{"items": \[1, 2, 3, 4\]\}}',
        *(
            rf'✓ storage-1/loop-1#{i} \(storage\.atomic_increment\) {MS}  \{{"value": {total}\}}'
            for i, total in enumerate([1, 3, 6, 10])
        ),
        rf'✓ storage-2 \(storage\.get\) {MS}  \{{"value": 10\}}',
    ]
    assert len(lines) == len(expected), result.output
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    running = re.search(r"Running 'Sum the items': workflow (\S+), run (\S+)", result.stdout)
    assert running, result.output
    assert result.stdout.strip().splitlines()[-1] == f"Run {running.group(2)} succeeded"
    assert result.stderr == ""
    # without --keep the workflow does not stay
    assert workflows_in(data_dir, database_url) == []

    kept = patchbay("run", str(path), "--input", '{"items": [5]}', "--keep", "--verbose")
    assert kept.exit_code == 0, kept.output
    workflow_id = re.search(r"stays in the instance: (\S+)", kept.stdout).group(1)
    assert [(w["id"], w["title"]) for w in workflows_in(data_dir, database_url)] == [
        (workflow_id, "Sum the items")
    ]
    # --verbose: every step's full input and output as JSON, under its line
    assert '    input: {\n      "scope": "Current Run",' in kept.stdout
    assert '    output: {\n      "value": 5\n    }' in kept.stdout


def test_a_tray_export_in_json_and_its_input_file(patchbay, tmp_path):
    definition = workflow(
        [node("storage-1")],
        {"storage-1": step("storage", "set", "1.4", key="k", value="$.steps.trigger.name")},
        title="Export",
    )
    export = {
        "tray_export_version": 4,
        "export_type": "workflow",
        "workflows": [{"id": "x", "enabled": True, **definition}],
        "projects": [],
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    (tmp_path / "input.json").write_text('{"name": "Ada"}')
    result = patchbay("run", str(path), "--input-file", str(tmp_path / "input.json"))
    assert result.exit_code == 0, result.output
    [line] = step_lines(result.stdout)
    assert re.fullmatch(rf'✓ storage-1 \(storage\.set\) {MS}  \{{"value": "Ada"\}}', line), line

    export["workflows"].append(export["workflows"][0])
    path.write_text(json.dumps(export))
    two = patchbay("run", str(path))
    assert two.exit_code == 2, two.output
    assert two.stderr == f"Error: {path} is an export with 2 workflows; run needs exactly one\n"


def runs_of(data_dir: Path, database_url: str, workflow_id: str) -> list[dict]:
    settings = Settings(data_dir=data_dir, database_url=database_url, background_workers=False)

    async def main() -> list[dict]:
        platform = Platform(settings)
        await platform.start()
        try:
            p = platform.operator("test")
            return (await platform.runs.list(p, workflow_id, None, None, None))["elements"]
        finally:
            await platform.stop()

    return asyncio.run(main())


def test_the_runs_it_waits_for_are_run_too(patchbay, tmp_path, data_dir, database_url):
    callee = workflow(
        [node("callable-response-1")],
        {"callable-response-1": step("callable-response", "response", data="$.steps.trigger")},
        title="callee",
    )
    callee["steps"]["trigger"] = step("callable-trigger", "trigger")
    (tmp_path / "callee.yaml").write_text(yaml.safe_dump(callee))
    kept = patchbay("run", str(tmp_path / "callee.yaml"), "--keep")
    assert kept.exit_code == 0, kept.output
    callee_id = re.search(r"stays in the instance: (\S+)", kept.stdout).group(1)

    caller = workflow(
        [node("call-workflow-1"), node("call-workflow-2")],
        {
            "call-workflow-1": step(
                "call-workflow", "fire_and_wait", "2.0", workflow_id=callee_id, data={"n": 21}
            ),
            "call-workflow-2": step(
                "call-workflow", "fire_and_forget", "2.0", workflow_id=callee_id, data={"n": 0}
            ),
        },
        title="caller",
    )
    (tmp_path / "caller.yaml").write_text(yaml.safe_dump(caller))
    result = patchbay("run", str(tmp_path / "caller.yaml"))
    assert result.exit_code == 0, result.output
    waited, forgot = step_lines(result.stdout)
    assert waited.startswith("✓ call-workflow-1 (call-workflow.fire_and_wait) ")
    assert '"status": "succeeded", "response": {"n": 21}}' in waited
    assert forgot.startswith("✓ call-workflow-2 (call-workflow.fire_and_forget) ")
    # the run it waited for ran here; the one it forgot is left to the server's workers
    by_trigger = sorted(
        (r["trigger"], r["status"]) for r in runs_of(data_dir, database_url, callee_id)
    )
    assert by_trigger == [
        ("call-workflow", "queued"),
        ("call-workflow", "succeeded"),
        ("manual", "succeeded"),
    ]


@pytest.fixture
def failing_endpoint():
    app = Starlette(routes=[Route("/thing", lambda r: JSONResponse({"no": "way"}, 500))])
    with serve_in_thread(app) as url:
        yield url + "/thing"


def test_a_failing_run_exits_1_and_prints_the_error(patchbay, tmp_path, failing_endpoint):
    definition = workflow(
        [node("storage-1"), node("http-client-1"), node("storage-2")],
        {
            "storage-1": step("storage", "set", "1.4", key="before", value=1),
            "http-client-1": step("http-client", "get_request", url=failing_endpoint),
            "storage-2": step("storage", "set", "1.4", key="after", value=2),
        },
        title="Fails",
    )
    path = tmp_path / "fails.yaml"
    path.write_text(yaml.safe_dump(definition))
    env = {"PATCHBAY_WORKFLOW_RETRY_SCALE": "0.001", "PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1/32"}
    result = patchbay("run", str(path), env=env)
    assert result.exit_code == 1, result.output
    ok, failed = step_lines(result.stdout)  # storage-2 never runs
    assert ok.startswith("✓ storage-1 (storage.set) ")
    prefix = "✗ http-client-1 (http-client.get_request) attempt 4  api_error: GET "
    assert failed.startswith(prefix), failed
    assert "answered 500" in failed
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"Run \S+ failed at http-client-1: api_error: GET .*answered 500.*", last)


def test_malformed_yaml_exits_2_with_a_message(patchbay, tmp_path, data_dir, database_url):
    path = tmp_path / "broken.yaml"
    path.write_text("title: broken\nsteps_structure: [trigger,\n")
    result = patchbay("run", str(path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {path} is not valid YAML: line 3, column 1: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr

    # a well-formed file that is not a valid workflow is refused the same way
    path.write_text("title: no steps\nsteps_structure: []\nsteps: {}\n")
    result = patchbay("run", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: Invalid workflow: steps_structure must be")
    assert result.stderr.count("\n") == 1
    assert workflows_in(data_dir, database_url) == []

    result = patchbay("run", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2, result.output
    assert (
        result.stderr
        == f"Error: Cannot read {tmp_path / 'missing.yaml'}: No such file or directory\n"
    )


def test_input_that_is_not_json_exits_2(patchbay, tmp_path):
    path = tmp_path / "sum.yaml"
    path.write_text(SUM)
    result = patchbay("run", str(path), "--input", "{items: [1}")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: --input is not valid JSON: ")
    assert result.stderr.count("\n") == 1

    result = patchbay("run", str(path), "--input", "{}", "--input-file", str(path))
    assert result.exit_code == 2
    assert result.stderr == "Error: Give --input or --input-file, not both\n"
