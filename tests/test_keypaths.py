"""patchbay.keypaths: the one key-path implementation (helpers, data mapper, pagination,
the engine's dotted indexes)."""

from __future__ import annotations

import pytest

from patchbay import keypaths
from patchbay.keypaths import MISSING, KeyPathError


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("", ()),
        ("a.b.0.c", ("a", "b", "0", "c")),
        ("a.b[0].c", ("a", "b", "0", "c")),
        ("a[-1]", ("a", "-1")),
        ("user\\.name", ("user.name",)),
        ("a\\\\b", ("a\\b",)),
        ("a\\[0]", ("a[0]",)),
    ],
)
def test_parse(path: str, segments: tuple[str, ...]) -> None:
    assert keypaths.parse(path) == segments
    assert keypaths.parse(keypaths.join(segments)) == segments


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("a..b", "empty key at position 2"),
        ("a.", "it ends with '.'"),
        ("a[x]", "[x] is not a list index"),
        ("a[0", "'[' without ']'"),
        ("a[0]b", "expected '.' or '[' after ']' at position 4"),
        ("a\\", "it ends with a lone backslash"),
    ],
)
def test_malformed_paths(path: str, reason: str) -> None:
    with pytest.raises(KeyPathError) as info:
        keypaths.parse(path)
    assert info.value.reason == reason
    assert str(info.value) == f"Key path {path!r}: {reason}"


def test_get() -> None:
    data = {"a": [{"b": 1}, {"b": None}], "0": "zero", "t": ("x", "y")}
    assert keypaths.get(data, "a.0.b") == 1
    assert keypaths.get(data, "a[-1].b") is None  # a found null
    assert keypaths.get(data, "a.2.b") is MISSING
    assert keypaths.get(data, "a.2.b", None) is None
    assert keypaths.get(data, "0") == "zero"  # on an object an integer is a key
    assert keypaths.get(data, "t.1") == "y"
    assert keypaths.get(data, ("a", "0", "b")) == 1  # already parsed
    assert keypaths.get("text", "0") is MISSING  # a string is not indexed


def test_set_copy_and_put() -> None:
    data = {"a": [1]}
    assert keypaths.set_copy(data, "a.1", 2) == {"a": [1, 2]}
    assert keypaths.set_copy(data, "b.c", 3) == {"a": [1], "b": {"c": 3}}
    assert data == {"a": [1]}
    with pytest.raises(KeyPathError, match="index 5 is outside a"):
        keypaths.set_copy(data, "a.5", 0)
    target = {"a": 1}
    keypaths.put(target, ("a", "b"), 2)  # every segment an object key, non-objects replaced
    assert target == {"a": {"b": 2}}


def test_delete() -> None:
    data = {"a": [{"b": 1, "c": 2}], "d": 3}
    assert keypaths.delete(data, "a.0.b")
    assert keypaths.delete(data, ("d",))
    assert not keypaths.delete(data, "x.y")
    assert data == {"a": [{"c": 2}]}
    assert keypaths.delete(data, "a[-1]")
    assert data == {"a": []}
    with pytest.raises(KeyPathError):
        keypaths.delete(data, "")
