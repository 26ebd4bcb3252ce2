"""The executor boundary: what starting, cancelling and driving runs asks of whatever
executes them. :class:`~.worker.InProcessExecutor` executes runs in this process (leases on
``workflow_runs``, the interpreter on :class:`~.runtime.RunRuntime`); another executor (a
Temporal one) implements the same methods beside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class Executor(Protocol):
    def start(self) -> None:
        """Execute runs from now on (the server's worker)."""

    async def stop(self) -> None:
        """Stop executing; a run in progress here is let go, to be resumed by anyone."""

    def wake(self) -> None:
        """Runs were stored or became due (started, replayed, woken): look for work."""

    async def lease_for_new(self, workflow_id: str, version: int, now: datetime) -> dict | None:
        """For a run about to be stored: the columns that store it already taken by this
        executor, when it starts the run at once (:meth:`execute_new`) without a trip
        through the queue; None when the run goes through the queue."""

    def execute_new(self, row: dict[str, Any]) -> None:
        """Execute a run just stored with the columns :meth:`lease_for_new` gave."""

    def cancelled(self, run_id: str) -> None:
        """The run was cancelled: stop executing it if it is executed here."""

    async def run_to_completion(self, run_id: str) -> None:
        """Execute the run, and the runs it calls, here, until it ended (``patchbay run``);
        no other run is executed meanwhile."""
