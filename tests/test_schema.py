"""Publishing operation schemas (draft-04 + Tray extensions) and Tray-style validation."""

from __future__ import annotations

import copy
import random
from enum import StrEnum
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict, Field

from patchbay.connectors.sdk import field as sdk_field
from patchbay.connectors.sdk import lookup as sdk_lookup
from patchbay.connectors.sdk.schema import (
    SchemaValidator,
    field,
    input_schema,
    lookup,
    output_schema,
    validation_message,
)

# ---------------------------------------------------------------------------------------
# A Slack-like send_message input
# ---------------------------------------------------------------------------------------


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"


class Block(BaseModel):
    type: Literal["section", "divider"] = field(title="Type")
    text: str | None = field(None, title="Text", max_length=3000)


class Thread(BaseModel):
    ts: str = field(title="Thread timestamp", pattern=r"^\d+\.\d+$")
    broadcast: bool = field(False, title="Reply broadcast", advanced=True)


class SendMessage(BaseModel):
    workspace_id: str | None = field(
        None,
        title="Workspace",
        description="The workspace id that has the channel",
        lookup=lookup("list_workspaces_ddl", legacy=True),
    )
    channel: str = field(
        title="Channel",
        description="The ID of the channel where the message will be sent",
        lookup=lookup(
            "list_channels_ddl",
            {"include_private_channels": False, "workspace_id": "{{{workspace_id}}}"},
        ),
    )
    text: str = field(title="Message", min_length=1, format="text")
    description: str | None = field(
        None, title="Description", description="Shown in notifications", advanced=True
    )
    priority: Priority = field(
        Priority.normal, title="Priority", enum_labels=["Low", "Normal", "High"]
    )
    parse: Literal["none", "full"] = field(
        "none", title="Parse mode", enum_labels=["None", "Full"], advanced=True
    )
    as_user: bool | None = field(None, title="As user", alias="asUser", advanced=True)
    unfurl_limit: int = field(5, title="Unfurl limit", ge=0, le=10)
    post_at: str | None = field(None, title="Post at", format="datetime")
    thread: Thread | None = field(None, title="Thread", description="Reply in a thread")
    blocks: list[Block] = field(default_factory=list, title="Blocks", max_length=50)


SEND_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "workspace_id": {
            "type": "string",
            "title": "Workspace",
            "description": "The workspace id that has the channel",
            "lookup": {"message": "list_workspaces_ddl", "input": {}},
        },
        "channel": {
            "type": "string",
            "title": "Channel",
            "description": "The ID of the channel where the message will be sent",
            "lookup": {
                "operation": "list_channels_ddl",
                "input": {"include_private_channels": False, "workspace_id": "{{{workspace_id}}}"},
            },
        },
        "text": {"type": "string", "title": "Message", "format": "text", "minLength": 1},
        "description": {
            "type": "string",
            "title": "Description",
            "description": "Shown in notifications",
        },
        "priority": {
            "type": "string",
            "title": "Priority",
            "enum": ["low", "normal", "high"],
            "enumLabels": ["Low", "Normal", "High"],
            "default": "normal",
        },
        "parse": {
            "type": "string",
            "title": "Parse mode",
            "enum": ["none", "full"],
            "enumLabels": ["None", "Full"],
            "default": "none",
        },
        "asUser": {"type": "boolean", "title": "As user"},
        "unfurl_limit": {
            "type": "integer",
            "title": "Unfurl limit",
            "default": 5,
            "minimum": 0,
            "maximum": 10,
        },
        "post_at": {"type": "string", "title": "Post at", "format": "datetime"},
        "thread": {
            "type": "object",
            "title": "Thread",
            "description": "Reply in a thread",
            "properties": {
                "ts": {"type": "string", "title": "Thread timestamp", "pattern": r"^\d+\.\d+$"},
                "broadcast": {"type": "boolean", "title": "Reply broadcast", "default": False},
            },
            "required": ["ts"],
            "additionalProperties": False,
            "advanced": ["broadcast"],
        },
        "blocks": {
            "type": "array",
            "title": "Blocks",
            "maxItems": 50,
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "title": "Type", "enum": ["section", "divider"]},
                    "text": {"type": "string", "title": "Text", "maxLength": 3000},
                },
                "required": ["type"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["channel", "text"],
    "additionalProperties": False,
    "advanced": ["description", "parse", "asUser"],
}


def test_send_message_input_schema_exactly() -> None:
    assert input_schema(SendMessage) == SEND_MESSAGE_SCHEMA


def test_send_message_schema_key_order_is_readable() -> None:
    schema = input_schema(SendMessage)
    assert list(schema) == ["type", "properties", "required", "additionalProperties", "advanced"]
    assert list(schema["properties"]["channel"]) == ["type", "title", "description", "lookup"]
    # lookup input values keep their declared order and templates verbatim
    assert list(schema["properties"]["channel"]["lookup"]) == ["operation", "input"]
    assert list(schema["properties"]["workspace_id"]["lookup"]) == ["message", "input"]


def test_send_message_output_schema() -> None:
    schema = output_schema(SendMessage)
    assert "advanced" not in schema
    assert "additionalProperties" not in schema
    thread = schema["properties"]["thread"]
    assert "advanced" not in thread and "additionalProperties" not in thread
    assert "additionalProperties" not in schema["properties"]["blocks"]["items"]
    assert schema["properties"]["channel"]["lookup"]["operation"] == "list_channels_ddl"
    jsonschema.Draft4Validator.check_schema(schema)


def test_no_pydantic_noise_anywhere() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("$defs", "definitions", "$ref", "anyOf", "const", "prefixItems"):
                assert key not in node, key
            assert "x-patchbay-advanced" not in node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(input_schema(SendMessage))
    walk(output_schema(SendMessage))
    assert "title" not in input_schema(SendMessage)  # the model's class name
    assert "$schema" not in input_schema(SendMessage)


# ---------------------------------------------------------------------------------------
# Generation rules, one at a time
# ---------------------------------------------------------------------------------------


class Nested(BaseModel):
    """A nested object."""

    value: int


class Rules(BaseModel):
    required_nullable: int | None = field(title="Required nullable")
    nullable_with_default: str | None = field("x", title="Nullable with default")
    union: str | int = field(title="Union")
    optional_union: str | float | None = field(None, title="Optional union")
    model_union: Nested | str = field(title="Model union")
    single: Literal["only"] = field("only", title="Single")
    nullable_enum: Priority | None = field(title="Nullable enum")
    positive: int = field(title="Positive", gt=0, lt=100)
    ratio: float = field(0.5, title="Ratio", ge=0, le=1)
    pair: tuple[int, str] = field(title="Pair")
    mapping: dict[str, int] = field(default_factory=dict, title="Mapping")
    anything: Any = field(None, title="Anything")
    untitled_field: int = 0
    nested_no_title: Nested | None = None


def test_generation_rules() -> None:
    props = input_schema(Rules)["properties"]
    assert props["required_nullable"] == {"type": ["integer", "null"], "title": "Required nullable"}
    assert props["nullable_with_default"] == {
        "type": ["string", "null"],
        "title": "Nullable with default",
        "default": "x",
    }
    assert props["union"] == {"type": ["string", "integer"], "title": "Union"}
    assert props["optional_union"] == {"type": ["string", "number"], "title": "Optional union"}
    model_union = props["model_union"]
    assert model_union["title"] == "Model union"
    assert model_union["anyOf"] == [
        {
            "type": "object",
            "description": "A nested object.",
            "properties": {"value": {"type": "integer", "title": "Value"}},
            "required": ["value"],
            "additionalProperties": False,
        },
        {"type": "string"},
    ]
    assert props["single"] == {
        "type": "string",
        "title": "Single",
        "enum": ["only"],
        "default": "only",
    }
    assert props["nullable_enum"] == {
        "type": ["string", "null"],
        "title": "Nullable enum",
        "enum": ["low", "normal", "high", None],
    }
    assert props["positive"] == {
        "type": "integer",
        "title": "Positive",
        "exclusiveMaximum": True,
        "exclusiveMinimum": True,
        "minimum": 0,
        "maximum": 100,
    }
    assert props["ratio"] == {
        "type": "number",
        "title": "Ratio",
        "default": 0.5,
        "maximum": 1,
        "minimum": 0,
    }
    assert props["pair"] == {
        "type": "array",
        "title": "Pair",
        "maxItems": 2,
        "minItems": 2,
        "items": [{"type": "integer"}, {"type": "string"}],
        "additionalItems": False,
    }
    assert props["mapping"] == {
        "type": "object",
        "title": "Mapping",
        "additionalProperties": {"type": "integer"},
    }
    assert props["anything"] == {"title": "Anything"}
    assert props["untitled_field"] == {"type": "integer", "title": "Untitled Field", "default": 0}
    assert props["nested_no_title"]["title"] == "Nested No Title"
    assert props["nested_no_title"]["type"] == "object"
    assert input_schema(Rules)["required"] == [
        "required_nullable",
        "union",
        "model_union",
        "nullable_enum",
        "positive",
        "pair",
    ]


def test_required_is_omitted_when_empty_and_advanced_always_present() -> None:
    class AllOptional(BaseModel):
        a: int = 1

    schema = input_schema(AllOptional)
    assert "required" not in schema
    assert schema["advanced"] == []
    assert schema["additionalProperties"] is False


def test_extra_allow_and_forbid() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int

    class Closed(BaseModel):
        model_config = ConfigDict(extra="forbid")
        a: int

    class Holder(BaseModel):
        open: Open
        closed: Closed

    assert "additionalProperties" not in input_schema(Open)
    assert input_schema(Closed)["additionalProperties"] is False
    holder = input_schema(Holder)
    assert "additionalProperties" not in holder["properties"]["open"]
    assert holder["properties"]["closed"]["additionalProperties"] is False
    # output schemas keep what the model says, and never force it
    assert output_schema(Closed)["additionalProperties"] is False
    assert "additionalProperties" not in output_schema(Holder)
    assert SchemaValidator(input_schema(Open)).errors({"a": 1, "b": 2}) == []


def test_aliases_are_the_published_names_also_in_advanced() -> None:
    class Aliased(BaseModel):
        channel_id: str = field(title="Channel", alias="channelId")
        thread_ts: str | None = field(None, title="Thread", alias="threadTs", advanced=True)
        plain_alias: int = Field(0, alias="plainAlias")

    schema = input_schema(Aliased)
    assert list(schema["properties"]) == ["channelId", "threadTs", "plainAlias"]
    assert schema["required"] == ["channelId"]
    assert schema["advanced"] == ["threadTs"]
    assert schema["properties"]["plainAlias"]["title"] == "Plain Alias"


def test_field_extensions() -> None:
    class Extended(BaseModel):
        token: str = field(
            title="Token",
            default_json_path="$.auth.access_token",
            format="code",
            examples=["xoxb-1"],
        )
        when: str = field("", title="When", format="datetime", json_schema_extra={"x-a": 1})
        body: str = field(
            "",
            title="Body",
            format="text",
            json_schema_extra=lambda schema: schema.update({"x-b": 2}),
        )
        items: list[str] = field(default_factory=lambda: ["a"], title="Items", min_length=1)

    props = input_schema(Extended)["properties"]
    assert props["token"] == {
        "type": "string",
        "title": "Token",
        "format": "code",
        "defaultJsonPath": "$.auth.access_token",
        "examples": ["xoxb-1"],
    }
    assert props["when"]["format"] == "datetime" and props["when"]["x-a"] == 1
    assert props["body"]["format"] == "text" and props["body"]["x-b"] == 2
    assert props["items"]["minItems"] == 1
    assert Extended(token="t").items == ["a"]


def test_field_is_a_pydantic_field() -> None:
    class Model(BaseModel):
        n: int = field(3, title="N", ge=0, description="A number")

    assert Model().n == 3
    info = Model.model_fields["n"]
    assert info.title == "N" and info.description == "A number"
    with pytest.raises(ValueError):
        Model(n=-1)


def test_format_overrides_pydantic_format() -> None:
    from datetime import datetime

    class Model(BaseModel):
        at: datetime | None = field(None, title="At", format="datetime")
        strict_at: datetime = field(title="Strict at")

    props = input_schema(Model)["properties"]
    assert props["at"] == {"type": "string", "title": "At", "format": "datetime"}
    assert props["strict_at"]["format"] == "date-time"


def test_defaults_none_and_unserialisable_are_dropped() -> None:
    class Model(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        a: str | None = field(None, title="A")
        b: Any = field(object(), title="B")

    props = input_schema(Model)["properties"]
    assert "default" not in props["a"]
    assert "default" not in props["b"]


def test_recursive_models_are_rejected() -> None:
    class Node(BaseModel):
        children: list[Node] = field(default_factory=list, title="Children")

    Node.model_rebuild()
    with pytest.raises(ValueError, match="recursive"):
        input_schema(Node)


def test_dict_and_none_specs() -> None:
    spec = {"type": "object", "properties": {"a": {"type": "string", "const": "x"}}}
    published = input_schema(spec)
    assert published == spec and published is not spec
    published["properties"]["a"]["type"] = "integer"
    assert spec["properties"]["a"]["type"] == "string"  # a deep copy
    assert output_schema(spec) == spec and output_schema(spec) is not spec
    assert input_schema(None) == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
        "advanced": [],
    }
    input_schema(None)["advanced"].append("x")
    assert input_schema(None)["advanced"] == []
    assert output_schema(None) == {}
    with pytest.raises(TypeError):
        input_schema(int)  # type: ignore[arg-type]


def test_lookup_forms() -> None:
    assert lookup("list_worksheets_ddl", {"spreadsheet_id": "{{spreadsheet_id}}"}) == {
        "operation": "list_worksheets_ddl",
        "input": {"spreadsheet_id": "{{spreadsheet_id}}"},
    }
    assert lookup("list_channels_ddl", {"workspace_id": "{{{workspace_id}}}"}, legacy=True) == {
        "message": "list_channels_ddl",
        "input": {"workspace_id": "{{{workspace_id}}}"},
    }
    assert lookup("x") == {"operation": "x", "input": {}}
    assert sdk_field is field and sdk_lookup is lookup


@pytest.mark.parametrize("model", [SendMessage, Rules, Block, Thread, Nested])
def test_generated_schemas_are_valid_draft04(model: type[BaseModel]) -> None:
    jsonschema.Draft4Validator.check_schema(input_schema(model))
    jsonschema.Draft4Validator.check_schema(output_schema(model))


def test_input_none_schema_is_valid_draft04() -> None:
    jsonschema.Draft4Validator.check_schema(input_schema(None))


# ---------------------------------------------------------------------------------------
# Validation against the published Slack-like schema
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def send_message() -> SchemaValidator:
    return SchemaValidator(input_schema(SendMessage))


VALID_SEND_MESSAGE = {
    "workspace_id": "T1",
    "channel": "C1",
    "text": "hello",
    "priority": "high",
    "asUser": True,
    "unfurl_limit": 10,
    "post_at": "tomorrow at noon",  # Tray's "datetime" format is a UI hint
    "thread": {"ts": "1.2", "broadcast": True},
    "blocks": [{"type": "section", "text": "hi"}, {"type": "divider"}],
}


def test_valid_input_gives_no_errors(send_message: SchemaValidator) -> None:
    assert send_message.errors(VALID_SEND_MESSAGE) == []
    assert send_message.errors({"channel": "C1", "text": "x"}) == []
    assert send_message.is_valid(VALID_SEND_MESSAGE)
    SendMessage.model_validate(VALID_SEND_MESSAGE)  # and the model agrees


def test_missing_required_key(send_message: SchemaValidator) -> None:
    assert send_message.errors({"text": "x"}) == ["#: required key [channel] not found"]
    message = validation_message(send_message.errors({"text": "x"}))
    assert message == (
        "Connector input validation failed. Schema validation errors:\n"
        "[ 1 - #: required key [channel] not found ]"
    )


def test_many_errors_in_a_stable_order(send_message: SchemaValidator) -> None:
    data = {
        "unfurl_limit": 11,
        "foo": 1,
        "text": "",
        "bar": 2,
        "priority": "urgent",
        "thread": {"broadcast": "yes", "extra": 1},
        "blocks": [{"type": "section"}, {"type": "header", "text": 5}],
    }
    expected = [
        "#: required key [channel] not found",
        "#: extraneous key [foo] is not permitted",
        "#: extraneous key [bar] is not permitted",
        "#/text: expected minLength: 1, actual: 0",
        "#/priority: [urgent] is not a valid enum value",
        "#/unfurl_limit: 11 is not less or equal to 10",
        "#/thread: required key [ts] not found",
        "#/thread: extraneous key [extra] is not permitted",
        "#/thread/broadcast: expected type: Boolean, found: String",
        "#/blocks/1/type: [header] is not a valid enum value",
        "#/blocks/1/text: expected type: String, found: Integer",
    ]
    assert send_message.errors(data) == expected
    assert send_message.errors(copy.deepcopy(data)) == expected  # repeatable


def test_null_for_a_non_nullable_field(send_message: SchemaValidator) -> None:
    assert send_message.errors({"channel": None, "text": "x", "description": None}) == [
        "#/channel: expected type: String, found: Null",
        "#/description: expected type: String, found: Null",
    ]


def test_top_level_must_be_an_object(send_message: SchemaValidator) -> None:
    assert send_message.errors([]) == ["#: expected type: JSONObject, found: JSONArray"]
    assert send_message.errors("x") == ["#: expected type: JSONObject, found: String"]
    assert send_message.errors(None) == ["#: expected type: JSONObject, found: Null"]
    # even when the schema does not say so: connector input is always an object
    assert SchemaValidator({}).errors(3) == ["#: expected type: JSONObject, found: Integer"]
    assert SchemaValidator({}).errors({"anything": 1}) == []


def test_validation_message_with_three_errors() -> None:
    errors = [
        "#: required key [channel] not found",
        "#/count: expected type: Integer, found: String",
        "#: extraneous key [foo] is not permitted",
    ]
    assert validation_message(errors) == (
        "Connector input validation failed. Schema validation errors:\n"
        "[ 1 - #: required key [channel] not found, "
        "2 - #/count: expected type: Integer, found: String, "
        "3 - #: extraneous key [foo] is not permitted ]"
    )


# ---------------------------------------------------------------------------------------
# Every message form, on small hand-written schemas
# ---------------------------------------------------------------------------------------


def _errors(prop: dict[str, Any], value: Any, name: str = "x") -> list[str]:
    return SchemaValidator({"type": "object", "properties": {name: prop}}).errors({name: value})


@pytest.mark.parametrize(
    ("prop", "value", "message"),
    [
        ({"type": "integer"}, "3", "#/x: expected type: Integer, found: String"),
        ({"type": "integer"}, 1.5, "#/x: expected type: Integer, found: Number"),
        ({"type": "integer"}, True, "#/x: expected type: Integer, found: Boolean"),
        ({"type": "number"}, "1", "#/x: expected type: Number, found: String"),
        ({"type": "string"}, None, "#/x: expected type: String, found: Null"),
        ({"type": "string"}, {}, "#/x: expected type: String, found: JSONObject"),
        ({"type": "boolean"}, [], "#/x: expected type: Boolean, found: JSONArray"),
        ({"type": "object"}, 1, "#/x: expected type: JSONObject, found: Integer"),
        ({"type": "array"}, "a", "#/x: expected type: JSONArray, found: String"),
        ({"type": "null"}, 0, "#/x: expected type: Null, found: Integer"),
        (
            {"type": ["string", "null"]},
            1,
            "#/x: expected type is one of String, Null, found: Integer",
        ),
        ({"enum": ["a", "b"]}, "x", "#/x: [x] is not a valid enum value"),
        ({"enum": [1, 2]}, 3, "#/x: [3] is not a valid enum value"),
        ({"type": "string", "minLength": 1}, "", "#/x: expected minLength: 1, actual: 0"),
        ({"type": "string", "maxLength": 5}, "abcdefg", "#/x: expected maxLength: 5, actual: 7"),
        ({"type": "integer", "maximum": 10}, 11, "#/x: 11 is not less or equal to 10"),
        ({"type": "integer", "minimum": 0}, -1, "#/x: -1 is not greater or equal to 0"),
        (
            {"type": "integer", "maximum": 10, "exclusiveMaximum": True},
            10,
            "#/x: 10 is not less than 10",
        ),
        (
            {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
            0,
            "#/x: 0 is not greater than 0",
        ),
        ({"type": "number", "minimum": 0.5}, 0.25, "#/x: 0.25 is not greater or equal to 0.5"),
        (
            {"type": "string", "pattern": "^x$"},
            "abc",
            "#/x: string [abc] does not match pattern ^x$",
        ),
        (
            {"type": "array", "minItems": 1},
            [],
            "#/x: expected minimum item count: 1, found: 0",
        ),
        (
            {"type": "array", "maxItems": 2},
            [1, 2, 3],
            "#/x: expected maximum item count: 2, found: 3",
        ),
        ({"type": "array", "uniqueItems": True}, [1, 1], "#/x: array items are not unique"),
        ({"type": "integer", "multipleOf": 5}, 7, "#/x: 7 is not a multiple of 5"),
        ({"type": "object", "minProperties": 2}, {"a": 1}, "#/x: minimum size: [2], found: [1]"),
        (
            {"type": "object", "maxProperties": 1},
            {"a": 1, "b": 2},
            "#/x: maximum size: [1], found: [2]",
        ),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            1.5,
            "#/x: no subschema matched out of the total 2 subschemas",
        ),
        (
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            None,
            "#/x: no subschema matched out of the total 2 subschemas",
        ),
        (
            {"oneOf": [{"type": "integer"}, {"type": "number"}]},
            3,
            "#/x: 2 subschemas matched instead of one",
        ),
        (
            {"type": "string", "format": "email"},
            "nope",
            "#/x: [nope] is not a valid email address",
        ),
        (
            {"type": "string", "format": "uri"},
            "not a uri",
            "#/x: [not a uri] is not a valid URI",
        ),
        (
            {"type": "string", "format": "date-time"},
            "2024-13-01T00:00:00Z",
            "#/x: [2024-13-01T00:00:00Z] is not a valid date-time. "
            "Expected [yyyy-MM-dd'T'HH:mm:ssZ, yyyy-MM-dd'T'HH:mm:ss.[0-9]{1,9}Z]",
        ),
    ],
)
def test_message_forms(prop: dict[str, Any], value: Any, message: str) -> None:
    assert _errors(prop, value) == [message]


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("email", "someone@example.com"),
        ("email", "first.last+tag@mail.example.co.uk"),
        ("uri", "https://example.com/a?b=c#d"),
        ("uri", "mailto:someone@example.com"),
        ("date-time", "2024-01-31T10:20:30Z"),
        ("date-time", "2024-01-31T10:20:30.123456+01:00"),
    ],
)
def test_valid_formats(fmt: str, value: str) -> None:
    assert _errors({"type": "string", "format": fmt}, value) == []


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        ("email", "a@b"),
        ("email", "a b@example.com"),
        ("uri", "/relative/path"),
        ("date-time", "2024-01-31"),
        ("date-time", "2024-01-31T10:20:30"),  # no offset
        ("date-time", "2024-02-30T10:20:30Z"),
    ],
)
def test_invalid_formats(fmt: str, value: str) -> None:
    assert len(_errors({"type": "string", "format": fmt}, value)) == 1


@pytest.mark.parametrize("fmt", ["datetime", "text", "code", "hostname", "ipv4", "anything"])
def test_tray_and_unknown_formats_are_not_validated(fmt: str) -> None:
    assert _errors({"type": "string", "format": fmt}, "definitely not valid !!") == []


def test_formats_only_apply_to_strings() -> None:
    assert _errors({"format": "email"}, 5) == []


def test_nested_paths_use_json_pointers() -> None:
    schema = {
        "type": "object",
        "properties": {
            "message": {
                "type": "object",
                "properties": {
                    "blocks": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"type": {"type": "string"}},
                            "required": ["type"],
                        },
                    }
                },
            },
            "a/b~c": {"type": "string"},
        },
    }
    validator = SchemaValidator(schema)
    assert validator.errors({"message": {"blocks": [{"type": 1}, {}]}, "a/b~c": 1}) == [
        "#/message/blocks/0/type: expected type: String, found: Integer",
        "#/message/blocks/1: required key [type] not found",
        "#/a~1b~0c: expected type: String, found: Integer",
    ]


def test_a_wrong_type_gets_no_further_complaints() -> None:
    prop = {"type": "string", "enum": ["a"], "minLength": 3}
    assert _errors(prop, 5) == ["#/x: expected type: String, found: Integer"]
    assert _errors(prop, "b") == [
        "#/x: [b] is not a valid enum value",
        "#/x: expected minLength: 3, actual: 1",
    ]


def test_additional_properties_schema_and_pattern_properties() -> None:
    validator = SchemaValidator(
        {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "patternProperties": {"^x-": {"type": "integer"}},
            "additionalProperties": {"type": "boolean"},
        }
    )
    assert validator.errors({"a": "s", "x-n": 1, "flag": True}) == []
    assert validator.errors({"x-n": "1", "flag": 1}) == [
        "#/flag: expected type: Boolean, found: Integer",
        "#/x-n: expected type: Integer, found: String",
    ]
    closed = SchemaValidator(
        {"type": "object", "patternProperties": {"^x-": {}}, "additionalProperties": False}
    )
    assert closed.errors({"x-ok": 1, "nope": 2}) == ["#: extraneous key [nope] is not permitted"]


def test_tray_keywords_are_ignored_and_legacy_forms_understood() -> None:
    schema = {
        "type": "object",
        "properties": {
            "channel": {
                "type": "string",
                "lookup": {"message": "list_channels_ddl", "input": {"w": "{{{w}}}"}},
            },
            "legacy_enum": {
                "type": "string",
                "enum": [{"text": "First", "value": "a"}, {"text": "Second", "value": "b"}],
            },
            "labelled": {"type": "string", "enum": ["a"], "enumLabels": ["A"]},
            "const": {"const": "fixed"},
            "bounded": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        },
        "advanced": ["channel"],
        "additionalProperties": False,
    }
    validator = SchemaValidator(schema)
    assert validator.errors({"channel": "C", "legacy_enum": "b", "labelled": "a"}) == []
    assert validator.errors({"const": "fixed", "bounded": 5}) == []
    assert validator.errors({"legacy_enum": "c", "const": "other", "bounded": 10}) == [
        "#/legacy_enum: [c] is not a valid enum value",
        "#/const: [other] is not a valid enum value",
        "#/bounded: 10 is not less than 10",
    ]
    assert schema["properties"]["const"] == {"const": "fixed"}  # the schema is not modified


def test_unknown_keywords_fall_back_to_jsonschema_messages() -> None:
    messages = _errors(
        {"type": "array", "items": [{"type": "integer"}], "additionalItems": False}, [1, 2]
    )
    assert len(messages) == 1 and messages[0].startswith("#/x: ")


def test_published_schema_agrees_with_the_model_on_common_mistakes(
    send_message: SchemaValidator,
) -> None:
    from pydantic import ValidationError as PydanticValidationError

    for bad in (
        {"channel": "C", "text": ""},
        {"channel": "C", "text": "x", "unfurl_limit": -1},
        {"channel": "C", "text": "x", "parse": "partial"},
        {"channel": "C", "text": "x", "thread": {}},
        {"channel": "C", "text": "x", "blocks": [{"type": "image"}]},
    ):
        assert send_message.errors(bad), bad
        with pytest.raises(PydanticValidationError):
            SendMessage.model_validate(bad)


def test_validator_compiles_once_and_is_reusable() -> None:
    validator = SchemaValidator(input_schema(SendMessage))
    for _ in range(200):
        assert validator.errors(VALID_SEND_MESSAGE) == []
        assert validator.errors({"text": "x"}) == ["#: required key [channel] not found"]


# ---------------------------------------------------------------------------------------
# The fast path agrees with jsonschema
# ---------------------------------------------------------------------------------------

POOL: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    10,
    11,
    1.0,
    1.5,
    "",
    "x",
    "1.2",
    "section",
    "header",
    "low",
    "urgent",
    "someone@example.com",
    "2024-01-31T10:20:30Z",
    [],
    [1, 1],
    [{}],
    [{"type": "section"}, {"type": "divider", "text": None}],
    {},
    {"ts": "1.2"},
    {"ts": "x", "broadcast": 1},
    {"a": 1},
]

EXTRA_SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {
            "e": {"enum": [1, True, "a", None, [1], {"k": False}]},
            "u": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]},
            "o": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 1}]},
            "a": {"allOf": [{"type": "string"}, {"pattern": "^x"}], "not": {"enum": ["xy"]}},
            "t": {"type": "array", "items": [{"type": "integer"}], "additionalItems": False},
            "m": {"type": "object", "minProperties": 1, "maxProperties": 1},
            "f": {"type": "string", "format": "email"},
        },
        "patternProperties": {"^x-": {"type": "integer"}},
        "additionalProperties": {"type": ["boolean", "null"]},
    },
    {
        "type": "object",
        "properties": {
            "n": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 10},
            "l": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
        },
        "required": ["n"],
        "additionalProperties": False,
    },
]


def _instances(base: dict[str, Any], keys: list[str], seed: int) -> list[Any]:
    rng = random.Random(seed)
    out: list[Any] = [base, {}, [], None, "x"]
    for _ in range(400):
        instance = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            key = rng.choice([*keys, "extra", "x-n"])
            if rng.random() < 0.2:
                instance.pop(key, None)
            else:
                instance[key] = copy.deepcopy(rng.choice(POOL))
        out.append(instance)
    return out


@pytest.mark.parametrize("index", range(len(EXTRA_SCHEMAS) + 1))
def test_fast_path_agrees_with_jsonschema(index: int) -> None:
    if index == 0:
        schema = input_schema(SendMessage)
        base: dict[str, Any] = VALID_SEND_MESSAGE
    else:
        schema = EXTRA_SCHEMAS[index - 1]
        base = {}
    validator = SchemaValidator(schema)
    assert validator._fast is not None  # these schemas take the fast path
    for instance in _instances(base, list(schema["properties"]), seed=index):
        slow = validator._validator.is_valid(instance)
        assert validator.is_valid(instance) == slow, instance
        assert (validator.errors(instance) == []) == slow, instance


def test_schemas_with_other_keywords_fall_back_to_jsonschema() -> None:
    validator = SchemaValidator(
        {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 2}}}
    )
    assert validator._fast is None
    assert validator.is_valid({"n": 4}) and not validator.is_valid({"n": 3})
    assert validator.errors({"n": 3}) == ["#/n: 3 is not a multiple of 2"]
    with_ref = SchemaValidator(
        {
            "type": "object",
            "definitions": {"id": {"type": "string"}},
            "properties": {"id": {"$ref": "#/definitions/id"}},
        }
    )
    assert with_ref._fast is None
    assert with_ref.errors({"id": 1}) == ["#/id: expected type: String, found: Integer"]
