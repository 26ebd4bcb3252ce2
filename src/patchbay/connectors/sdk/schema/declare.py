"""Declaring inputs: :func:`field` and :func:`lookup` attach Tray's schema extensions
(``lookup``, ``enumLabels``, ``format``, ``advanced``, ``defaultJsonPath``) to the fields of a
pydantic v2 model."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic import Field
from pydantic_core import PydanticUndefined

__all__ = ["ADVANCED_MARK", "field", "lookup"]

# Marks a property as "advanced" inside pydantic's schema; publishing moves it to the
# object-level ``advanced`` list and removes the mark.
ADVANCED_MARK = "x-patchbay-advanced"


def field(
    default: Any = PydanticUndefined,
    *,
    title: str,
    description: str | None = None,
    lookup: dict | None = None,
    enum_labels: list[str] | None = None,
    format: str | None = None,  # Tray's keyword, hence the shadowing
    advanced: bool = False,
    default_json_path: str | None = None,
    **kwargs: Any,
) -> Any:
    """A pydantic ``Field`` carrying Tray's schema extensions.

    ``lookup`` is a dynamic drop-down (build it with :func:`lookup`), ``enum_labels`` the
    display labels of an enum (published as ``enumLabels``), ``format`` a Tray UI hint
    (``"datetime"``, ``"text"``, ``"code"``) or a validated format (``"email"``, ``"uri"``,
    ``"date-time"``), ``advanced`` lists the field in the object's ``advanced`` array and
    ``default_json_path`` becomes ``defaultJsonPath`` (e.g. ``"$.auth.access_token"``).
    Every other keyword (``alias``, ``ge``, ``max_length``, ``default_factory``,
    ``examples``, ...) goes to :func:`pydantic.Field` unchanged.
    """
    extra: dict[str, Any] = {}
    if format is not None:
        extra["format"] = format
    if lookup is not None:
        extra["lookup"] = copy.deepcopy(lookup)
    if enum_labels is not None:
        extra["enumLabels"] = list(enum_labels)
    if default_json_path is not None:
        extra["defaultJsonPath"] = default_json_path
    if advanced:
        extra[ADVANCED_MARK] = True

    user_extra = kwargs.pop("json_schema_extra", None)
    json_schema_extra: dict[str, Any] | Callable[[dict[str, Any]], None] | None
    if callable(user_extra):

        def json_schema_extra(schema: dict[str, Any]) -> None:
            schema.update(copy.deepcopy(extra))
            user_extra(schema)

    else:
        json_schema_extra = {**extra, **(user_extra or {})} or None

    return Field(
        default,
        title=title,
        description=description,
        json_schema_extra=json_schema_extra,
        **kwargs,
    )


def lookup(operation: str, input: dict | None = None, *, legacy: bool = False) -> dict:
    """A Tray ``lookup`` (dynamic drop-down) calling the DDL operation ``operation``.

    ``input`` values may be mustache templates over the form's other inputs, e.g.
    ``{"workspace_id": "{{{workspace_id}}}"}``; they are kept verbatim. ``legacy=True``
    gives the older spelling ``{"message": operation, "input": ...}``.
    """
    return {"message" if legacy else "operation": operation, "input": copy.deepcopy(input or {})}
