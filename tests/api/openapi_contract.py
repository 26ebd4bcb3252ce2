"""Checks answers against the OpenAPI document: the status is declared for the operation,
and a JSON body matches the declared schema (jsonschema, with the document's components)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from patchbay.api.app import create_app
from patchbay.config import Settings


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:openapi", resource)
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "/?$"), path)
            for path in document["paths"]
        ]
        self.checked: set[tuple[str, str, str]] = set()

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for pattern, template in self.routes:
            if pattern.match(path):
                operation = self.document["paths"][template].get(method.lower())
                if operation is not None:
                    return template, operation
        return None

    def problems(self, response: httpx.Response) -> list[str]:
        request = response.request
        found = self.operation(request.method, request.url.path)
        if found is None:
            return []  # not a documented operation (a 405, a hook path that is not an id)
        template, operation = found
        where = f"{request.method} {template} -> {response.status_code}"
        responses = operation["responses"]
        declared = responses.get(str(response.status_code))
        if declared is None:
            if "default" in responses:  # an answer the route passes on as it is
                return []
            return [f"{where}: status not declared"]
        self.checked.add((request.method, template, str(response.status_code)))
        content = declared.get("content") or {}
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if not response.content:
            return []
        if media not in content:
            return [f"{where}: content type {media!r} not declared ({sorted(content)})"]
        schema = content[media].get("schema")
        if media != "application/json" or not schema:
            return []
        schema = _rebased(schema)
        validator = _VALIDATOR(
            schema, registry=self.registry, format_checker=_VALIDATOR.FORMAT_CHECKER
        )
        return [
            f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(response.json())
        ]


_VALIDATOR = jsonschema.Draft202012Validator


def _rebased(schema: Any) -> Any:
    """The schema with ``#/components/...`` references pointed at the whole document."""
    if isinstance(schema, dict):
        return {
            k: ("urn:openapi" + v if k == "$ref" and v.startswith("#/") else _rebased(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebased(v) for v in schema]
    return schema


def document(data_dir: Path) -> dict[str, Any]:
    """The document the app serves (an app is built, not started: nothing is opened)."""
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'unused.db'}")
    return create_app(settings).openapi()
