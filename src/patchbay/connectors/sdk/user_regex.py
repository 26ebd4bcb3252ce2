"""Regular expressions written by users (text helpers, boolean conditions), with a time limit.

Python's ``re`` cannot be interrupted: a catastrophic pattern (``(a+)+$`` on a long run of
``a``) would hold the event loop, and the whole server, for minutes. The ``regex`` package
(compatible syntax) stops a match after ``timeout`` seconds; the step then fails with a clear
``connector_error`` instead. Matching runs on a worker thread with the GIL released
(``concurrent=True``), so even that second holds neither the event loop nor other runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import regex

from .errors import ConnectorError

TIMEOUT_SECONDS = 1.0
IGNORECASE, MULTILINE, DOTALL = regex.IGNORECASE, regex.MULTILINE, regex.DOTALL
Pattern = regex.Pattern
Match = regex.Match
error = regex.error
T = TypeVar("T")


def compile(pattern: str, flags: int = 0) -> regex.Pattern:  # noqa: A001 - as re.compile
    """Raises :data:`error` for an invalid pattern."""
    return regex.compile(pattern, flags)


def limited(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(*args, timeout=TIMEOUT_SECONDS, **kwargs)`` (a pattern's search, sub,
    finditer...), here and now; a :class:`ConnectorError` when it runs out of time. For code
    already off the event loop (see :func:`bounded`)."""
    try:
        result = work(*args, timeout=TIMEOUT_SECONDS, concurrent=True, **kwargs)
        if hasattr(result, "__next__"):
            return list(result)  # type: ignore[return-value]  # an iterator: run it here
        return result
    except TimeoutError:
        raise ConnectorError(
            f"The regular expression took longer than {TIMEOUT_SECONDS:g} s on this text "
            "(rewrite it without nested repetition)",
            "connector_error",
        ) from None


async def bounded(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """:func:`limited` on a worker thread: the event loop goes on meanwhile."""
    return await asyncio.to_thread(limited, work, *args, **kwargs)
