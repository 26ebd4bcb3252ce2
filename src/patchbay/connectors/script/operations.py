"""The script connector's one operation, ``execute``: run JavaScript on named variables."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from ...payload_refs import is_file
from ..sdk import ConnectorError, Context, field, operation
from ..sdk.files import FileObject, open_file
from .sandbox import WALL_CLOCK_LIMIT, run_script

DEFAULT_SCRIPT = """// You can reference the input variables using input.NAME
// Parsed JSON files could be referenced as fileInput
exports.step = function(input, fileInput) {
  return;
};
"""


OUTPUT_NAME = "output.json"
MAX_FILE_INPUT = 10 * 1024 * 1024  # the files' content is copied into the sandbox


class Variable(BaseModel):
    name: str = field(title="Name", min_length=1)
    value: Any = field(None, title="Value")


class ExecuteInput(BaseModel):
    variables: list[Variable] = field(
        default_factory=list,
        title="Input variables",
        description="Named values the script reads as input.NAME (the last of a repeated "
        "name wins).",
    )
    script: str = field(
        DEFAULT_SCRIPT,
        title="Script",
        format="code",
        description="JavaScript: a module setting exports.step = function(input, fileInput) "
        "{ ... } or a function body using input; the value returned (or a promise's value) "
        "is the step's result.",
    )
    file_output: bool = field(
        False,
        title="File output",
        advanced=True,
        description="In a workflow: the result is written to a JSON file (output.json) and "
        "the step's output is {file, logs} instead of {result, logs}. Elsewhere (Call "
        "Connector) there is no run to keep a file in: the result is returned as JSON.",
    )


class ExecuteOutput(BaseModel):
    result: Any = field(None, title="Result", description="What the script returned.")
    file: FileObject | None = field(
        None, title="File", description="With file_output: the result as a JSON file."
    )
    logs: list[str] = field(
        default_factory=list,
        title="Logs",
        description="console.log output, bounded in lines and characters.",
    )


@operation(
    title="Execute script",
    input=ExecuteInput,
    output=ExecuteOutput,
    timeout=WALL_CLOCK_LIMIT + 5,
)
async def execute(ctx: Context, data: ExecuteInput) -> dict:
    """Run JavaScript in a sandbox (QuickJS, no network or file access, CPU, memory and
    wall-clock limits) and return its result."""
    variables = {variable.name: variable.value for variable in data.variables}
    file_input = await _file_input(ctx, variables)
    outcome = await run_script(data.script, variables, file_input=file_input)
    if data.file_output and ctx.payloads is not None:  # elsewhere: no run to keep a file
        store = ctx.payloads
        content = json.dumps(outcome.result, ensure_ascii=False).encode("utf-8")
        file = await store.store_file(_one(content), OUTPUT_NAME, "application/json")
        return {"file": file, "logs": outcome.logs}
    return {"result": outcome.result, "logs": outcome.logs}


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _file_input(ctx: Context, variables: dict[str, Any]) -> dict[str, Any]:
    """Tray's ``fileInput``: each variable whose value is a file object of this run's
    store, read (at most MAX_FILE_INPUT bytes in all) and parsed as JSON, else as text."""
    if ctx.payloads is None:
        return {}
    found: dict[str, Any] = {}
    budget = MAX_FILE_INPUT
    for name, value in variables.items():
        if not is_file(value) or "/files/" not in value["url"]:  # not a file of Patchbay's
            continue
        file = FileObject.model_validate(value)
        size, chunks = await open_file(ctx, file)
        budget -= size
        if budget < 0:
            await chunks.aclose()
            raise ConnectorError(
                f"The files given to the script exceed {MAX_FILE_INPUT} bytes", "connector_error"
            )
        text = b"".join([chunk async for chunk in chunks]).decode("utf-8", "replace")
        try:
            found[name] = json.loads(text)
        except ValueError:
            found[name] = text
    return found


OPERATIONS = [execute]
