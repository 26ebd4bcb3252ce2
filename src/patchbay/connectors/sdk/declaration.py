"""What a connector and a trigger declare alike: the service, its auth environments, and the
HTTP side (base URL, authorization, error mapping, retries, rate budget) a
:class:`~patchbay.connectors.sdk.context.Context` is built from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import httpx

from .retry import RateBudget, RetryPolicy

if TYPE_CHECKING:
    from .context import Context
    from .errors import ConnectorError

AUTHENTICATION_TYPES = (
    "token",
    "oauth1",
    "oauth2",
    "oauth2password",
    "oauth2client_credentials",
    "basic",
    "builtin",
)


@dataclass(frozen=True)
class Service:
    id: str  # a stable uuid
    name: str
    version: int

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version}


@dataclass(frozen=True)
class Scope:
    scope: str
    description: str = ""


@dataclass(frozen=True)
class OAuth2Endpoints:
    """How a service runs OAuth 2 (authorization code, refresh). Client id and secret come
    from configuration, per service environment, never from the declaration."""

    authorize_url: str
    token_url: str
    pkce: bool = True
    client_auth: str = "basic"  # "basic" (HTTP Basic) or "body" (client_id/secret in the form)
    scope_separator: str = " "
    extra_authorize_params: tuple[tuple[str, str], ...] = ()


@dataclass
class AuthEnvironment:
    """One way to authenticate with a service (Tray's "service environment")."""

    id: str  # a stable uuid
    title: str
    authentication_type: str
    credentials_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    user_data_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    scopes: list[Scope] = field(default_factory=list)
    oauth2: OAuth2Endpoints | None = None

    def __post_init__(self) -> None:
        if self.authentication_type not in AUTHENTICATION_TYPES:
            raise ValueError(f"unknown authenticationType {self.authentication_type!r}")

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "authenticationType": self.authentication_type,
            "userDataSchema": self.user_data_schema,
            "credentialsSchema": self.credentials_schema,
            "scopes": [{"scope": s.scope, "description": s.description} for s in self.scopes],
        }


# Given the call context, the headers (or an httpx.Auth) that authenticate a request.
Authorizer = Callable[["Context"], "dict[str, str] | httpx.Auth | None"]
# Given a non-2xx response, the standardized error in the service's own terms (its code and
# message); used by ctx.request, ctx.paginate/collect and raw_http_request alike.
ErrorMapper = Callable[["Context", httpx.Response], "ConnectorError"]


class DeclaredOperation(Protocol):
    """What a :class:`Declaration` and a ``Context`` need of an operation (an
    :class:`~patchbay.connectors.sdk.operation.Operation` or a ``TriggerOperation``)."""

    name: str
    title: str
    timeout: float


OperationT = TypeVar("OperationT", bound=DeclaredOperation)


@dataclass
class Declaration(Generic[OperationT]):
    """The base of :class:`~patchbay.connectors.sdk.connector.Connector` and
    :class:`~patchbay.connectors.sdk.trigger.Trigger`: one service, one version, its
    authentication environments and operations, and the HTTP attributes a ``Context`` uses."""

    kind: ClassVar[str] = "declaration"  # "connector" or "trigger", for messages

    name: str
    title: str
    version: str  # "major.minor"
    service: Service
    operations: list[OperationT]
    description: str = ""
    environments: list[AuthEnvironment] = field(default_factory=list)
    base_url: str | None = None
    authorize: Authorizer | None = None
    # Whether a call needs an authentication. Defaults to "has environments".
    requires_auth: bool | None = None
    error_mapper: ErrorMapper | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_budget: RateBudget | None = None

    def __post_init__(self) -> None:
        major, _, minor = self.version.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError(f"{self.kind} version must be 'major.minor', got {self.version!r}")
        names = [op.name for op in self.operations]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.kind} {self.name} declares an operation twice")
        self._by_name = {op.name: op for op in self.operations}
        if self.requires_auth is None:
            self.requires_auth = bool(self.environments)

    def operation(self, name: str) -> OperationT | None:
        return self._by_name.get(name)

    def environment(self, environment_id: str) -> AuthEnvironment | None:
        return next((e for e in self.environments if e.id == environment_id), None)

    def base_url_for(self, user_data: dict[str, Any] | None) -> str | None:
        """The authentication's ``userData.base_url`` when it sets one, else the declared one."""
        override = user_data.get("base_url") if isinstance(user_data, dict) else None
        return override or self.base_url

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "service": self.service.to_api(),
        }
