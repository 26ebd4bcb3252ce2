"""The parent side of the script sandbox: one child process per execution.

:func:`run_script` starts ``worker.py`` (QuickJS in a fresh Python interpreter with an empty
environment), sends it the script and its input as JSON over stdin, and reads one JSON
answer from stdout. The parent enforces the wall-clock limit by killing the child; the child
enforces CPU time and memory with QuickJS's own limits and, as a backstop, with
``RLIMIT_CPU`` and ``RLIMIT_AS``. See README.md for the threat model.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..sdk import ConnectorError

CPU_TIME_LIMIT = 5.0
"""Seconds of CPU time a script may use (QuickJS interrupts it; RLIMIT_CPU backs it up)."""
WALL_CLOCK_LIMIT = 10.0
"""Seconds a whole execution may take, child start-up included; the parent kills the child."""
MEMORY_LIMIT = 64 * 1024 * 1024
"""Bytes of QuickJS heap (input, variables and result included); RLIMIT_AS backs it up."""
MAX_LOG_LINES = 1000
"""``console.log`` calls kept; later ones are counted and dropped."""
MAX_LOG_CHARS = 64 * 1024
"""Characters of ``console.log`` output kept (over all lines)."""

WORKER = Path(__file__).with_name("worker.py")
_STDERR_KEPT = 8 * 1024
_LINE = re.compile(r"^\s*at (?:(\S+) \()?<input>:(\d+)\)?\s*$")
_PRELUDE_FRAMES = frozenset({"$patchbay$start", "$patchbay$finish", "$patchbay$logs"})


class ScriptError(ConnectorError):
    """A failed execution; ``logs`` holds what the script logged before it failed."""

    def __init__(self, message: str, code: str, logs: list[str] | None = None) -> None:
        super().__init__(message, "connector_error", code=code)
        self.logs = logs or []


@dataclass
class ScriptResult:
    result: Any
    logs: list[str] = field(default_factory=list)


@cache
def _quickjs_dir() -> str:
    spec = importlib.util.find_spec("_quickjs")
    if spec is None or spec.origin is None:  # pragma: no cover - quickjs is a dependency
        raise RuntimeError("the quickjs package is not installed")
    return os.path.dirname(spec.origin)


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _megabytes(value: int) -> str:
    return f"{value / 2**20:g} MB"


async def run_script(
    script: str,
    input: dict[str, Any],
    *,
    file_input: dict[str, Any] | None = None,
    cpu_time_limit: float = CPU_TIME_LIMIT,
    wall_clock_limit: float = WALL_CLOCK_LIMIT,
    memory_limit: int = MEMORY_LIMIT,
) -> ScriptResult:
    """Run ``script`` (a function body, or a module setting ``exports.step``) on ``input``
    in a fresh sandboxed child process; return its JSON result and its logs. ``file_input``
    is the script's second argument (Tray's ``fileInput``: the files given as variables,
    read).

    Raises :class:`ScriptError` (a ``connector_error``) for a JavaScript exception, a limit
    hit, a result that is not JSON, or a sandbox failure.
    """
    try:
        input_text = json.dumps(input, allow_nan=False)
        file_input_text = json.dumps(file_input or {}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ScriptError(f"The script's input is not JSON: {exc}", "invalid_input") from exc
    header = {
        "script": script,
        "cpu": float(cpu_time_limit),
        "memory": int(memory_limit),
        "max_log_lines": MAX_LOG_LINES,
        "max_log_chars": MAX_LOG_CHARS,
    }
    text = json.dumps(header) + "\n" + input_text + "\n" + file_input_text
    payload = text.encode("utf-8", "surrogatepass")
    # The answer holds at most the result (within the QuickJS heap) and the logs.
    output_cap = 2 * int(memory_limit) + 4 * MAX_LOG_CHARS + 65536

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-B",
        str(WORKER),
        _quickjs_dir(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Nothing of the server's environment; local time is UTC whatever the host's zone
        # (Date and moment() format local time: the same answer everywhere, as on Tray).
        env={"TZ": "UTC"},
        cwd="/",
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(wall_clock_limit):
            stdout, stderr = await _exchange(proc, payload, output_cap)
    except TimeoutError:
        raise ScriptError(
            f"Script stopped: wall-clock limit of {_seconds(wall_clock_limit)} exceeded",
            "wall_clock_limit",
        ) from None
    except _TooLarge:
        raise ScriptError(
            f"The script's output exceeds {_megabytes(output_cap)}", "output_too_large"
        ) from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
    return _interpret(proc.returncode, stdout, stderr, script, cpu_time_limit, memory_limit)


class _TooLarge(Exception):
    pass


async def _exchange(
    proc: asyncio.subprocess.Process, payload: bytes, cap: int
) -> tuple[bytes, bytes]:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        try:
            proc.stdin.write(payload)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child died early; its exit status says why
        finally:
            proc.stdin.close()

    async def read(stream: asyncio.StreamReader, limit: int, fail: bool) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while chunk := await stream.read(1 << 16):
            if size < limit:
                chunks.append(chunk[: limit - size])
            size += len(chunk)
            if size > limit and fail:
                raise _TooLarge
        return b"".join(chunks)

    _, stdout, stderr = await asyncio.gather(
        feed(), read(proc.stdout, cap, True), read(proc.stderr, _STDERR_KEPT, False)
    )
    await proc.wait()
    return stdout, stderr


def _interpret(
    returncode: int | None,
    stdout: bytes,
    stderr: bytes,
    script: str,
    cpu_time_limit: float,
    memory_limit: int,
) -> ScriptResult:
    cpu_exceeded = f"Script stopped: CPU time limit of {_seconds(cpu_time_limit)} exceeded"
    memory_exceeded = f"Script stopped: memory limit of {_megabytes(memory_limit)} exceeded"
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):  # RLIMIT_CPU soft, then hard
        raise ScriptError(cpu_exceeded, "cpu_time_limit")
    try:
        answer = json.loads(stdout)
        if not isinstance(answer, dict):
            raise ValueError(answer)
    except ValueError:
        detail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise ScriptError(
            f"The script sandbox failed (exit status {returncode}) {detail[0]}".strip(),
            "sandbox_error",
        ) from None
    logs = _logs(answer)
    if answer.get("ok") is True and "result" in answer:
        return ScriptResult(result=answer["result"], logs=logs)
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    kind = error.get("type")
    if kind == "cpu":
        raise ScriptError(cpu_exceeded, "cpu_time_limit", logs)
    if kind == "memory":
        raise ScriptError(memory_exceeded, "memory_limit", logs)
    if kind == "pending":
        raise ScriptError(
            "The script's promise never settled (the sandbox has no timers or I/O to wait for)",
            "script_error",
            logs,
        )
    if kind == "unserialisable":
        raise ScriptError(
            f"The script's result is not JSON-serialisable: {_text(error.get('message'))}",
            "result_not_serialisable",
            logs,
        )
    if kind == "exception":
        raise ScriptError(_exception_message(error, script), "script_error", logs)
    raise ScriptError(
        f"The script sandbox failed: {_text(error.get('message'))}", "sandbox_error", logs
    )


def _text(value: Any, limit: int = 2000) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _exception_message(error: dict[str, Any], script: str) -> str:
    name, message = _text(error.get("name") or "", 200), _text(error.get("message") or "")
    text = f"{name}: {message}" if name else f"Uncaught {message}"
    line = _error_line(_text(error.get("stack") or "", 8000), script)
    return f"{text} (line {line})" if line else text


def _error_line(stack: str, script: str) -> int | None:
    """The script line of the innermost frame in the user's code (the prelude's skipped)."""
    for frame in stack.splitlines():
        match = _LINE.match(frame)
        if match and match.group(1) not in _PRELUDE_FRAMES:
            # A syntax error at the end points at the wrapper's closing line: clamp it.
            return min(int(match.group(2)), script.count("\n") + 1)
    return None


def _logs(answer: dict[str, Any]) -> list[str]:
    """The logs, re-checked here: the script shares the realm that gathered them."""
    raw = answer.get("logs")
    logs: list[str] = []
    room = MAX_LOG_CHARS + 64  # the JavaScript side's " [truncated]" mark may pass the limit
    for line in raw if isinstance(raw, list) else []:
        if not isinstance(line, str) or len(logs) >= MAX_LOG_LINES or room <= 0:
            continue
        logs.append(line[:room])
        room -= len(line)
    dropped = answer.get("dropped")
    if isinstance(dropped, int) and dropped > 0:
        logs.append(
            f"[{dropped} more console output lines dropped: the log keeps "
            f"{MAX_LOG_LINES} lines, {MAX_LOG_CHARS} characters]"
        )
    return logs
