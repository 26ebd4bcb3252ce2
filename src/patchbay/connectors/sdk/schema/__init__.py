"""JSON Schema for operations (draft-04 compatible, with Tray's extensions) and Tray-style
validation messages, one module per job:

* :mod:`.declare` -- :func:`field` and :func:`lookup` declare a model's fields with Tray's
  extensions;
* :mod:`.publish` -- :func:`input_schema` / :func:`output_schema` publish a model as draft-04;
* :mod:`.validate` -- :class:`SchemaValidator` checks input against the published schema with
  everit-style messages, :func:`validation_message` joins them.
"""

from .declare import field, lookup
from .publish import input_schema, output_schema
from .validate import SchemaValidator, validation_message

__all__ = [
    "SchemaValidator",
    "field",
    "input_schema",
    "lookup",
    "output_schema",
    "validation_message",
]
