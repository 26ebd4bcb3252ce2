"""Data mapping: references, interpolation, typed property values and the step names they
refer to, as Tray writes them in workflow exports."""

from __future__ import annotations

import datetime
import pickle
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from patchbay.engine.mapping import (
    InvalidReference,
    InvalidValue,
    ReferenceUnresolved,
    Scope,
    interpolate,
    parse_path,
    references,
    render_text,
    resolve_path,
    resolve_value,
)


@pytest.fixture
def scope() -> Scope:
    return Scope(
        steps={
            "trigger": {"body": {"x": 1, "name": "Ada", "tags": ["a", "b"], "nil": None}},
            "boolean-condition-1": {"result": True},
            "text-helpers-1": {
                "result": ["alpha", "beta", "gamma"],
                "a.b": {"c d": "dotted", "it's": "quoted"},
                "n": 3.0,
                "m": 2.5,
                "items": [
                    {"id": 1, "tags": ["x"]},
                    {"id": 2, "tags": ["y", "z"]},
                    {"noid": True, "tags": []},
                ],
                "by_id": {"7": "seven", "0": "zero"},
            },
            "loop-1": {"iterations": 2, "value": None, "index": 1},
        },
        config={"base_url": "https://api.example.com", "limit": 50, "nested": {"k": [10, 20]}},
        env={"public_url": "https://pb.example.com/w/1", "solution_instance_id": "si-1"},
        auth={"access_token": "tok"},
        errors={"http-client-1": {"message": "boom", "kind": "api_error"}},
    )


# ---- resolve_path ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.steps.trigger.body.x", 1),
        ("$.steps.trigger.body.name", "Ada"),
        ("$.steps.boolean-condition-1.result", True),
        ("$.steps.text-helpers-1.result[0]", "alpha"),
        ("$.steps.text-helpers-1.result[2]", "gamma"),
        ("$.steps.text-helpers-1.result[-1]", "gamma"),
        ("$.steps.text-helpers-1.result[-3]", "alpha"),
        ("$.steps.text-helpers-1.result.1", "beta"),  # dotted digits index a list
        ("$.steps.text-helpers-1['a.b']['c d']", "dotted"),
        ('$.steps.text-helpers-1["a.b"]["c d"]', "dotted"),
        ("$.steps.text-helpers-1['a.b']['it\\'s']", "quoted"),
        ('$.steps.text-helpers-1["a.b"]["it\'s"]', "quoted"),
        ("$.steps.text-helpers-1[ 'a.b' ][ \"c d\" ]", "dotted"),
        ("$.steps.text-helpers-1.items[1].tags[-1]", "z"),
        ("$.steps.text-helpers-1.by_id.7", "seven"),  # dotted digits on a mapping: the key
        ("$.steps.text-helpers-1.by_id[0]", "zero"),  # [n] on a mapping: the key "n"
        ("$.steps['text-helpers-1'].result[0]", "alpha"),
        ("$.config.base_url", "https://api.example.com"),
        ("$.config.nested.k[1]", 20),
        ("$.env.public_url", "https://pb.example.com/w/1"),
        ("$.auth.access_token", "tok"),
        ("$.errors.http-client-1.message", "boom"),
        ("  $.config.limit  ", 50),
    ],
)
def test_resolve_path(scope: Scope, path: str, expected: Any) -> None:
    assert resolve_path(path, scope) == expected


def test_whole_objects_and_roots_are_returned_by_reference(scope: Scope) -> None:
    assert resolve_path("$.steps.trigger", scope) is scope.steps["trigger"]
    assert (
        resolve_path("$.steps.trigger.body.tags", scope) is scope.steps["trigger"]["body"]["tags"]
    )
    assert resolve_path("$.config", scope) is scope.config
    assert resolve_path("$.errors.http-client-1", scope) == {"message": "boom", "kind": "api_error"}
    assert resolve_path("$.errors", scope) is scope.errors
    assert set(resolve_path("$.steps", scope)) == set(scope.steps)


def test_null_is_a_value_but_not_walked_through(scope: Scope) -> None:
    assert resolve_path("$.steps.trigger.body.nil", scope) is None
    with pytest.raises(ReferenceUnresolved):
        resolve_path("$.steps.trigger.body.nil.deeper", scope)


@pytest.mark.parametrize(
    "path",
    [
        "$.steps.x.y",  # no such step
        "$.steps.trigger.body.missing",
        "$.steps.text-helpers-1.result[3]",
        "$.steps.text-helpers-1.result[-4]",
        "$.steps.text-helpers-1.result.x",  # a name on a list
        "$.steps.trigger.body.name[0]",  # strings are not indexable
        "$.steps.trigger.body.x.y",  # through a number
        "$.steps.text-helpers-1['a.b'].c d".replace(" ", ""),  # dotted .c is not 'c d'
        "$.steps.text-helpers-1.result['0']",  # a quoted key does not index a list
        "$.config.nope",
        "$.env.nope",
        "$.auth.refresh_token",
        "$.errors.storage-1",
        "$.errors.http-client-1.status",
    ],
)
def test_unresolved_names_the_path(scope: Scope, path: str) -> None:
    with pytest.raises(ReferenceUnresolved) as info:
        resolve_path(path, scope)
    assert info.value.path == path
    assert str(info.value) == f"Reference: {path} did not resolve to any value"


def test_unresolved_message_is_trays(scope: Scope) -> None:
    with pytest.raises(ReferenceUnresolved, match=r"^Reference: \$\.steps\.x\.y did not resolve"):
        resolve_path("$.steps.x.y", scope)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "must start with '\\$.'"),
        ("steps.x", "must start with '\\$.'"),
        ("$", "needs a root"),
        ("$x", "unexpected character 'x'"),
        ("$.", "expected a name after '.'"),
        ("$.steps.x.", "expected a name after '.'"),
        ("$.steps.x..y", "recursive descent"),
        ("$..x", "recursive descent"),
        ("$.steps.x[", "unterminated '\\['"),
        ("$.steps.x[1", "expected '\\]'"),
        ("$.steps.x[abc]", "must hold an integer"),
        ("$.steps.x[1.5]", "expected '\\]'"),
        ("$.steps.x[-]", "must hold an integer"),
        ("$.steps.x['a]", "unterminated quoted string"),
        ("$.steps.x['a'", "expected '\\]'"),
        ("$.foo.x", "unknown root 'foo'"),
        ("$[0]", "unknown root 0"),
        ("$.steps[0]", "must be followed by a step name"),
        ("$.steps.*", "must be followed by a step name"),
        ("$.steps.x.a b", "unexpected character ' '"),
        ("$.steps.x}", "unexpected character '}'"),
    ],
)
def test_malformed_paths(scope: Scope, path: str, reason: str) -> None:
    with pytest.raises(InvalidReference, match=reason) as info:
        resolve_path(path, scope)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


def test_wildcards_give_lists(scope: Scope) -> None:
    assert resolve_path("$.steps.text-helpers-1.result[*]", scope) == ["alpha", "beta", "gamma"]
    # items where the rest does not resolve are skipped
    assert resolve_path("$.steps.text-helpers-1.items[*].id", scope) == [1, 2]
    assert resolve_path("$.steps.text-helpers-1.items.*.id", scope) == [1, 2]
    # nested wildcards flatten
    assert resolve_path("$.steps.text-helpers-1.items[*].tags[*]", scope) == ["x", "y", "z"]
    assert resolve_path("$.steps.text-helpers-1.items[*].tags[0]", scope) == ["x", "y"]
    # over a mapping's values
    assert sorted(resolve_path("$.steps.text-helpers-1.by_id[*]", scope)) == ["seven", "zero"]
    assert resolve_path("$.steps.text-helpers-1.items[*].nope", scope) == []
    with pytest.raises(ReferenceUnresolved):
        resolve_path("$.steps.trigger.body.name[*]", scope)  # not a container
    with pytest.raises(ReferenceUnresolved):
        resolve_path("$.steps.trigger.nope[*]", scope)


def test_empty_list_wildcard_is_empty() -> None:
    assert resolve_path("$.steps.s.items[*].id", Scope(steps={"s": {"items": []}})) == []


def test_tuples_and_other_mappings_resolve() -> None:
    s = Scope(steps={"s": MappingProxyType({"t": (1, 2, 3)})}, config=MappingProxyType({"a": 1}))
    assert resolve_path("$.steps.s.t[-1]", s) == 3
    assert resolve_path("$.steps.s.t.0", s) == 1
    assert resolve_path("$.config.a", s) == 1


def test_int_keyed_mapping_by_index() -> None:
    assert resolve_path("$.steps.s[2]", Scope(steps={"s": {2: "two"}})) == "two"


def test_parse_path_is_cached_and_describes_the_path() -> None:
    parsed = parse_path("$.steps.loop-1.value['a b'][-2]")
    assert parsed is parse_path("$.steps.loop-1.value['a b'][-2]")
    assert parsed.root == "steps"
    assert parsed.step == "loop-1"
    assert len(parsed.segments) == 3
    assert parse_path("$.config.k").step is None
    assert parse_path("$.errors.http-client-1").step == "http-client-1"


# ---- loop frames -----------------------------------------------------------------------------


def test_loop_frames_shadow_finished_output(scope: Scope) -> None:
    assert resolve_path("$.steps.loop-1.index", scope) == 1  # finished output, no frame
    child = scope.with_loop("loop-1", {"id": "m-1", "tags": ["t"]}, 0)
    assert resolve_path("$.steps.loop-1.value.id", child) == "m-1"
    assert resolve_path("$.steps.loop-1.index", child) == 0
    assert resolve_path("$.steps.loop-1.value.tags[0]", child) == "t"
    # the frame shadows the finished output entirely
    with pytest.raises(ReferenceUnresolved):
        resolve_path("$.steps.loop-1.iterations", child)
    # the parent is unchanged
    assert resolve_path("$.steps.loop-1.index", scope) == 1


def test_nested_loops_and_sharing(scope: Scope) -> None:
    outer = scope.with_loop("loop-1", "a", 0)
    inner = outer.with_loop("loop-2", {"id": 9}, 4)
    assert resolve_path("$.steps.loop-1.value", inner) == "a"
    assert resolve_path("$.steps.loop-2.value.id", inner) == 9
    assert resolve_path("$.steps.loop-2.index", inner) == 4
    assert "loop-2" not in outer.loops
    # mappings are shared, not copied: a step finishing inside the loop is seen by all
    assert inner.steps is scope.steps and inner.config is scope.config
    scope.steps["storage-1"] = {"ok": True}
    assert resolve_path("$.steps.storage-1.ok", inner) is True
    # the item itself is not copied
    item = {"deep": [1]}
    assert resolve_path("$.steps.loop-3.value", scope.with_loop("loop-3", item, 0)) is item


def test_loop_frame_extras_and_frames_in_bare_steps(scope: Scope) -> None:
    child = scope.with_loop("loop-1", 5, 2, key="k")
    assert resolve_path("$.steps.loop-1.key", child) == "k"
    assert resolve_path("$.steps", child)["loop-1"] == {"value": 5, "index": 2, "key": "k"}
    assert "loop-1" in resolve_path("$.steps", child)


def test_scope_defaults_are_empty_and_independent() -> None:
    a, b = Scope(), Scope()
    assert a.steps == {} and a.loops == {}
    assert a.steps is not b.steps
    with pytest.raises(ReferenceUnresolved):
        resolve_path("$.steps.trigger", a)


# ---- interpolate -----------------------------------------------------------------------------


def test_interpolate_tray_examples(scope: Scope) -> None:
    child = scope.with_loop("loop-2", {"id": "m-42"}, 0)
    assert interpolate("/v4/media/{$.steps.loop-2.value.id}/", child) == "/v4/media/m-42/"
    assert (
        interpolate("{$.env.solution_instance_id or:'dev'}_last_modified", scope)
        == "si-1_last_modified"
    )
    assert interpolate("{$.env.missing or:'dev'}_last_modified", scope) == "dev_last_modified"


def test_interpolate_several_refs_and_fallbacks(scope: Scope) -> None:
    text = (
        "{$.config.base_url}/users/{$.steps.trigger.body.name}?limit={$.config.limit}"
        "&a={$.env.nope or:\"x y\"}&b={$.env.nope2 or:''}&c={$.steps.boolean-condition-1.result}"
    )
    assert interpolate(text, scope) == (
        "https://api.example.com/users/Ada?limit=50&a=x y&b=&c=true"
    )


def test_interpolate_fallback_not_used_when_resolved_and_spacing(scope: Scope) -> None:
    assert interpolate("{$.config.limit or:'9'}", scope) == "50"
    assert interpolate("{$.config.limit   or:  '9'  }", scope) == "50"
    assert interpolate("{$.config.nope or:'it\\'s'}", scope) == "it's"
    assert interpolate("{$.config.nope or:'has } brace'}", scope) == "has } brace"
    assert interpolate("{$.config.nope or:\"a 'b' c\"}", scope) == "a 'b' c"


def test_interpolate_rendering(scope: Scope) -> None:
    assert interpolate("[{$.steps.trigger.body.nil}]", scope) == "[]"  # null renders empty
    assert interpolate("{$.steps.text-helpers-1.n}", scope) == "3"  # integral float as JS
    assert interpolate("{$.steps.text-helpers-1.m}", scope) == "2.5"
    assert interpolate("{$.steps.trigger.body.tags}", scope) == '["a","b"]'
    assert interpolate("{$.config.nested}", scope) == '{"k":[10,20]}'
    assert interpolate("{$.steps.boolean-condition-1.result}", scope) == "true"
    assert interpolate("{$.config.limit}{$.config.limit}", scope) == "5050"


def test_render_text() -> None:
    assert render_text(False) == "false"
    assert render_text(0) == "0"
    assert render_text(-2.0) == "-2"
    assert render_text(float("nan")) == "NaN"
    assert render_text(float("-inf")) == "-Infinity"
    assert render_text({"a": None, 1: "x"}) == '{"a":null,"1":"x"}'
    assert render_text(datetime.date(2024, 5, 1)) == "2024-05-01"
    assert render_text(Decimal("1.50")) == "1.50"
    assert render_text({"big": 2**70}) == '{"big":1180591620717411303424}'
    assert render_text("é {raw}") == "é {raw}"


def test_interpolate_leaves_other_braces(scope: Scope) -> None:
    text = 'function() { return {"a": 1}; } {$ not a ref} {$x} {config} $.config.limit'
    assert interpolate(text, scope) is text
    mixed = '{"id": "{$.steps.trigger.body.x}", "n": {}}'
    assert interpolate(mixed, scope) == '{"id": "1", "n": {}}'


def test_interpolate_unresolved_names_the_path(scope: Scope) -> None:
    with pytest.raises(ReferenceUnresolved) as info:
        interpolate("a {$.config.base_url} b {$.steps.storage-9.value} c", scope)
    assert info.value.path == "$.steps.storage-9.value"
    assert str(info.value) == "Reference: $.steps.storage-9.value did not resolve to any value"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x {$.config.a", "expected '}'"),
        ("x {$.config.a b}", "expected '}' to close the reference, found 'b'"),
        ("x {$.config.a or:dev}", "'or:' must be followed by a quoted fallback"),
        ("x {$.config.a or:'dev}", "unterminated quoted string"),
        ("x {$.config.a or:'dev' z}", "expected '}'"),
        ("x {$.nope.a}", "unknown root 'nope'"),
        ("x {$.config..a}", "recursive descent"),
        ("x {$.}", "expected a name after '.'"),
    ],
)
def test_interpolate_malformed(scope: Scope, text: str, reason: str) -> None:
    with pytest.raises(InvalidReference, match=reason):
        interpolate(text, scope)


# ---- resolve_value ---------------------------------------------------------------------------


def test_resolve_value_scalars(scope: Scope) -> None:
    assert resolve_value({"type": "string", "value": "plain"}, scope) == "plain"
    assert resolve_value({"type": "string", "value": "n={$.config.limit}"}, scope) == "n=50"
    assert resolve_value({"type": "number", "value": 1.5}, scope) == 1.5
    assert resolve_value({"type": "integer", "value": 3}, scope) == 3
    assert resolve_value({"type": "boolean", "value": False}, scope) is False
    assert resolve_value({"type": "null", "value": None}, scope) is None
    assert resolve_value({"type": "null"}, scope) is None
    # numbers are not coerced or interpolated
    assert resolve_value({"type": "number", "value": "{$.config.limit}"}, scope) == (
        "{$.config.limit}"
    )


def test_resolve_value_jsonpath_by_reference(scope: Scope) -> None:
    typed = {"type": "jsonpath", "value": "$.steps.trigger.body.tags"}
    assert resolve_value(typed, scope) is scope.steps["trigger"]["body"]["tags"]
    assert resolve_value({"type": "jsonpath", "value": "$.config.limit"}, scope) == 50


@pytest.mark.parametrize(
    ("fallback", "expected"),
    [
        ({"type": "string", "value": "dev"}, "dev"),
        ({"type": "string", "value": "{$.config.limit}-x"}, "50-x"),
        ({"type": "number", "value": 0}, 0),
        ({"type": "integer", "value": -1}, -1),
        ({"type": "boolean", "value": False}, False),
        ({"type": "null", "value": None}, None),
        ({"type": "array", "value": [{"type": "string", "value": "a"}]}, ["a"]),
        ({"type": "object", "value": {"k": {"type": "number", "value": 2}}}, {"k": 2}),
        ({"type": "jsonpath", "value": "$.config.base_url"}, "https://api.example.com"),
    ],
)
def test_jsonpath_fallbacks_of_each_type(scope: Scope, fallback: dict, expected: Any) -> None:
    typed = {"type": "jsonpath", "value": "$.steps.storage-1.value", "fallback": fallback}
    assert resolve_value(typed, scope) == expected
    # not used when the path resolves
    typed_ok = {"type": "jsonpath", "value": "$.steps.trigger.body.name", "fallback": fallback}
    assert resolve_value(typed_ok, scope) == "Ada"


def test_jsonpath_fallback_not_used_for_null(scope: Scope) -> None:
    typed = {
        "type": "jsonpath",
        "value": "$.steps.trigger.body.nil",
        "fallback": {"type": "string", "value": "fb"},
    }
    assert resolve_value(typed, scope) is None


def test_jsonpath_unresolved_without_fallback(scope: Scope) -> None:
    for typed in (
        {"type": "jsonpath", "value": "$.steps.storage-1.value"},
        {"type": "jsonpath", "value": "$.steps.storage-1.value", "fallback": None},
    ):
        with pytest.raises(ReferenceUnresolved) as info:
            resolve_value(typed, scope)
        assert info.value.path == "$.steps.storage-1.value"
    # a fallback that does not resolve either reports the fallback's path
    chained = {
        "type": "jsonpath",
        "value": "$.steps.a.b",
        "fallback": {"type": "jsonpath", "value": "$.steps.c.d"},
    }
    with pytest.raises(ReferenceUnresolved, match=r"\$\.steps\.c\.d"):
        resolve_value(chained, scope)


def test_resolve_value_nested(scope: Scope) -> None:
    typed = {
        "type": "object",
        "value": {
            "url": {"type": "string", "value": "{$.config.base_url}/m/{$.steps.loop-1.value}"},
            "ids": {
                "type": "array",
                "value": [
                    {"type": "jsonpath", "value": "$.steps.text-helpers-1.items[0].id"},
                    {"type": "integer", "value": 7},
                    {
                        "type": "object",
                        "value": {"deep": {"type": "jsonpath", "value": "$.steps.loop-1.index"}},
                    },
                ],
            },
            "none": {"type": "null", "value": None},
        },
    }
    child = scope.with_loop("loop-1", "abc", 3)
    assert resolve_value(typed, child) == {
        "url": "https://api.example.com/m/abc",
        "ids": [1, 7, {"deep": 3}],
        "none": None,
    }


def test_resolve_value_plain_json(scope: Scope) -> None:
    assert resolve_value(5, scope) == 5
    assert resolve_value(None, scope) is None
    assert resolve_value("no refs {here}", scope) == "no refs {here}"
    assert resolve_value("n={$.config.limit}", scope) == "n=50"
    plain = {
        "headers": {"Authorization": "Bearer {$.auth.access_token}"},
        "list": ["{$.steps.trigger.body.x}", 2, {"type": "jsonpath", "value": "$.config.limit"}],
        "shape": {"type": "plain_text", "value": "{$.env.solution_instance_id}"},  # not typed
    }
    assert resolve_value(plain, scope) == {
        "headers": {"Authorization": "Bearer tok"},
        "list": ["1", 2, 50],
        "shape": {"type": "plain_text", "value": "si-1"},
    }


@pytest.mark.parametrize(
    "typed",
    [
        {"type": "jsonpath", "value": 3},
        {"type": "array", "value": {"a": 1}},
        {"type": "object", "value": [1]},
    ],
)
def test_resolve_value_bad_shapes(scope: Scope, typed: dict) -> None:
    with pytest.raises(InvalidValue):
        resolve_value(typed, scope)


def test_resolve_value_malformed_jsonpath(scope: Scope) -> None:
    with pytest.raises(InvalidReference, match="recursive descent"):
        resolve_value({"type": "jsonpath", "value": "$..x"}, scope)


# ---- references ------------------------------------------------------------------------------


def test_references_nested() -> None:
    typed = {
        "type": "object",
        "value": {
            "a": {"type": "jsonpath", "value": "$.steps.trigger.body.x"},
            "b": {
                "type": "array",
                "value": [
                    {"type": "string", "value": "{$.steps.loop-1.value.id}-{$.config.k}"},
                    {
                        "type": "jsonpath",
                        "value": "$.steps.storage-1.value",
                        "fallback": {"type": "jsonpath", "value": "$.steps['text-helpers-2'].x"},
                    },
                    {
                        "type": "object",
                        "value": {
                            "e": {"type": "jsonpath", "value": "$.errors.http-client-1"},
                            "s": {"type": "string", "value": "{$.env.x or:'{$.steps.fake}'}"},
                        },
                    },
                ],
            },
            "c": {"type": "number", "value": 1},
            "d": {"type": "jsonpath", "value": "$.auth.token"},
            "f": {"type": "jsonpath", "value": "$.steps"},
        },
    }
    assert references(typed) == {
        "trigger",
        "loop-1",
        "storage-1",
        "text-helpers-2",
        "http-client-1",
    }


def test_references_plain_and_empty() -> None:
    assert references({"type": "string", "value": "no refs"}) == set()
    assert references(42) == set()
    assert references(
        {"url": "{$.steps.http-client-2.body.next} {$.steps.script-1.result}", "x": [None]}
    ) == {"http-client-2", "script-1"}


def test_references_malformed_raise() -> None:
    with pytest.raises(InvalidReference):
        references({"type": "jsonpath", "value": "$.steps[1]"})
    with pytest.raises(InvalidReference):
        references({"type": "string", "value": "{$.steps.x"})


# ---- misc ------------------------------------------------------------------------------------


def test_errors_pickle() -> None:
    err = pickle.loads(pickle.dumps(ReferenceUnresolved("$.steps.a.b")))
    assert err.path == "$.steps.a.b" and "did not resolve" in str(err)
    bad = pickle.loads(pickle.dumps(InvalidReference("$x", "why")))
    assert (bad.path, bad.reason) == ("$x", "why")


def test_ten_thousand_references_resolve(scope: Scope) -> None:
    items = [{"id": i, "name": f"n{i}"} for i in range(10_000)]
    s = Scope(steps={**scope.steps, "list-1": {"items": items}}, config=scope.config)
    typed = {
        "type": "object",
        "value": {
            "id": {"type": "jsonpath", "value": "$.steps.loop-1.value.id"},
            "url": {"type": "string", "value": "{$.config.base_url}/{$.steps.loop-1.value.name}"},
        },
    }
    total = 0
    last = None
    for index, item in enumerate(resolve_path("$.steps.list-1.items", s)):
        child = s.with_loop("loop-1", item, index)
        total += resolve_path(f"$.steps.list-1.items[{index}].id", child)
        last = resolve_value(typed, child)
    assert total == sum(range(10_000))
    assert last == {"id": 9999, "url": "https://api.example.com/n9999"}
