"""The connector SDK: declare a connector as data plus small async handlers."""

from .connector import AuthEnvironment, Connector, OAuth2Endpoints, Scope, Service
from .context import Context
from .errors import ConnectorError
from .operation import Operation, operation
from .pagination import CursorPagination, LinkHeaderPagination, NextUrlPagination
from .raw_http import raw_http_request
from .retry import RateBudget, RetryPolicy
from .schema import field, lookup

__all__ = [
    "AuthEnvironment",
    "Connector",
    "ConnectorError",
    "Context",
    "CursorPagination",
    "LinkHeaderPagination",
    "NextUrlPagination",
    "OAuth2Endpoints",
    "Operation",
    "RateBudget",
    "RetryPolicy",
    "Scope",
    "Service",
    "field",
    "lookup",
    "operation",
    "raw_http_request",
]
