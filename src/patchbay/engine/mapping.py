"""Data mapping: Tray's data references, string interpolation and typed property values.

A workflow step's properties refer to earlier data with JSONPath-like references, the way Tray
writes them::

    $.steps.<step>.<field>...     a finished step's output ($.steps.trigger.body.x for the trigger)
    $.steps.loop-1.value / .index the current iteration of a loop being iterated
    $.config.<key>  $.env.<key>  $.auth.<field>  $.errors.<step>

Grammar of a path (a small hand-written parser; parsed paths are cached)::

    path    := "$" segment+
    segment := "." name | "." "*" | "[" int "]" | "[" "*" "]" | "[" quoted "]"
    name    := one or more characters other than . [ ] { } ' " \\ and whitespace
    int     := "-"? digits            (negative indexes count from the end)
    quoted  := '...' or "..."          (a backslash escapes the next character)

The first segment is the root (steps, config, env, auth, errors); under ``steps`` and
``errors`` the second is a step name. ``..`` (recursive descent) is not supported.

Resolution rules:

- A key looks a name up in a mapping; a dotted name made only of digits (``.0``) also indexes a
  list, as in JavaScript. ``[n]`` indexes a list or tuple (Python-style negative indexes) or
  looks up the key ``n`` / ``"n"`` in a mapping. Strings are not indexable.
- ``null`` is a value: ``$.steps.x.a`` with ``a: null`` resolves to ``None`` (and so does not
  take a fallback); walking *through* a ``null`` does not resolve.
- ``[*]`` / ``.*`` map the rest of the path over a list's items or a mapping's values and give a
  list of the matches (items where the rest does not resolve are skipped, nested wildcards are
  flattened, as in JSONPath). A wildcard over something that is not a list or mapping does not
  resolve; over an empty one it gives ``[]``.
- A loop frame (``Scope.loops[name]``, ``{"value": item, "index": i}``) shadows the step output
  of the same name entirely while the loop is iterated.

Interpolation (``interpolate``) replaces ``{$.path}`` and ``{$.path or:'fallback'}`` (or
``or:"fallback"``) in a string; a ``{`` not followed by ``$.`` is literal text. Values render
as text like Tray (JavaScript) does: strings raw, ``null`` as the empty string, booleans as
``true``/``false``, numbers as JSON (an integral float without ``.0``, as JavaScript prints it),
lists and objects as compact JSON.

Stored payloads (``patchbay.payload_refs``): a reference ``{"$payload": id, ...}`` resolves as
itself; a path that goes into one, or an interpolation of one, reads through the value in
``Scope.payloads`` and raises :class:`PayloadNeeded` when it is not there yet (the
interpreter loads it through its runtime and resolves again).

Resolved values are the very objects held in the scope: nothing is copied.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import orjson

from .. import keypaths
from ..keypaths import item
from ..payload_refs import PAYLOAD_KEY

__all__ = [
    "InvalidReference",
    "InvalidValue",
    "MappingError",
    "ParsedPath",
    "PayloadNeeded",
    "ReferenceUnresolved",
    "Scope",
    "interpolate",
    "parse_path",
    "references",
    "render_text",
    "resolve_path",
    "resolve_value",
]


# --------------------------------------------------------------------------------------------
# Errors


class MappingError(Exception):
    """Base of the data-mapping errors."""


class ReferenceUnresolved(MappingError):
    """A well-formed reference that points at nothing (and has no fallback)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"Reference: {path} did not resolve to any value")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path,))


class InvalidReference(MappingError, ValueError):
    """A reference (or an interpolation around it) that is not well formed."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"Invalid reference {path!r}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


class InvalidValue(MappingError, ValueError):
    """A typed property value whose shape does not match its type."""


class PayloadNeeded(Exception):
    """A path goes into (or a string interpolates) a stored payload (``patchbay.payload_refs``)
    whose value is not in ``Scope.payloads`` yet: the caller loads it and resolves again.
    Not a MappingError: nothing is wrong with the reference."""

    def __init__(self, ref: dict[str, Any]) -> None:
        super().__init__(f"payload {ref.get(PAYLOAD_KEY)} is needed")
        self.ref = ref


# --------------------------------------------------------------------------------------------
# Scope


_ROOTS = frozenset({"steps", "config", "env", "auth", "errors"})
_NAMED_ROOTS = frozenset({"steps", "errors"})  # roots whose next segment is a step name


@dataclass(frozen=True, slots=True)
class Scope:
    """What references resolve against. Holds the mappings it is given by reference.

    ``steps``: each finished step's output by step name (the trigger's under ``"trigger"``);
    ``errors``: a step's error by step name; ``loops``: the frames of the loops currently being
    iterated, by loop step name, each ``{"value": item, "index": i}``; ``payloads``: the stored
    payloads already read, by id (a path going into a payload reference reads through it).
    """

    steps: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    auth: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, Any] = field(default_factory=dict)
    loops: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    payloads: Mapping[str, Any] = field(default_factory=dict)

    def with_loop(self, name: str, value: Any, index: int, **extra: Any) -> Scope:
        """The scope of one iteration of loop ``name``: the same mappings (not copied), plus
        the frame ``{"value": value, "index": index, **extra}`` (``extra`` e.g. a loop over an
        object's ``key``). Costs one small dict of the active loop frames."""
        frame = {"value": value, "index": index, **extra}
        return Scope(
            self.steps,
            self.config,
            self.env,
            self.auth,
            self.errors,
            {**self.loops, name: frame},
            self.payloads,
        )


# --------------------------------------------------------------------------------------------
# Paths

_KEY = 0  # arg: str, a mapping key
_INDEX = 1  # arg: int, a list index (or mapping key n / "n")
_KEY_OR_INDEX = 2  # arg: (str, int), a dotted all-digit name: mapping key or list index
_WILD = 3  # arg: None

_NAME_STOP = frozenset(".[]{}'\"\\ \t\r\n\f\v")
_MISSING: Any = keypaths.MISSING


class ParsedPath(NamedTuple):
    """A parsed reference. ``step`` is the step name under ``steps`` / ``errors`` (None for
    other roots or a bare ``$.steps``); ``segments`` are what follows root and step."""

    text: str
    root: str
    step: str | None
    segments: tuple[tuple[int, Any], ...]


def _read_quoted(text: str, i: int, path_start: int) -> tuple[str, int]:
    """Read a quoted string starting at the quote ``text[i]``; return (value, index after it)."""
    quote = text[i]
    i += 1
    n = len(text)
    chunks: list[str] = []
    run = i
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                break
            chunks.append(text[run:i])
            chunks.append(text[i + 1])
            i += 2
            run = i
        elif c == quote:
            chunks.append(text[run:i])
            return "".join(chunks), i + 1
        else:
            i += 1
    raise InvalidReference(
        _snippet(text, path_start, n), f"unterminated quoted string ({quote}...{quote})"
    )


def _snippet(text: str, start: int, end: int) -> str:
    """``text[start:end]`` for an error message, shortened when long."""
    return text[start:end] if end - start <= 120 else text[start : start + 117] + "..."


def _scan_path(text: str, start: int, embedded: bool) -> tuple[list[tuple[int, Any]], int]:
    """Scan a path at ``text[start]`` (which must be ``$``). Stops at the first character that
    cannot continue the path; returns the raw segments (root included) and that index. When
    not ``embedded``, anything left over is an error."""
    n = len(text)

    def fail(reason: str) -> InvalidReference:
        end = text.find("}", start) + 1 if embedded else 0
        return InvalidReference(_snippet(text, start, end or n), reason)

    if start >= n or text[start] != "$":
        raise fail("a reference must start with '$.'")
    i = start + 1
    segs: list[tuple[int, Any]] = []
    while i < n:
        c = text[i]
        if c == ".":
            i += 1
            if i < n and text[i] == ".":
                raise fail("recursive descent '..' is not supported")
            j = i
            while j < n and text[j] not in _NAME_STOP:
                j += 1
            if j == i:
                raise fail(f"expected a name after '.' at position {i - start}")
            name = text[i:j]
            if name == "*":
                segs.append((_WILD, None))
            elif name.isdecimal() and name.isascii():
                segs.append((_KEY_OR_INDEX, (name, int(name))))
            else:
                segs.append((_KEY, name))
            i = j
        elif c == "[":
            j = i + 1
            while j < n and text[j] in " \t":
                j += 1
            if j >= n:
                raise fail("unterminated '['")
            d = text[j]
            if d in "'\"":
                key, j = _read_quoted(text, j, start)
                seg: tuple[int, Any] = (_KEY, key)
            elif d == "*":
                seg = (_WILD, None)
                j += 1
            else:
                k = j + 1 if d == "-" else j
                while k < n and "0" <= text[k] <= "9":
                    k += 1
                digits = text[j + 1 if d == "-" else j : k]
                if not digits:
                    raise fail(
                        f"'[' at position {i - start} must hold an integer, '*' or a quoted key"
                    )
                seg = (_INDEX, int(text[j:k]))
                j = k
            while j < n and text[j] in " \t":
                j += 1
            if j >= n or text[j] != "]":
                raise fail(f"expected ']' at position {j - start}")
            segs.append(seg)
            i = j + 1
        else:
            break
    if not embedded and i < n:
        raise fail(f"unexpected character {text[i]!r} at position {i - start}")
    return segs, i


def _build(text: str, segs: list[tuple[int, Any]]) -> ParsedPath:
    if not segs:
        raise InvalidReference(text, "a reference needs a root: $.steps, $.config, $.env, ...")
    op, root = segs[0]
    if op != _KEY or root not in _ROOTS:
        raise InvalidReference(
            text,
            f"unknown root {segs[0][1]!r}; expected one of steps, config, env, auth, errors",
        )
    if root in _NAMED_ROOTS and len(segs) > 1:
        op, step = segs[1]
        if op == _KEY_OR_INDEX:
            step = step[0]
        elif op != _KEY:
            raise InvalidReference(text, f"'$.{root}' must be followed by a step name")
        return ParsedPath(text, root, step, tuple(segs[2:]))
    return ParsedPath(text, root, None, tuple(segs[1:]))


@lru_cache(maxsize=8192)
def parse_path(path: str) -> ParsedPath:
    """Parse a reference (surrounding whitespace ignored); cached. Raises InvalidReference."""
    text = path.strip()
    segs, _ = _scan_path(text, 0, embedded=False)
    return _build(text, segs)


def _step(obj: Any, op: int, arg: Any) -> Any:
    """One segment; ``_MISSING`` when it does not resolve. A dotted all-digit name steps as
    a :mod:`patchbay.keypaths` segment does (a mapping's key, else a list's item)."""
    if op == _KEY:
        if type(obj) is dict or isinstance(obj, Mapping):
            return obj.get(arg, _MISSING)
        return _MISSING
    if op == _KEY_OR_INDEX:  # parsed once: the name and its index
        if isinstance(obj, Mapping):
            return obj.get(arg[0], _MISSING)
        if isinstance(obj, (list, tuple)):
            return item(obj, arg[1])
        return _MISSING
    if op == _INDEX:
        if isinstance(obj, (list, tuple)):
            return item(obj, arg)
        if isinstance(obj, Mapping):
            value = obj.get(arg, _MISSING)
            return obj.get(str(arg), _MISSING) if value is _MISSING else value
        return _MISSING
    raise AssertionError(op)  # pragma: no cover - wildcards are handled by the callers


def _deref(ref: dict[str, Any], loaded: Mapping[str, Any]) -> Any:
    """The value of a payload reference (PayloadNeeded when it was not read yet)."""
    value = loaded.get(ref[PAYLOAD_KEY], _MISSING)
    if value is _MISSING:
        raise PayloadNeeded(ref)
    return value


def _collect(
    obj: Any, segs: tuple[tuple[int, Any], ...], i: int, out: list[Any], loaded: Mapping
) -> bool:
    """``segs[i]`` is a wildcard: append to ``out`` the rest of the path over each child of
    ``obj``. False when ``obj`` is not a container."""
    if type(obj) is dict and PAYLOAD_KEY in obj:
        obj = _deref(obj, loaded)
    if isinstance(obj, Mapping):
        children: Iterable[Any] = obj.values()
    elif isinstance(obj, (list, tuple)):
        children = obj
    else:
        return False
    n = len(segs)
    for child in children:
        j = i + 1
        cur = child
        while j < n:
            op, arg = segs[j]
            if op == _WILD:
                _collect(cur, segs, j, out, loaded)
                break
            if type(cur) is dict and PAYLOAD_KEY in cur:
                cur = _deref(cur, loaded)
            cur = _step(cur, op, arg)
            if cur is _MISSING:
                break
            j += 1
        else:
            out.append(cur)
    return True


def _walk(obj: Any, segs: tuple[tuple[int, Any], ...], loaded: Mapping[str, Any]) -> Any:
    for i, (op, arg) in enumerate(segs):
        if op == _WILD:
            out: list[Any] = []
            return out if _collect(obj, segs, i, out, loaded) else _MISSING
        if type(obj) is dict and PAYLOAD_KEY in obj:
            obj = _deref(obj, loaded)
        obj = _step(obj, op, arg)
        if obj is _MISSING:
            return _MISSING
    return obj


def _resolve_parsed(parsed: ParsedPath, scope: Scope) -> Any:
    root = parsed.root
    step = parsed.step
    if root == "steps":
        if step is None:
            obj: Any = {**scope.steps, **scope.loops}
        else:
            obj = scope.loops.get(step, _MISSING)
            if obj is _MISSING:
                obj = scope.steps.get(step, _MISSING)
                if obj is _MISSING:
                    return _MISSING
    elif root == "errors":
        if step is None:
            obj = scope.errors
        else:
            obj = scope.errors.get(step, _MISSING)
            if obj is _MISSING:
                return _MISSING
    elif root == "config":
        obj = scope.config
    elif root == "env":
        obj = scope.env
    else:
        obj = scope.auth
    segs = parsed.segments
    return _walk(obj, segs, scope.payloads) if segs else obj


def resolve_path(path: str, scope: Scope) -> Any:
    """The value a reference points at (not a copy). Raises ReferenceUnresolved when it points
    at nothing, InvalidReference when it is malformed."""
    parsed = parse_path(path)
    value = _resolve_parsed(parsed, scope)
    if value is _MISSING:
        raise ReferenceUnresolved(parsed.text)
    return value


# --------------------------------------------------------------------------------------------
# Interpolation


class _Ref(NamedTuple):
    parsed: ParsedPath
    fallback: str | None


_OPEN = "{$."


@lru_cache(maxsize=4096)
def _compile_template(text: str) -> tuple[str | _Ref, ...]:
    parts: list[str | _Ref] = []
    n = len(text)
    pos = 0
    while True:
        brace = text.find(_OPEN, pos)
        if brace < 0:
            break
        if brace > pos:
            parts.append(text[pos:brace])
        segs, i = _scan_path(text, brace + 1, embedded=True)
        path_text = text[brace + 1 : i]
        parsed = _build(path_text, segs)
        while i < n and text[i] in " \t":
            i += 1
        fallback: str | None = None
        if text.startswith("or:", i):
            i += 3
            while i < n and text[i] in " \t":
                i += 1
            if i >= n or text[i] not in "'\"":
                raise InvalidReference(
                    _snippet(text, brace, n),
                    "'or:' must be followed by a quoted fallback ('...' or \"...\")",
                )
            fallback, i = _read_quoted(text, i, brace)
            while i < n and text[i] in " \t":
                i += 1
        if i >= n or text[i] != "}":
            end = text.find("}", i)
            raise InvalidReference(
                _snippet(text, brace, n if end < 0 else end + 1),
                "expected '}' to close the reference"
                + (f", found {text[i]!r}" if i < n else ", found the end of the text"),
            )
        parts.append(_Ref(parsed, fallback))
        pos = i + 1
    if pos < n:
        parts.append(text[pos:])
    return tuple(parts)


def render_text(value: Any) -> str:
    """A resolved value as interpolation writes it into a string (see the module docstring)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return str(int(value)) if value.is_integer() else repr(value)
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    try:
        data = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        data = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False).encode()
    if data[:1] == b'"':  # a scalar orjson writes as a string (datetime, Decimal, ...)
        return orjson.loads(data)
    return data.decode()


def interpolate(text: str, scope: Scope) -> str:
    """Replace every ``{$.path}`` / ``{$.path or:'fallback'}`` in ``text``. Raises
    ReferenceUnresolved for a reference that points at nothing and has no fallback, and
    InvalidReference for a malformed one."""
    if _OPEN not in text:
        return text
    parts = _compile_template(text)
    out: list[str] = []
    for part in parts:
        if type(part) is str:
            out.append(part)
            continue
        value = _resolve_parsed(part.parsed, scope)
        if value is _MISSING:
            if part.fallback is None:
                raise ReferenceUnresolved(part.parsed.text)
            out.append(part.fallback)
        else:
            if type(value) is dict and PAYLOAD_KEY in value:
                value = _deref(value, scope.payloads)
            out.append(render_text(value))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Typed property values

_TYPES = frozenset(
    {"string", "number", "integer", "boolean", "null", "array", "object", "jsonpath"}
)


def _is_typed(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    return isinstance(kind, str) and kind in _TYPES and ("value" in value or kind == "null")


def resolve_value(typed: Any, scope: Scope) -> Any:
    """Resolve a Tray typed property value (``{"type": ..., "value": ...}``).

    ``string`` values are interpolated; ``array`` / ``object`` values nest typed values;
    ``jsonpath`` values are resolved, taking their ``fallback`` (a typed value, resolved in
    turn) when they do not resolve; ``null`` is None; ``number`` / ``integer`` / ``boolean``
    values are returned as they are. A value that is not a typed dict is plain JSON: returned
    as is, except that its strings containing ``{$.`` are interpolated and its lists and dicts
    are walked (so typed values nested in plain ones resolve too). A plain dict shaped like a
    typed value (a known ``type`` and a ``value``) is taken as one.
    """
    if isinstance(typed, str):
        return interpolate(typed, scope) if _OPEN in typed else typed
    if isinstance(typed, dict):
        if not _is_typed(typed):
            return {k: resolve_value(v, scope) for k, v in typed.items()}
        kind = typed["type"]
        value = typed.get("value")
        if kind == "string":
            return interpolate(value, scope) if isinstance(value, str) else value
        if kind == "jsonpath":
            if not isinstance(value, str):
                raise InvalidValue(f"a jsonpath value must be a string, not {value!r}")
            parsed = parse_path(value)
            result = _resolve_parsed(parsed, scope)
            if result is not _MISSING:
                return result
            fallback = typed.get("fallback")
            if fallback is None:  # absent or null: no fallback
                raise ReferenceUnresolved(parsed.text)
            return resolve_value(fallback, scope)
        if kind == "array":
            if not isinstance(value, list):
                raise InvalidValue(f"an array value must be a list, not {value!r}")
            return [resolve_value(item, scope) for item in value]
        if kind == "object":
            if not isinstance(value, dict):
                raise InvalidValue(f"an object value must be a mapping, not {value!r}")
            return {k: resolve_value(v, scope) for k, v in value.items()}
        if kind == "null":
            return None
        return value
    if isinstance(typed, list):
        return [resolve_value(item, scope) for item in typed]
    return typed


def _add_ref(parsed: ParsedPath, out: set[str]) -> None:
    if parsed.step is not None:
        out.add(parsed.step)


def _collect_refs(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        if _OPEN in value:
            for part in _compile_template(value):
                if type(part) is not str:
                    _add_ref(part.parsed, out)
    elif isinstance(value, dict):
        if _is_typed(value):
            kind = value["type"]
            inner = value.get("value")
            if kind == "jsonpath":
                if not isinstance(inner, str):
                    raise InvalidValue(f"a jsonpath value must be a string, not {inner!r}")
                _add_ref(parse_path(inner), out)
                if value.get("fallback") is not None:
                    _collect_refs(value["fallback"], out)
            elif kind in ("string", "array", "object"):
                _collect_refs(inner, out)
        else:
            for item in value.values():
                _collect_refs(item, out)
    elif isinstance(value, list):
        for item in value:
            _collect_refs(item, out)


def references(typed: Any) -> set[str]:
    """Every step name ``typed`` refers to: ``$.steps.<name>`` and ``$.errors.<name>`` in
    jsonpath values (and their fallbacks) and in interpolations, at any depth, in typed and
    plain values. The trigger counts (``"trigger"``), and so does a loop read through its frame
    (``$.steps.loop-1.value`` gives ``"loop-1"``). Raises InvalidReference for a malformed one."""
    out: set[str] = set()
    _collect_refs(typed, out)
    return out
