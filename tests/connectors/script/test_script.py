"""script 3.3 (execute), run through the real SDK path, and its sandbox (run_script)."""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.script import operations, sandbox
from patchbay.connectors.script.connector import CONNECTORS
from patchbay.connectors.script.operations import DEFAULT_SCRIPT
from patchbay.connectors.script.sandbox import ScriptError, run_script
from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.testing.connectors import Call, assert_output_valid, loopback_clients, make_call

SCRIPT = CONNECTORS[0]


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(SCRIPT, clients)


def variables(**values: Any) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in values.items()]


async def ok(call: Call, script: str, **values: Any) -> dict[str, Any]:
    data = {"script": script, "variables": variables(**values)}
    return assert_output_valid(SCRIPT, "execute", await call("execute", data))


async def error(call: Call, script: str, **values: Any) -> dict[str, Any]:
    result = await call("execute", {"script": script, "variables": variables(**values)})
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    return result.output


async def script_error(script: str, input: dict[str, Any] | None = None, **limits: Any):
    with pytest.raises(ScriptError) as caught:
        await run_script(script, input or {}, **limits)
    return caught.value


# -- declaration ----------------------------------------------------------------------------
def test_declaration() -> None:
    assert (SCRIPT.name, SCRIPT.version, SCRIPT.requires_auth) == ("script", "3.3", False)
    assert SCRIPT.environments == [] and SCRIPT.base_url is None
    assert uuid.UUID(SCRIPT.service.id).version == 4
    assert [op.name for op in SCRIPT.operations] == ["execute"]
    schema = SCRIPT.operation("execute").input_schema
    assert set(schema["properties"]) == {"variables", "script", "file_output"}
    assert schema["properties"]["script"]["format"] == "code"
    assert schema["advanced"] == ["file_output"]
    # The operation's own timeout leaves room for the sandbox's wall-clock limit.
    assert SCRIPT.operation("execute").timeout > sandbox.WALL_CLOCK_LIMIT


def test_default_limits() -> None:
    assert sandbox.CPU_TIME_LIMIT == 5
    assert sandbox.WALL_CLOCK_LIMIT == 10
    assert sandbox.MEMORY_LIMIT == 64 * 1024 * 1024


# -- the Tray form and plain values ---------------------------------------------------------
async def test_tray_form_with_variables(call: Call) -> None:
    script = """// You can reference the input variables using input.NAME
exports.step = function(input, fileInput) {
  return { greeting: "Hello " + input.name, total: input.a + input.b, file: fileInput };
};
"""
    output = await ok(call, script, name="Ada", a=2, b=40)
    assert output == {"result": {"greeting": "Hello Ada", "total": 42, "file": {}}, "logs": []}


async def test_default_script_returns_null(call: Call) -> None:
    result = await call("execute", {})
    assert assert_output_valid(SCRIPT, "execute", result) == {"result": None, "logs": []}
    assert "exports.step" in DEFAULT_SCRIPT


async def test_other_script_forms(call: Call) -> None:
    assert (await ok(call, "return input.x * 3", x=5))["result"] == 15
    assert (await ok(call, "module.exports = function (input) { return -input.x }", x=5))[
        "result"
    ] == -5
    assert (await ok(call, "module.exports.step = (input) => input.x + 1", x=5))["result"] == 6
    assert (await ok(call, "", x=5))["result"] is None
    # Asynchronous functions and promises settle before the result is taken.
    async_script = "exports.step = async (input) => { await null; return [input.x, 'late'] }"
    assert (await ok(call, async_script, x=1))["result"] == [1, "late"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'text ✓'", "text ✓"),
        ("12", 12),
        ("-1.5", -1.5),
        ("2 ** 53", 2**53),
        ("true", True),
        ("false", False),
        ("null", None),
        ("undefined", None),
        ("[1, 'a', [null, {}]]", [1, "a", [None, {}]]),
        ("({a: {b: [true]}, 'k y': 0})", {"a": {"b": [True]}, "k y": 0}),
        ("({d: new Date(0)})", {"d": "1970-01-01T00:00:00.000Z"}),
        ("({f: function () {}, u: undefined, n: NaN})", {"n": None}),
        ("'nul\\u0000 and \\ud800 survive'", "nul\x00 and \ud800 survive"),
    ],
)
async def test_plain_return_values(call: Call, expression: str, expected: Any) -> None:
    output = await ok(call, f"exports.step = function (input) {{ return {expression}; }};")
    assert output["result"] == expected
    assert type(output["result"]) is type(expected)


async def test_variables_of_every_type_round_trip(call: Call) -> None:
    values = {
        "s": "x",
        "i": 3,
        "f": 0.25,
        "t": True,
        "n": None,
        "l": [1, [2]],
        "o": {"k": {"v": 1}},
        "__proto__": "own",
    }
    output = await ok(call, "return input", **values)
    assert output["result"] == values
    types = await ok(call, "return Object.keys(input).map(k => typeof input[k])", **values)
    assert types["result"] == [
        "string",
        "number",
        "number",
        "boolean",
        "object",
        "object",
        "object",
        "string",
    ]


async def test_repeated_variable_name_last_wins(call: Call) -> None:
    data = {
        "script": "return input.a",
        "variables": [{"name": "a", "value": 1}, {"name": "a", "value": 2}],
    }
    output = assert_output_valid(SCRIPT, "execute", await call("execute", data))
    assert output["result"] == 2


async def test_file_output_outside_a_workflow_returns_json(call: Call) -> None:
    """Call Connector has no run to keep a file in (in a workflow, a file: see
    tests/workflows/test_tray_files.py)."""
    data = {"script": "return 7", "file_output": True}
    output = assert_output_valid(SCRIPT, "execute", await call("execute", data))
    assert output == {"result": 7, "logs": []}


async def test_bad_input_is_refused(call: Call) -> None:
    with pytest.raises(InputInvalid):
        await call("execute", {"script": 42})
    with pytest.raises(InputInvalid):
        await call("execute", {"script": "return 1", "variables": [{"value": 1}]})
    with pytest.raises(InputInvalid):
        await call("execute", {"script": "return 1", "variables": [{"name": "", "value": 1}]})
    with pytest.raises(InputInvalid):
        await call("execute", {"script": "return 1", "other": True})


async def test_input_that_is_not_json_is_refused() -> None:
    assert (await script_error("return 1", {"x": float("nan")})).code == "invalid_input"
    assert (await script_error("return 1", {"x": object()})).code == "invalid_input"


# -- JavaScript errors ----------------------------------------------------------------------
async def test_thrown_error_gives_message_and_line(call: Call) -> None:
    script = (
        "exports.step = function (input) {\n"
        "  var x = 1;\n"
        "  throw new RangeError('bad ' + input.v);\n"
        "};"
    )
    output = await error(call, script, v="value")
    assert output["message"] == "RangeError: bad value (line 3)"
    assert output["code"] == "script_error"


async def test_type_error_line(call: Call) -> None:
    output = await error(call, "var a = 1;\n\nreturn input.missing.field;")
    assert output["message"] == "TypeError: cannot read property 'field' of undefined (line 3)"


async def test_syntax_error(call: Call) -> None:
    output = await error(call, "exports.step = function (input) {\n  return (;\n};")
    assert output["message"].startswith("SyntaxError: ")
    assert output["message"].endswith("(line 2)")
    # A script cut short points at its own last line, not past it.
    assert (await error(call, "return (1 +"))["message"].endswith("(line 1)")


async def test_thrown_non_error_values(call: Call) -> None:
    assert (await error(call, "throw 'plain string'"))["message"] == "Uncaught plain string"
    assert (await error(call, "throw {code: 7}"))["message"] == 'Uncaught {"code":7}'


async def test_rejected_promise_and_never_settled_promise(call: Call) -> None:
    rejected = "exports.step = async () => { await null; throw new Error('later') }"
    assert (await error(call, rejected))["message"].startswith("Error: later")
    pending = await error(call, "return new Promise(() => {})")
    assert pending["message"].startswith("The script's promise never settled")


async def test_stack_overflow_is_a_script_error(call: Call) -> None:
    output = await error(call, "function f() { return f() + 1 }\nreturn f()")
    assert output["message"].startswith("InternalError: stack overflow")
    assert output["code"] == "script_error"


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("1n", "bigint"),
        ("(() => { const a = {}; a.self = a; return a })()", "circular"),
        ("function () {}", "function"),
        ("Symbol('s')", "symbol"),
        ("({toJSON() { throw new Error('no json') }})", "no json"),
    ],
)
async def test_result_that_is_not_json(call: Call, expression: str, detail: str) -> None:
    output = await error(call, f"return {expression}")
    assert output["message"].startswith("The script's result is not JSON-serialisable: ")
    assert detail in output["message"]
    assert output["code"] == "result_not_serialisable"


# -- no host access -------------------------------------------------------------------------
async def test_no_network_file_or_process_apis(call: Call) -> None:
    names = [
        "require",
        "fetch",
        "XMLHttpRequest",
        "WebSocket",
        "process",
        "std",
        "os",
        "Deno",
        "Bun",
        "setTimeout",
        "setInterval",
        "WebAssembly",
        "importScripts",
        "print",
        "__patchbay_start",
        "__patchbay_finish",
        "__patchbay_logs",
    ]
    script = "return " + json.dumps(names) + ".map(n => typeof globalThis[n])"
    assert (await ok(call, script))["result"] == ["undefined"] * len(names)
    for expression in ["require('fs')", "fetch('http://127.0.0.1/')", "new XMLHttpRequest()"]:
        output = await error(call, f"return {expression}")
        assert "is not defined" in output["message"], output


async def test_dynamic_import_is_unavailable(call: Call) -> None:
    for name in ["os", "std", "fs", "node:child_process"]:
        output = await error(call, f"exports.step = async () => await import('{name}')")
        assert output["message"] == f"ReferenceError: could not load module '{name}'"


async def test_executions_share_nothing(call: Call) -> None:
    await ok(call, "globalThis.leak = 'secret'; Object.prototype.polluted = 1; return 1")
    output = await ok(call, "return [typeof leak, typeof ({}).polluted]")
    assert output["result"] == ["undefined", "undefined"]


# -- console.log ----------------------------------------------------------------------------
async def test_console_log_is_captured(call: Call) -> None:
    script = """exports.step = function (input) {
  console.log('start', input.n, {a: [1]}, [2], null, undefined, true);
  console.info('info'); console.warn('warn'); console.error('error'); console.debug(5n);
  console.log(function named() {});
  console.log(new Error('shown'));
  return 'done';
};"""
    output = await ok(call, script, n=3)
    assert output["result"] == "done"
    logs = output["logs"]
    assert logs[:6] == [
        'start 3 {"a":[1]} [2] null undefined true',
        "info",
        "warn",
        "error",
        "5n",
        "[Function: named]",
    ]
    assert logs[6].startswith("Error: shown\n")


async def test_console_log_is_bounded() -> None:
    outcome = await run_script("for (let i = 0; i < 5000; i++) console.log('line ' + i)", {})
    assert len(outcome.logs) == sandbox.MAX_LOG_LINES + 1
    assert outcome.logs[0] == "line 0"
    assert outcome.logs[-1].startswith("[4000 more console output lines dropped")
    huge = await run_script("console.log('x'.repeat(1e6)); console.log('after')", {})
    assert huge.logs[0].endswith(" [truncated]")
    assert len(huge.logs[0]) <= sandbox.MAX_LOG_CHARS + 20
    assert huge.logs[-1].startswith("[1 more console output lines dropped")


async def test_logs_survive_a_failure() -> None:
    failed = await script_error("console.log('before'); throw new Error('x')")
    assert failed.logs == ["before"]
    looped = await script_error(
        "console.log('spinning'); while (true) {}", cpu_time_limit=0.5, wall_clock_limit=60
    )
    assert looped.logs == ["spinning"]


# -- limits ---------------------------------------------------------------------------------
async def test_infinite_loop_stopped_by_cpu_limit(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 1 s CPU limit and a wall clock far away: a loaded test machine cannot turn the CPU
    # limit into the wall-clock one.
    limited = functools.partial(run_script, cpu_time_limit=1, wall_clock_limit=60)
    monkeypatch.setattr(operations, "run_script", limited)
    output = await error(call, "exports.step = function () { while (true) {} };")
    assert output["message"] == "Script stopped: CPU time limit of 1 s exceeded"
    assert output["code"] == "cpu_time_limit"


async def test_cpu_limit_is_configurable_and_covers_promise_jobs() -> None:
    loop = await script_error("for (;;) {}", cpu_time_limit=0.5, wall_clock_limit=60)
    assert str(loop) == "Script stopped: CPU time limit of 0.5 s exceeded"
    # A chain of promise jobs, each short, still shares one CPU budget.
    jobs = "(function loop() { Promise.resolve().then(loop) })(); return 1"
    failed = await script_error(jobs, cpu_time_limit=0.5, wall_clock_limit=60)
    assert failed.code == "cpu_time_limit"


async def test_rlimit_cpu_stops_native_code_quickjs_cannot_interrupt() -> None:
    # Catastrophic regex backtracking runs inside one native call; RLIMIT_CPU kills it.
    failed = await script_error(
        "return /(a+)+$/.test('a'.repeat(40) + 'b')", cpu_time_limit=1, wall_clock_limit=60
    )
    assert failed.code == "cpu_time_limit"
    assert str(failed) == "Script stopped: CPU time limit of 1 s exceeded"


async def test_memory_hog_stopped_by_memory_limit(call: Call) -> None:
    output = await error(call, "var a = []; while (true) a.push([1, 2, 3]);")
    assert output["message"] == "Script stopped: memory limit of 64 MB exceeded"
    assert output["code"] == "memory_limit"
    big = await error(call, "var s = 'x'; while (true) s = s + s; return s.length")
    assert big["code"] == "memory_limit"


async def test_memory_limit_is_configurable() -> None:
    small = 8 * 1024 * 1024
    fits = await run_script("return new Array(100000).fill(1).length", {}, memory_limit=small)
    assert fits.result == 100000
    hog = "var a = []; for (;;) a.push({i: a.length})"
    failed = await script_error(hog, memory_limit=small)
    assert str(failed) == "Script stopped: memory limit of 8 MB exceeded"
    # A script may catch running out of memory and go on, within the limit.
    caught = "var a = []; try { for (;;) a.push([a.length]) } catch (e) { return a.length }"
    handled = await run_script(caught, {}, memory_limit=small)
    assert isinstance(handled.result, int) and handled.result > 1000


async def test_wall_clock_limit_kills_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    processes: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def recording(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        process = await spawn(*args, **kwargs)
        processes.append(process)
        return process

    monkeypatch.setattr(sandbox.asyncio, "create_subprocess_exec", recording)
    started = time.monotonic()
    failed = await script_error("var n = 0; for (;;) n++", cpu_time_limit=60, wall_clock_limit=1)
    assert str(failed) == "Script stopped: wall-clock limit of 1 s exceeded"
    assert failed.code == "wall_clock_limit"
    assert time.monotonic() - started < 5
    (process,) = processes
    assert process.returncode is not None and process.returncode < 0  # killed, and reaped


async def test_cancelled_execution_kills_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    processes: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def recording(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        process = await spawn(*args, **kwargs)
        processes.append(process)
        return process

    monkeypatch.setattr(sandbox.asyncio, "create_subprocess_exec", recording)
    task = asyncio.create_task(run_script("for (;;) {}", {}, cpu_time_limit=30))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (process,) = processes
    assert process.returncode is not None and process.returncode < 0


def test_child_process_limits() -> None:
    """The kernel backstops the worker sets on itself, observed in a separate process."""
    probe = """
import json, resource
from patchbay.connectors.script.worker import _limit_process
_limit_process(5.0, 64 << 20, 1000)
names = ["RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_NOFILE"]
print(json.dumps({n: resource.getrlimit(getattr(resource, n)) for n in names}))
try:
    open("/etc/hostname")
except OSError as exc:
    print(exc.errno)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    first, second = done.stdout.splitlines()
    limits = json.loads(first)
    soft, hard = limits["RLIMIT_CPU"]
    assert soft in (6, 7) and hard == soft + 1
    assert 64 << 20 < limits["RLIMIT_AS"][0] < 1 << 30
    assert limits["RLIMIT_CORE"] == [0, 0] and limits["RLIMIT_FSIZE"] == [0, 0]
    assert limits["RLIMIT_NOFILE"] == [3, 3]
    assert int(second) == errno.EMFILE  # no new file descriptors at all


# -- size and concurrency -------------------------------------------------------------------
async def test_large_input_round_trip(call: Call) -> None:
    rows = [{"id": i, "name": f"row {i}", "tags": ["a", "b"], "score": i / 7} for i in range(20000)]
    text = "é✓ " * 100_000
    output = await ok(
        call,
        "exports.step = (input) => ({rows: input.rows, text: input.text})",
        rows=rows,
        text=text,
    )
    assert output["result"] == {"rows": rows, "text": text}
    count = await ok(call, "return input.rows.reduce((s, r) => s + r.id, 0)", rows=rows)
    assert count["result"] == sum(range(20000))


async def test_concurrent_executions_do_not_interfere() -> None:
    script = """exports.step = function (input) {
  globalThis.mine = input.i;
  console.log('run ' + input.i);
  let s = 0; for (let k = 0; k < 200000; k++) s += k;
  return {i: globalThis.mine, s: s};
};"""
    outcomes = await asyncio.gather(*(run_script(script, {"i": i}) for i in range(8)))
    assert [o.result for o in outcomes] == [{"i": i, "s": 19999900000} for i in range(8)]
    assert [o.logs for o in outcomes] == [[f"run {i}"] for i in range(8)]


async def test_a_runaway_does_not_hold_up_others() -> None:
    runaway = asyncio.create_task(run_script("for (;;) {}", {}, cpu_time_limit=60))
    quick = await asyncio.gather(*(run_script("return input.i", {"i": i}) for i in range(4)))
    assert [o.result for o in quick] == [0, 1, 2, 3]
    assert not runaway.done()
    runaway.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runaway


async def test_sandbox_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "WORKER", sandbox.WORKER.with_name("no_such_worker.py"))
    failed = await script_error("return 1")
    assert failed.code == "sandbox_error"
    assert failed.kind == "connector_error"
