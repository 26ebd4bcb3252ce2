"""The Pendo connector's operations: thin handlers over the Pendo API v1.

The API base depends on the authentication's region (:func:`api_base`), so every handler
builds absolute URLs. Every call goes through :func:`call_pendo`, which sends it with
``ctx.request`` (the integration key, the outbound guard, retries with backoff on 429/5xx).
:func:`pendo_error`, the connector's ``error_mapper``, turns every non-2xx answer (the
SDK's ``raw_http_request``'s too) into one standardized error; handlers call it as well
for a 2xx whose body is not what they expect. Pendo documents no error body, so its text
is kept as it comes and quoted in the message.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from ..sdk import ConnectorError, Context, field, lookup, operation, raw_http_request
from ..sdk.models import DDLOutput, OpenObject

# The Pendo app host of each region; the API lives under /api/v1.
REGIONS: dict[str, str] = {
    "us": "https://app.pendo.io",
    "eu": "https://app.eu.pendo.io",
    "us1": "https://us1.app.pendo.io",
    "jpn": "https://app.jpn.pendo.io",
    "au": "https://app.au.pendo.io",
}
REGION_LABELS = [
    "US (app.pendo.io)",
    "EU (app.eu.pendo.io)",
    "US1 (us1.app.pendo.io)",
    "Japan (app.jpn.pendo.io)",
    "Australia (app.au.pendo.io)",
]
DEFAULT_REGION = "us"
API_PATH = "/api/v1"

# Reports and aggregations can take long: their operations allow this much (seconds), and
# each request a little less, so a slow Pendo ends as a "timeout" error, not a cut-off.
SLOW_OPERATION_TIMEOUT = 120.0
SLOW_REQUEST_TIMEOUT = 110.0

# How much of an error body the message quotes.
EXCERPT_CHARS = 200

# What an error status means with Pendo, in words.
STATUS_HINTS: dict[int, str] = {
    400: "Pendo refused the request as invalid",
    401: "the integration key is not valid (or belongs to another region)",
    403: "the integration key may not do this (writes need a key with write access)",
    404: "no such object",
    408: "Pendo timed out",
    429: "Pendo's rate limit was exceeded; slow down and try again",
}

# What each operation does, in an error message ("Pendo <action> failed: ...").
ACTIONS: dict[str, str] = {
    "aggregation": "aggregation",
    "get_account_by_id": "get account",
    "get_report_contents": "get report contents",
    "get_report_contents_as_csv": "get report contents as CSV",
    "get_visitor_by_id": "get visitor",
    "get_visitor_history": "get visitor history",
    "list_reports": "list reports",
    "list_reports_ddl": "list reports",
    "update_object_values": "update object values",
    "raw_http_request": "raw HTTP request",
}


def api_base(ctx: Context) -> str:
    """The API base URL of the authentication: ``userData.base_url`` when given (used as it
    is, e.g. ``http://127.0.0.1:9000/api/v1``), else the region's host + ``/api/v1``."""
    override = ctx.user_data.get("base_url")
    if override:
        return str(override).rstrip("/")
    region = ctx.user_data.get("region") or DEFAULT_REGION
    host = REGIONS.get(region)
    if host is None:
        raise ctx.fail(
            f"Unknown Pendo region {region!r}: use one of {', '.join(REGIONS)}", "connector_error"
        )
    return host + API_PATH


def _segment(value: str) -> str:
    """One URL path segment, everything percent-encoded (``/``, ``@``, spaces...). The dot
    segments are refused: URL normalisation would turn them into a path elsewhere."""
    if value in (".", ".."):
        raise ConnectorError(f"{value!r} is not a valid Pendo ID", "connector_error")
    return quote(value, safe="")


def _excerpt(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def pendo_error(
    ctx: Context, response: httpx.Response, problem: str | None = None
) -> ConnectorError:
    """The standardized error for a Pendo answer: the connector's ``error_mapper`` (for a
    non-2xx answer), and what handlers raise for a 2xx answer with a ``problem``. Pendo's
    error bodies are opaque text: the message names the operation's action
    (:data:`ACTIONS`) and the status, explains the status (or the problem) and quotes the
    start of the body; ``response.body`` keeps the body (the integration key redacted,
    should Pendo ever echo it). ``kind`` follows the status (401/403 auth_error, 429
    rate_limited...); a 2xx with a problem is an api_error."""
    status = response.status_code
    action = ACTIONS.get(ctx.operation.name, ctx.operation.name.replace("_", " "))
    secret = ctx.credentials.get("integration_key")
    reason = f"HTTP {status} {response.reason_phrase}".strip()
    hint = problem or STATUS_HINTS.get(status)
    message = f"Pendo {action} failed: {reason}" + (f" ({hint})" if hint else "")
    excerpt = _excerpt(response.text, secret) if response.content else ""
    if excerpt:
        message += f": {excerpt}"
    error = ctx.api_error(response, message, kind="api_error" if response.is_success else None)
    if secret and secret in response.text:
        error.body = response.text.replace(secret, "[redacted]")
    return error


async def call_pendo(
    ctx: Context,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json: Any = None,
    accept: str = "application/json",
    idempotent: bool | None = None,
    timeout: float | None = None,
) -> httpx.Response:
    """Send one request to ``<api base>/<path>``; a non-2xx answer raises
    :func:`pendo_error` (the connector's ``error_mapper``)."""
    return await ctx.request(
        method,
        f"{api_base(ctx)}/{path}",
        params=params,
        json=json,
        headers={"Accept": accept},
        idempotent=idempotent,
        timeout=timeout,
    )


async def get_json(ctx: Context, path: str, expect: type, **kwargs: Any) -> Any:
    """GET ``path`` and return its JSON body, which must be a ``expect`` (dict or list)."""
    response = await call_pendo(ctx, "GET", path, **kwargs)
    return read_json(ctx, response, expect)


def read_json(ctx: Context, response: httpx.Response, expect: type) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise pendo_error(ctx, response, "the answer is not JSON") from None
    if not isinstance(body, expect):
        shape = "an object" if expect is dict else "a list"
        raise pendo_error(ctx, response, f"the answer is not {shape}")
    return body


# -- shared schema pieces ---------------------------------------------------------------------


class Metadata(OpenObject):
    auto: dict[str, Any] | None = field(
        None, title="Auto", description="Collected by Pendo (id, firstvisit, lastvisit...)"
    )
    agent: dict[str, Any] | None = field(
        None, title="Agent", description="Sent by the Pendo snippet or the API"
    )
    custom: dict[str, Any] | None = field(None, title="Custom", description="Set in Pendo")
    pendo: dict[str, Any] | None = field(None, title="Pendo")
    salesforce: dict[str, Any] | None = field(None, title="Salesforce")
    hubspot: dict[str, Any] | None = field(None, title="HubSpot")


REPORT_LOOKUP = lookup("list_reports_ddl", {})


def _report_id_field() -> Any:
    return field(
        title="Report",
        description="The report's ID (pick a public report)",
        lookup=REPORT_LOOKUP,
        min_length=1,
    )


# -- aggregation -----------------------------------------------------------------------------


class AggregationInput(BaseModel):
    pipeline: list[dict[str, Any]] = field(
        title="Pipeline",
        description='The aggregation pipeline, a source first, e.g. [{"source": {"visitors": '
        'null}}, {"filter": "metadata.agent.plan == \\"pro\\""}, {"sort": ["visitorId"]}]. '
        "Event sources take a timeSeries: {period: dayRange|hourRange, first, count|last}.",
        min_length=1,
    )
    name: str | None = field(
        None, title="Request name", description="Names the request in Pendo's logs", advanced=True
    )
    request_id: str | None = field(
        None,
        title="Request ID",
        description="An ID for the request (Pendo caches results per ID)",
        advanced=True,
    )


class AggregationOutput(OpenObject):
    results: list[dict[str, Any]] = field(
        title="Results", description="The rows the pipeline produced"
    )


@operation(
    title="Aggregation",
    description="Run an aggregation (Pendo's query language over visitors, accounts and "
    "events) and return its rows (POST /aggregation).",
    input=AggregationInput,
    output=AggregationOutput,
    timeout=SLOW_OPERATION_TIMEOUT,
)
async def aggregation(ctx: Context, data: AggregationInput) -> dict[str, Any]:
    request: dict[str, Any] = {"pipeline": data.pipeline}
    if data.name:
        request["name"] = data.name
    if data.request_id:
        request["requestId"] = data.request_id
    body = {"response": {"mimeType": "application/json"}, "request": request}
    # A query: safe to send again after a 429 or a 5xx.
    response = await call_pendo(
        ctx,
        "POST",
        "aggregation",
        json=body,
        idempotent=True,
        timeout=SLOW_REQUEST_TIMEOUT,
    )
    result = read_json(ctx, response, dict)
    if not isinstance(result.get("results"), list):
        raise pendo_error(ctx, response, "the answer has no results list")
    return result


# -- get_account_by_id -------------------------------------------------------------------------


class GetAccountInput(BaseModel):
    account_id: str = field(title="Account ID", description="The Pendo account ID", min_length=1)


class PendoAccount(OpenObject):
    id: str = field(title="ID", description="The account ID")
    metadata: Metadata | None = field(None, title="Metadata")


@operation(
    title="Get Account By ID",
    description="Get an account by its ID (GET /account/{id}).",
    input=GetAccountInput,
    output=PendoAccount,
)
async def get_account_by_id(ctx: Context, data: GetAccountInput) -> dict[str, Any]:
    path = f"account/{_segment(data.account_id)}"
    return await get_json(ctx, path, dict)


# -- get_report_contents ---------------------------------------------------------------------


class ReportInput(BaseModel):
    report_id: str = _report_id_field()


class ReportContentsOutput(BaseModel):
    results: list[dict[str, Any]] = field(
        title="Results", description="The report's rows, one object per visitor or account"
    )


@operation(
    title="Get Report Contents",
    description="Return a public report's rows as JSON (GET /report/{id}/results.json).",
    input=ReportInput,
    output=ReportContentsOutput,
    timeout=SLOW_OPERATION_TIMEOUT,
)
async def get_report_contents(ctx: Context, data: ReportInput) -> dict[str, Any]:
    path = f"report/{_segment(data.report_id)}/results.json"
    rows = await get_json(ctx, path, list, timeout=SLOW_REQUEST_TIMEOUT)
    return {"results": rows}


# -- get_report_contents_as_csv ---------------------------------------------------------------


class ReportCsvOutput(BaseModel):
    csv: str = field(title="CSV", description="The report as CSV text, a header row first")


@operation(
    title="Get Report Contents As CSV",
    description="Return a public report's rows as CSV text (GET /report/{id}/results.csv).",
    input=ReportInput,
    output=ReportCsvOutput,
    timeout=SLOW_OPERATION_TIMEOUT,
)
async def get_report_contents_as_csv(ctx: Context, data: ReportInput) -> dict[str, Any]:
    path = f"report/{_segment(data.report_id)}/results.csv"
    response = await call_pendo(ctx, "GET", path, accept="text/csv", timeout=SLOW_REQUEST_TIMEOUT)
    return {"csv": response.text}


# -- get_visitor_by_id -----------------------------------------------------------------------


class GetVisitorInput(BaseModel):
    visitor_id: str = field(
        title="Visitor ID",
        description="The Pendo visitor ID (any characters; it is URL-encoded)",
        min_length=1,
    )


class PendoVisitor(OpenObject):
    id: str = field(title="ID", description="The visitor ID")
    accountIds: list[str] | None = field(None, title="Account IDs")
    metadata: Metadata | None = field(None, title="Metadata")


@operation(
    title="Get Visitor By ID",
    description="Get a visitor by their ID (GET /visitor/{id}).",
    input=GetVisitorInput,
    output=PendoVisitor,
)
async def get_visitor_by_id(ctx: Context, data: GetVisitorInput) -> dict[str, Any]:
    path = f"visitor/{_segment(data.visitor_id)}"
    return await get_json(ctx, path, dict)


# -- get_visitor_history ---------------------------------------------------------------------


class VisitorHistoryInput(BaseModel):
    visitor_id: str = field(title="Visitor ID", description="The Pendo visitor ID", min_length=1)
    start_time: int = field(
        title="Start time",
        description="The start of the 24-hour period, in Unix epoch milliseconds "
        "(e.g. 1735689600000 is 2025-01-01T00:00:00Z)",
        ge=0,
    )


class HistoryItem(OpenObject):
    type: str = field(title="Type", description="page, feature, guide, untagged...")
    browserTime: int | None = field(
        None, title="Browser time", description="When it happened (epoch ms)"
    )
    lastTime: int | None = field(None, title="Last time")
    url: str | None = field(None, title="URL")
    pageId: str | None = field(None, title="Page ID")
    featureId: str | None = field(None, title="Feature ID")
    guideId: str | None = field(None, title="Guide ID")


class VisitorHistoryOutput(BaseModel):
    history: list[HistoryItem] = field(
        title="History", description="The visitor's activity in the 24 hours from the start"
    )


@operation(
    title="Get Visitor History",
    description="Summarize a visitor's activity for the 24 hours from a start time "
    "(GET /visitor/{id}/history).",
    input=VisitorHistoryInput,
    output=VisitorHistoryOutput,
)
async def get_visitor_history(ctx: Context, data: VisitorHistoryInput) -> dict[str, Any]:
    path = f"visitor/{_segment(data.visitor_id)}/history"
    params = {"starttime": data.start_time}
    return {"history": await get_json(ctx, path, list, params=params)}


# -- list_reports ----------------------------------------------------------------------------


class ListReportsInput(BaseModel):
    name_contains: str | None = field(
        None,
        title="Name contains",
        description="Only reports whose name contains this text (case-insensitive)",
    )
    kind: Literal["visitor", "account"] | None = field(
        None,
        title="Report type",
        description="Only visitor reports or only account reports",
        enum_labels=["Visitor", "Account"],
    )
    limit: int | None = field(
        None, title="Limit", description="At most this many reports", ge=1, advanced=True
    )


class PendoReport(OpenObject):
    id: str = field(title="ID")
    name: str = field(title="Name")
    description: str | None = field(None, title="Description")
    kind: str | None = field(None, title="Kind", description="visitor or account")
    shared: bool | None = field(None, title="Shared")
    scope: str | None = field(None, title="Scope")
    createdAt: int | None = field(None, title="Created at")
    lastUpdatedAt: int | None = field(None, title="Last updated at")
    createdByUser: dict[str, Any] | None = field(None, title="Created by")
    lastUpdatedByUser: dict[str, Any] | None = field(None, title="Last updated by")
    definition: dict[str, Any] | None = field(None, title="Definition")


class ListReportsOutput(BaseModel):
    reports: list[PendoReport] = field(title="Reports")


async def _reports(ctx: Context) -> list[dict[str, Any]]:
    reports = await get_json(ctx, "report", list)
    return [r for r in reports if isinstance(r, dict) and r.get("id")]


@operation(
    title="List Reports",
    description="List the subscription's public reports (GET /report). Pendo returns them "
    "all at once; the filters apply to that list.",
    input=ListReportsInput,
    output=ListReportsOutput,
)
async def list_reports(ctx: Context, data: ListReportsInput) -> dict[str, Any]:
    reports = await _reports(ctx)
    if data.name_contains:
        needle = data.name_contains.casefold()
        reports = [r for r in reports if needle in str(r.get("name") or "").casefold()]
    if data.kind:
        reports = [r for r in reports if r.get("kind") == data.kind]
    if data.limit:
        reports = reports[: data.limit]
    return {"reports": reports}


# -- update_object_values ----------------------------------------------------------------------


class ObjectValues(BaseModel):
    id: str = field(title="ID", description="The visitor or account ID", min_length=1)
    values: dict[str, Any] = field(
        title="Values",
        description='The metadata fields to set and their values, e.g. {"firstname": "John"}',
        min_length=1,
    )


class UpdateObjectValuesInput(BaseModel):
    object_type: Literal["visitor", "account"] = field(
        title="Object type", enum_labels=["Visitor", "Account"]
    )
    metadata_kind: Literal["agent", "custom"] = field(
        "agent",
        title="Metadata kind",
        description="agent: fields sent by the snippet or the API; custom: fields set in Pendo",
        enum_labels=["Agent", "Custom"],
    )
    objects: list[ObjectValues] = field(
        title="Objects",
        description="The visitors or accounts to update, each with its field values",
        min_length=1,
    )


class UpdateObjectValuesOutput(OpenObject):
    total: int = field(title="Total", description="Objects in the request")
    updated: int = field(title="Updated")
    failed: int = field(title="Failed", description="Objects not updated (e.g. unknown fields)")
    missing: list[str] = field(title="Missing", description="IDs of objects Pendo does not know")


@operation(
    title="Update Object Values",
    description="Set metadata field values on a set of visitors or accounts "
    "(POST /metadata/{visitor|account}/{agent|custom}/value). Needs a key with write access.",
    input=UpdateObjectValuesInput,
    output=UpdateObjectValuesOutput,
)
async def update_object_values(ctx: Context, data: UpdateObjectValuesInput) -> dict[str, Any]:
    id_key = "visitorId" if data.object_type == "visitor" else "accountId"
    body = [{id_key: item.id, "values": item.values} for item in data.objects]
    path = f"metadata/{data.object_type}/{data.metadata_kind}/value"
    # Setting values is idempotent: sending them again after a 429 or a 5xx is safe.
    response = await call_pendo(ctx, "POST", path, json=body, idempotent=True)
    result = read_json(ctx, response, dict)
    result.setdefault("missing", [])
    if result["missing"] is None:
        result["missing"] = []
    return result


# -- list_reports_ddl --------------------------------------------------------------------------


class NoInput(BaseModel):
    pass


@operation(
    title="List Reports DDL",
    description="The public reports, for a drop-down (GET /report).",
    input=NoInput,
    output=DDLOutput,
)
async def list_reports_ddl(ctx: Context, data: NoInput) -> dict[str, Any]:
    reports = await _reports(ctx)
    return {
        "result": [{"text": str(r.get("name") or r["id"]), "value": str(r["id"])} for r in reports]
    }


OPERATIONS = [
    aggregation,
    get_account_by_id,
    get_report_contents,
    get_report_contents_as_csv,
    get_visitor_by_id,
    get_visitor_history,
    list_reports,
    update_object_values,
    list_reports_ddl,
    raw_http_request(api_base),  # the SDK's shared operation; pendo_error applies to it too
]
