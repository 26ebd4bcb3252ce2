"""Data mapping over stored payload references: a reference is handed on whole, a path
going into it (or a string interpolating it) asks for its value (PayloadNeeded) and then
reads through the value given in ``Scope.payloads``."""

from __future__ import annotations

import pytest

from patchbay.engine.mapping import (
    PayloadNeeded,
    ReferenceUnresolved,
    Scope,
    interpolate,
    resolve_path,
    resolve_value,
)
from patchbay.payload_refs import encoding_for, has_refs, make_ref, replace_refs

REF = make_ref("p-1", 123, "application/json", "json")
VALUE = {"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}


def scope(loaded=None) -> Scope:
    return Scope(steps={"trigger": {"body": REF}}, payloads=loaded or {})


def test_a_reference_is_handed_on_whole_without_reading_it():
    assert resolve_path("$.steps.trigger.body", scope()) is REF
    assert resolve_value({"type": "jsonpath", "value": "$.steps.trigger"}, scope()) == {"body": REF}


@pytest.mark.parametrize("path", ["$.steps.trigger.body.items", "$.steps.trigger.body.items[*].id"])
def test_a_path_into_a_reference_asks_for_it(path):
    with pytest.raises(PayloadNeeded) as need:
        resolve_path(path, scope())
    assert need.value.ref is REF


def test_with_the_value_read_paths_go_through_it():
    s = scope({"p-1": VALUE})
    assert resolve_path("$.steps.trigger.body.items[1].name", s) == "b"
    assert resolve_path("$.steps.trigger.body.items[*].id", s) == [1, 2]
    assert resolve_path("$.steps.trigger.*.items[0].id", s) == [1]
    with pytest.raises(ReferenceUnresolved):
        resolve_path("$.steps.trigger.body.nothing", s)


def test_interpolation_renders_the_value_not_the_reference():
    with pytest.raises(PayloadNeeded):
        interpolate("got {$.steps.trigger.body}", scope())
    text = interpolate("got {$.steps.trigger.body}", scope({"p-1": "plain text"}))
    assert text == "got plain text"


def test_loop_scopes_share_the_values_read():
    s = scope({"p-1": VALUE})
    child = s.with_loop("loop-1", REF, 0)
    assert resolve_path("$.steps.loop-1.value.items[0].id", child) == 1


async def test_replace_refs_reads_each_reference_and_copies_only_what_holds_one():
    plain = {"a": [1, 2]}
    data = {"plain": plain, "deep": [{"x": REF}]}

    async def load(ref):
        return VALUE

    out = await replace_refs(data, load)
    assert out == {"plain": plain, "deep": [{"x": VALUE}]}
    assert out["plain"] is plain and data["deep"][0]["x"] is REF
    assert has_refs(data) and not has_refs(plain)


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("application/json; charset=utf-8", "json"),
        ("application/vnd.api+json", "json"),
        ("text/csv", "text"),
        ("application/x-www-form-urlencoded", "text"),
        ("application/atom+xml", "text"),
        ("", "text"),
        ("image/png", "binary"),
        ("application/octet-stream", "binary"),
    ],
)
def test_encoding_by_content_type(content_type, encoding):
    assert encoding_for(content_type) == encoding
