"""Key paths into JSON values, and JSON value equality: shared by the core helper connectors.

A key path names a value inside nested objects and lists: ``"a.b.0.c"`` (``"a.b[0].c"``
reads the same). A segment that is an integer indexes a list (negative counts from the
end); on an object it is an ordinary key. ``\\.`` is a literal dot inside a key, ``\\\\`` a
literal backslash. The empty path names the value itself.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from ..sdk import ConnectorError

__all__ = [
    "MISSING",
    "canonical",
    "delete_path",
    "get_path",
    "parse_path",
    "same_value",
    "set_path",
]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What :func:`get_path` returns when the path leads nowhere (``None`` is a found null)."""

_INDEX = re.compile(r"-?\d+")


def _bad(path: str, why: str) -> ConnectorError:
    return ConnectorError(f"Key path {path!r}: {why}", "connector_error")


def parse_path(path: str) -> list[str]:
    """The segments of ``path``: ``"a.b[0].c"`` -> ``["a", "b", "0", "c"]``."""
    if path == "":
        return []
    segments: list[str] = []
    current: list[str] = []
    closed = False  # just after "]": the next character must be ".", "[" or the end
    i = 0
    while i < len(path):
        ch = path[i]
        if closed and ch not in ".[":
            raise _bad(path, f"expected '.' or '[' after ']' at position {i}")
        if ch == "\\":
            if i + 1 == len(path):
                raise _bad(path, "it ends with a lone backslash")
            current.append(path[i + 1])
            i += 2
            continue
        if ch == ".":
            if not closed:
                if not current:
                    raise _bad(path, f"empty key at position {i}")
                segments.append("".join(current))
                current = []
            closed = False
            if i + 1 == len(path):
                raise _bad(path, "it ends with '.'")
        elif ch == "[":
            end = path.find("]", i)
            if end < 0:
                raise _bad(path, "'[' without ']'")
            if current:
                segments.append("".join(current))
                current = []
            elif not closed and segments:
                raise _bad(path, f"empty key before '[' at position {i}")
            inner = path[i + 1 : end]
            if not _INDEX.fullmatch(inner):
                raise _bad(path, f"[{inner}] is not a list index")
            segments.append(inner)
            closed = True
            i = end + 1
            continue
        else:
            current.append(ch)
        i += 1
    if current:
        segments.append("".join(current))
    return segments


def _index(segment: str, length: int) -> int | None:
    """The list position ``segment`` names, or None if it is no index or out of range."""
    if not _INDEX.fullmatch(segment):
        return None
    index = int(segment)
    if index < 0:
        index += length
    return index if 0 <= index < length else None


def _child(container: Any, segment: str) -> Any:
    if isinstance(container, dict):
        return container.get(segment, MISSING)
    if isinstance(container, list):
        index = _index(segment, len(container))
        return MISSING if index is None else container[index]
    return MISSING


def get_path(data: Any, path: str, default: Any = MISSING) -> Any:
    """The value at ``path`` in ``data``, else ``default`` (:data:`MISSING` unless given)."""
    value = data
    for segment in parse_path(path):
        value = _child(value, segment)
        if value is MISSING:
            return default
    return value


def set_path(data: Any, path: str, value: Any) -> Any:
    """A deep copy of ``data`` with ``value`` at ``path``; missing objects on the way are
    created. A list index must exist, or equal the list's length (to append)."""
    segments = parse_path(path)
    if not segments:
        return copy.deepcopy(value)
    result = copy.deepcopy(data)
    container = result
    for depth, segment in enumerate(segments):
        where = _join(segments[:depth]) or "the root"
        key: str | int
        if isinstance(container, dict):
            key = segment
        elif isinstance(container, list):
            if not _INDEX.fullmatch(segment):
                raise _bad(path, f"{where} is a list and {segment!r} is not an index")
            key = int(segment) + (len(container) if int(segment) < 0 else 0)
            if key == len(container):
                container.append(None)
            elif not 0 <= key < len(container):
                raise _bad(path, f"index {segment} is outside {where} ({len(container)} items)")
        else:
            raise _bad(path, f"{where} is a {_kind(container)}, not an object or a list")
        if depth == len(segments) - 1:
            container[key] = copy.deepcopy(value)
        else:
            child = container.get(key) if isinstance(container, dict) else container[key]
            if child is None:  # missing (or null): an object is created
                container[key] = {}
            container = container[key]
    return result


def delete_path(data: Any, path: str) -> bool:
    """Remove the value at ``path`` from ``data`` in place; whether there was one."""
    segments = parse_path(path)
    if not segments:
        raise _bad(path, "cannot delete the whole value")
    parent = get_path(data, _join(segments[:-1]))
    last = segments[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if isinstance(parent, list):
        index = _index(last, len(parent))
        if index is not None:
            del parent[index]
            return True
    return False


def _kind(value: Any) -> str:
    return {str: "text", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _join(segments: list[str]) -> str:
    escaped = (s.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[") for s in segments)
    return ".".join(escaped)


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value


def canonical(value: Any) -> str:
    """A string equal for equal JSON values: key order does not matter, ``1`` equals
    ``1.0``, ``true`` does not equal ``1``."""
    return json.dumps(_normal(value), sort_keys=True, separators=(",", ":"), default=str)


def same_value(a: Any, b: Any) -> bool:
    """JSON equality (see :func:`canonical`)."""
    return canonical(a) == canonical(b)
