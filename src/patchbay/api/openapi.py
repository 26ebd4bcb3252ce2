"""The OpenAPI document as the API answers: FastAPI's, less what the app never sends.

Validation errors are answered 400 with the flat error body (``errors.py``), never FastAPI's
422 ``HTTPValidationError``; a query parameter is absent or a string, never null.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_VALIDATION_REF = "#/components/schemas/HTTPValidationError"
_UNUSED = ("HTTPValidationError", "ValidationError")


def _is_default_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref") == _VALIDATION_REF


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, null]`` (an optional parameter) as X, keeping the other keywords."""
    variants = schema.get("anyOf")
    if not variants:
        return schema
    kept = [v for v in variants if v.get("type") != "null"]
    if len(kept) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **rest}


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if "422" in responses and _is_default_422(responses["422"]):
                del responses["422"]
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("query", "header", "path"):
                    parameter["schema"] = _not_null(parameter.get("schema", {}))
    schemas = doc.get("components", {}).get("schemas", {})
    for name in _UNUSED:
        schemas.pop(name, None)
    return doc


def install(app: FastAPI) -> None:
    """Serve :func:`document` at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
