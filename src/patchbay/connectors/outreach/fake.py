"""A loopback fake of the Outreach API v2 (JSON:API), for tests and demos.

It reproduces the wire format the connector relies on (see ``services.md``): resources live
under ``/api/v2`` (so a connector's base URL is ``<fake>/api/v2``), every request must say
``Content-Type: application/vnd.api+json`` (else 415 ``unsupportedMediaType``), the token
comes as ``Authorization: Bearer`` (else 401), each OAuth scope is checked (403
``unauthorizedOauthScope``), failures are JSON:API error documents ``{"errors": [{"id",
"title", "detail", "source": {"pointer"}}]}``, rate limiting is HTTP 429
``rateLimitExceeded`` with ``Retry-After`` and ``X-RateLimit-*`` headers, and lists page
with opaque ``page[after]`` cursors linked from ``links.next``.

    state = FakeOutreach()
    with serve_in_thread(create_app(state)) as url:
        ...  # base_url = url + "/api/v2", token = state.access_token

Standalone: ``patchbay fake outreach --port 9000``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

JSONDict = dict[str, Any]

JSONAPI = "application/vnd.api+json"
ALL_SCOPES = frozenset({"prospects.read", "prospects.write", "prospects.delete"})
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
HOURLY_LIMIT = 10_000  # requests per user (token) per hour

# The prospect attributes the fake knows, with the value a new prospect starts with.
LIST_ATTRIBUTES = (
    "emails",
    "homePhones",
    "mobilePhones",
    "otherPhones",
    "tags",
    "voipPhones",
    "workPhones",
)
STRING_ATTRIBUTES = (
    "addressCity",
    "addressCountry",
    "addressState",
    "addressStreet",
    "addressZip",
    "company",
    "externalId",
    "externalSource",
    "firstName",
    "lastName",
    "linkedInUrl",
    "middleName",
    "nickname",
    "occupation",
    "personalNote1",
    "personalNote2",
    "timeZone",
    "title",
    "twitterUrl",
    "websiteUrl1",
)
READ_ONLY_ATTRIBUTES = frozenset({"createdAt", "updatedAt", "name", "optedOut", "engagedAt"})
CUSTOM_ATTRIBUTE = re.compile(r"^custom(?:[1-9]|[1-9][0-9]|1[0-4][0-9]|150)$")
SORTABLE = frozenset({"id", "firstName", "lastName", "company", "title", "createdAt", "updatedAt"})
FILTERABLE = frozenset(
    {"id", "emails", "firstName", "lastName", "company", "title", "createdAt", "updatedAt"}
)
RELATIONSHIP_TYPES = {"account": "account", "owner": "user"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OutreachError(Exception):
    """A JSON:API error answer: ``status`` and the items of ``errors``."""

    def __init__(self, status: int, errors: list[JSONDict], headers: dict | None = None):
        super().__init__(errors[0].get("id") if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def error_item(
    id: str,
    title: str,
    detail: str | None = None,
    *,
    pointer: str | None = None,
    parameter: str | None = None,
) -> JSONDict:
    item: JSONDict = {"id": id, "title": title}
    if detail is not None:
        item["detail"] = detail
    if pointer is not None:
        item["source"] = {"pointer": pointer}
    elif parameter is not None:
        item["source"] = {"parameter": parameter}
    return item


def _validation(detail: str, pointer: str) -> JSONDict:
    return error_item("validationError", "Validation Error", detail, pointer=pointer)


def _bad_request(detail: str, parameter: str | None = None, pointer: str | None = None) -> JSONDict:
    return error_item("badRequest", "Bad Request", detail, pointer=pointer, parameter=parameter)


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class Prospect:
    id: int
    attributes: JSONDict
    account_id: int | None = None
    owner_id: int | None = None

    def to_api(self, base: str) -> JSONDict:
        def one(kind: str, id: int | None) -> JSONDict:
            return {"data": None if id is None else {"type": kind, "id": id}}

        first, last = self.attributes.get("firstName"), self.attributes.get("lastName")
        return {
            "type": "prospect",
            "id": self.id,
            "attributes": {
                **self.attributes,
                "name": " ".join(p for p in (first, last) if p) or None,
            },
            "relationships": {
                "account": one("account", self.account_id),
                "owner": one("user", self.owner_id),
                "mailings": {
                    "links": {"related": f"{base}/mailings?filter[prospect][id]={self.id}"}
                },
            },
            "links": {"self": f"{base}/prospects/{self.id}"},
        }


@dataclass
class ReceivedRequest:
    """A request as the fake saw it (for tests to inspect)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


@dataclass
class _Injected:
    remaining: int
    status: int
    errors: list[JSONDict]
    headers: dict[str, str]
    method: str | None
    path: str | None
    skip: int = 0  # matching requests to let through first

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )


@dataclass
class _Window:
    """The hourly request budget of one token."""

    reset: float
    used: int = 0


@dataclass
class Token:
    scopes: frozenset[str] = ALL_SCOPES
    revoked: bool = False


def _default_prospects() -> list[JSONDict]:
    people = [
        ("Sally", "Sparrow", "sally@example.com", "Acme", "VP Sales"),
        ("Amy", "Pond", "amy@example.com", "Acme", "CTO"),
        ("Rory", "Williams", "rory@example.org", "Leadworth Clinic", "Nurse"),
        ("Clara", "Oswald", "clara@example.org", "Coal Hill", "Teacher"),
        ("Martha", "Jones", "martha@example.net", "Royal Hope", "Doctor"),
    ]
    return [
        {"firstName": f, "lastName": la, "emails": [e], "company": c, "title": t}
        for f, la, e, c, t in people
    ]


class FakeOutreach:
    """The fake's whole state, plus knobs for tests.

    Tokens: ``access_token`` (every prospects scope) and ``read_only_token``
    (``prospects.read`` only); add more with :meth:`add_token`, or let
    :attr:`token_validator` judge the others (an OAuth provider's tokens).
    """

    access_token = "outreach-fake-access-token"
    read_only_token = "outreach-fake-read-only-token"

    def __init__(
        self,
        *,
        prospects: Iterable[JSONDict] | None = None,
        tokens: dict[str, Token] | None = None,
        max_log: int = 1000,
    ) -> None:
        self.prospects: dict[int, Prospect] = {}
        self._ids = itertools.count(1)
        self._last_time = datetime(2024, 1, 1, tzinfo=UTC)
        self.tokens: dict[str, Token] = (
            tokens
            if tokens is not None
            else {
                self.access_token: Token(),
                self.read_only_token: Token(frozenset({"prospects.read"})),
            }
        )
        self.requests: deque[ReceivedRequest] = deque(maxlen=max_log)
        # Knobs.
        self.hourly_limit = HOURLY_LIMIT
        self.max_page_size = MAX_PAGE_SIZE
        self.content_type_on_reads = True  # Outreach wants the JSON:API type on every request
        # Tokens not in `tokens` are asked of this callback (e.g. backed by an OAuth
        # provider fake): it answers the Token they stand for, why they are refused
        # ("expired", "revoked", ...) or None (unknown); a refusal is 401 `unauthorized`.
        self.token_validator: Callable[[str], Token | str | None] | None = None
        self._injected: deque[_Injected] = deque()
        self._windows: dict[str, _Window] = {}
        for attributes in _default_prospects() if prospects is None else prospects:
            self.add_prospect(**attributes)

    # -- state helpers --------------------------------------------------------------
    def _now(self) -> datetime:
        """The wall clock, but strictly increasing (so updatedAt orders writes)."""
        now = datetime.now(UTC)
        if now <= self._last_time:
            now = self._last_time + timedelta(milliseconds=1)
        self._last_time = now
        return now

    def add_prospect(
        self, *, account_id: int | None = None, owner_id: int | None = None, **attributes: Any
    ) -> Prospect:
        """Store a prospect as given (no validation); timestamps are filled in."""
        stamp = _timestamp(self._now())
        values: JSONDict = {name: None for name in STRING_ATTRIBUTES}
        values.update({name: [] for name in LIST_ATTRIBUTES})
        values.update({"optedOut": False, "createdAt": stamp, "updatedAt": stamp})
        values.update(attributes)
        prospect = Prospect(next(self._ids), values, account_id, owner_id)
        self.prospects[prospect.id] = prospect
        return prospect

    def add_token(self, token: str, scopes: Iterable[str] = ALL_SCOPES) -> Token:
        info = self.tokens[token] = Token(frozenset(scopes))
        return info

    def revoke(self, token: str) -> None:
        self.tokens[token].revoked = True

    def rate_limit_next(
        self,
        n: int = 1,
        retry_after: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        skip: int = 0,
    ) -> None:
        """Answer the next ``n`` matching requests (after letting ``skip`` of them through)
        with 429 ``rateLimitExceeded``, ``Retry-After`` and ``X-RateLimit-*`` headers."""
        reset = int(time.time()) + retry_after
        self._injected.append(
            _Injected(
                n,
                429,
                [
                    error_item(
                        "rateLimitExceeded",
                        "Rate Limit Exceeded",
                        f"You have exceeded your permitted rate limit of {self.hourly_limit:,}; "
                        f"please try again at {_timestamp(datetime.fromtimestamp(reset, UTC))}.",
                    )
                ],
                {
                    "Retry-After": str(retry_after),
                    "X-RateLimit-Limit": str(self.hourly_limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset),
                },
                method,
                path,
                skip,
            )
        )

    def fail_next(
        self,
        status: int,
        errors: list[JSONDict] | JSONDict,
        *,
        n: int = 1,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        skip: int = 0,
    ) -> None:
        """Answer the next ``n`` matching requests (``method``, a ``path`` prefix such as
        ``/api/v2/prospects``; after letting ``skip`` of them through) with ``status`` and
        these JSON:API error items."""
        items = [errors] if isinstance(errors, dict) else list(errors)
        self._injected.append(_Injected(n, status, items, dict(headers or {}), method, path, skip))

    def requests_to(self, method: str | None = None, path: str | None = None) -> list:
        """The logged requests (most recent last), by method and/or path prefix."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path.startswith(path))
        ]

    # -- the request pipeline -------------------------------------------------------
    def _take_injected(self, method: str, path: str) -> _Injected | None:
        for injected in self._injected:
            if injected.matches(method, path):
                if injected.skip > 0:
                    injected.skip -= 1
                    continue
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._injected.remove(injected)
                return injected
        return None

    def _authenticate(self, authorization: str) -> tuple[str, Token]:
        if authorization[:7].lower() != "bearer " or not authorization[7:].strip():
            raise OutreachError(
                401,
                [error_item("unauthorized", "Unauthorized", "No access token was given.")],
            )
        token = authorization[7:].strip()
        info = self.tokens.get(token)
        if info is None and self.token_validator is not None:
            found = self.token_validator(token)
            if isinstance(found, str):
                raise OutreachError(
                    401,
                    [error_item("unauthorized", "Unauthorized", f"The access token is {found}.")],
                )
            info = found
        if info is None or info.revoked:
            raise OutreachError(
                401,
                [
                    error_item(
                        "unauthorized",
                        "Unauthorized",
                        "The access token is invalid, expired or revoked.",
                    )
                ],
            )
        return token, info

    def _budget(self, token: str) -> dict[str, str]:
        """Count the request against the token's hour; the X-RateLimit-* headers."""
        now = time.time()
        window = self._windows.get(token)
        if window is None or now >= window.reset:
            window = self._windows[token] = _Window(now + 3600)
        window.used += 1
        remaining = max(0, self.hourly_limit - window.used)
        headers = {
            "X-RateLimit-Limit": str(self.hourly_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(window.reset)),
        }
        if window.used > self.hourly_limit:
            wait = max(1, int(window.reset - now))
            reset = _timestamp(datetime.fromtimestamp(window.reset, UTC))
            raise OutreachError(
                429,
                [
                    error_item(
                        "rateLimitExceeded",
                        "Rate Limit Exceeded",
                        f"You have exceeded your permitted rate limit of {self.hourly_limit:,}; "
                        f"please try again at {reset}.",
                    )
                ],
                {**headers, "Retry-After": str(wait)},
            )
        return headers

    @staticmethod
    def _need(token: Token, scope: str) -> None:
        if scope not in token.scopes:
            raise OutreachError(
                403,
                [
                    error_item(
                        "unauthorizedOauthScope",
                        "Unauthorized OAuth Scope",
                        f"Your OAuth token does not have the required scope ({scope}).",
                    )
                ],
            )

    # -- resources ------------------------------------------------------------------
    def list_prospects(self, query: list[tuple[str, str]], url: str, base: str) -> JSONDict:
        filters: dict[str, str] = {}
        sort: list[tuple[str, bool]] = [("id", False)]
        size = DEFAULT_PAGE_SIZE
        after: str | None = None
        count = True
        problems: list[JSONDict] = []
        for key, value in query:
            if key.startswith("filter[") and key.endswith("]"):
                name = key[7:-1]
                if name not in FILTERABLE:
                    problems.append(_bad_request(f"Cannot filter by '{name}'.", key))
                else:
                    filters[name] = value
            elif key == "sort":
                sort = []
                for part in filter(None, value.split(",")):
                    name = part.lstrip("-")
                    if name not in SORTABLE:
                        problems.append(_bad_request(f"Cannot sort by '{name}'.", "sort"))
                    sort.append((name, part.startswith("-")))
            elif key == "page[size]":
                if not value.isdigit() or not 1 <= int(value) <= self.max_page_size:
                    problems.append(
                        _bad_request(f"page[size] must be between 1 and {self.max_page_size}.", key)
                    )
                else:
                    size = int(value)
            elif key == "page[after]":
                after = value
            elif key in ("page[offset]", "page[number]", "page[limit]"):
                problems.append(
                    _bad_request("Offset pagination is not supported; use page[after].", key)
                )
            elif key == "count":
                count = value.lower() != "false"
        if problems:
            raise OutreachError(400, problems)

        matching = [p for p in self.prospects.values() if _matches(p, filters)]
        for name, descending in reversed(sort or [("id", False)]):
            present = [p for p in matching if name == "id" or p.attributes.get(name) is not None]
            absent = [p for p in matching if name != "id" and p.attributes.get(name) is None]
            present.sort(key=lambda p, n=name: _sort_value(p, n), reverse=descending)
            matching = present + absent  # nulls last, either way

        signature = _signature(query)
        offset = 0
        if after is not None:
            offset = _read_cursor(after, signature)
        page = matching[offset : offset + size]
        links: JSONDict = {"first": _link(url, query, None)}
        if offset + size < len(matching):
            cursor = _make_cursor(offset + size, signature)
            links["next"] = _link(url, query, cursor)
        body: JSONDict = {"data": [p.to_api(base) for p in page], "links": links}
        body["meta"] = {"count": len(matching), "count_truncated": False} if count else {}
        return body

    def get_prospect(self, id: str, base: str) -> JSONDict:
        return {"data": self._find(id).to_api(base)}

    def create_prospect(self, document: Any, base: str) -> JSONDict:
        data = _resource(document, None)
        attributes, relationships = self._validated(data, None)
        prospect = self.add_prospect(**attributes, **relationships)
        return {"data": prospect.to_api(base)}

    def update_prospect(self, id: str, document: Any, base: str) -> JSONDict:
        prospect = self._find(id)
        data = _resource(document, prospect.id)
        attributes, relationships = self._validated(data, prospect)
        prospect.attributes.update(attributes)
        for name, value in relationships.items():
            setattr(prospect, name, value)
        prospect.attributes["updatedAt"] = _timestamp(self._now())
        return {"data": prospect.to_api(base)}

    def delete_prospect(self, id: str) -> None:
        prospect = self._find(id)
        del self.prospects[prospect.id]

    def _find(self, id: str) -> Prospect:
        prospect = self.prospects.get(int(id)) if id.isdigit() else None
        if prospect is None:
            raise OutreachError(
                404,
                [
                    error_item(
                        "resourceNotFound",
                        "Resource Not Found",
                        f"Could not find 'prospect' with ID '{id}'.",
                    )
                ],
            )
        return prospect

    def _validated(
        self, data: JSONDict, existing: Prospect | None
    ) -> tuple[JSONDict, dict[str, int | None]]:
        """The attributes and relationships of a write, or 422 with every problem found."""
        problems: list[JSONDict] = []
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise OutreachError(422, [_validation("must be an object", "/data/attributes")])
        clean: JSONDict = {}
        for name, value in attributes.items():
            pointer = f"/data/attributes/{name}"
            if name in READ_ONLY_ATTRIBUTES:
                problems.append(_validation(f"{name} is read-only.", pointer))
            elif name in LIST_ATTRIBUTES:
                if value is None:
                    value = []
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    problems.append(_validation(f"{name} must be a list of strings.", pointer))
                    continue
                clean[name] = value
            elif name in STRING_ATTRIBUTES or CUSTOM_ATTRIBUTE.match(name):
                if value is not None and not isinstance(value, str):
                    problems.append(_validation(f"{name} must be a string.", pointer))
                    continue
                clean[name] = value
            else:
                problems.append(_validation(f"Unknown attribute '{name}'.", pointer))
        for index, email in enumerate(clean.get("emails") or ()):
            pointer = f"/data/attributes/emails/{index}"
            if not _EMAIL.match(email):
                problems.append(_validation(f"Email '{email}' is invalid.", pointer))
                continue
            taken = next(
                (
                    p
                    for p in self.prospects.values()
                    if p is not existing
                    and email.lower() in (e.lower() for e in p.attributes.get("emails") or ())
                ),
                None,
            )
            if taken is not None:
                problems.append(_validation("Contacts email hash has already been taken.", pointer))
        relationships: dict[str, int | None] = {}
        given = data.get("relationships") or {}
        if not isinstance(given, dict):
            given = {}
            problems.append(_validation("must be an object", "/data/relationships"))
        for name, value in given.items():
            pointer = f"/data/relationships/{name}"
            kind = RELATIONSHIP_TYPES.get(name)
            target = value.get("data", ...) if isinstance(value, dict) else ...
            if kind is None:
                problems.append(_validation(f"Unknown relationship '{name}'.", pointer))
            elif target is None:
                relationships[f"{name}_id"] = None
            elif (
                not isinstance(target, dict)
                or target.get("type") != kind
                or not str(target.get("id", "")).isdigit()
            ):
                problems.append(
                    _validation(
                        f"{name} must be {{'data': {{'type': '{kind}', 'id': <id>}}}}.",
                        pointer + "/data",
                    )
                )
            else:
                relationships[f"{name}_id"] = int(target["id"])
        if problems:
            raise OutreachError(422, problems)
        return clean, relationships


def _resource(document: Any, id: int | None) -> JSONDict:
    """The ``data`` of a write document (``id`` must match for an update)."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise OutreachError(
            400, [_bad_request("The document has no 'data' object.", pointer="/data")]
        )
    problems = []
    if data.get("type") != "prospect":
        problems.append(_validation("type must be 'prospect'.", "/data/type"))
    if id is not None and str(data.get("id", "")) != str(id):
        raise OutreachError(
            409,
            [
                error_item(
                    "conflict",
                    "Conflict",
                    f"data.id must be the ID in the URL ({id}).",
                    pointer="/data/id",
                )
            ],
        )
    if problems:
        raise OutreachError(422, problems)
    return data


def _parse_time(value: str) -> datetime | None:
    if value in ("", "inf", "neginf"):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _matches(prospect: Prospect, filters: dict[str, str]) -> bool:
    for name, value in filters.items():
        if name == "id":
            if str(prospect.id) not in value.split(","):
                return False
        elif name in ("createdAt", "updatedAt"):
            start, dots, end = value.partition("..")
            try:
                low, high = _parse_time(start), _parse_time(end if dots else start)
            except ValueError:
                raise OutreachError(
                    400, [_bad_request(f"Invalid range '{value}'.", f"filter[{name}]")]
                ) from None
            when = _parse_time(prospect.attributes[name])
            if (low and when < low) or (high and when > high):
                return False
        elif name == "emails":
            wanted = {v.strip().lower() for v in value.split(",")}
            if not wanted & {e.lower() for e in prospect.attributes.get("emails") or ()}:
                return False
        elif prospect.attributes.get(name) not in value.split(","):
            return False
    return True


def _sort_value(prospect: Prospect, name: str) -> Any:
    if name == "id":
        return prospect.id
    value = prospect.attributes.get(name)
    return value.lower() if isinstance(value, str) else value


def _signature(query: list[tuple[str, str]]) -> str:
    """What a cursor is bound to: the filters and sort it was issued for."""
    kept = sorted((k, v) for k, v in query if k.startswith("filter[") or k == "sort")
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:12]


def _make_cursor(offset: int, signature: str) -> str:
    return base64.urlsafe_b64encode(f"{signature}:{offset}".encode()).decode().rstrip("=")


def _read_cursor(cursor: str, signature: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        bound, _, offset = raw.partition(":")
        if bound == signature and offset.isdigit():
            return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise OutreachError(400, [_bad_request("Invalid page[after] cursor.", "page[after]")])


def _link(url: str, query: list[tuple[str, str]], cursor: str | None) -> str:
    kept = [(k, v) for k, v in query if k != "page[after]"]
    if cursor is not None:
        kept.append(("page[after]", cursor))
    return f"{url}?{urlencode(kept)}" if kept else url


# -- the ASGI app ---------------------------------------------------------------------


class _Api:
    """One endpoint for every path under ``/api/v2``: checks, then dispatch."""

    def __init__(self, state: FakeOutreach) -> None:
        self.state = state

    async def handle(self, request: Request) -> Response:
        state = self.state
        method = request.method
        path = request.url.path
        query = list(request.query_params.multi_items())
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        state.requests.append(ReceivedRequest(method, path, query, dict(request.headers), body))
        headers: dict[str, str] = {}
        try:
            injected = state._take_injected(method, path) if state._injected else None
            if injected is not None:
                raise OutreachError(injected.status, injected.errors, injected.headers)
            token, info = state._authenticate(request.headers.get("authorization", ""))
            headers = state._budget(token)
            if method in ("POST", "PATCH", "PUT") or state.content_type_on_reads:
                content_type = request.headers.get("content-type", "")
                if content_type.split(";")[0].strip().lower() != JSONAPI:
                    raise OutreachError(
                        415,
                        [
                            {
                                "id": "unsupportedMediaType",
                                "title": "Unsupported Media Type",
                                # sic: Outreach documents this one with "details"
                                "details": f"Expected Content-Type header to be '{JSONAPI}'.",
                            }
                        ],
                    )
            if isinstance(body, str):
                raise OutreachError(400, [_bad_request("The body is not valid JSON.")])
            reply, status = self._dispatch(info, method, path, query, body, request)
        except OutreachError as exc:
            reply = {"errors": exc.errors}
            status = exc.status
            headers = {**headers, **exc.headers}
        if reply is None:
            return Response(status_code=status, headers=headers)
        return Response(json.dumps(reply), status_code=status, headers=headers, media_type=JSONAPI)

    def _dispatch(
        self,
        token: Token,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        request: Request,
    ) -> tuple[JSONDict | None, int]:
        state = self.state
        origin = f"{request.url.scheme}://{request.url.netloc}"
        base = f"{origin}/api/v2"
        parts = path.removeprefix("/api/v2").strip("/").split("/")
        if parts[0] != "prospects" or len(parts) > 2:
            raise OutreachError(
                404,
                [error_item("resourceNotFound", "Resource Not Found", f"No route {path}.")],
            )
        if len(parts) == 1:
            if method == "GET":
                state._need(token, "prospects.read")
                return state.list_prospects(query, f"{base}/prospects", base), 200
            if method == "POST":
                state._need(token, "prospects.write")
                return state.create_prospect(body, base), 201
        else:
            id = parts[1]
            if method == "GET":
                state._need(token, "prospects.read")
                return state.get_prospect(id, base), 200
            if method == "PATCH":
                state._need(token, "prospects.write")
                return state.update_prospect(id, body, base), 200
            if method == "DELETE":
                state._need(token, "prospects.delete")
                state.delete_prospect(id)
                return None, 204
        raise OutreachError(
            405, [error_item("methodNotAllowed", "Method Not Allowed", f"{method} {path}")]
        )


def create_app(state: FakeOutreach | None = None) -> Starlette:
    """The fake as an ASGI app; ``app.state.outreach`` is its :class:`FakeOutreach`."""
    outreach = state if state is not None else FakeOutreach()
    endpoint = _Api(outreach).handle
    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    app = Starlette(
        routes=[
            Route("/api/v2", endpoint, methods=methods),
            Route("/api/v2/{rest:path}", endpoint, methods=methods),
        ]
    )
    app.state.outreach = outreach
    return app


__all__ = [
    "FakeOutreach",
    "OutreachError",
    "Prospect",
    "ReceivedRequest",
    "Token",
    "create_app",
    "error_item",
]
