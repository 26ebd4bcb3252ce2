"""The script connector's one operation, ``execute``: run JavaScript on named variables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..sdk import Context, field, operation
from .sandbox import WALL_CLOCK_LIMIT, run_script

DEFAULT_SCRIPT = """// You can reference the input variables using input.NAME
// Parsed JSON files could be referenced as fileInput
exports.step = function(input, fileInput) {
  return;
};
"""


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
        description="Accepted for compatibility; files are not supported yet, so the result "
        "is always returned as JSON.",
    )


class ExecuteOutput(BaseModel):
    result: Any = field(None, title="Result", description="What the script returned.")
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
    outcome = await run_script(data.script, variables)
    return {"result": outcome.result, "logs": outcome.logs}


OPERATIONS = [execute]
