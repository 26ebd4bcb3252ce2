"""The tables. Public ids are uuids; each table also has an integer ``seq`` giving a stable
order for cursor pagination. Every row that belongs to a tenant carries ``org_id``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp that is always read back timezone-aware, in UTC. SQLite keeps no zone,
    so values are stored there as UTC wall time and given their zone again when read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class Org(Base):
    __tablename__ = "orgs"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Workspace(Base):
    """Where things are built: workflows, the organisation's authentications, subscriptions
    and end users belong to one workspace. Every organisation has a default one."""

    __tablename__ = "workspaces"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32), default="Shared")  # Tray's WorkspaceType
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    """A person of the organisation who builds integrations (Tray's ``/core/v1/users``).
    ``password_hash`` is argon2id (null: never set, or single sign-on only); ``email`` is
    stored lower-cased."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("org_id", "email"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(255))
    org_role: Mapped[str] = mapped_column(String(16))  # owner | admin | member
    account_type: Mapped[str] = mapped_column(String(32), default="Regular")
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkspaceMember(Base):
    """A member's role in one workspace: admin, contributor or viewer."""

    __tablename__ = "workspace_members"
    __table_args__ = (UniqueConstraint("workspace_id", "member_id"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberSession(Base):
    """A signed-in browser: the cookie holds a random token, stored here as its SHA-256."""

    __tablename__ = "member_sessions"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16), default="password")  # password | sso
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class OneTimeLink(Base):
    """An invitation, a password reset or the first owner's setup: a link with a random
    token (stored as its SHA-256), used once, expiring. An invitation's ``id`` is Tray's
    ``inviteId``."""

    __tablename__ = "one_time_links"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # invite | reset | setup
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    member_id: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), nullable=True
    )
    org_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEvent(Base):
    """One change made by a member or a token: who (``actor_*``), what (``action``, the
    route), to which resource, when, from which address, and how it ended. Never a secret:
    request bodies are not recorded."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org", "org_id", "seq"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36))
    workspace_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor_type: Mapped[str] = mapped_column(
        String(16)
    )  # member | master_token | user_token | anonymous
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor_label: Mapped[str | None] = mapped_column(String(320), nullable=True)
    action: Mapped[str] = mapped_column(String(200))
    resource_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resource_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class EndUser(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("org_id", "external_user_id"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    external_user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    is_test_user: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiToken(Base):
    """A master token (the organisation's, or one workspace's), a user token (one end
    user's) or a personal token (one member's). Only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=True
    )
    # A master token scoped to one workspace (null: the whole organisation).
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True, nullable=True
    )
    # A member's personal token, acting with the member's roles.
    member_id: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True, nullable=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "master" | "user" | "personal"
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Authentication(Base):
    """Stored credentials for one service environment, owned by an end user or by the
    organisation itself (``user_id`` null). ``credentials`` is Fernet ciphertext."""

    __tablename__ = "authentications"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(255))
    service_name: Mapped[str] = mapped_column(String(100))
    service_version: Mapped[int] = mapped_column(Integer)
    service_environment_id: Mapped[str] = mapped_column(String(36))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    user_data: Mapped[dict] = mapped_column(JSON, default=dict)
    credentials: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Task(Base):
    """One billable task: a Call Connector call (later also a delivered event or step)."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_org_day", "org_id", "day"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source: Mapped[str] = mapped_column(String(32), default="call")
    connector: Mapped[str] = mapped_column(String(100))
    connector_version: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """The stored answer to a request sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("org_id", "owner", "key"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(36))
    owner: Mapped[str] = mapped_column(String(64))  # user id, or "org"
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: in flight
    response: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OAuthState(Base):
    """A pending OAuth 2 authorization: who started it (the principal the authentication
    will belong to), for which service environment, and what the callback needs. Only the
    SHA-256 of ``state`` is stored; the PKCE verifier is Fernet ciphertext. Single use
    (``used_at``) and short-lived (``expires_at``)."""

    __tablename__ = "oauth_states"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    # The workspace the authentication will belong to.
    workspace_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    service_environment_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    user_data: Mapped[dict] = mapped_column(JSON, default=dict)
    redirect_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set when the flow re-authorizes an existing authentication (updated in place).
    authentication_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    code_verifier: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Subscription(Base):
    """A trigger subscription: events of one trigger operation, for one owner (an end user
    or the organisation), delivered to ``endpoint``. ``input``, ``trigger_state`` (what the
    trigger's on_subscribe kept: webhook ids, secrets) and ``signing_keys`` are Fernet
    ciphertext. ``intake_id`` is the unguessable part of its public intake URL. A worker
    holds ``lease_*`` while it processes and delivers the subscription's events, so that
    one subscription is served by one worker at a time (in order)."""

    __tablename__ = "subscriptions"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    trigger_name: Mapped[str] = mapped_column(String(100))
    trigger_version: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(200))
    input: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(Text)
    authentication_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="creating")
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    trigger_state: Mapped[str | None] = mapped_column(Text, nullable=True)
    signing_keys: Mapped[str] = mapped_column(Text)
    intake_id: Mapped[str] = mapped_column(String(64), unique=True)
    poll_cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_poll_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    # When the head of its event queue is next due (null: nothing to deliver).
    deliver_after: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class IntakeRequest(Base):
    """One request a sender made to a subscription's intake URL, committed before it was
    acknowledged. ``dedupe_key`` (the service's message or event id) makes a redelivery a
    no-op. Processing turns it into events and sets ``status`` to processed."""

    __tablename__ = "intake_requests"
    __table_args__ = (
        UniqueConstraint("subscription_id", "dedupe_key"),
        Index("ix_intake_requests_pending", "status", "subscription_id", "seq"),
    )
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(10))
    url: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[list] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TriggerEvent(Base):
    """One event for a subscription's endpoint; ``seq`` is the delivery order and ``body``
    the exact bytes POSTed (and signed) on every attempt. ``status``: pending, delivered,
    dead (retries exhausted or refused: the dead-letter list) or cancelled (subscription
    deleted)."""

    __tablename__ = "trigger_events"
    __table_args__ = (
        UniqueConstraint("subscription_id", "dedupe_key"),
        Index("ix_trigger_events_queue", "subscription_id", "status", "seq"),
        Index("ix_trigger_events_due", "status", "next_attempt_at"),
    )
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeliveryAttempt(Base):
    """One POST of an event to its subscription's endpoint: the delivery log."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_subscription", "subscription_id", "seq"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered | retry | dead
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class WorkflowRow(Base):
    """A workflow: its current definition is ``versions[current_version]``. ``trigger_id``
    is the unguessable part of its public webhook URL."""

    __tablename__ = "workflows"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    trigger_id: Mapped[str] = mapped_column(String(64), unique=True)
    # While enabled with a service or schedule trigger: the subscription feeding it.
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WorkflowVersion(Base):
    """One saved definition of a workflow (every save is a new version)."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowRun(Base):
    """One execution of a workflow version. ``status``: queued, running, waiting (a delay
    or a retry: ``wake_at``), succeeded, failed, cancelled. A worker holds ``lease_*`` while
    it runs it."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        Index("ix_workflow_runs_workflow", "workflow_id", "seq"),
        Index("ix_workflow_runs_due", "status", "wake_at"),
        Index("ix_workflow_runs_queue", "status", "seq"),
        Index("ix_workflow_runs_retention", "status", "created_at"),
    )
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger_source: Mapped[str] = mapped_column(String(100), default="manual")
    parent_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    reply: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # trigger reply, response
    trigger_output: Mapped[dict | list | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    failed_step: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    wake_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)


class RunStep(Base):
    """The journal of a run: one row per step execution (``key``: the step and the loop
    iterations around it), written *before* the step runs (``status`` running) and
    completed after (succeeded or failed), so a resumed run replays what finished and
    retries what was interrupted with the same idempotency key."""

    __tablename__ = "run_steps"
    __table_args__ = (UniqueConstraint("run_id", "key"), Index("ix_run_steps_run", "run_id", "seq"))
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16), default="step")  # step | sleep | value
    step_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    connector: Mapped[str | None] = mapped_column(String(100), nullable=True)
    operation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    input: Mapped[dict | list | None] = mapped_column(JSON, nullable=True)
    output: Mapped[dict | list | str | int | float | bool | None] = mapped_column(
        JSON, nullable=True
    )
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class StoredValue(Base):
    """The storage connector's values: ``scope`` is ``run:<id>``, ``workflow:<id>`` or
    ``account:<org id>``. ``revision`` makes concurrent updates safe (compare and swap)."""

    __tablename__ = "stored_values"
    __table_args__ = (UniqueConstraint("scope", "key"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    scope: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(500))
    value: Mapped[dict | list | str | int | float | bool | None] = mapped_column(
        JSON, nullable=True
    )
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Payload(Base):
    """A value stored by reference (``patchbay.payload_refs``): a large webhook body or step
    output. Its bytes are in ``payload_chunks``; ``complete`` once every chunk is written
    (an incomplete one older than an hour is an interrupted upload, pruned). It belongs to
    the run that made it and goes with it."""

    __tablename__ = "payloads"
    __table_args__ = (Index("ix_payloads_run", "run_id"),)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    content_type: Mapped[str] = mapped_column(String(255), default="")
    encoding: Mapped[str] = mapped_column(String(16), default="binary")
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PayloadChunk(Base):
    """One chunk (up to 1 MiB) of a payload's bytes, in order of ``n``."""

    __tablename__ = "payload_chunks"
    payload_id: Mapped[str] = mapped_column(
        ForeignKey("payloads.id", ondelete="CASCADE"), primary_key=True
    )
    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
