"""Validating: :class:`SchemaValidator` checks call input against the *published* schema (a
compiled ``jsonschema`` Draft 4 validator, with a fast path of plain predicates for valid
input) and renders each violation the way Tray's Java backend (everit-json-schema) prints it,
e.g. ``#/count: expected type: Integer, found: String``. :func:`validation_message` joins them
into Tray's 400 message."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from jsonschema import ValidationError

from .publish import _as_list

__all__ = ["SchemaValidator", "validation_message"]


_EVERIT_TYPE = {
    "string": "String",
    "integer": "Integer",
    "number": "Number",
    "boolean": "Boolean",
    "object": "JSONObject",
    "array": "JSONArray",
    "null": "Null",
}

# Keyword evaluation order within one schema, mirroring everit: the type first, then the
# object's own checks (required, extraneous keys), then everything else, then children.
_VALIDATION_FIRST = ("type", "required", "additionalProperties")
_VALIDATION_LAST = (
    "properties",
    "patternProperties",
    "dependencies",
    "items",
    "additionalItems",
)
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMA_ONE = ("not", "additionalProperties", "additionalItems")

_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\"<>\\^`{|}]*$")


def _valid_date_time(value: str) -> bool:
    match = _DATE_TIME.match(value)
    if not match:
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T", 1)[:19])
    except ValueError:
        return False
    offset = match.group(8)
    return offset in ("Z", "z") or (int(offset[1:3]) < 24 and int(offset[4:6]) < 60)


def _valid_uri(value: str) -> bool:
    if not _URI.match(value):
        return False
    try:
        urlsplit(value)
    except ValueError:
        return False
    return True


# The formats that are validated (Tray's "datetime", "text", "code" are UI hints, and any
# other format is not checked either), with everit's message for a violation.
_FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "email": (lambda v: bool(_EMAIL.match(v)), "[{}] is not a valid email address"),
    "uri": (_valid_uri, "[{}] is not a valid URI"),
    "date-time": (
        _valid_date_time,
        "[{}] is not a valid date-time. "
        "Expected [yyyy-MM-dd'T'HH:mm:ssZ, yyyy-MM-dd'T'HH:mm:ss.[0-9]{{1,9}}Z]",
    ),
}


def _required(validator: Any, required: Any, instance: Any, schema: dict) -> Iterator:
    if not validator.is_type(instance, "object"):
        return
    for name in required:
        if name not in instance:
            yield ValidationError(f"required key [{name}] not found")


def _additional_properties(validator: Any, ap: Any, instance: Any, schema: dict) -> Iterator:
    if not validator.is_type(instance, "object") or ap is True:
        return
    declared = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    for key in instance:  # in the instance's order: stable for a given request
        if key in declared or any(p.search(key) for p in patterns):
            continue
        if isinstance(ap, dict):
            yield from validator.descend(instance[key], ap, path=key)
        else:
            yield ValidationError(f"extraneous key [{key}] is not permitted")


def _format(validator: Any, fmt: Any, instance: Any, schema: dict) -> Iterator:
    check = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    if check is not None and isinstance(instance, str) and not check[0](instance):
        yield ValidationError(check[1].format(instance))


_Draft4Tray = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {
        "required": _required,
        "additionalProperties": _additional_properties,
        "format": _format,
    },
)


def _validation_copy(schema: Any) -> Any:
    """The schema as the validator sees it: keywords in everit's order, Tray's legacy
    ``enum: [{"text", "value"}]`` reduced to its values, draft-06 spellings made draft-04."""
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    enum = node.get("enum")
    if (
        isinstance(enum, list)
        and enum
        and all(isinstance(e, dict) and "value" in e and set(e) <= {"text", "value"} for e in enum)
    ):
        node["enum"] = [e["value"] for e in enum]
    if "const" in node and "enum" not in node:
        node["enum"] = [node.pop("const")]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[bound] = value
            node[exclusive] = True
    for key in _SUBSCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            node[key] = {k: _validation_copy(v) for k, v in node[key].items()}
    for key in _SUBSCHEMA_LISTS:
        if isinstance(node.get(key), list):
            node[key] = [_validation_copy(v) for v in node[key]]
    for key in _SUBSCHEMA_ONE:
        if isinstance(node.get(key), dict):
            node[key] = _validation_copy(node[key])
    if isinstance(node.get("items"), list):
        node["items"] = [_validation_copy(v) for v in node["items"]]
    elif isinstance(node.get("items"), dict):
        node["items"] = _validation_copy(node["items"])
    if isinstance(node.get("dependencies"), dict):
        node["dependencies"] = {
            k: _validation_copy(v) if isinstance(v, dict) else v
            for k, v in node["dependencies"].items()
        }
    first = [k for k in _VALIDATION_FIRST if k in node]
    last = [k for k in _VALIDATION_LAST if k in node]
    middle = [k for k in node if k not in _VALIDATION_FIRST and k not in _VALIDATION_LAST]
    return {k: node[k] for k in (*first, *middle, *last)}


# -- the fast path ----------------------------------------------------------------------
#
# jsonschema spends most of its time building a validator per subschema it descends into.
# Almost every call is valid, so the schema is also compiled into plain Python predicates
# that answer "valid?" several times faster; only invalid input (or a schema using a
# keyword the fast path does not know) goes through jsonschema to produce the messages.
# The predicates mirror jsonschema's Draft 4 semantics exactly (tests compare the two).

_Check = Callable[[Any], bool]


class _Unsupported(Exception):
    """The schema uses something the fast path does not implement."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, _Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
# Draft 4 validation keywords the fast path implements (exclusiveMinimum/Maximum are read
# with minimum/maximum); any other validation keyword (multipleOf, uniqueItems, $ref,
# dependencies) sends the whole schema to jsonschema. Annotations are ignored by both.
_FAST_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "patternProperties",
        "enum", "minLength", "maxLength", "pattern", "minimum", "maximum", "format",
        "items", "additionalItems", "minItems", "maxItems", "minProperties",
        "maxProperties", "anyOf", "allOf", "oneOf", "not",
    }
)  # fmt: skip


def _json_equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: ``True`` is not ``1``, containers compared deeply."""
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(map(_json_equal, one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(
            k in two and _json_equal(v, two[k]) for k, v in one.items()
        )
    if isinstance(one, list | dict) or isinstance(two, list | dict):
        return False
    return one == two


def _fast_checker(schema: Any) -> _Check | None:
    """A predicate equivalent to Draft 4 ``is_valid`` for ``schema``, or ``None``."""
    try:
        return _compile(schema)
    except (_Unsupported, re.error, TypeError, ValueError):
        return None


def _compile(schema: Any) -> _Check:
    if not isinstance(schema, dict):
        raise _Unsupported
    known = [k for k in schema if k in jsonschema.Draft4Validator.VALIDATORS]
    if any(k not in _FAST_KEYWORDS for k in known):
        raise _Unsupported
    checks: list[_Check] = []

    if "type" in schema:
        names = _as_list(schema["type"])
        if any(not isinstance(n, str) or n not in _TYPE_CHECKS for n in names):
            raise _Unsupported
        tests = tuple(_TYPE_CHECKS[n] for n in names)
        checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))

    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list):
            raise _Unsupported

        def required_keys(v: Any) -> bool:
            if isinstance(v, dict):
                for key in required:
                    if key not in v:
                        return False
            return True

        checks.append(required_keys)

    if "properties" in schema:
        props = {name: _compile(sub) for name, sub in schema["properties"].items()}

        def properties(v: Any) -> bool:
            if isinstance(v, dict):
                for name, check in props.items():
                    if name in v and not check(v[name]):
                        return False
            return True

        checks.append(properties)

    patterns = [
        (re.compile(p), _compile(sub)) for p, sub in schema.get("patternProperties", {}).items()
    ]
    if patterns:

        def pattern_properties(v: Any) -> bool:
            if isinstance(v, dict):
                for key, value in v.items():
                    for regex, check in patterns:
                        if regex.search(key) and not check(value):
                            return False
            return True

        checks.append(pattern_properties)

    ap = schema.get("additionalProperties", True)
    if ap is not True:
        declared = frozenset(schema.get("properties", {}))
        regexes = [regex for regex, _ in patterns]
        extra_check = _compile(ap) if isinstance(ap, dict) else None
        if extra_check is None and ap is not False:
            raise _Unsupported

        def additional_properties(v: Any) -> bool:
            if isinstance(v, dict):
                for key in v:
                    if key in declared or any(r.search(key) for r in regexes):
                        continue
                    if extra_check is None or not extra_check(v[key]):
                        return False
            return True

        checks.append(additional_properties)

    if "enum" in schema:
        enum = schema["enum"]
        if enum and all(isinstance(e, str) for e in enum):
            strings = frozenset(enum)  # the common case: a set look-up
            checks.append(lambda v: isinstance(v, str) and v in strings)
        else:
            checks.append(lambda v: any(_json_equal(e, v) for e in enum))

    for keyword, test in (
        ("minLength", lambda v, n: len(v) >= n),
        ("maxLength", lambda v, n: len(v) <= n),
    ):
        if keyword in schema:
            bound = schema[keyword]
            checks.append(lambda v, t=test, n=bound: not isinstance(v, str) or t(v, n))
    if "pattern" in schema:
        regex = re.compile(schema["pattern"])
        checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
    if isinstance(schema.get("format"), str) and schema["format"] in _FORMATS:
        valid_format = _FORMATS[schema["format"]][0]
        checks.append(lambda v: not isinstance(v, str) or valid_format(v))

    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum", False):
            checks.append(lambda v: not _is_number(v) or v > low)
        else:
            checks.append(lambda v: not _is_number(v) or v >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        if schema.get("exclusiveMaximum", False):
            checks.append(lambda v: not _is_number(v) or v < high)
        else:
            checks.append(lambda v: not _is_number(v) or v <= high)

    for keyword, test in (
        ("minItems", lambda v, n: not isinstance(v, list) or len(v) >= n),
        ("maxItems", lambda v, n: not isinstance(v, list) or len(v) <= n),
        ("minProperties", lambda v, n: not isinstance(v, dict) or len(v) >= n),
        ("maxProperties", lambda v, n: not isinstance(v, dict) or len(v) <= n),
    ):
        if keyword in schema:
            bound = schema[keyword]
            checks.append(lambda v, t=test, n=bound: t(v, n))

    items = schema.get("items")
    if isinstance(items, dict):
        each = _compile(items)

        def list_items(v: Any) -> bool:
            if isinstance(v, list):
                for item in v:
                    if not each(item):
                        return False
            return True

        checks.append(list_items)
    elif isinstance(items, list):
        positional = [_compile(sub) for sub in items]
        more = schema.get("additionalItems", True)
        more_check = _compile(more) if isinstance(more, dict) else None
        if more_check is None and not isinstance(more, bool):
            raise _Unsupported
        count = len(positional)

        def tuple_items(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            if not all(check(item) for check, item in zip(positional, v, strict=False)):
                return False
            if more_check is not None:
                return all(map(more_check, v[count:]))
            return more is not False or len(v) <= count

        checks.append(tuple_items)
    elif items is not None:
        raise _Unsupported

    for keyword in ("anyOf", "allOf", "oneOf"):
        if keyword in schema:
            subs = [_compile(sub) for sub in schema[keyword]]
            if keyword == "anyOf":
                checks.append(lambda v, subs=subs: any(c(v) for c in subs))
            elif keyword == "allOf":
                checks.append(lambda v, subs=subs: all(c(v) for c in subs))
            else:
                checks.append(lambda v, subs=subs: sum(1 for c in subs if c(v)) == 1)
    if "not" in schema:
        negated = _compile(schema["not"])
        checks.append(lambda v: not negated(v))

    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    all_checks = tuple(checks)

    def every(v: Any) -> bool:
        for check in all_checks:
            if not check(v):
                return False
        return True

    return every


class SchemaValidator:
    """Validates call input against an operation's published input schema.

    The schema is compiled once (a Draft 4 ``jsonschema`` validator with Patchbay's
    ``required``/``additionalProperties``/``format`` keywords); Tray-only keywords
    (``lookup``, ``advanced``, ``enumLabels``, UI formats...) are ignored. Connector input
    is always a JSON object, so a schema without a top-level ``type`` still demands one.
    """

    def __init__(self, schema: dict) -> None:
        compiled = _validation_copy(schema if isinstance(schema, dict) else {})
        if "type" not in compiled and "$ref" not in compiled:
            compiled = {"type": "object", **compiled}
        self.schema = schema
        self._validator = _Draft4Tray(compiled)
        self._fast = _fast_checker(compiled)

    def is_valid(self, instance: Any) -> bool:
        if self._fast is not None:
            return self._fast(instance)
        return self._validator.is_valid(instance)

    def errors(self, instance: Any) -> list[str]:
        """Every violation as an everit-style message (``[]`` when the input is valid),
        in a stable order: an object's own problems (type, required keys, extraneous
        keys) before those of its properties, properties in schema order."""
        if self._fast is not None and self._fast(instance):
            return []
        found = list(self._validator.iter_errors(instance))
        if not found:
            return []
        # As everit does, a value of the wrong type gets no further complaints.
        wrong_type = {tuple(e.absolute_path) for e in found if e.validator == "type"}
        messages: list[str] = []
        for error in found:
            path = tuple(error.absolute_path)
            if error.validator != "type" and path in wrong_type:
                continue
            message = f"{_pointer(path)}: {_describe(error)}"
            if message not in messages:
                messages.append(message)
        return messages


def validation_message(errors: list[str]) -> str:
    """Tray's 400 message for input that fails its schema."""
    listed = ", ".join(f"{i} - {error}" for i, error in enumerate(errors, start=1))
    return f"Connector input validation failed. Schema validation errors:\n[ {listed} ]"


# -- rendering ------------------------------------------------------------------------


def _pointer(path: tuple[Any, ...]) -> str:
    """everit's JSON-pointer style location: ``#``, ``#/message/blocks/0/type``."""
    return "#" + "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _type_name(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, dict):
        return "JSONObject"
    if isinstance(value, list | tuple):
        return "JSONArray"
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as everit prints it: strings bare, everything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _describe(error: ValidationError) -> str:
    """One violation in everit's words (jsonschema's own message when there is none)."""
    keyword, expected, value = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "type":
        names = [_EVERIT_TYPE.get(t, str(t)) for t in _as_list(expected)]
        if len(names) == 1:
            return f"expected type: {names[0]}, found: {_type_name(value)}"
        return f"expected type is one of {', '.join(names)}, found: {_type_name(value)}"
    if keyword in ("required", "additionalProperties", "format"):
        return error.message  # already in everit's words, see _required & co.
    if keyword == "enum":
        return f"[{_show(value)}] is not a valid enum value"
    if keyword == "minLength":
        return f"expected minLength: {expected}, actual: {len(value)}"
    if keyword == "maxLength":
        return f"expected maxLength: {expected}, actual: {len(value)}"
    if keyword == "pattern":
        return f"string [{value}] does not match pattern {expected}"
    if keyword == "minimum":
        relation = "greater than" if schema.get("exclusiveMinimum") else "greater or equal to"
        return f"{_show(value)} is not {relation} {_show(expected)}"
    if keyword == "maximum":
        relation = "less than" if schema.get("exclusiveMaximum") else "less or equal to"
        return f"{_show(value)} is not {relation} {_show(expected)}"
    if keyword == "multipleOf":
        return f"{_show(value)} is not a multiple of {_show(expected)}"
    if keyword == "minItems":
        return f"expected minimum item count: {expected}, found: {len(value)}"
    if keyword == "maxItems":
        return f"expected maximum item count: {expected}, found: {len(value)}"
    if keyword == "uniqueItems":
        return "array items are not unique"
    if keyword == "minProperties":
        return f"minimum size: [{expected}], found: [{len(value)}]"
    if keyword == "maxProperties":
        return f"maximum size: [{expected}], found: [{len(value)}]"
    if keyword == "anyOf" or (keyword == "oneOf" and not _matches(error)):
        return f"no subschema matched out of the total {len(expected)} subschemas"
    if keyword == "oneOf":
        return f"{_matches(error)} subschemas matched instead of one"
    return error.message


def _matches(error: ValidationError) -> int:
    """How many ``oneOf`` branches the instance satisfied (branches without an error)."""
    failed = {e.schema_path[0] for e in error.context if e.schema_path}
    return len(error.validator_value) - len(failed)
