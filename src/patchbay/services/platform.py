"""Wires the services together around one database, key ring, registry and HTTP pool."""

from __future__ import annotations

import logging

from ..config import Settings
from ..connectors.registry import Registry
from ..connectors.sdk.http import HttpClientPool
from ..connectors.sdk.outbound import OutboundPolicy
from ..crypto import KeyRing
from ..instance import prepare_data_dir
from ..storage.db import Database
from .connectivity.calls import Calls
from .connectivity.catalog import Catalog
from .connectivity.idempotency import Idempotency
from .connectivity.usage import UsageRecorder
from .credentials.authentications import Authentications
from .credentials.oauth import OAuth
from .credentials.ready import Credentials
from .identity.end_users import Users
from .identity.members import Members
from .identity.sessions import Sessions
from .identity.tokens import Identity
from .identity.workspaces import Workspaces
from .signals import Signals
from .triggers.delivery import Deliverer
from .triggers.dispatch import Dispatcher
from .triggers.intake import Intake
from .triggers.subscriptions import Subscriptions
from .workflows.definitions import Workflows
from .workflows.runs import Runs

log = logging.getLogger("patchbay")


class Platform:
    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        # The data directory holds the key file and the database: its owner's alone.
        prepare_data_dir(settings)
        self.db = Database(
            settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        self.keyring = KeyRing.load(settings.configured_keys(), settings.data_dir)
        self.registry = registry or Registry.discover()
        self.clients = HttpClientPool(
            OutboundPolicy.from_setting(settings.outbound_allow),
            max_response_bytes=settings.connector_max_response_bytes,
        )
        self.identity = Identity(self.db, cache_seconds=settings.auth_cache_seconds)
        self.users = Users(self.db, self.identity)
        self.members = Members(self.db, self.identity)
        self.workspaces = Workspaces(self.db, self.identity)
        self.sessions = Sessions(self.db, self.identity, ttl_seconds=settings.session_ttl_seconds)
        self.catalog = Catalog(self.registry)
        self.authentications = Authentications(
            self.db, self.keyring, self.registry, cache_seconds=settings.auth_cache_seconds
        )
        self.oauth = OAuth(
            settings, self.db, self.keyring, self.registry, self.clients, self.authentications
        )
        self.credentials = Credentials(self.authentications, self.oauth)
        self.usage = UsageRecorder(self.db)
        self.calls = Calls(
            self.catalog,
            self.credentials,
            self.clients,
            self.usage,
            Idempotency(self.db, self.keyring, ttl_seconds=settings.idempotency_ttl_seconds),
            max_in_flight=settings.max_calls_in_flight,
        )
        # Services built in dependency order; what one tells another built after it goes
        # through these signals, connected below once the receivers exist.
        self.signals = Signals()
        self.subscriptions = Subscriptions(
            settings,
            self.db,
            self.keyring,
            self.catalog,
            self.credentials,
            self.clients,
            self.signals,
        )
        self.intake = Intake(
            self.db, self.subscriptions, self.signals, cache_seconds=settings.auth_cache_seconds
        )
        self.workflows = Workflows(
            settings, self.db, self.registry, self.subscriptions, self.signals
        )
        self.runs = Runs(settings, self.db, self.workflows, self.credentials, self.clients)
        self.dispatcher = Dispatcher(
            settings,
            self.db,
            self.subscriptions,
            Deliverer(self.clients, timeout=settings.delivery_timeout_seconds),
            intake_rate=self.intake.rate,
            start_run=self.runs.start_for_event,
        )
        self.signals.subscription_changed.connect(lambda row: self.intake.forget(row.intake_id))
        self.signals.events_waiting.connect(self.dispatcher.wake)
        self.signals.workflows_changed.connect(self.runs.forget_hooks)
        self.default_org_id: str | None = None

    async def start(self) -> str | None:
        """Migrate, make sure the default organisation exists, start background work.

        Returns a new master token on first start (when no master token exists yet)."""
        await self.db.migrate()
        self.default_org_id = await self.identity.ensure_org()
        self.usage.start()
        self.intake.start()
        self.runs.open()
        if self.settings.background_workers:
            self.dispatcher.start()
            self.runs.start_worker()
        if await self.identity.count_master_tokens() == 0:
            issued = await self.identity.create_master_token(self.default_org_id, "initial")
            return issued.token
        return None

    async def stop(self) -> None:
        await self.runs.close()
        await self.dispatcher.stop()
        await self.intake.stop()
        await self.usage.stop()
        await self.clients.aclose()
        await self.db.dispose()


async def bootstrap(settings: Settings) -> str | None:
    """Prepare an instance before serving: key file, migrations, default organisation.
    Returns the first master token when none exists yet."""
    platform = Platform(settings)
    try:
        await platform.db.migrate()
        org_id = await platform.identity.ensure_org()
        if await platform.identity.count_master_tokens() == 0:
            return (await platform.identity.create_master_token(org_id, "initial")).token
        return None
    finally:
        await platform.stop()
