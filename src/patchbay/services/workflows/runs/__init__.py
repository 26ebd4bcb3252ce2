"""Workflow runs, one job per module:

- ``start``: starting runs (manual, called, for a trigger event, for a webhook);
- ``views``: the API's views and actions (list, get, payload, cancel, replay);
- ``executor``: the executor boundary; ``worker``: the in-process executor (scan, claim,
  lease, execute, finish, alert); ``runtime``: the runtime the interpreter talks to (the
  journal, steps, retries, durable sleeps);
- ``journal``, ``retries``, ``replies``, ``stored_values``, ``versions``, ``retention``:
  what those share.

:class:`Runs` puts them together for the platform and the API.
"""

from __future__ import annotations

from datetime import datetime

from ....config import Settings
from ....connectors.sdk.http import HttpClientPool
from ....storage.db import Database
from ....storage.group_commit import GroupCommit
from ...credentials.ready import Credentials
from ..definitions import Workflows
from ..file_downloads import FileDownloads
from ..files import FileSigner
from ..payload_store import Payloads
from . import retention
from .executor import Executor
from .journal import FINAL, journal_upsert
from .replies import Replies
from .start import RunStarts
from .stored_values import StoredValues
from .versions import Versions
from .views import RunViews
from .worker import InProcessExecutor

__all__ = ["FINAL", "Executor", "Runs"]


class Runs:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        workflows: Workflows,
        credentials: Credentials,
        clients: HttpClientPool,
    ) -> None:
        self.settings = settings
        self.db = db
        self.workflows = workflows
        self.credentials = credentials
        self.keyring = credentials.authentications.keyring  # seals outputs echoing a credential
        self.clients = clients
        self.writes = GroupCommit(db, "run-journal")
        keyring = self.keyring
        signer = FileSigner(lambda: keyring.keys, settings.effective_public_url)
        self.payloads = Payloads(db, settings.workflow_inline_bytes, signer)
        self.files = FileDownloads(signer, self.payloads)
        self.journal_upsert = journal_upsert(db.is_sqlite)
        self.versions = Versions(db, workflows)
        self.replies = Replies(db)
        self.stored = StoredValues(db)
        self.executor: Executor = InProcessExecutor(self)
        self.starts = RunStarts(settings, db, workflows, self.versions, self.writes, self.executor)
        self.views = RunViews(
            db,
            workflows,
            self.payloads,
            wake=self.executor.wake,
            cancelled=self.executor.cancelled,
        )
        # the use cases, as the API and the platform call them
        self.start = self.starts.start
        self.start_for_event = self.starts.start_for_event
        self.start_from_hook = self.starts.start_from_hook
        self.hook_target = self.starts.hook_target
        self.forget_hooks = self.starts.forget_hooks
        self.wait_reply = self.replies.wait_reply
        self.list = self.views.list
        self.get = self.views.get
        self.payload = self.views.payload
        self.cancel = self.views.cancel
        self.replay = self.views.replay

    def open(self) -> None:
        """The journal's writer (needed to start runs, with or without the executor)."""
        self.writes.start()

    async def close(self) -> None:
        await self.stop_worker()
        await self.writes.stop()

    def start_worker(self) -> None:
        self.executor.start()

    async def stop_worker(self) -> None:
        await self.executor.stop()

    def wake(self) -> None:
        """Look for due runs now (not at the next poll)."""
        self.executor.wake()

    async def run_to_completion(self, run_id: str) -> None:
        """Execute the run (and the runs it calls) here until it ended; see
        :meth:`Executor.run_to_completion`."""
        await self.executor.run_to_completion(run_id)

    async def prune(self, older_than: datetime) -> int:
        """Delete finished runs (and their journals) created before ``older_than``."""
        return await retention.prune(self.db, older_than)
