"""Patchbay's configuration: environment variables (``PATCHBAY_*``) or CLI flags.

Every setting is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_", extra="ignore")

    data_dir: Path = Field(default=Path("patchbay-data"))
    database_url: str | None = None
    # FULL: an acknowledged write survives power loss; NORMAL: a process crash only.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    secret_key: str | None = None
    secret_keys: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    outbound_allow: str = ""
    rate_limit_per_second: float = 30.0
    rate_limit_burst: int = 50
    max_calls_in_flight: int = 1000
    max_body_bytes: int = 1_048_576
    # Slow clients: a request's headers within this, each part of its body within that
    # (408 after), and at most this many open connections per process.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 1000
    connector_max_response_bytes: int = 67_108_864
    user_token_ttl_seconds: int = 2 * 24 * 3600
    auth_cache_seconds: float = 2.0
    # Members' sign-in sessions (cookie): lifetime; Secure cookies: auto (when the request
    # came over https, as told by the proxy headers uvicorn trusts), always or never.
    session_ttl_seconds: int = 12 * 3600
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Password sign-in: after this many consecutive failures a member is locked, first for
    # sign_in_lockout_seconds, doubling with each further failure up to the maximum; and
    # attempts per client address (a token bucket).
    sign_in_lockout_after: int = Field(default=5, ge=1)
    sign_in_lockout_seconds: float = Field(default=60.0, gt=0)
    sign_in_lockout_max_seconds: float = Field(default=3600.0, gt=0)
    sign_in_rate_per_minute: float = 10.0
    sign_in_rate_burst: int = Field(default=20, ge=1)
    # Single sign-on with OpenID Connect (on when issuer, client id and secret are all set;
    # the secret is a SecretStr: never shown by repr or logs). sso_only refuses passwords.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    # Members sign in through single sign-on only: password sign-in answers 403 sso_only.
    sso_only: bool = False
    # One-time links sent by email: invitations and password resets (lifetimes).
    invite_ttl_seconds: int = 7 * 24 * 3600
    password_reset_ttl_seconds: int = 3600
    # Outgoing email (invitations, password resets). No host: nothing is sent, and the
    # API says so (``emailSent: false``). Port 465 is implicit TLS; otherwise STARTTLS
    # is required unless smtp_starttls is false (a relay on loopback).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str | None = None
    idempotency_ttl_seconds: int = 24 * 3600
    # The audit log (docs/access.md): events older than this are pruned (hourly).
    audit_retention_days: float = 365.0
    log_level: str = "info"
    # Triggers: intake, delivery to subscribers, and the background workers.
    intake_max_body_bytes: int = 1_048_576
    delivery_timeout_seconds: float = 15.0
    delivery_retry_hours: float = 24.0
    delivery_backoff_seconds: float = 2.0
    delivery_backoff_max_seconds: float = 3600.0
    signing_key_overlap_seconds: int = 24 * 3600
    background_workers: bool = True
    worker_poll_seconds: float = 0.5
    worker_lease_seconds: float = 30.0
    worker_concurrency: int = 32
    event_retention_days: float = 30.0
    # Workflows
    workflow_max_steps: int = 10_000
    workflow_concurrency: int = 256
    workflow_max_run_seconds: float = 24 * 3600.0
    workflow_run_retention_days: float = 30.0
    workflow_retry_scale: float = 1.0
    workflow_reply_timeout_seconds: float = 30.0
    # Large values: webhook bodies and step outputs over workflow_inline_bytes are stored by
    # reference (patchbay.payload_refs); a workflow webhook body may be up to
    # workflow_max_body_bytes.
    workflow_inline_bytes: int = 262_144
    workflow_max_body_bytes: int = 104_857_600
    # OAuth 2 clients, keyed by service environment id or service name:
    # {"slack": {"client_id", "client_secret", "authorize_url"?, "token_url"?}}
    oauth_clients: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def effective_database_url(self) -> str:
        return normalise_database_url(
            self.database_url or f"sqlite:///{(self.data_dir / 'patchbay.db').resolve()}"
        )

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def effective_public_url(self) -> str:
        """The URL the outside world reaches Patchbay at (no trailing slash)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def sso_configured(self) -> bool:
        """Whether OpenID Connect single sign-on is set up (issuer, client id and secret)."""
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_secret())

    def oidc_secret(self) -> str:
        """The OpenID Connect client secret's value ("" when unset)."""
        secret = self.oidc_client_secret
        # model_copy(update=...) does not validate: a plain string may stand there.
        return secret.get_secret_value() if isinstance(secret, SecretStr) else (secret or "")

    def configured_keys(self) -> list[str]:
        """Encryption keys given by environment, newest first ([] means: use the key file)."""
        if self.secret_keys:
            return [k.strip() for k in self.secret_keys.split(",") if k.strip()]
        if self.secret_key:
            return [self.secret_key.strip()]
        return []


def normalise_database_url(url: str) -> str:
    """Map the URLs people write to the async drivers Patchbay runs on."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
