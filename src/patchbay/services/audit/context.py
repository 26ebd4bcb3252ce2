"""Which workspace a request's change touched, for its audit event.

The middleware cannot know a row's workspace (a workflow's, an authentication's) without
reading it; the services already read it and check it with ``Principal.check``, which notes
it here. A context variable holds one note per request (None outside one: a background
worker's checks note nothing); the first workspace checked is the change's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class Note:
    workspace_id: str | None = None


_current: ContextVar[Note | None] = ContextVar("patchbay_audit_note", default=None)


def note_workspace(workspace_id: str | None) -> None:
    """Remember ``workspace_id`` as the current request's workspace (the first one wins)."""
    note = _current.get()
    if note is not None and note.workspace_id is None and workspace_id:
        note.workspace_id = workspace_id


@contextmanager
def noting() -> Iterator[Note]:
    """A fresh note for the code run inside (a mutable object: tasks and threads started
    from there, which copy the context, still write to it)."""
    note = Note()
    token = _current.set(note)
    try:
        yield note
    finally:
        _current.reset(token)
