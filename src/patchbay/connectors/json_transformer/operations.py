"""JSON Transformer: query and reshape JSON with JSONata or JMESPath.

Both languages can express runaway work: JSONata has recursive functions, and either can
build a result that doubles at every step (``[@, @] | [@, @] | ...``). Evaluations are
bounded three ways:

* **Cooperatively, inside the evaluation.** JSONata runs with its own time box and
  recursion limit (``jsonata.Jsonata(expr, timeout=ms, stack=depth)``, checked at every
  evaluation step); JMESPath runs in an interpreter that checks the deadline at every node
  it visits. A runaway expression therefore stops itself and frees its thread.
* **From outside.** The evaluation runs in a small dedicated thread pool and the call waits
  for it with ``asyncio.wait_for``. A thread cannot be killed: one stuck inside a single
  built-in call (a regular expression with catastrophic backtracking, ``$join`` or a sort
  over a huge value) keeps its pool thread until that call returns, but the operation still
  answers at its time limit, and the rest of the platform's threads are not touched.
* **On the result.** Before leaving the thread the result is copied into plain JSON while
  counting its size (nodes plus string characters); past ``MAX_RESULT_SIZE`` the call
  fails, instead of trying to serialise a result that shares sub-values exponentially.

Input size is bounded by the platform's request size, not here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.visitor
import jsonata
from jsonata.jexception import JException
from jsonata.utils import Utils as JsonataUtils
from pydantic import BaseModel, ConfigDict

from ..sdk import ConnectorError, Context, field, operation

DEFAULT_TIME_LIMIT = 10.0
MAX_TIME_LIMIT = 40.0  # under the SDK's 45 s operation timeout
MAX_DEPTH = 1000  # JSONata evaluation depth; well below Python's recursion limit
MAX_RESULT_SIZE = 5_000_000  # nodes + string characters of a result
WORKERS = 4

JSONATA_NULL = JsonataUtils.NULL_VALUE
_EXECUTOR = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="json-transformer")


def _fail(message: str, code: str | None = None) -> ConnectorError:
    return ConnectorError(message, "connector_error", code=code)


class _TimeUp(Exception):
    pass


# -- the result -------------------------------------------------------------------------
def expanded_size(value: Any, limit: int) -> int:
    """The size (nodes plus string characters) ``value`` has once written out, counted in
    time linear in its distinct containers: a sub-value shared many times (a result that
    doubles at every step) is measured once. Stops counting past ``limit``."""
    sizes: dict[int, int] = {}

    def size(item: Any) -> int:
        if isinstance(item, str):
            return 1 + len(item)
        if not isinstance(item, list | tuple | Mapping):
            return 1
        known = sizes.get(id(item))
        if known is None:
            total = 1
            for child in item.values() if isinstance(item, Mapping) else item:
                total += size(child)
                if total > limit:
                    break
            known = sizes[id(item)] = total
        return known

    try:
        return size(value)
    except RecursionError as exc:
        raise _fail("The result is nested too deeply") from exc


def plain_json(value: Any, limit: int = MAX_RESULT_SIZE, deadline: float | None = None) -> Any:
    """``value`` as plain JSON (dict, list, str, int, float, bool, None): library list
    subclasses become lists, JSONata's null marker ``None``. A function or other non-JSON
    value, or a result larger than ``limit`` (nodes plus string characters), raises
    ConnectorError; passing ``deadline`` (``time.monotonic()``) raises ``_TimeUp``."""
    if expanded_size(value, limit) > limit:
        raise _fail(f"The result is too large (over {limit:,} values and characters)")
    budget = [limit]
    checked_at = [limit]

    def convert(item: Any) -> Any:
        budget[0] -= 1 + (len(item) if isinstance(item, str) else 0)
        if budget[0] < 0:
            raise _fail(f"The result is too large (over {limit:,} values and characters)")
        if deadline is not None and checked_at[0] - budget[0] > 10_000:
            checked_at[0] = budget[0]
            if time.monotonic() > deadline:
                raise _TimeUp()
        if item is None or item is JSONATA_NULL:
            return None
        if isinstance(item, bool | int | float | str):
            return item
        if isinstance(item, list | tuple):
            return [convert(x) for x in item]
        if isinstance(item, Mapping):
            return {str(k): convert(v) for k, v in item.items()}
        raise _fail(f"The result is not JSON (a {type(item).__name__}); is it a function?")

    try:
        return convert(value)
    except RecursionError as exc:
        raise _fail("The result is nested too deeply") from exc


async def _run(work: Callable[[], Any], time_limit: float, language: str) -> Any:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.run_in_executor(_EXECUTOR, work), time_limit)
    except (TimeoutError, _TimeUp):
        raise _fail(
            f"The {language} expression did not finish within {time_limit:g} s", "time_limit"
        ) from None


# -- inputs and outputs -----------------------------------------------------------------
class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = field(title="Query", format="code", min_length=1)
    data: Any = field(None, title="Data", description="The JSON value the query runs on.")


class _TimeLimit(BaseModel):
    time_limit_seconds: float = field(
        DEFAULT_TIME_LIMIT,
        title="Time limit (seconds)",
        description=f"The evaluation fails past it; at most {MAX_TIME_LIMIT:g}.",
        gt=0,
        le=MAX_TIME_LIMIT,
        advanced=True,
    )


class JsonataInput(_TimeLimit, _Common):
    bindings: dict[str, Any] | None = field(
        None,
        title="Variables",
        description='Values the query reads as $name, e.g. {"rate": 1.2} for $rate.',
        advanced=True,
    )


class JmespathInput(_TimeLimit, _Common):
    pass


class TransformOutput(BaseModel):
    result: Any = field(
        title="Result", description="The query's value; null when it matches nothing."
    )


# -- JSONata ----------------------------------------------------------------------------
def _jsonata_error(exc: JException) -> Exception:
    if exc.error == "D1012":  # its own time box ran out
        return _TimeUp()
    where = f" at position {exc.location}" if exc.location and exc.location > 0 else ""
    kind = "Invalid JSONata expression" if exc.error.startswith("S") else "JSONata error"
    return _fail(f"{kind}: {exc} ({exc.error}{where})", exc.error)


def evaluate_jsonata(
    query: str, data: Any, bindings: Mapping[str, Any] | None, time_limit: float
) -> Any:
    """Compile and evaluate in the calling thread (the time box starts at compilation).

    The library's own null conversion is switched off: it walks the whole result outside
    the time box (a result sharing sub-values exponentially would never finish);
    :func:`plain_json` does it within the size and time bounds."""
    deadline = time.monotonic() + time_limit
    try:
        expression = jsonata.Jsonata(query, timeout=int(time_limit * 1000), stack=MAX_DEPTH)
        expression.set_output_convert_nulls(False)
        result = expression.evaluate(data, dict(bindings) if bindings else None)
    except JException as exc:
        raise _jsonata_error(exc) from None
    except RecursionError:
        raise _fail("JSONata error: the expression or data is nested too deeply") from None
    except Exception as exc:  # the library's own bugs (1/0 raises ZeroDivisionError)
        raise _fail(f"JSONata error: {exc}") from None
    return plain_json(result, deadline=deadline)


@operation(
    "jsonata",
    title="JSONata",
    description="Query and transform JSON with a JSONata expression.",
    input=JsonataInput,
    output=TransformOutput,
)
async def jsonata_(ctx: Context, data: JsonataInput) -> dict:
    limit = data.time_limit_seconds

    def work() -> Any:
        return evaluate_jsonata(data.query, data.data, data.bindings, limit)

    return {"result": await _run(work, limit, "JSONata")}


# -- JMESPath ---------------------------------------------------------------------------
class _DeadlineInterpreter(jmespath.visitor.TreeInterpreter):
    """JMESPath's interpreter, checking a deadline at every node it visits."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() > self._deadline:
            raise _TimeUp()
        return super().visit(node, *args, **kwargs)


def evaluate_jmespath(query: str, data: Any, time_limit: float) -> Any:
    deadline = time.monotonic() + time_limit
    try:
        parsed = jmespath.compile(query)
        result = _DeadlineInterpreter(deadline).visit(parsed.parsed, data)
    except jmespath.exceptions.ParseError as exc:
        text = str(exc)  # most messages already start "Invalid jmespath expression: "
        if not text.lower().startswith("invalid jmespath expression"):
            text = f"Invalid JMESPath expression: {text}"
        raise _fail(text, type(exc).__name__) from None
    except jmespath.exceptions.JMESPathError as exc:
        raise _fail(f"JMESPath error: {exc}", type(exc).__name__) from None
    except RecursionError:
        raise _fail("JMESPath error: the expression or data is nested too deeply") from None
    return plain_json(result, deadline=deadline)


@operation(
    "jmespath",
    title="JMESPath",
    description="Query JSON with a JMESPath expression.",
    input=JmespathInput,
    output=TransformOutput,
)
async def jmespath_(ctx: Context, data: JmespathInput) -> dict:
    limit = data.time_limit_seconds

    def work() -> Any:
        return evaluate_jmespath(data.query, data.data, limit)

    return {"result": await _run(work, limit, "JMESPath")}


OPERATIONS = [jsonata_, jmespath_]
