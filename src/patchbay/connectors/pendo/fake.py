"""A loopback fake of the Pendo API v1, for tests, demos and benchmarks.

It serves the wire format the connector relies on (see ``services.md``): everything lives
under ``/api/v1`` (so an authentication's ``userData.base_url`` is ``<fake>/api/v1``), the
integration key comes in ``X-Pendo-Integration-Key``, bodies are JSON except the CSV report
results, errors are short plain-text bodies (Pendo documents no error format), 429 carries
no ``Retry-After`` and nothing pages.

    state = FakePendo()
    with serve_in_thread(create_app(state)) as url:
        ...  # userData {"base_url": url + "/api/v1"}, credentials
             # {"integration_key": state.integration_key}

Standalone: ``patchbay fake pendo --port 9000``.

Endpoints: ``POST /aggregation`` (a pipeline over the sources ``visitors``, ``accounts``,
``events``, ``pageEvents``, ``featureEvents``, ``guideEvents``), ``GET /account/{id}``,
``GET /visitor/{id}``, ``GET /visitor/{id}/history?starttime=<ms>``, ``GET /report``,
``GET /report/{id}/results.json``, ``GET /report/{id}/results.csv``,
``POST /metadata/{visitor|account}/{agent|custom}/value``,
``PUT /metadata/{visitor|account}/{agent|custom}/value/{id}/{field}`` and
``GET /metadata/schema/{visitor|account}``. Path segments are percent-decoded one by one,
so ``/visitor/team%2Falice`` is the visitor ``team/alice``.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

JSONDict = dict[str, Any]

API_PREFIX = "/api/v1"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# The seeded activity covers the 14 days from 2025-01-01T00:00:00Z.
BASE_DAY = 1_735_689_600_000
SEEDED_DAYS = 14
ANONYMOUS_PREFIX = "_PENDO_T_"

# The metadata fields each (kind, group) accepts, with their types.
METADATA_SCHEMA: dict[str, dict[str, dict[str, str]]] = {
    "visitor": {
        "agent": {"email": "string", "firstname": "string", "lastname": "string", "role": "string"},
        "custom": {"nps_score": "number", "beta_tester": "boolean"},
    },
    "account": {
        "agent": {"name": "string", "plan": "string", "seats": "number"},
        "custom": {"health": "string", "tier": "string"},
    },
}

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_CSV = b"text/csv; charset=utf-8"


class PendoError(Exception):
    """An error answer: a status and a plain-text body, as Pendo gives them."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


# -- the data -------------------------------------------------------------------------------


@dataclass
class Account:
    id: str
    metadata: dict[str, JSONDict]

    def to_api(self) -> JSONDict:
        return {"id": self.id, "metadata": copy.deepcopy(self.metadata)}

    def row(self) -> JSONDict:
        """The account as an aggregation source row."""
        return {"accountId": self.id, "metadata": copy.deepcopy(self.metadata)}


@dataclass
class Visitor:
    id: str
    account_ids: list[str]
    metadata: dict[str, JSONDict]

    def to_api(self) -> JSONDict:
        return {
            "id": self.id,
            "accountIds": list(self.account_ids),
            "metadata": copy.deepcopy(self.metadata),
        }

    def row(self) -> JSONDict:
        return {
            "visitorId": self.id,
            "accountId": self.account_ids[0] if self.account_ids else None,
            "metadata": copy.deepcopy(self.metadata),
        }


@dataclass
class Event:
    visitor_id: str
    account_id: str | None
    type: str  # page | feature | guide | untagged
    browser_time: int
    url: str
    page_id: str | None = None
    feature_id: str | None = None
    guide_id: str | None = None
    minutes: int = 1

    def history_item(self) -> JSONDict:
        """The event as ``/visitor/{id}/history`` shows it."""
        item: JSONDict = {
            "type": self.type,
            "browserTime": self.browser_time,
            "lastTime": self.browser_time + self.minutes * 60_000,
            "url": self.url,
        }
        for key, value in (
            ("pageId", self.page_id),
            ("featureId", self.feature_id),
            ("guideId", self.guide_id),
        ):
            if value is not None:
                item[key] = value
        return item

    def row(self) -> JSONDict:
        """The event as an aggregation event-source row."""
        row: JSONDict = {
            "visitorId": self.visitor_id,
            "accountId": self.account_id,
            "day": self.browser_time - self.browser_time % DAY_MS,
            "browserTime": self.browser_time,
            "type": self.type,
            "url": self.url,
            "numEvents": 1,
            "numMinutes": self.minutes,
        }
        for key, value in (
            ("pageId", self.page_id),
            ("featureId", self.feature_id),
            ("guideId", self.guide_id),
        ):
            if value is not None:
                row[key] = value
        return row


@dataclass
class Report:
    id: str
    name: str
    kind: str  # "visitor" | "account": what a row is
    columns: list[tuple[str, str]]  # (column name, path into the source row)
    filter: str | None = None  # an aggregation filter expression over the source rows
    shared: bool = True
    description: str = ""
    created_at: int = BASE_DAY - 30 * DAY_MS
    updated_at: int = BASE_DAY - 2 * DAY_MS

    def to_api(self) -> JSONDict:
        user = {"id": "5629499534213120", "username": "ops@example.com", "first": "Ops"}
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "shared": self.shared,
            "scope": "subscription" if self.shared else "user",
            "createdAt": self.created_at,
            "lastUpdatedAt": self.updated_at,
            "createdByUser": user,
            "lastUpdatedByUser": user,
            "definition": {
                "filter": self.filter,
                "columns": [name for name, _ in self.columns],
            },
        }


@dataclass
class IntegrationKey:
    key: str
    write: bool = True
    active: bool = True


@dataclass
class ReceivedRequest:
    """One request the fake received (before it was authenticated or answered)."""

    method: str
    path: str  # as sent, still percent-encoded
    segments: list[str]  # the decoded path segments after /api/v1
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, else text, else None
    invalid_json: bool = False  # sent as JSON but not parseable

    @property
    def route(self) -> str:
        """The decoded path after ``/api/v1``, e.g. ``visitor/team/alice``."""
        return "/".join(self.segments)


@dataclass
class _Rule:
    remaining: int
    status: int
    body: bytes
    content_type: bytes
    headers: list[tuple[bytes, bytes]]
    key: str | None
    path: str | None

    def matches(self, key: str | None, route: str) -> bool:
        if self.key is not None and self.key != key:
            return False
        return self.path is None or route.startswith(self.path)


# -- seeded data ------------------------------------------------------------------------------

_PLANS = ["pro", "trial", "starter", "pro", "enterprise", "trial"]
_ACCOUNTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark"]
_ROLES = ["admin", "editor", "viewer"]
_PAGES = [
    ("pg_dashboard", "https://app.example.com/dashboard"),
    ("pg_reports", "https://app.example.com/reports"),
    ("pg_settings", "https://app.example.com/settings"),
    ("pg_billing", "https://app.example.com/billing"),
]
_FEATURES = [
    ("ft_export", "pg_reports"),
    ("ft_share", "pg_dashboard"),
    ("ft_invite", "pg_settings"),
]
_GUIDES = ["gd_welcome", "gd_whats_new"]


def _seed(rng: random.Random) -> tuple[list[Account], list[Visitor], list[Event]]:
    accounts = [
        Account(
            name,
            {
                "auto": {"id": name},
                "agent": {
                    "name": name.capitalize() + " Inc.",
                    "plan": _PLANS[i],
                    "seats": 5 * (i + 1),
                },
                "custom": {"health": ["green", "amber", "red"][i % 3], "tier": f"T{i % 3 + 1}"},
            },
        )
        for i, name in enumerate(_ACCOUNTS)
    ]
    people = [
        ("ada@example.com", "Ada", "Lovelace", "acme"),
        ("team/alice", "Alice", "Team", "acme"),
        ("bob smith", "Bob", "Smith", "globex"),
    ]
    people += [
        (f"visitor-{i:03d}", f"User{i}", "Example", _ACCOUNTS[i % len(_ACCOUNTS)])
        for i in range(1, 21)
    ]
    visitors: list[Visitor] = []
    events: list[Event] = []
    for i, (vid, first, last, account) in enumerate(people):
        visitor = Visitor(
            vid,
            [account] if i % 7 else [account, _ACCOUNTS[(i + 1) % len(_ACCOUNTS)]],
            {
                "auto": {"id": vid, "accountid": account},
                "agent": {
                    "email": vid if "@" in vid else f"{first.lower()}.{last.lower()}@example.com",
                    "firstname": first,
                    "lastname": last,
                    "role": _ROLES[i % len(_ROLES)],
                },
                "custom": {"nps_score": i % 11, "beta_tester": i % 4 == 0},
            },
        )
        visitors.append(visitor)
        for day in range(SEEDED_DAYS):
            # The three named visitors are active every day; the others now and then.
            for _ in range(rng.randrange(1 if i < 3 else 0, 4)):
                when = BASE_DAY + day * DAY_MS + rng.randrange(6, 20) * HOUR_MS
                when += rng.randrange(0, 3_600_000)
                events.append(_random_event(rng, vid, account, when))
    anonymous = Visitor(
        ANONYMOUS_PREFIX + "k2x9a7",
        [],
        {"auto": {"id": ANONYMOUS_PREFIX + "k2x9a7"}, "agent": {}, "custom": {}},
    )
    visitors.append(anonymous)
    events.append(
        Event(anonymous.id, None, "page", BASE_DAY + 10 * HOUR_MS, _PAGES[0][1], _PAGES[0][0])
    )
    events.sort(key=lambda e: e.browser_time)
    for visitor in visitors:
        times = [e.browser_time for e in events if e.visitor_id == visitor.id]
        if times:
            visitor.metadata["auto"].update(
                {
                    "firstvisit": min(times),
                    "lastvisit": max(times),
                    "lastbrowsername": "Chrome",
                    "lastoperatingsystem": "Mac OS X",
                }
            )
    for account in accounts:
        times = [e.browser_time for e in events if e.account_id == account.id]
        if times:
            account.metadata["auto"].update({"firstvisit": min(times), "lastvisit": max(times)})
    return accounts, visitors, events


def _random_event(rng: random.Random, vid: str, account: str, when: int) -> Event:
    kind = rng.choice(["page", "page", "feature", "guide", "untagged"])
    minutes = rng.randrange(1, 6)
    if kind == "feature":
        feature_id, page_id = rng.choice(_FEATURES)
        url = dict(_PAGES)[page_id]
        return Event(vid, account, kind, when, url, page_id, feature_id, minutes=minutes)
    page_id, url = rng.choice(_PAGES)
    if kind == "guide":
        return Event(vid, account, kind, when, url, guide_id=rng.choice(_GUIDES), minutes=minutes)
    if kind == "untagged":
        return Event(vid, account, kind, when, url + "/unknown", minutes=minutes)
    return Event(vid, account, kind, when, url, page_id, minutes=minutes)


def _default_reports() -> list[Report]:
    visitor_columns = [
        ("visitorId", "visitorId"),
        ("accountId", "accountId"),
        ("email", "metadata.agent.email"),
        ("role", "metadata.agent.role"),
        ("lastVisit", "metadata.auto.lastvisit"),
    ]
    account_columns = [
        ("accountId", "accountId"),
        ("name", "metadata.agent.name"),
        ("plan", "metadata.agent.plan"),
        ("seats", "metadata.agent.seats"),
    ]
    return [
        Report(
            "aX1vRt9Qp0bLm3ZcYw7NsK2hUe4",
            "Identified visitors",
            "visitor",
            visitor_columns,
            f'!startsWith(visitorId, "{ANONYMOUS_PREFIX}")',
            description="Every visitor with a known ID",
        ),
        Report("b7Hq2Lw9ZxC4vN1mKp8RtY3sJd0", "Accounts by plan", "account", account_columns),
        Report(
            "c3Tz8Wq1Ym5Nb7Vx2Kl9Pj4Hs6G",
            "Trial accounts",
            "account",
            account_columns,
            'metadata.agent.plan == "trial"',
        ),
        Report(
            "d9Gf4Hj2Kl7Qw1Er5Ty8Ui3Op6A",
            "Admins",
            "visitor",
            visitor_columns,
            'metadata.agent.role == "admin"',
        ),
        Report(
            "e5Rt7Yu1Io3Pa9Sd2Fg4Hj6Kl8Z",
            "My draft report",
            "visitor",
            visitor_columns[:2],
            shared=False,
        ),
    ]


# -- the state --------------------------------------------------------------------------------


class FakePendo:
    """The fake's whole state, plus knobs for tests.

    Keys: ``integration_key`` (read and write) and ``read_only_key`` (writes answer 403);
    any other key answers 401. ``add_key`` adds more (one per test case keeps knobs apart),
    ``revoke`` disables one.

    Knobs: ``rate_limit_next(n)`` (HTTP 429, no Retry-After unless asked),
    ``fail_next(status, text)`` (any error answer), both optionally only for one key and/or
    routes starting with ``path`` (e.g. ``"visitor/"``). ``requests`` records what was
    received (``requests_to(route)`` filters them).
    """

    integration_key = "3f9c2a4e-8b1d-4c6e-9a7f-0d2e4b6c8a10.us"
    read_only_key = "7a5e3c1b-9d8f-4e2a-b6c4-1f3e5d7b9a20.us"

    def __init__(self, *, seed: int = 7, max_log: int = 1000) -> None:
        accounts, visitors, events = _seed(random.Random(seed))
        self.accounts: dict[str, Account] = {a.id: a for a in accounts}
        self.visitors: dict[str, Visitor] = {v.id: v for v in visitors}
        self.events: list[Event] = events
        self.reports: dict[str, Report] = {r.id: r for r in _default_reports()}
        self.keys: dict[str, IntegrationKey] = {
            self.integration_key: IntegrationKey(self.integration_key),
            self.read_only_key: IntegrationKey(self.read_only_key, write=False),
        }
        self.requests: deque[ReceivedRequest] = deque(maxlen=max_log)
        self.aggregations: list[JSONDict] = []  # the request bodies of /aggregation
        self._rules: deque[_Rule] = deque()
        self._key_ids = itertools.count(1)

    # -- knobs ------------------------------------------------------------------------------
    def add_key(self, key: str | None = None, *, write: bool = True) -> str:
        key = key or f"fake-key-{next(self._key_ids):04d}.us"
        self.keys[key] = IntegrationKey(key, write=write)
        return key

    def revoke(self, key: str) -> None:
        self.keys[key].active = False

    def rate_limit_next(
        self,
        n: int = 1,
        *,
        key: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with HTTP 429 (Pendo sends no
        Retry-After; ``retry_after`` adds one)."""
        headers = [] if retry_after is None else [(b"retry-after", str(retry_after).encode())]
        self._rules.append(
            _Rule(n, 429, b"Too Many Requests: rate limit exceeded", _TEXT, headers, key, path)
        )

    def fail_next(
        self,
        status: int = 500,
        text: str = "Internal Server Error",
        *,
        n: int = 1,
        key: str | None = None,
        path: str | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` and ``text``."""
        self._rules.append(_Rule(n, status, text.encode(), content_type.encode(), [], key, path))

    def requests_to(self, route: str, method: str | None = None) -> list[ReceivedRequest]:
        """The received requests whose decoded route (after /api/v1) is ``route``."""
        return [
            r for r in self.requests if r.route == route and (method is None or r.method == method)
        ]

    def _injected(self, key: str | None, route: str) -> _Rule | None:
        for rule in self._rules:
            if rule.matches(key, route):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                return rule
        return None

    # -- auth -------------------------------------------------------------------------------
    def authenticate(self, key: str | None, *, write: bool) -> IntegrationKey:
        if not key:
            raise PendoError(401, "Unauthorized: missing X-Pendo-Integration-Key header")
        info = self.keys.get(key)
        if info is None or not info.active:
            raise PendoError(401, "Unauthorized: invalid integration key")
        if write and not info.write:
            raise PendoError(403, "Forbidden: this integration key is read-only")
        return info

    # -- endpoints ----------------------------------------------------------------------------
    def get_account(self, account_id: str) -> JSONDict:
        account = self.accounts.get(account_id)
        if account is None:
            raise PendoError(404, f"account {account_id} not found")
        return account.to_api()

    def get_visitor(self, visitor_id: str) -> JSONDict:
        return self._visitor(visitor_id).to_api()

    def _visitor(self, visitor_id: str) -> Visitor:
        visitor = self.visitors.get(visitor_id)
        if visitor is None:
            raise PendoError(404, f"visitor {visitor_id} not found")
        return visitor

    def visitor_history(self, visitor_id: str, query: dict[str, str]) -> list[JSONDict]:
        raw = query.get("starttime")
        if raw is None:
            raise PendoError(400, "missing required parameter starttime (epoch milliseconds)")
        try:
            start = int(raw)
        except ValueError:
            raise PendoError(
                400, f"invalid starttime {raw!r}: expected epoch milliseconds"
            ) from None
        self._visitor(visitor_id)
        end = start + DAY_MS
        return [
            e.history_item()
            for e in self.events
            if e.visitor_id == visitor_id and start <= e.browser_time < end
        ]

    def list_reports(self) -> list[JSONDict]:
        return [r.to_api() for r in self.reports.values() if r.shared]

    def report_rows(self, report_id: str) -> tuple[Report, list[JSONDict]]:
        report = self.reports.get(report_id)
        if report is None:
            raise PendoError(404, f"report {report_id} not found")
        source = self.visitors if report.kind == "visitor" else self.accounts
        rows = [item.row() for item in source.values()]
        if report.filter:
            check = parse_expression(report.filter)
            rows = [row for row in rows if _truthy(check(row))]
        return report, [
            {name: lookup_path(row, path) for name, path in report.columns} for row in rows
        ]

    def report_csv(self, report_id: str) -> str:
        report, rows = self.report_rows(report_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([name for name, _ in report.columns])
        for row in rows:
            writer.writerow([_csv_cell(row.get(name)) for name, _ in report.columns])
        return out.getvalue()

    def aggregate(self, body: Any) -> JSONDict:
        if not isinstance(body, dict):
            raise PendoError(400, "invalid aggregation: the body must be a JSON object")
        self.aggregations.append(body)
        response = body.get("response")
        if not isinstance(response, dict) or "mimeType" not in response:
            raise PendoError(400, "invalid aggregation: missing response.mimeType")
        if response["mimeType"] != "application/json":
            raise PendoError(400, f"unsupported response mimeType {response['mimeType']!r}")
        request = body.get("request")
        if not isinstance(request, dict):
            raise PendoError(400, "invalid aggregation: missing request")
        pipeline = request.get("pipeline")
        if not isinstance(pipeline, list) or not pipeline:
            raise PendoError(400, "invalid aggregation: request.pipeline must be a non-empty list")
        return {"results": run_pipeline(self, pipeline)}

    def source_rows(self, source: Any) -> list[JSONDict]:
        if not isinstance(source, dict):
            raise PendoError(400, "invalid source: expected an object")
        spec = {k: v for k, v in source.items() if k != "timeSeries"}
        if len(spec) != 1:
            raise PendoError(400, "invalid source: name exactly one source")
        ((name, params),) = spec.items()
        if name == "visitors":
            return [v.row() for v in self.visitors.values()]
        if name == "accounts":
            return [a.row() for a in self.accounts.values()]
        if name not in EVENT_SOURCES:
            raise PendoError(400, f"unknown source {name!r}")
        types = EVENT_SOURCES[name]
        first, last = _time_range(source.get("timeSeries"))
        rows = [
            e.row()
            for e in self.events
            if first <= e.browser_time < last and (types is None or e.type in types)
        ]
        if isinstance(params, dict):
            rows = [row for row in rows if all(row.get(k) == v for k, v in params.items())]
        return rows

    def update_values(self, kind: str, group: str, body: Any) -> JSONDict:
        fields = self._fields(kind, group)
        if not isinstance(body, list):
            raise PendoError(400, "invalid request: expected a JSON array of objects")
        id_key = "visitorId" if kind == "visitor" else "accountId"
        store: dict[str, Any] = self.visitors if kind == "visitor" else self.accounts
        updated = failed = 0
        missing: list[str] = []
        for item in body:
            object_id = item.get(id_key) if isinstance(item, dict) else None
            values = item.get("values") if isinstance(item, dict) else None
            if not isinstance(object_id, str) or not isinstance(values, dict):
                failed += 1
                continue
            target = store.get(object_id)
            if target is None:
                missing.append(object_id)
                continue
            if not values or any(name not in fields for name in values):
                failed += 1
                continue
            target.metadata.setdefault(group, {}).update(values)
            updated += 1
        return {"total": len(body), "updated": updated, "failed": failed, "missing": missing}

    def set_value(self, kind: str, group: str, object_id: str, name: str, value: Any) -> None:
        fields = self._fields(kind, group)
        if name not in fields:
            raise PendoError(400, f"unknown {kind} {group} metadata field {name!r}")
        store: dict[str, Any] = self.visitors if kind == "visitor" else self.accounts
        target = store.get(object_id)
        if target is None:
            raise PendoError(404, f"{kind} {object_id} not found")
        target.metadata.setdefault(group, {})[name] = value

    def metadata_schema(self, kind: str) -> JSONDict:
        if kind not in METADATA_SCHEMA:
            raise PendoError(400, f"invalid kind {kind!r}: expected visitor or account")
        return {
            group: {name: {"Type": type_, "DisplayName": name} for name, type_ in fields.items()}
            for group, fields in METADATA_SCHEMA[kind].items()
        }

    @staticmethod
    def _fields(kind: str, group: str) -> dict[str, str]:
        if kind not in METADATA_SCHEMA:
            raise PendoError(400, f"invalid kind {kind!r}: expected visitor or account")
        if group not in METADATA_SCHEMA[kind]:
            raise PendoError(400, f"invalid metadata group {group!r}: expected agent or custom")
        return METADATA_SCHEMA[kind][group]


# Event sources and the event types each one yields (None: all).
EVENT_SOURCES: dict[str, frozenset[str] | None] = {
    "events": None,
    "pageEvents": frozenset({"page"}),
    "featureEvents": frozenset({"feature"}),
    "guideEvents": frozenset({"guide"}),
}


def _time_range(series: Any) -> tuple[int, int]:
    if not isinstance(series, dict):
        raise PendoError(400, "event sources need a timeSeries {period, first, count|last}")
    period = {"dayRange": DAY_MS, "hourRange": HOUR_MS}.get(series.get("period"))
    if period is None:
        raise PendoError(400, "timeSeries.period must be dayRange or hourRange")
    first = series.get("first")
    if first == "now()":
        first = int(time.time() * 1000)
    if not isinstance(first, int) or isinstance(first, bool):
        raise PendoError(400, 'timeSeries.first must be epoch milliseconds or "now()"')
    if isinstance(series.get("last"), int):
        return first, series["last"]
    count = series.get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        raise PendoError(400, "timeSeries needs count or last")
    if count < 0:
        return first + count * period, first
    return first, first + count * period


# -- pipelines and expressions ---------------------------------------------------------------


def run_pipeline(state: FakePendo, pipeline: list[Any]) -> list[JSONDict]:
    first = pipeline[0]
    if not isinstance(first, dict) or "source" not in first:
        raise PendoError(400, "invalid pipeline: the first stage must be a source")
    rows = state.source_rows(first["source"])
    for stage in pipeline[1:]:
        if not isinstance(stage, dict) or len(stage) != 1:
            raise PendoError(400, "invalid pipeline: each stage is an object with one operator")
        ((operator, argument),) = stage.items()
        apply = _STAGES.get(operator)
        if apply is None:
            raise PendoError(400, f"invalid pipeline: unknown operator {operator!r}")
        rows = apply(rows, argument)
    return rows


def _stage_filter(rows: list[JSONDict], expression: Any) -> list[JSONDict]:
    if not isinstance(expression, str):
        raise PendoError(400, "filter takes an expression string")
    check = parse_expression(expression)
    return [row for row in rows if _truthy(check(row))]


def _stage_sort(rows: list[JSONDict], keys: Any) -> list[JSONDict]:
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise PendoError(400, 'sort takes a list of field names ("-field" descends)')
    for key in reversed(keys):
        descending = key.startswith("-")
        path = key.lstrip("-")
        present = [r for r in rows if lookup_path(r, path) is not None]
        absent = [r for r in rows if lookup_path(r, path) is None]
        try:
            present.sort(key=lambda r, p=path: lookup_path(r, p), reverse=descending)
        except TypeError:
            raise PendoError(400, f"sort: field {path!r} mixes types") from None
        rows = present + absent
    return rows


def _stage_limit(rows: list[JSONDict], limit: Any) -> list[JSONDict]:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise PendoError(400, "limit takes a non-negative integer")
    return rows[:limit]


def _stage_select(rows: list[JSONDict], fields: Any) -> list[JSONDict]:
    if not isinstance(fields, dict):
        raise PendoError(400, "select takes an object of {name: expression}")
    compiled = {name: parse_expression(str(expr)) for name, expr in fields.items()}
    return [{name: fn(row) for name, fn in compiled.items()} for row in rows]


def _stage_eval(rows: list[JSONDict], fields: Any) -> list[JSONDict]:
    if not isinstance(fields, dict):
        raise PendoError(400, "eval takes an object of {name: expression}")
    compiled = {name: parse_expression(str(expr)) for name, expr in fields.items()}
    return [{**row, **{name: fn(row) for name, fn in compiled.items()}} for row in rows]


def _stage_identified(rows: list[JSONDict], path: Any) -> list[JSONDict]:
    if not isinstance(path, str):
        raise PendoError(400, "identified takes a field name")
    return [
        row for row in rows if not str(lookup_path(row, path) or "").startswith(ANONYMOUS_PREFIX)
    ]


def _stage_count(rows: list[JSONDict], argument: Any) -> list[JSONDict]:
    return [{"count": len(rows)}]


def _stage_group(rows: list[JSONDict], spec: Any) -> list[JSONDict]:
    if not isinstance(spec, dict) or not isinstance(spec.get("group"), list):
        raise PendoError(400, "group takes {group: [fields], fields: {name: {count|sum|...}}}")
    keys: list[str] = spec["group"]
    fields = spec.get("fields") or {}
    groups: dict[tuple, list[JSONDict]] = {}
    for row in rows:
        groups.setdefault(tuple(_hashable(lookup_path(row, k)) for k in keys), []).append(row)
    out = []
    for members in groups.values():
        result = {k: lookup_path(members[0], k) for k in keys}
        for name, reducer in fields.items():
            if not isinstance(reducer, dict) or len(reducer) != 1:
                raise PendoError(400, f'group field {name!r}: one reducer, e.g. {{"count": null}}')
            ((how, path),) = reducer.items()
            values = [lookup_path(m, path) for m in members] if path else []
            numbers = [v for v in values if isinstance(v, int | float)]
            if how == "count":
                result[name] = len(members) if path is None else sum(v is not None for v in values)
            elif how == "sum":
                result[name] = sum(numbers)
            elif how in ("max", "min"):
                result[name] = (max if how == "max" else min)(numbers) if numbers else None
            else:
                raise PendoError(400, f"unknown reducer {how!r}")
        out.append(result)
    return out


_STAGES: dict[str, Callable[[list[JSONDict], Any], list[JSONDict]]] = {
    "filter": _stage_filter,
    "sort": _stage_sort,
    "limit": _stage_limit,
    "select": _stage_select,
    "eval": _stage_eval,
    "identified": _stage_identified,
    "count": _stage_count,
    "group": _stage_group,
}


def _hashable(value: Any) -> Any:
    return (
        orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        if isinstance(value, dict | list)
        else value
    )


def _truthy(value: Any) -> bool:
    return bool(value)


def lookup_path(row: Any, path: str) -> Any:
    """``metadata.agent.email`` in a row; None when any step is missing."""
    value = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|&&|\|\||[<>!(),])
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)

Expr = Callable[[JSONDict], Any]


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    try:
        return {
            ">": lambda: left > right,
            ">=": lambda: left >= right,
            "<": lambda: left < right,
            "<=": lambda: left <= right,
        }[op]()
    except TypeError:
        return False


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda a, b: b in a if isinstance(a, str | list) else False,
    "startsWith": lambda a, b: a.startswith(b) if isinstance(a, str) else False,
    "isNil": lambda a: a is None,
    "len": lambda a: len(a) if isinstance(a, str | list | dict) else 0,
    "now": lambda: int(time.time() * 1000),
}


def parse_expression(text: str) -> Expr:
    """A small subset of Pendo's expression language: field paths, string / number /
    boolean / null literals, ``== != > >= < <=``, ``&& || !``, parentheses and the
    functions ``contains``, ``startsWith``, ``isNil``, ``len`` and ``now``."""
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise PendoError(400, f"invalid expression {text!r} at offset {pos}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "number":
            value = float(value) if "." in value else int(value)
        tokens.append((kind, value))
    parser = _Parser(text, tokens)
    expr = parser.expression()
    if parser.index != len(tokens):
        raise PendoError(
            400, f"invalid expression {text!r}: unexpected {tokens[parser.index][1]!r}"
        )
    return expr


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, Any]]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    def _peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self, op: str | None = None) -> tuple[str, Any]:
        token = self._peek()
        if token is None or (op is not None and token != ("op", op)):
            raise PendoError(400, f"invalid expression {self.text!r}: expected {op or 'more'}")
        self.index += 1
        return token

    def _at(self, *ops: str) -> str | None:
        token = self._peek()
        return token[1] if token is not None and token[0] == "op" and token[1] in ops else None

    def expression(self) -> Expr:
        left = self._and()
        while self._at("||"):
            self._take()
            right = self._and()
            left = (lambda a, b: lambda row: _truthy(a(row)) or _truthy(b(row)))(left, right)
        return left

    def _and(self) -> Expr:
        left = self._unary()
        while self._at("&&"):
            self._take()
            right = self._unary()
            left = (lambda a, b: lambda row: _truthy(a(row)) and _truthy(b(row)))(left, right)
        return left

    def _unary(self) -> Expr:
        if self._at("!"):
            self._take()
            inner = self._unary()
            return lambda row: not _truthy(inner(row))
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._primary()
        op = self._at("==", "!=", ">=", "<=", ">", "<")
        if op is None:
            return left
        self._take()
        right = self._primary()
        return lambda row: _compare(op, left(row), right(row))

    def _primary(self) -> Expr:
        kind, value = self._take()
        if kind in ("string", "number"):
            return lambda row: value
        if kind == "op" and value == "(":
            inner = self.expression()
            self._take(")")
            return inner
        if kind == "name":
            if value in ("true", "false", "null"):
                literal = {"true": True, "false": False, "null": None}[value]
                return lambda row: literal
            if self._at("("):
                return self._call(value)
            return lambda row: lookup_path(row, value)
        raise PendoError(400, f"invalid expression {self.text!r}: unexpected {value!r}")

    def _call(self, name: str) -> Expr:
        function = _FUNCTIONS.get(name)
        if function is None:
            raise PendoError(400, f"invalid expression {self.text!r}: unknown function {name!r}")
        self._take("(")
        args: list[Expr] = []
        if not self._at(")"):
            args.append(self.expression())
            while self._at(","):
                self._take()
                args.append(self.expression())
        self._take(")")

        def call(row: JSONDict) -> Any:
            try:
                return function(*(arg(row) for arg in args))
            except TypeError:
                raise PendoError(400, f"{name}: wrong arguments") from None

        return call


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


# -- the ASGI app ---------------------------------------------------------------------------------


async def _read_body(receive: Any) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    return body


async def _send(
    send: Any, status: int, body: bytes, content_type: bytes, extra: Iterable = ()
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _parse_body(raw: bytes, content_type: str) -> tuple[Any, bool]:
    """The body (parsed JSON, else text, else None) and whether it was invalid JSON."""
    if not raw:
        return None, False
    if content_type.startswith("application/json"):
        try:
            return orjson.loads(raw), False
        except orjson.JSONDecodeError:
            return raw.decode("utf-8", "replace"), True
    return raw.decode("utf-8", "replace"), False


@dataclass
class PendoApp:
    """The fake as a bare ASGI app (``app.state`` is its :class:`FakePendo`)."""

    state: FakePendo = field(default_factory=FakePendo)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method = scope["method"]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_body = await _read_body(receive)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if not raw_path.startswith(API_PREFIX + "/"):
            await _send(send, 404, b"404 page not found", _TEXT)
            return
        segments = [unquote(s) for s in raw_path[len(API_PREFIX) + 1 :].split("/")]
        content_type = headers.get("content-type", "")
        body, invalid = _parse_body(raw_body, content_type)
        request = ReceivedRequest(method, raw_path, segments, query, headers, body, invalid)
        state = self.state
        state.requests.append(request)
        key = headers.get("x-pendo-integration-key")
        rule = state._injected(key, request.route) if state._rules else None
        if rule is not None:
            await _send(send, rule.status, rule.body, rule.content_type, rule.headers)
            return
        try:
            status, payload, out_type = self._dispatch(state, request, key, content_type)
        except PendoError as exc:
            await _send(send, exc.status, exc.text.encode(), _TEXT)
            return
        await _send(send, status, payload, out_type)

    @staticmethod
    def _dispatch(
        state: FakePendo, request: ReceivedRequest, key: str | None, content_type: str
    ) -> tuple[int, bytes, bytes]:
        method, seg, body = request.method, request.segments, request.body
        write = method in ("POST", "PUT", "PATCH", "DELETE") and seg[:1] == ["metadata"]
        route = _route(method, seg)
        if route is None:
            raise PendoError(404, "404 page not found")
        if route == "405":
            raise PendoError(405, "Method Not Allowed")
        state.authenticate(key, write=write)
        if method in ("POST",) and not content_type.startswith("application/json"):
            raise PendoError(400, "invalid request: Content-Type must be application/json")
        if request.invalid_json:
            raise PendoError(400, "invalid request: the body is not valid JSON")
        match route:
            case "aggregation":
                result: Any = state.aggregate(body)
            case "account":
                result = state.get_account(seg[1])
            case "visitor":
                result = state.get_visitor(seg[1])
            case "history":
                result = state.visitor_history(seg[1], request.query)
            case "reports":
                result = state.list_reports()
            case "results.json":
                result = state.report_rows(seg[1])[1]
            case "results.csv":
                return 200, state.report_csv(seg[1]).encode(), _CSV
            case "update":
                result = state.update_values(seg[1], seg[2], body)
            case "set":
                state.set_value(seg[1], seg[2], seg[4], seg[5], body)
                return 200, b"", _TEXT
            case "schema":
                result = state.metadata_schema(seg[2])
            case _:  # pragma: no cover
                raise PendoError(404, "404 page not found")
        return 200, orjson.dumps(result), _JSON


def _route(method: str, seg: list[str]) -> str | None:
    """The endpoint a method and path name, "405" for a known path with another method."""
    n = len(seg)
    table: list[tuple[bool, str, str]] = [
        (seg == ["aggregation"], "POST", "aggregation"),
        (n == 2 and seg[0] == "account" and bool(seg[1]), "GET", "account"),
        (n == 2 and seg[0] == "visitor" and bool(seg[1]), "GET", "visitor"),
        (n == 3 and seg[0] == "visitor" and seg[2] == "history", "GET", "history"),
        (seg == ["report"], "GET", "reports"),
        (n == 3 and seg[0] == "report" and seg[2] == "results.json", "GET", "results.json"),
        (n == 3 and seg[0] == "report" and seg[2] == "results.csv", "GET", "results.csv"),
        (n == 3 and seg[:2] == ["metadata", "schema"], "GET", "schema"),
        (n == 4 and seg[0] == "metadata" and seg[3] == "value", "POST", "update"),
        (n == 6 and seg[0] == "metadata" and seg[3] == "value", "PUT", "set"),
    ]
    known = False
    for matched, verb, name in table:
        if matched:
            if verb == method:
                return name
            known = True
    return "405" if known else None


def create_app(state: FakePendo | None = None) -> PendoApp:
    """The fake as an ASGI app; ``app.state`` is its :class:`FakePendo`."""
    return PendoApp(state if state is not None else FakePendo())


__all__ = [
    "Account",
    "Event",
    "FakePendo",
    "IntegrationKey",
    "PendoApp",
    "PendoError",
    "ReceivedRequest",
    "Report",
    "Visitor",
    "create_app",
]
