"""A run's journal (``run_steps``): its entries, and the statements the group commit runs
for them and for a run's end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from ....storage.models import RunStep, WorkflowRun

FINAL = ("succeeded", "failed", "cancelled")  # a run's statuses once it ended
STATUSES = ("queued", "running", "waiting", *FINAL)  # every status a run can have

JOURNAL_COLUMNS = (
    "run_id",
    "key",
    "kind",
    "step_name",
    "connector",
    "operation",
    "status",
    "input",
    "output",
    "error",
    "attempts",
    "started_at",
    "finished_at",
)


def journal_upsert(is_sqlite: bool):
    """``INSERT ... ON CONFLICT (run_id, key) DO UPDATE``: one statement for every journal
    write, so the group commit runs them together."""
    table = RunStep.__table__
    insert = sqlite.insert if is_sqlite else postgresql.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={c: statement.excluded[c] for c in JOURNAL_COLUMNS if c not in ("run_id", "key")},
    )


def finish_statement():
    """A run's end (or wait), for the group commit: its outcome, and the lease let go."""
    t = WorkflowRun.__table__
    return (
        update(t)
        .where(
            t.c.id == bindparam("b_id"),
            t.c.lease_owner == bindparam("b_owner"),
            t.c.status != "cancelled",
        )
        .values(
            status=bindparam("status"),
            wake_at=bindparam("wake_at", type_=t.c.wake_at.type),
            finished_at=bindparam("finished_at", type_=t.c.finished_at.type),
            error=bindparam("error", type_=t.c.error.type),
            failed_step=bindparam("failed_step"),
            lease_owner=None,
            lease_until=None,
        )
    )


@dataclass(slots=True)
class Entry:
    """A journal entry being written (rows read back are RunStep objects: same fields)."""

    key: str
    kind: str = "step"
    step_name: str | None = None
    connector: str | None = None
    operation: str | None = None
    status: str = "running"
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None
