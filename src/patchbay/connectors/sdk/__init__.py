"""The connector SDK: declare a connector as data plus small async handlers."""

from .connector import AuthEnvironment, Connector, Scope, Service
from .context import Context
from .errors import ConnectorError
from .operation import Operation, operation
from .schema import field, lookup

__all__ = [
    "AuthEnvironment",
    "Connector",
    "ConnectorError",
    "Context",
    "Operation",
    "Scope",
    "Service",
    "field",
    "lookup",
    "operation",
]
