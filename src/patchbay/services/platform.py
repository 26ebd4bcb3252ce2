"""Wires the services together around one database, key ring, registry and HTTP pool."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..config import Settings
from ..connectors.registry import Registry
from ..connectors.sdk.http import HttpClientPool
from ..connectors.sdk.outbound import OutboundPolicy
from ..crypto import KeyRing
from ..instance import prepare_data_dir
from ..storage.db import Database
from .audit.log import AuditLog
from .connectivity.calls import Calls
from .connectivity.catalog import Catalog
from .connectivity.idempotency import Idempotency
from .connectivity.usage import UsageRecorder
from .credentials.authentications import Authentications
from .credentials.oauth import OAuth
from .credentials.ready import Credentials
from .identity.end_users import Users
from .identity.first_owner import FirstOwner
from .identity.housekeeping import Housekeeping
from .identity.invitations import Invitations
from .identity.mailer import Mailer
from .identity.members import Members
from .identity.one_time_links import OneTimeLinks
from .identity.password_resets import PasswordResets
from .identity.principal import Principal
from .identity.sessions import Sessions
from .identity.sign_in import SignIn
from .identity.sso import SingleSignOn
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
        self.housekeeping = Housekeeping(self.db)
        self.workspaces = Workspaces(self.db, self.identity)
        self.sessions = Sessions(self.db, self.identity, ttl_seconds=settings.session_ttl_seconds)
        self.sign_in = SignIn(settings, self.db, self.sessions)
        self.sso = SingleSignOn(settings, self.db, self.keyring, self.members, self.sessions)
        # Pruned by the processes that do background work, as the other retentions are.
        self.audit = AuditLog(
            self.db,
            retention_days=settings.audit_retention_days,
            prune_every=3600.0 if settings.background_workers else None,
        )
        self.mailer = Mailer(settings)
        self.links = OneTimeLinks(self.db)
        self.invitations = Invitations(settings, self.links, self.members, self.mailer)
        self.password_resets = PasswordResets(
            settings, self.links, self.members, self.sessions, self.mailer
        )
        self.first_owner = FirstOwner(settings, self.links, self.members)
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
        self.default_workspace_id: str | None = None

    async def start(self) -> str | None:
        """Migrate, make sure the default organisation exists, start background work.

        Returns a new master token on first start (when no master token exists yet)."""
        await self.db.migrate()
        self.default_org_id = await self.identity.ensure_org()
        self.default_workspace_id = await self.identity.default_workspace(self.default_org_id)
        self.usage.start()
        self.audit.start()
        self.intake.start()
        self.runs.open()
        if self.settings.background_workers:
            self.dispatcher.start()
            self.runs.start_worker()
            self.housekeeping.start()
        if await self.identity.count_master_tokens() == 0:
            issued = await self.identity.create_master_token(self.default_org_id, "initial")
            return issued.token
        return None

    def operator(self, token_id: str = "cli") -> Principal:
        """The default organisation acting as with a master token (the command line)."""
        return Principal(
            org_id=self.default_org_id,
            kind="master",
            token_id=token_id,
            default_workspace_id=self.default_workspace_id,
        )

    async def setup_link(self) -> str | None:
        """The first owner's setup link, new at each start while the default organisation
        has no member (printed by the server; None once it has one)."""
        return await self.first_owner.setup_link(self.default_org_id)

    async def stop(self) -> None:
        await self.password_resets.settle()
        await self.runs.close()
        await self.dispatcher.stop()
        await self.housekeeping.stop()
        await self.intake.stop()
        await self.usage.stop()
        await self.audit.stop()
        await self.clients.aclose()
        await self.sso.aclose()
        await self.db.dispose()


@dataclass(frozen=True)
class FirstStart:
    """What a start shows once: the first master token, the first owner's setup link."""

    master_token: str | None
    setup_link: str | None


async def bootstrap(settings: Settings) -> FirstStart:
    """Prepare an instance before serving: key file, migrations, default organisation.
    Returns the first master token when none exists yet, and a new setup link while the
    organisation has no member."""
    platform = Platform(settings)
    try:
        await platform.db.migrate()
        org_id = platform.default_org_id = await platform.identity.ensure_org()
        token = None
        if await platform.identity.count_master_tokens() == 0:
            token = (await platform.identity.create_master_token(org_id, "initial")).token
        return FirstStart(token, await platform.setup_link())
    finally:
        await platform.stop()
