"""Publishing: :func:`input_schema` / :func:`output_schema` turn a model into the JSON Schema
that Tray's "Get connector operations" shows. pydantic emits draft 2020-12 with
``$defs``/``$ref``, ``anyOf [X, null]``, ``const`` and numeric ``exclusiveMinimum``; Tray
speaks draft-04, so everything is inlined and rewritten (see :class:`_Converter`)."""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, PydanticJsonSchemaWarning

from .declare import ADVANCED_MARK

__all__ = ["input_schema", "output_schema"]


_EMPTY_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "additionalProperties": False,
    "advanced": [],
}

# Keys of a published schema, in the order they are written (the rest follow, sorted).
_KEY_ORDER = (
    "type",
    "title",
    "description",
    "format",
    "enum",
    "enumLabels",
    "default",
    "lookup",
    "defaultJsonPath",
)
_KEY_ORDER_LAST = (
    "properties",
    "patternProperties",
    "required",
    "additionalProperties",
    "advanced",
    "items",
    "additionalItems",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
)
# pydantic output that means nothing in draft-04 (or to Tray).
_DROPPED_KEYS = frozenset({"discriminator", "$defs", "definitions", "$schema", "$id"})

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _humanize(name: str) -> str:
    """``"workspace_id"`` and ``"workspaceId"`` both become ``"Workspace Id"``."""
    words = _CAMEL_BOUNDARY.sub(" ", name).replace("_", " ").replace("-", " ").split()
    return " ".join(word[:1].upper() + word[1:] for word in words) or name


class _TrayJsonSchema(GenerateJsonSchema):
    """pydantic's generator with titles humanized from the field (or alias) name and
    without pydantic's alphabetical key sorting."""

    def get_title_from_name(self, name: str) -> str:
        return _humanize(name)

    def sort(self, value: Any, parent_key: str | None = None) -> Any:
        # Keep extension values (lookup inputs, defaults...) as written; _ordered() arranges
        # the schema keywords themselves.
        return value


def input_schema(spec: type[BaseModel] | dict | None) -> dict:
    """The published input schema of an operation.

    A model is converted (see :func:`_publish`): ``additionalProperties: false`` unless the
    model allows extra fields, and an ``advanced`` list on the top-level object (always) and
    on nested objects (when not empty). A dict is taken as an already-written schema and
    returned as a deep copy. ``None`` means "no input".
    """
    if spec is None:
        return copy.deepcopy(_EMPTY_INPUT_SCHEMA)
    if isinstance(spec, dict):
        return copy.deepcopy(spec)
    return _publish(spec, for_input=True)


def output_schema(spec: type[BaseModel] | dict | None) -> dict:
    """The published output schema: like :func:`input_schema` but without forcing
    ``additionalProperties: false`` and without ``advanced`` lists. ``None`` gives ``{}``."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return copy.deepcopy(spec)
    return _publish(spec, for_input=False)


def _publish(model: type[BaseModel], *, for_input: bool) -> dict[str, Any]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"expected a pydantic model, a dict or None, got {model!r}")
    with warnings.catch_warnings():
        # A default that is not JSON-serialisable is left out of the schema: on purpose.
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        raw = model.model_json_schema(
            by_alias=True,
            mode="validation" if for_input else "serialization",
            schema_generator=_TrayJsonSchema,
        )
    defs = raw.pop("$defs", {})
    converter = _Converter(defs, for_input=for_input)
    schema = converter.convert(raw)
    # The operation carries its own title and description; the model's class name and
    # docstring are not part of Tray's input schema.
    schema.pop("title", None)
    schema.pop("description", None)
    if for_input:
        schema.setdefault("advanced", [])
    return _ordered(schema)


class _Converter:
    """Rewrites pydantic's JSON Schema into draft-04 with Tray's conventions.

    * ``$ref`` into ``$defs`` is inlined (field-level keys win over the definition's; the
      definition's title, a class name, is dropped). Recursive models cannot be inlined
      and are rejected.
    * ``anyOf [X, null]`` with ``default: null`` becomes plain ``X`` in input schemas;
      otherwise (and always in output schemas) nullable types become ``type: [X, "null"]``
      (``null`` is added to an ``enum`` too).
    * ``anyOf`` of bare ``{"type": ...}`` schemas becomes a multi-type ``type: [...]``.
    * ``const`` becomes a one-value ``enum``; numeric ``exclusiveMinimum``/``Maximum``
      become draft-04's ``minimum`` + ``exclusiveMinimum: true``; ``prefixItems`` becomes
      tuple-form ``items`` + ``additionalItems``.
    * Objects with ``properties`` (models) get ``additionalProperties: false`` for input
      unless they allow extra fields; the "advanced" marks become the ``advanced`` list.
    """

    def __init__(self, defs: dict[str, Any], *, for_input: bool) -> None:
        self.defs = defs
        self.for_input = for_input
        self._resolving: list[str] = []

    def convert(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: v for k, v in node.items() if k not in _DROPPED_KEYS}
        optional = "default" in node and node["default"] is None
        if optional:
            del node["default"]  # "no default" and "default null" read the same in a form
        base: dict[str, Any] | None = None
        if "$ref" in node:
            base = self._inline(node.pop("$ref"))
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            base = self.convert(node.pop("allOf")[0])  # old-style {"allOf": [{"$ref"}]}
        for key in ("anyOf", "oneOf"):
            if key in node:
                # An optional input may be left out, so its null is dropped; an output
                # field the service may send as null keeps it.
                base = self._union(node, key, drop_null=optional and self.for_input)
        self._draft04_keywords(node)
        self._recurse(node)
        if base is not None:
            # The field-level keys (title, description, default, extensions) win.
            return _ordered({**base, **node})
        if isinstance(node.get("properties"), dict):
            self._object(node)
        if node.get("additionalProperties") is True:
            del node["additionalProperties"]  # the default; pydantic says it for extra="allow"
        return _ordered(node)

    # -- pieces --------------------------------------------------------------------------
    def _inline(self, ref: str) -> dict[str, Any]:
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/$defs/") or name not in self.defs:
            raise ValueError(f"cannot inline schema reference {ref!r}")
        if name in self._resolving:
            chain = " -> ".join([*self._resolving, name])
            raise ValueError(f"recursive models cannot be published as draft-04: {chain}")
        self._resolving.append(name)
        try:
            target = self.convert(self.defs[name])
        finally:
            self._resolving.pop()
        target.pop("title", None)  # a class name; the field's title replaces it
        return target

    def _union(self, node: dict[str, Any], key: str, *, drop_null: bool) -> dict[str, Any] | None:
        """Collapse ``node[key]`` into one schema (returned), or keep it as a converted
        union in ``node`` (and return ``None``)."""
        branches = [self.convert(b) for b in node.pop(key)]
        nullable = any(b == {"type": "null"} for b in branches) and not drop_null
        branches = [b for b in branches if b != {"type": "null"}]
        merged: dict[str, Any] | None = None
        if len(branches) == 1:
            merged = branches[0]
        elif branches and all(set(b) == {"type"} for b in branches):
            merged = {"type": _unique(t for b in branches for t in _as_list(b["type"]))}
        if merged is not None and nullable:
            merged = _nullable(merged)
        if merged is None:  # a real union: keep it
            node[key] = [*branches, {"type": "null"}] if nullable else branches
        return merged

    @staticmethod
    def _draft04_keywords(node: dict[str, Any]) -> None:
        if "const" in node:
            value = node.pop("const")
            node.setdefault("enum", [value])
        for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            value = node.get(exclusive)
            if isinstance(value, int | float) and not isinstance(value, bool):
                node[bound] = value
                node[exclusive] = True
        if "prefixItems" in node:
            prefix = node.pop("prefixItems")
            rest = node.pop("items", None)
            node["items"] = prefix
            node["additionalItems"] = rest if isinstance(rest, dict) else False

    def _recurse(self, node: dict[str, Any]) -> None:
        for key in ("properties", "patternProperties"):
            if isinstance(node.get(key), dict):
                node[key] = {name: self.convert(sub) for name, sub in node[key].items()}
        for key in ("items", "additionalItems", "additionalProperties", "not"):
            if isinstance(node.get(key), dict):
                node[key] = self.convert(node[key])
            elif isinstance(node.get(key), list):
                node[key] = [self.convert(sub) for sub in node[key]]
        if isinstance(node.get("allOf"), list):
            node["allOf"] = [self.convert(sub) for sub in node["allOf"]]
        # anyOf / oneOf were converted by _union.

    def _object(self, node: dict[str, Any]) -> None:
        advanced = []
        for name, prop in node["properties"].items():
            if isinstance(prop, dict):
                if prop.pop(ADVANCED_MARK, False):
                    advanced.append(name)
                if "title" not in prop:
                    node["properties"][name] = _ordered({"title": _humanize(name), **prop})
        if not node.get("required"):
            node.pop("required", None)
        if self.for_input:
            node.setdefault("additionalProperties", False)
            if advanced:
                node["advanced"] = advanced


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _unique(values: Any) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any] | None:
    """``schema`` also accepting ``null`` (``None`` when that cannot be said with ``type``)."""
    if "type" not in schema:
        return None
    schema = dict(schema)
    schema["type"] = _unique([*_as_list(schema["type"]), "null"])
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """The same schema with its keys in a readable order (type, title, ... properties)."""
    first = [k for k in _KEY_ORDER if k in node]
    last = [k for k in _KEY_ORDER_LAST if k in node]
    middle = sorted(k for k in node if k not in _KEY_ORDER and k not in _KEY_ORDER_LAST)
    return {k: node[k] for k in (*first, *middle, *last)}
