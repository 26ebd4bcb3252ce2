"""The child side of the script sandbox: run one script in QuickJS and exit.

Started by :mod:`.sandbox` as ``python -I -S -B worker.py <dir holding _quickjs>`` with an
environment holding only ``TZ=UTC``, it imports only the standard library and the QuickJS
extension (never Patchbay), reads one request from stdin and the libraries the script
names (lodash as ``_``, ``moment``: vendor/), lowers its own resource limits, runs the
script, writes one JSON answer to stdout and exits.

stdin: a header line (JSON: ``script``, ``cpu``, ``memory``, ``max_log_lines``,
``max_log_chars``), then the input object as JSON text (handed to ``JSON.parse`` as is).
stdout: one JSON object, ``{"ok": true, "logs", "dropped", "result"}`` or
``{"ok": false, "logs"?, "dropped"?, "error": {"type", ...}}`` where ``type`` is
``exception`` (``name``, ``message``, ``stack``), ``unserialisable`` (``message``),
``pending``, ``cpu``, ``memory`` or ``internal`` (``message``).
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import sys
import time

# The libraries Tray's Script connector gives scripts, as globals: name -> (file under
# vendor/, a pattern the script's source matches when it may use it). Loading both costs
# about 12 ms of CPU and 1.2 MB of heap, so a script gets only those it names (a false
# positive, e.g. "_" in a string, only costs the load). See vendor/README.md.
VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor")
LIBRARIES = {
    "_": ("lodash/lodash.min.js", re.compile(r"(?<![\w$])_(?![\w$])")),
    "moment": ("moment/moment.min.js", re.compile(r"(?<![\w$])moment(?![\w$])")),
}

# Below this heap the libraries cannot load (they take about 1.2 MB), and QuickJS may crash
# instead of failing cleanly when it runs out of memory while compiling them: a script that
# names them under a smaller memory limit is answered "memory limit exceeded" at once.
LIBRARY_MIN_MEMORY = 2 * 1024 * 1024


def _libraries(script: str) -> list[str]:
    """The sources of the libraries ``script`` refers to (read before the file descriptor
    limit closes the door)."""
    sources = []
    for path, pattern in LIBRARIES.values():
        if pattern.search(script):
            with open(os.path.join(VENDOR, path), encoding="utf-8") as f:
                sources.append(f.read())
    return sources


# The JavaScript runtime, evaluated before the user's script. It captures the builtins it
# needs (the script may overwrite the globals), defines a capturing `console`, and two
# entry points: __patchbay_start(sourceJson, inputJson) compiles and calls the script,
# __patchbay_finish() answers the JSON envelope once the (possibly asynchronous) result has
# settled. Every value crossing to Python is JSON text, so NUL characters and lone surrogates
# survive the C string conversion. The script can tamper with its own logs and result (it
# shares the realm) but with nothing else; the parent validates what comes out.
PRELUDE = r"""
(function () {
  "use strict";
  const g = globalThis;
  const stringify = JSON.stringify, parse = JSON.parse, S = String;
  const indirectEval = eval, PromiseResolve = Promise.resolve.bind(Promise);
  const ErrorCtor = Error;
  const MAX_LINES = %(max_log_lines)d, MAX_CHARS = %(max_log_chars)d;
  const logs = [];
  let logChars = 0, dropped = 0;

  function show(v) {
    try {
      if (typeof v === "string") return v;
      if (v === undefined) return "undefined";
      if (typeof v === "function") return "[Function" + (v.name ? ": " + v.name : "") + "]";
      if (typeof v === "bigint") return S(v) + "n";
      if (typeof v === "symbol") return v.toString();
      if (v instanceof ErrorCtor) return typeof v.stack === "string" ? S(v) + "\n" + v.stack : S(v);
      const s = stringify(v);
      return s === undefined ? S(v) : s;
    } catch (e) {
      try { return S(v); } catch (e2) { return "[object]"; }
    }
  }

  function log() {
    try {
      if (logs.length >= MAX_LINES || logChars >= MAX_CHARS) { dropped++; return; }
      let line = "";
      for (let i = 0; i < arguments.length; i++) line += (i ? " " : "") + show(arguments[i]);
      if (line.length > MAX_CHARS - logChars) {
        line = line.slice(0, MAX_CHARS - logChars) + " [truncated]";
      }
      logs[logs.length] = line;
      logChars += line.length;
    } catch (e) {
      dropped++;
    }
  }
  g.console = { log: log, info: log, warn: log, error: log, debug: log, trace: log };

  const state = { done: false, ok: false, value: undefined };
  function settle(ok, value) {
    if (state.done) return;
    state.done = true; state.ok = ok; state.value = value;
  }

  function describe(e) {
    try {
      // QuickJS throws null when it cannot even allocate the "out of memory" error.
      if (e === null) return { type: "memory" };
      if (e instanceof ErrorCtor) {
        if (e.name === "InternalError" && e.message === "out of memory") return { type: "memory" };
        return { type: "exception", name: S(e.name).slice(0, 200),
                 message: S(e.message).slice(0, 4000),
                 stack: typeof e.stack === "string" ? e.stack.slice(0, 4000) : "" };
      }
      return { type: "exception", name: "", message: show(e).slice(0, 4000), stack: "" };
    } catch (e2) {
      return { type: "exception", name: "Error", message: "an exception that cannot be shown",
               stack: "" };
    }
  }

  function envelope(head) {
    return '{"logs":' + stringify(logs) + ',"dropped":' + dropped + "," + head + "}";
  }

  g.__patchbay_start = function $patchbay$start(sourceJson, inputJson, fileInputJson) {
    const source = parse(sourceJson), input = parse(inputJson);
    const fileInput = fileInputJson ? parse(fileInputJson) : {};
    let fn;
    try {
      // No newline after the header: line N of the script is line N of this evaluation.
      fn = indirectEval("(function (input, fileInput, exports, module) {" + source + "\n})");
    } catch (e) {
      settle(false, e);
      return;
    }
    try {
      const module = { exports: {} };
      let value = fn.call(undefined, input, fileInput, module.exports, module);
      const exported = module.exports;
      let step = null;
      if (exported && typeof exported.step === "function") step = exported.step;
      else if (typeof exported === "function") step = exported;
      if (step !== null) value = step.call(exported, input, fileInput);
      if (value !== null && (typeof value === "object" || typeof value === "function") &&
          typeof value.then === "function") {
        PromiseResolve(value).then(function (v) { settle(true, v); },
                                   function (e) { settle(false, e); });
      } else {
        settle(true, value);
      }
    } catch (e) {
      settle(false, e);
    }
  };

  g.__patchbay_logs = function $patchbay$logs() { return envelope('"ok":false'); };

  g.__patchbay_finish = function $patchbay$finish() {
    if (!state.done) return envelope('"ok":false,"error":{"type":"pending"}');
    if (!state.ok) return envelope('"ok":false,"error":' + stringify(describe(state.value)));
    const v = state.value;
    let text;
    if (v === undefined) {
      text = "null";
    } else if (typeof v === "function" || typeof v === "symbol") {
      text = undefined;
    } else {
      try {
        text = stringify(v);
      } catch (e) {
        const d = describe(e);
        if (d.type === "memory") return null;
        return envelope('"ok":false,"error":' +
                        stringify({ type: "unserialisable", message: d.message }));
      }
    }
    if (text === undefined) {
      const why = "the result is a " + typeof v;
      return envelope('"ok":false,"error":' + stringify({ type: "unserialisable", message: why }));
    }
    return envelope('"ok":true,"result":' + text);
  };
})();
"""


def _answer(data: dict | str) -> None:
    text = data if isinstance(data, str) else json.dumps(data)
    sys.stdout.buffer.write(text.encode("utf-8", "surrogatepass"))
    sys.stdout.buffer.flush()


def _limit_process(cpu: float, memory: int, input_size: int) -> None:
    """Backstops under QuickJS's own limits: if anything escapes QuickJS's accounting, the
    kernel stops the process (SIGXCPU, then SIGKILL; allocation failures)."""
    used = time.process_time()
    soft = math.ceil(used + cpu + 0.5)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with open("/proc/self/statm") as statm:
        vm_size = int(statm.read().split()[0]) * resource.getpagesize()
    # Room for the QuickJS heap, the result text crossing to Python and the input text.
    address_space = vm_size + 4 * memory + 2 * input_size + (64 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    # No new file descriptors (stdin, stdout and stderr stay usable).
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))


def _fatal(exc: BaseException) -> dict:
    text = str(exc)
    if text.startswith("InternalError: interrupted"):
        return {"type": "cpu"}
    first = text.split("\n", 1)[0]
    # QuickJS throws null when it cannot even allocate its "out of memory" error.
    if "out of memory" in first or first == "null" or isinstance(exc, MemoryError):
        return {"type": "memory"}
    name, _, message = text.partition("\n")[0].partition(": ")
    stack = text.partition("\n")[2]
    return {"type": "exception", "name": name, "message": message, "stack": stack}


def _logs_before(logs_fn) -> dict:
    """The logs written before a fatal error, when the context can still answer them."""
    try:
        data = json.loads(logs_fn())
        return {"logs": data["logs"], "dropped": data["dropped"]}
    except BaseException:  # noqa: BLE001 - the context may be out of memory: no logs then
        return {}


def main() -> None:
    sys.path.append(sys.argv[1])
    import _quickjs  # the QuickJS extension module alone (no threads, no Patchbay)

    header = json.loads(sys.stdin.buffer.readline())
    # The input, then (after a newline: JSON text has none) the files' content, fileInput.
    input_text, _, file_input_text = sys.stdin.buffer.read().decode("utf-8").partition("\n")
    cpu: float = header["cpu"]
    memory: int = header["memory"]
    script = header.pop("script")
    source_json = json.dumps(script)
    libraries = _libraries(script)
    if libraries and memory < LIBRARY_MIN_MEMORY:
        _answer({"ok": False, "error": {"type": "memory"}})
        return
    _limit_process(cpu, memory, len(input_text) + len(file_input_text) + len(source_json))

    context = _quickjs.Context()
    context.set_memory_limit(memory)
    started = time.process_time()

    def remaining() -> float:
        return cpu - (time.process_time() - started)

    logs = None
    try:
        context.set_time_limit(max(remaining(), 0.001))
        # Within the script's limits: the libraries' time and heap count as the script's.
        for library in libraries:
            context.eval(library)
        del libraries
        context.eval(PRELUDE % header)
        start = context.get("__patchbay_start")
        finish = context.get("__patchbay_finish")
        logs = context.get("__patchbay_logs")
        context.eval("delete globalThis.__patchbay_start; delete globalThis.__patchbay_finish;")
        context.eval("delete globalThis.__patchbay_logs;")
        context.set_time_limit(max(remaining(), 0.001))
        start(source_json, input_text, file_input_text)
        # Promise jobs: QuickJS limits each job alone, so the budget is kept here overall.
        while True:
            left = remaining()
            if left <= 0:
                raise _quickjs.JSException("InternalError: interrupted")
            context.set_time_limit(left)
            if not context.execute_pending_job():
                break
        context.set_time_limit(max(remaining(), 0.001))
        text = finish()
    except (_quickjs.JSException, _quickjs.StackOverflow, MemoryError) as exc:
        answer: dict = {"ok": False, "error": _fatal(exc)}
        if logs is not None:
            context.set_time_limit(0.1)
            answer.update(_logs_before(logs))
        _answer(answer)
        return
    if not isinstance(text, str):  # the result text did not fit in the memory limit
        _answer({"ok": False, "error": {"type": "memory"}})
        return
    _answer(text)


if __name__ == "__main__":
    try:
        main()
    except MemoryError:
        _answer({"ok": False, "error": {"type": "memory"}})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised
        _answer({"ok": False, "error": {"type": "internal", "message": repr(exc)[:2000]}})
