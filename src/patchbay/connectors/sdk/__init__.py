"""The connector SDK: declare a connector as data plus small async handlers."""

from .connector import AuthEnvironment, Connector, OAuth2Endpoints, Scope, Service
from .context import Context
from .errors import ConnectorError
from .models import DDLItem, DDLOutput, OpenObject, base_url_property
from .operation import Operation, operation
from .pagination import CursorPagination, LinkHeaderPagination, NextUrlPagination
from .raw_http import raw_http_request
from .retry import RateBudget, RetryPolicy
from .schema import field, lookup
from .trigger import (
    DEFAULT_REPLY,
    Event,
    IncomingRequest,
    NoTrigger,
    Reply,
    Trigger,
    TriggerOperation,
    TriggerRejected,
)

__all__ = [
    "DEFAULT_REPLY",
    "AuthEnvironment",
    "Connector",
    "ConnectorError",
    "DDLItem",
    "DDLOutput",
    "Context",
    "CursorPagination",
    "Event",
    "IncomingRequest",
    "LinkHeaderPagination",
    "NextUrlPagination",
    "NoTrigger",
    "OAuth2Endpoints",
    "OpenObject",
    "Operation",
    "RateBudget",
    "Reply",
    "RetryPolicy",
    "Scope",
    "Service",
    "Trigger",
    "TriggerOperation",
    "TriggerRejected",
    "base_url_property",
    "field",
    "lookup",
    "operation",
    "raw_http_request",
]
