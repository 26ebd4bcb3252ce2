"""A connector declaration: one service, one version, its auth environments and operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .declaration import (
    AUTHENTICATION_TYPES,
    AuthEnvironment,
    Authorizer,
    Declaration,
    ErrorMapper,
    OAuth2Endpoints,
    Scope,
    Service,
)
from .operation import Operation

__all__ = [
    "AUTHENTICATION_TYPES",
    "AuthEnvironment",
    "Authorizer",
    "Connector",
    "ErrorMapper",
    "OAuth2Endpoints",
    "Scope",
    "Service",
]


@dataclass
class Connector(Declaration[Operation]):
    kind: ClassVar[str] = "connector"

    # False for connectors whose operations only compute (text, lists, dates...): a workflow
    # does not checkpoint their steps before running them, as running one again is harmless.
    side_effects: bool = True
