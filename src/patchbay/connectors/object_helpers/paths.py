"""Key paths and JSON value equality, as the core helper connectors use them.

Key paths are :mod:`patchbay.keypaths` (their grammar is documented there); this module only
turns a malformed path into the connector's error (``connector_error``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from ... import keypaths
from ...keypaths import MISSING, KeyPathError
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

P = ParamSpec("P")
R = TypeVar("R")


def _connector_errors(function: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except KeyPathError as exc:
            raise ConnectorError(str(exc), "connector_error") from None

    return wrapper


@_connector_errors
def parse_path(path: str) -> list[str]:
    """The segments of ``path``: ``"a.b[0].c"`` -> ``["a", "b", "0", "c"]``."""
    return list(keypaths.parse(path))


@_connector_errors
def get_path(data: Any, path: str, default: Any = MISSING) -> Any:
    """The value at ``path`` in ``data``, else ``default`` (:data:`MISSING` unless given)."""
    return keypaths.get(data, path, default)


@_connector_errors
def set_path(data: Any, path: str, value: Any) -> Any:
    """A deep copy of ``data`` with ``value`` at ``path`` (see :func:`keypaths.set_copy`)."""
    return keypaths.set_copy(data, path, value)


@_connector_errors
def delete_path(data: Any, path: str) -> bool:
    """Remove the value at ``path`` from ``data`` in place; whether there was one."""
    return keypaths.delete(data, path)


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
