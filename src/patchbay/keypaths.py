"""Key paths into JSON values: the one implementation that the core helper connectors (object,
list and text helpers, data mapper), the SDK's pagination and the engine's data references
share.

A key path names a value inside nested objects and lists: ``"a.b.0.c"`` (``"a.b[0].c"``
reads the same). A segment that is an integer indexes a list (negative counts from the
end); on an object it is an ordinary key. ``\\.`` is a literal dot inside a key, ``\\[`` a
literal bracket, ``\\\\`` a literal backslash. The empty path names the value itself.

Parsed paths are cached (a workflow reads the same paths run after run). Nothing here
depends on the rest of Patchbay: a malformed path raises :class:`KeyPathError`, which a
connector turns into its own error.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = [
    "MISSING",
    "KeyPathError",
    "child",
    "delete",
    "get",
    "item",
    "join",
    "parse",
    "put",
    "set_copy",
]

Segments = tuple[str, ...]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a lookup gives when the path leads nowhere (``None`` is a found null)."""


class KeyPathError(ValueError):
    """A malformed path, or a write that cannot be done (into a text, past a list's end)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Key path {path!r}: {reason}")
        self.path = path
        self.reason = reason


def _is_index(segment: str) -> bool:
    digits = segment[1:] if segment[:1] == "-" else segment
    return digits.isascii() and digits.isdigit()


@lru_cache(maxsize=4096)
def parse(path: str) -> Segments:
    """The segments of ``path``: ``"a.b[0].c"`` -> ``("a", "b", "0", "c")``."""
    if path == "":
        return ()
    segments: list[str] = []
    current: list[str] = []
    closed = False  # just after "]": the next character must be ".", "[" or the end
    i = 0
    n = len(path)
    while i < n:
        ch = path[i]
        if closed and ch not in ".[":
            raise KeyPathError(path, f"expected '.' or '[' after ']' at position {i}")
        if ch == "\\":
            if i + 1 == n:
                raise KeyPathError(path, "it ends with a lone backslash")
            current.append(path[i + 1])
            i += 2
            continue
        if ch == ".":
            if not closed:
                if not current:
                    raise KeyPathError(path, f"empty key at position {i}")
                segments.append("".join(current))
                current = []
            closed = False
            if i + 1 == n:
                raise KeyPathError(path, "it ends with '.'")
        elif ch == "[":
            end = path.find("]", i)
            if end < 0:
                raise KeyPathError(path, "'[' without ']'")
            if current:
                segments.append("".join(current))
                current = []
            elif not closed and segments:
                raise KeyPathError(path, f"empty key before '[' at position {i}")
            inner = path[i + 1 : end]
            if not _is_index(inner):
                raise KeyPathError(path, f"[{inner}] is not a list index")
            segments.append(inner)
            closed = True
            i = end + 1
            continue
        else:
            current.append(ch)
        i += 1
    if current:
        segments.append("".join(current))
    return tuple(segments)


def join(segments: Sequence[str]) -> str:
    """The path of ``segments`` (escaped so that :func:`parse` gives them back)."""
    escaped = (s.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[") for s in segments)
    return ".".join(escaped)


def _position(segment: str, length: int) -> int | None:
    """The list position ``segment`` names, or None if it is no index or out of range."""
    if not _is_index(segment):
        return None
    index = int(segment)
    if index < 0:
        index += length
    return index if 0 <= index < length else None


def item(items: Sequence[Any], index: int) -> Any:
    """``items[index]`` (negative counts from the end), or :data:`MISSING` when out of range."""
    return items[index] if -len(items) <= index < len(items) else MISSING


def child(container: Any, segment: str) -> Any:
    """One step: an object's key, or a list's item when ``segment`` is an integer;
    :data:`MISSING` when there is none."""
    if type(container) is dict or isinstance(container, Mapping):
        return container.get(segment, MISSING)
    if isinstance(container, list | tuple):
        index = _position(segment, len(container))
        return MISSING if index is None else container[index]
    return MISSING


def get(data: Any, path: str | Sequence[str], default: Any = MISSING) -> Any:
    """The value at ``path`` (a path, or its parsed segments) in ``data``, else ``default``
    (:data:`MISSING` unless given)."""
    value = data
    for segment in parse(path) if isinstance(path, str) else path:
        value = child(value, segment)
        if value is MISSING:
            return default
    return value


def _kind(value: Any) -> str:
    return {str: "text", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def set_copy(data: Any, path: str, value: Any) -> Any:
    """A deep copy of ``data`` with ``value`` at ``path``; missing objects on the way are
    created. A list index must exist, or equal the list's length (to append)."""
    segments = parse(path)
    if not segments:
        return copy.deepcopy(value)
    result = copy.deepcopy(data)
    container = result
    for depth, segment in enumerate(segments):
        where = join(segments[:depth]) or "the root"
        key: str | int
        if isinstance(container, dict):
            key = segment
        elif isinstance(container, list):
            if not _is_index(segment):
                raise KeyPathError(path, f"{where} is a list and {segment!r} is not an index")
            key = int(segment) + (len(container) if int(segment) < 0 else 0)
            if key == len(container):
                container.append(None)
            elif not 0 <= key < len(container):
                raise KeyPathError(
                    path, f"index {segment} is outside {where} ({len(container)} items)"
                )
        else:
            raise KeyPathError(path, f"{where} is a {_kind(container)}, not an object or a list")
        if depth == len(segments) - 1:
            container[key] = copy.deepcopy(value)
        else:
            following = container.get(key) if isinstance(container, dict) else container[key]
            if following is None:  # missing (or null): an object is created
                container[key] = {}
            container = container[key]
    return result


def put(target: dict, segments: Sequence[str], value: Any) -> None:
    """Write ``value`` at ``segments`` in place, every segment an object key, creating (or
    replacing non-object values by) objects on the way."""
    for segment in segments[:-1]:
        following = target.get(segment)
        if not isinstance(following, dict):
            following = target[segment] = {}
        target = following
    target[segments[-1]] = value


def delete(data: Any, path: str | Sequence[str]) -> bool:
    """Remove the value at ``path`` from ``data`` in place; whether there was one."""
    segments = parse(path) if isinstance(path, str) else path
    if not segments:
        raise KeyPathError(path if isinstance(path, str) else "", "cannot delete the whole value")
    parent = data
    for segment in segments[:-1]:
        parent = child(parent, segment)
    last = segments[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if isinstance(parent, list):
        index = _position(last, len(parent))
        if index is not None:
            del parent[index]
            return True
    return False
