"""text-helpers operations. Every output is ``{"result": ...}``.

Regular expressions are Python's ``re`` with JavaScript's spellings accepted: named groups
``(?<name>...)`` and, in replacements, ``$1``, ``$<name>``, ``$&`` and ``$$``.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from typing import Any, Literal
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict

from ..object_helpers.paths import MISSING, get_path
from ..sdk import ConnectorError, Context, field, operation, user_regex
from .convert import to_text

MAX_LENGTH = 1_000_000  # pad and chunk outputs stay within this many characters


def _fail(message: str) -> ConnectorError:
    return ConnectorError(message, "connector_error")


# -- models -----------------------------------------------------------------------------
class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TextInput(_Input):
    text: str = field(title="Text", format="text")


class SplitInput(TextInput):
    split_by: str = field(
        ",", title="Split by", description='The separator; "" splits into characters.'
    )


class ConcatenateInput(_Input):
    values: list[Any] = field(
        title="Values",
        description="Texts (numbers, booleans and objects are written as text; null as nothing).",
    )
    separator: str = field("", title="Separator")


class ChangeCaseInput(TextInput):
    case: Literal["upper", "lower", "title", "sentence", "camel", "snake", "kebab"] = field(
        title="Case",
        enum_labels=[
            "UPPER CASE",
            "lower case",
            "Title Case",
            "Sentence case",
            "camelCase",
            "snake_case",
            "kebab-case",
        ],
    )


class ReplaceInput(TextInput):
    find: str = field(title="Find", description="Text, or a pattern when Regex is on.")
    replace: str = field(
        "",
        title="Replace with",
        description="With Regex on, $1, $<name>, $& and $$ insert groups, the match and $.",
    )
    regex: bool = field(False, title="Regex", advanced=True)
    global_: bool = field(True, title="Replace all", alias="global", advanced=True)
    case_sensitive: bool = field(True, title="Case sensitive", advanced=True)


class TrimInput(TextInput):
    side: Literal["both", "start", "end"] = field("both", title="Side")
    characters: str | None = field(
        None, title="Characters", description="Characters to remove; whitespace if empty."
    )


class SubstringInput(TextInput):
    start: int = field(0, title="Start", description="Negative counts from the end.")
    end: int | None = field(
        None, title="End", description="Excluded; negative counts from the end; empty: to the end."
    )


class ContainsInput(TextInput):
    search: str = field(title="Search for")
    case_sensitive: bool = field(True, title="Case sensitive")


class PadInput(TextInput):
    length: int = field(title="Length", ge=0, le=MAX_LENGTH)
    character: str = field(" ", title="Pad with", min_length=1)
    side: Literal["start", "end"] = field("start", title="Side")


class RegexInput(TextInput):
    pattern: str = field(title="Pattern")
    flags: str = field(
        "g",
        title="Flags",
        description="g: every match (else the first only), i: ignore case, m: ^ and $ match "
        "at line breaks, s: . matches line breaks.",
        pattern=r"^[gims]*$",
    )


class CodecInput(TextInput):
    encoding: Literal["base64", "base64url", "url", "html", "hex"] = field(
        title="Encoding",
        enum_labels=["Base64", "Base64 (URL-safe)", "URL component", "HTML entities", "Hex"],
    )


class ChunksInput(TextInput):
    size: int = field(title="Chunk size", ge=1)


class TemplateInput(_Input):
    template: str = field(title="Template", format="text", description="e.g. Hi {{user.name}}!")
    data: dict[str, Any] = field(title="Data", description="Values for the placeholders.")
    on_missing: Literal["empty", "keep", "error"] = field(
        "empty",
        title="When a value is missing",
        enum_labels=["Insert nothing", "Keep the placeholder", "Fail"],
        advanced=True,
    )
    escape_html: bool = field(
        False,
        title="Escape HTML",
        description="Escape values in {{ }} (never in {{{ }}}), as mustache does.",
        advanced=True,
    )


class TextResult(BaseModel):
    result: str = field(title="Result")


class ListResult(BaseModel):
    result: list[str] = field(title="Result")


class BoolResult(BaseModel):
    result: bool = field(title="Result")


class IntResult(BaseModel):
    result: int = field(title="Result")


class RegexMatch(BaseModel):
    match: str = field(title="Match")
    index: int = field(title="Index", description="Where the match starts.")
    groups: list[str | None] = field(title="Groups", description="Numbered groups, from 1.")
    named_groups: dict[str, str | None] = field(title="Named groups")


class MatchesResult(BaseModel):
    result: list[RegexMatch] = field(title="Matches")


# -- helpers ----------------------------------------------------------------------------
_JS_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")
_JS_REPLACEMENT = re.compile(r"\$(\$|&|<([^>]*)>|(\d\d?))")
_FLAGS = {"i": user_regex.IGNORECASE, "m": user_regex.MULTILINE, "s": user_regex.DOTALL}


def _compile(pattern: str, flags: int = 0) -> user_regex.Pattern:
    """A user's pattern (JavaScript named groups accepted), matched with a time limit."""
    try:
        return user_regex.compile(_JS_NAMED_GROUP.sub("(?P<", pattern), flags)
    except user_regex.error as exc:
        raise _fail(f"Invalid regular expression {pattern!r}: {exc}") from exc


def _expand(replacement: str, match: user_regex.Match) -> str:
    """``replacement`` with JavaScript's $-patterns filled from ``match``."""

    def token(m: re.Match[str]) -> str:
        head, name, digits = m.group(1), m.group(2), m.group(3)
        if head == "$":
            return "$"
        if head == "&":
            return match.group(0)
        if name is not None:
            if name in match.re.groupindex:
                return match.group(name) or ""
            return m.group(0)
        number = int(digits)
        if number > match.re.groups and len(digits) == 2:  # "$10" with one group: $1 + "0"
            number, rest = int(digits[0]), digits[1]
        else:
            rest = ""
        if 1 <= number <= match.re.groups:
            return (match.group(number) or "") + rest
        return m.group(0)

    return _JS_REPLACEMENT.sub(token, replacement)


def _words(text: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
    return [word for word in re.split(r"[\W_]+", spaced) if word]


def _capitalize(word: str) -> str:
    return word[:1].upper() + word[1:].lower()


# -- operations -------------------------------------------------------------------------
@operation(
    title="Split",
    description="Split text by a separator into a list.",
    input=SplitInput,
    output=ListResult,
)
async def split(ctx: Context, data: SplitInput) -> dict:
    if data.split_by == "":
        return {"result": list(data.text)}
    return {"result": data.text.split(data.split_by)}


@operation(
    title="Concatenate",
    description="Join values into one text, with a separator between them.",
    input=ConcatenateInput,
    output=TextResult,
)
async def concatenate(ctx: Context, data: ConcatenateInput) -> dict:
    return {"result": data.separator.join(to_text(value) for value in data.values)}


@operation(
    title="Change case",
    description="Upper, lower, title or sentence case, or rewrite the words as camelCase, "
    "snake_case or kebab-case.",
    input=ChangeCaseInput,
    output=TextResult,
)
async def change_case(ctx: Context, data: ChangeCaseInput) -> dict:
    text, case = data.text, data.case
    if case == "upper":
        return {"result": text.upper()}
    if case == "lower":
        return {"result": text.lower()}
    if case == "title":
        return {"result": re.sub(r"[^\W_]+(?:'[^\W_]+)*", lambda m: _capitalize(m[0]), text)}
    if case == "sentence":
        return {"result": re.sub(r"[^\W_]", lambda m: m[0].upper(), text.lower(), count=1)}
    words = _words(text)
    if case == "camel":
        camel = (w.lower() if i == 0 else _capitalize(w) for i, w in enumerate(words))
        return {"result": "".join(camel)}
    return {"result": ("_" if case == "snake" else "-").join(w.lower() for w in words)}


@operation(
    title="Replace",
    description="Replace text (or regular-expression matches) with other text.",
    input=ReplaceInput,
    output=TextResult,
)
async def replace(ctx: Context, data: ReplaceInput) -> dict:
    count = 0 if data.global_ else 1
    if not data.regex and data.case_sensitive:
        return {"result": data.text.replace(data.find, data.replace, -1 if count == 0 else 1)}
    flags = 0 if data.case_sensitive else user_regex.IGNORECASE
    if data.regex:
        pattern = _compile(data.find, flags)
        replaced = await user_regex.bounded(
            pattern.sub, lambda m: _expand(data.replace, m), data.text, count
        )
        return {"result": replaced}
    pattern = re.compile(re.escape(data.find), flags)
    return {"result": pattern.sub(lambda m: data.replace, data.text, count)}


@operation(
    title="Trim",
    description="Remove whitespace (or given characters) from the start and/or end.",
    input=TrimInput,
    output=TextResult,
)
async def trim(ctx: Context, data: TrimInput) -> dict:
    strip = {"both": str.strip, "start": str.lstrip, "end": str.rstrip}[data.side]
    return {"result": strip(data.text, data.characters or None)}


@operation(
    title="Substring",
    description="The characters from start up to (not including) end, like JavaScript's slice.",
    input=SubstringInput,
    output=TextResult,
)
async def substring(ctx: Context, data: SubstringInput) -> dict:
    return {"result": data.text[data.start : data.end]}


@operation(
    title="Contains",
    description="Whether the text contains the search text.",
    input=ContainsInput,
    output=BoolResult,
)
async def contains(ctx: Context, data: ContainsInput) -> dict:
    if data.case_sensitive:
        return {"result": data.search in data.text}
    return {"result": data.search.casefold() in data.text.casefold()}


@operation(
    title="Length",
    description="The number of characters (Unicode code points).",
    input=TextInput,
    output=IntResult,
)
async def length(ctx: Context, data: TextInput) -> dict:
    return {"result": len(data.text)}


@operation(
    title="Pad",
    description="Pad the text at its start or end to a length (longer text is unchanged).",
    input=PadInput,
    output=TextResult,
)
async def pad(ctx: Context, data: PadInput) -> dict:
    missing = data.length - len(data.text)
    if missing <= 0:
        return {"result": data.text}
    fill = (data.character * (missing // len(data.character) + 1))[:missing]
    return {"result": fill + data.text if data.side == "start" else data.text + fill}


@operation(
    title="Extract by regex",
    description="The matches of a regular expression, with their groups.",
    input=RegexInput,
    output=MatchesResult,
)
async def extract_by_regex(ctx: Context, data: RegexInput) -> dict:
    flags = 0
    for letter in set(data.flags) - {"g"}:
        flags |= _FLAGS[letter]
    pattern = _compile(data.pattern, flags)
    if "g" in data.flags:
        found = await user_regex.bounded(pattern.finditer, data.text)
    else:
        found = [await user_regex.bounded(pattern.search, data.text)]
    matches = [
        {
            "match": m.group(0),
            "index": m.start(),
            "groups": list(m.groups()),
            "named_groups": m.groupdict(),
        }
        for m in found
        if m is not None
    ]
    return {"result": matches}


def _decode_bytes(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"The {encoding}-decoded bytes are not UTF-8 text") from exc


@operation(
    title="Encode",
    description="Encode text as Base64, URL-safe Base64, a URL component "
    "(like encodeURIComponent), HTML entities or hex (of its UTF-8 bytes).",
    input=CodecInput,
    output=TextResult,
)
async def encode(ctx: Context, data: CodecInput) -> dict:
    raw = data.text.encode("utf-8")
    result = {
        "base64": lambda: base64.b64encode(raw).decode("ascii"),
        "base64url": lambda: base64.urlsafe_b64encode(raw).decode("ascii"),
        "url": lambda: quote(data.text, safe="!~*'()"),
        "html": lambda: html.escape(data.text),
        "hex": lambda: raw.hex(),
    }[data.encoding]()
    return {"result": result}


@operation(
    title="Decode",
    description="Decode Base64 (padding optional), URL-safe Base64, a URL component, HTML "
    "entities or hex into text. Input that is not valid in the encoding is an error.",
    input=CodecInput,
    output=TextResult,
)
async def decode(ctx: Context, data: CodecInput) -> dict:
    text, encoding = data.text, data.encoding
    if encoding == "html":
        return {"result": html.unescape(text)}
    if encoding == "url":
        if re.search(r"%(?![0-9A-Fa-f]{2})", text):
            raise _fail("Not a valid URL-encoded text: a % is not followed by two hex digits")
        try:
            return {"result": unquote(text, errors="strict")}
        except UnicodeDecodeError as exc:
            raise _fail("The URL-decoded bytes are not UTF-8 text") from exc
    try:
        if encoding == "hex":
            raw = bytes.fromhex(text)
        else:
            compact = re.sub(r"\s+", "", text)
            compact += "=" * (-len(compact) % 4)
            if encoding == "base64url":
                if re.search(r"[+/]", compact):
                    raise ValueError("'+' and '/' are not base64url characters")
                compact = compact.replace("-", "+").replace("_", "/")
            raw = base64.b64decode(compact, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise _fail(f"Not valid {encoding}: {exc}") from exc
    return {"result": _decode_bytes(raw, encoding)}


@operation(
    title="Split into chunks",
    description="Cut the text into pieces of a given number of characters (the last may be "
    "shorter).",
    input=ChunksInput,
    output=ListResult,
)
async def split_into_chunks(ctx: Context, data: ChunksInput) -> dict:
    text, size = data.text, data.size
    return {"result": [text[i : i + size] for i in range(0, len(text), size)]}


_PLACEHOLDER = re.compile(r"\{\{\{\s*([^{}]*?)\s*\}\}\}|\{\{\s*([^{}]*?)\s*\}\}")


@operation(
    title="Template",
    description="Fill {{key.path}} placeholders from an object (no code runs: only values "
    "are looked up).",
    input=TemplateInput,
    output=TextResult,
)
async def template(ctx: Context, data: TemplateInput) -> dict:
    def fill(m: re.Match[str]) -> str:
        raw, path = m.group(1) is not None, m.group(1) if m.group(1) is not None else m.group(2)
        value = get_path(data.data, path)
        if value is MISSING:
            if data.on_missing == "error":
                raise _fail(f"The template refers to {path!r}, which the data does not hold")
            return m.group(0) if data.on_missing == "keep" else ""
        text = to_text(value)
        return html.escape(text) if data.escape_html and not raw else text

    return {"result": _PLACEHOLDER.sub(fill, data.template)}


OPERATIONS = [
    split,
    concatenate,
    change_case,
    replace,
    trim,
    substring,
    contains,
    length,
    pad,
    extract_by_regex,
    encode,
    decode,
    split_into_chunks,
    template,
]
