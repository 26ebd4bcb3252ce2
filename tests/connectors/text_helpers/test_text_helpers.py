"""text-helpers 3.0, run through the real SDK path (input validation, handler, output)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchbay.connectors.sdk.runner import InputInvalid
from patchbay.connectors.text_helpers.connector import CONNECTORS
from patchbay.testing.connectors import (
    Call,
    assert_output_valid,
    loop_ticks_during,
    loopback_clients,
    make_call,
)

TEXT = CONNECTORS[0]


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with loopback_clients() as clients:
        yield make_call(TEXT, clients)


async def ok(call: Call, name: str, data: dict[str, Any]) -> Any:
    return assert_output_valid(TEXT, name, await call(name, data))["result"]


async def error(call: Call, name: str, data: dict[str, Any]) -> str:
    result = await call(name, data)
    assert result.outcome == "error", result.output
    assert result.output["kind"] == "connector_error"
    return result.output["message"]


def test_declaration() -> None:
    assert (TEXT.name, TEXT.version, TEXT.requires_auth) == ("text-helpers", "3.0", False)
    assert TEXT.environments == []
    assert uuid.UUID(TEXT.service.id).version == 4
    assert [op.name for op in TEXT.operations] == [
        "split",
        "concatenate",
        "change_case",
        "replace",
        "trim",
        "substring",
        "contains",
        "length",
        "pad",
        "extract_by_regex",
        "encode",
        "decode",
        "split_into_chunks",
        "template",
    ]


def test_split_input_uses_trays_property_names() -> None:
    schema = TEXT.operation("split").input_schema
    assert list(schema["properties"]) == ["text", "split_by"]
    assert schema["required"] == ["text"]


@pytest.mark.parametrize(
    ("text", "split_by", "expected"),
    [
        ("a,b,,c", ",", ["a", "b", "", "c"]),
        ("one -- two", " -- ", ["one", "two"]),
        ("abc", "", ["a", "b", "c"]),
        ("", ",", [""]),
        ("no separator", ";", ["no separator"]),
    ],
)
async def test_split(call: Call, text: str, split_by: str, expected: list[str]) -> None:
    assert await ok(call, "split", {"text": text, "split_by": split_by}) == expected


async def test_split_defaults_to_comma(call: Call) -> None:
    assert await ok(call, "split", {"text": "x,y"}) == ["x", "y"]


async def test_concatenate(call: Call) -> None:
    values = ["a", 1, 2.5, 3.0, True, None, {"k": [1]}]
    result = await ok(call, "concatenate", {"values": values, "separator": "|"})
    assert result == 'a|1|2.5|3|true||{"k":[1]}'
    assert await ok(call, "concatenate", {"values": ["x", "y"]}) == "xy"
    assert await ok(call, "concatenate", {"values": []}) == ""


@pytest.mark.parametrize(
    ("text", "case", "expected"),
    [
        ("Hello World", "upper", "HELLO WORLD"),
        ("Hello World", "lower", "hello world"),
        ("don't STOP me-now", "title", "Don't Stop Me-Now"),
        ("  hELLO World. BYE", "sentence", "  Hello world. bye"),
        ("hello big-world", "camel", "helloBigWorld"),
        ("HTMLParser helloWorld", "camel", "htmlParserHelloWorld"),
        ("HTMLParser helloWorld foo_bar-baz", "snake", "html_parser_hello_world_foo_bar_baz"),
        ("Order ID 42 total", "kebab", "order-id-42-total"),
        ("", "camel", ""),
    ],
)
async def test_change_case(call: Call, text: str, case: str, expected: str) -> None:
    assert await ok(call, "change_case", {"text": text, "case": case}) == expected


async def test_change_case_refuses_unknown_case(call: Call) -> None:
    with pytest.raises(InputInvalid, match=r"\[pascal\] is not a valid enum value"):
        await call("change_case", {"text": "x", "case": "pascal"})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"text": "a.b.c", "find": ".", "replace": "-"}, "a-b-c"),
        ({"text": "a.b.c", "find": ".", "replace": "-", "global": False}, "a-b.c"),
        ({"text": "aAa", "find": "a", "replace": "x", "case_sensitive": False}, "xxx"),
        (
            {"text": "aAa", "find": "A", "replace": "x", "case_sensitive": False, "global": False},
            "xAa",
        ),
        ({"text": "a.b", "find": ".", "replace": "$&!", "case_sensitive": False}, "a$&!b"),
        ({"text": "a1b22", "find": r"\d+", "replace": "#", "regex": True}, "a#b#"),
        (
            {"text": "a1b22", "find": r"\d+", "replace": "#", "regex": True, "global": False},
            "a#b22",
        ),
        (
            {
                "text": "John Smith",
                "find": r"(?<first>\w+) (\w+)",
                "replace": "$2, $<first> ($$5) [$&]",
                "regex": True,
            },
            "Smith, John ($5) [John Smith]",
        ),
        ({"text": "ab", "find": "(a)", "replace": r"\1$10$9", "regex": True}, r"\1a0$9b"),
        (
            {
                "text": "Cat cat",
                "find": "cat",
                "replace": "dog",
                "regex": True,
                "case_sensitive": False,
            },
            "dog dog",
        ),
    ],
)
async def test_replace(call: Call, data: dict[str, Any], expected: str) -> None:
    assert await ok(call, "replace", data) == expected


async def test_replace_with_a_bad_pattern(call: Call) -> None:
    message = await error(call, "replace", {"text": "x", "find": "(", "regex": True})
    assert message.startswith("Invalid regular expression '('")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"text": "  hi \n"}, "hi"),
        ({"text": "  hi  ", "side": "start"}, "hi  "),
        ({"text": "  hi  ", "side": "end"}, "  hi"),
        ({"text": "--hi-x-", "characters": "-x"}, "hi"),
    ],
)
async def test_trim(call: Call, data: dict[str, Any], expected: str) -> None:
    assert await ok(call, "trim", data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"text": "abcdef", "start": 1, "end": 3}, "bc"),
        ({"text": "abcdef", "start": 2}, "cdef"),
        ({"text": "abcdef", "start": -2}, "ef"),
        ({"text": "abcdef", "start": 0, "end": -1}, "abcde"),
        ({"text": "abc", "start": 5}, ""),
    ],
)
async def test_substring(call: Call, data: dict[str, Any], expected: str) -> None:
    assert await ok(call, "substring", data) == expected


async def test_contains(call: Call) -> None:
    assert await ok(call, "contains", {"text": "Hello", "search": "ell"}) is True
    assert await ok(call, "contains", {"text": "Hello", "search": "HELL"}) is False
    data = {"text": "Straße", "search": "STRASSE", "case_sensitive": False}
    assert await ok(call, "contains", data) is True
    assert await ok(call, "contains", {"text": "x", "search": ""}) is True


async def test_length(call: Call) -> None:
    assert await ok(call, "length", {"text": "héllo"}) == 5
    assert await ok(call, "length", {"text": ""}) == 0


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"text": "5", "length": 3, "character": "0"}, "005"),
        ({"text": "5", "length": 3, "character": "0", "side": "end"}, "500"),
        ({"text": "abc", "length": 10, "character": "12"}, "1212121abc"),
        ({"text": "abcd", "length": 2}, "abcd"),
        ({"text": "x", "length": 3}, "  x"),
    ],
)
async def test_pad(call: Call, data: dict[str, Any], expected: str) -> None:
    assert await ok(call, "pad", data) == expected


async def test_pad_refuses_empty_fill_and_huge_lengths(call: Call) -> None:
    with pytest.raises(InputInvalid, match="minLength"):
        await call("pad", {"text": "x", "length": 3, "character": ""})
    with pytest.raises(InputInvalid, match="length"):
        await call("pad", {"text": "x", "length": 10**9})


async def test_extract_by_regex(call: Call) -> None:
    data = {"text": "a1 B22 c333", "pattern": r"(?<letter>[a-z])(\d+)"}
    assert await ok(call, "extract_by_regex", data) == [
        {"match": "a1", "index": 0, "groups": ["a", "1"], "named_groups": {"letter": "a"}},
        {"match": "c333", "index": 7, "groups": ["c", "333"], "named_groups": {"letter": "c"}},
    ]
    matches = await ok(call, "extract_by_regex", {**data, "flags": "gi"})
    assert [m["match"] for m in matches] == ["a1", "B22", "c333"]
    first = await ok(call, "extract_by_regex", {**data, "flags": "i"})
    assert [m["match"] for m in first] == ["a1"]


async def test_extract_by_regex_flags_and_optional_groups(call: Call) -> None:
    text = "one\ntwo"
    starts = await ok(call, "extract_by_regex", {"text": text, "pattern": "^t\\w+", "flags": "gm"})
    assert [m["match"] for m in starts] == ["two"]
    assert await ok(call, "extract_by_regex", {"text": text, "pattern": "^t\\w+"}) == []
    dotall = await ok(call, "extract_by_regex", {"text": text, "pattern": "e.t", "flags": "s"})
    assert dotall[0]["match"] == "e\nt"
    optional = await ok(call, "extract_by_regex", {"text": "ab", "pattern": "a(x)?"})
    assert optional[0]["groups"] == [None]


async def test_extract_by_regex_bad_input(call: Call) -> None:
    assert "Invalid regular expression" in await error(
        call, "extract_by_regex", {"text": "x", "pattern": "[a-"}
    )
    with pytest.raises(InputInvalid, match="does not match pattern"):
        await call("extract_by_regex", {"text": "x", "pattern": "x", "flags": "gq"})


@pytest.mark.parametrize(
    ("encoding", "text", "encoded"),
    [
        ("base64", "héllo wörld?", "aMOpbGxvIHfDtnJsZD8="),
        ("base64url", "héllo wörld?", "aMOpbGxvIHfDtnJsZD8="),
        ("base64", "\xff\xfe>", "w7/Dvj4="),
        ("base64url", "\xff\xfe>", "w7_Dvj4="),
        ("url", "a b&é/?=~*'()", "a%20b%26%C3%A9%2F%3F%3D~*'()"),
        (
            "html",
            "<a href=\"x\">Tom & 'Jerry'</a>",
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#x27;Jerry&#x27;&lt;/a&gt;",
        ),
        ("hex", "Hé", "48c3a9"),
    ],
)
async def test_encode_and_decode_round_trip(
    call: Call, encoding: str, text: str, encoded: str
) -> None:
    assert await ok(call, "encode", {"text": text, "encoding": encoding}) == encoded
    assert await ok(call, "decode", {"text": encoded, "encoding": encoding}) == text


async def test_decode_is_lenient_where_it_is_safe(call: Call) -> None:
    assert await ok(call, "decode", {"text": "YWJj ZA", "encoding": "base64"}) == "abcd"
    assert await ok(call, "decode", {"text": "&eacute;&#233;", "encoding": "html"}) == "éé"
    assert await ok(call, "decode", {"text": "a+b%2B", "encoding": "url"}) == "a+b+"


@pytest.mark.parametrize(
    ("encoding", "text", "message"),
    [
        ("base64", "not base64!", "Not valid base64"),
        ("base64", "/w==", "not UTF-8 text"),
        ("base64url", "a+b/", "Not valid base64url"),
        ("hex", "zz", "Not valid hex"),
        ("hex", "abc", "Not valid hex"),
        ("hex", "ff", "not UTF-8 text"),
        ("url", "100%", "not followed by two hex digits"),
        ("url", "%FF", "not UTF-8 text"),
    ],
)
async def test_decode_refuses_bad_input(call: Call, encoding: str, text: str, message: str) -> None:
    assert message in await error(call, "decode", {"text": text, "encoding": encoding})


async def test_split_into_chunks(call: Call) -> None:
    assert await ok(call, "split_into_chunks", {"text": "abcdefg", "size": 3}) == [
        "abc",
        "def",
        "g",
    ]
    assert await ok(call, "split_into_chunks", {"text": "", "size": 3}) == []
    with pytest.raises(InputInvalid, match="size"):
        await call("split_into_chunks", {"text": "abc", "size": 0})


async def test_template(call: Call) -> None:
    data = {"user": {"name": "Ada", "tags": ["x", "y"]}, "n": 3, "ok": True, "none": None}
    template = "Hi {{ user.name }}! {{user.tags.1}} {{n}} {{ok}} [{{none}}] {{user.tags}}"
    result = await ok(call, "template", {"template": template, "data": data})
    assert result == 'Hi Ada! y 3 true [] ["x","y"]'


async def test_template_missing_values(call: Call) -> None:
    base = {"template": "a{{x.y}}b", "data": {"x": {}}}
    assert await ok(call, "template", base) == "ab"
    assert await ok(call, "template", {**base, "on_missing": "keep"}) == "a{{x.y}}b"
    message = await error(call, "template", {**base, "on_missing": "error"})
    assert "'x.y'" in message


async def test_template_escaping_and_no_code(call: Call) -> None:
    data = {"v": "<b>&</b>", "__class__": "c"}
    template = "{{v}} {{{v}}} {{ v.__class__ }} {{__import__('os')}}"
    escaped = await ok(call, "template", {"template": template, "data": data, "escape_html": True})
    assert escaped == "&lt;b&gt;&amp;&lt;/b&gt; <b>&</b>  "
    plain = await ok(call, "template", {"template": "{{v}}", "data": data})
    assert plain == "<b>&</b>"


async def test_template_bad_key_path(call: Call) -> None:
    message = await error(call, "template", {"template": "{{a..b}}", "data": {}})
    assert "Key path 'a..b'" in message


async def test_unknown_properties_are_refused(call: Call) -> None:
    with pytest.raises(InputInvalid, match="extraneous key"):
        await call("split", {"text": "a", "split_by": ",", "separator": ";"})


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("extract_by_regex", {"pattern": "(a|aa)+$", "flags": "g"}),
        ("extract_by_regex", {"pattern": "(a|aa)+$"}),
        ("replace", {"find": "(a|aa)+$", "replace": "x", "regex": True}),
    ],
)
async def test_a_catastrophic_pattern_is_stopped_after_a_second(call: Call, name, data) -> None:
    """A pattern that backtracks for ever fails the step after the time limit instead of
    holding the server (Python's re could not be interrupted)."""
    message, ticks = await loop_ticks_during(error(call, name, {"text": "a" * 64 + "b", **data}))
    assert "took longer than 1 s" in message
    assert ticks >= 20  # matching ran off the event loop: it went on meanwhile (~100 ticks)
