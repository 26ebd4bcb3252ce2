"""The Shopify connector's operations: orders and customers over the Admin REST API.

The API lives at ``https://{shop}.myshopify.com/admin/api/{version}``, built per call from
the authentication's user data by :func:`api_base` (the connector declares no base URL).
:func:`shopify_error`, the connector's ``error_mapper``, turns Shopify's error bodies
(``{"errors": "Not Found"}``, ``{"errors": {"email": ["has already been taken"]}}``) into
the standardized error, the one place that mapping lives; the SDK applies it to every
non-2xx answer (``ctx.request``, ``ctx.collect``, ``raw_http_request``).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
from pydantic import BaseModel

from ..sdk import (
    ConnectorError,
    Context,
    LinkHeaderPagination,
    field,
    operation,
    raw_http_request,
)
from ..sdk.context import parse_retry_after, response_body
from ..sdk.models import OpenObject

DEFAULT_API_VERSION = "2024-10"
# A shop's subdomain: what is left of "https://acme.myshopify.com/" once normalised.
SHOP_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
VERSION_RE = re.compile(r"^(?:\d{4}-\d{2}|unstable)$")
# What userData.shop may look like: "acme", "acme.myshopify.com", "https://acme.myshopify.com/".
SHOP_PATTERN = r"^(?:https?://)?[A-Za-z0-9][A-Za-z0-9-]*(?:\.myshopify\.com)?/?$"
VERSION_PATTERN = r"^(?:\d{4}-\d{2}|unstable)$"

MAX_LIMIT = 250  # items per page Shopify allows
MAX_PAGES = 100  # pages one call follows with all_pages
MAX_RESULTS = 25_000  # = MAX_PAGES * MAX_LIMIT
DEFAULT_MAX_RESULTS = 1_000
# What a follow-up page request may carry besides page_info (Shopify refuses the rest).
PAGE_PARAMS = ("limit", "fields")
LIST_TIMEOUT = 120.0


# -- the shop's API base URL --------------------------------------------------------------


def shop_name(value: Any) -> str:
    """The shop's subdomain from ``userData.shop``: ``acme``, ``acme.myshopify.com`` or
    ``https://acme.myshopify.com/`` all give ``acme``. Anything else is refused, so the
    access token only ever goes to ``*.myshopify.com``."""
    text = str(value or "").strip().lower()
    text = re.sub(r"^https?://", "", text).rstrip("/")
    text = text.removesuffix(".myshopify.com")
    if not SHOP_RE.match(text):
        raise ConnectorError(
            "userData.shop must be the shop's subdomain or its myshopify.com domain "
            "(e.g. acme or acme.myshopify.com)",
            "connector_error",
        )
    return text


def api_base(ctx: Context) -> str:
    """``https://{shop}.myshopify.com/admin/api/{version}``; ``userData.base_url`` (tests,
    gateways) replaces ``https://{shop}.myshopify.com``."""
    user_data = ctx.user_data or {}
    version = str(user_data.get("api_version") or DEFAULT_API_VERSION)
    if not VERSION_RE.match(version):
        raise ConnectorError(
            f"userData.api_version must be a dated version like {DEFAULT_API_VERSION} "
            "(or unstable)",
            "connector_error",
        )
    override = user_data.get("base_url")
    origin = (
        str(override).rstrip("/")
        if override
        else f"https://{shop_name(user_data.get('shop'))}.myshopify.com"
    )
    return f"{origin}/admin/api/{version}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


# -- errors ---------------------------------------------------------------------------------


def _errors_text(body: Any) -> str | None:
    """Shopify's error body in words: ``{"errors": "Not Found"}``, ``{"errors": {"email":
    ["has already been taken"]}}``, ``{"errors": ["..."]}`` or ``{"error": "..."}``."""
    if not isinstance(body, dict):
        return None
    errors = body.get("errors", body.get("error"))
    if isinstance(errors, str):
        description = body.get("error_description")
        return f"{errors}: {description}" if isinstance(description, str) else errors
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors) or None
    if isinstance(errors, dict):
        parts = []
        for name, messages in errors.items():
            if isinstance(messages, list):
                messages = ", ".join(str(m) for m in messages)
            parts.append(f"{name}: {messages}")
        return "; ".join(parts) or None
    return None


def shopify_error(ctx: Context, response: httpx.Response) -> ConnectorError:
    """The connector's error mapper: a failed Shopify answer becomes the standardized error
    with Shopify's own message (and, for a 429, the call-limit header and Retry-After) in
    ``message``, the HTTP status as ``code`` (Shopify's REST errors have no other code),
    its body and headers kept in ``response``. Errors not from a failed HTTP answer
    (timeouts, blocked addresses, bad user data, a 2xx without the expected body) do not
    come here: the SDK and the handlers raise those as they are."""
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    message = f"Shopify answered {status} {phrase}".rstrip()
    detail = _errors_text(response_body(response))
    if detail and detail != phrase:
        message += f": {detail}"
    if status == 429:
        limit = response.headers.get("x-shopify-shop-api-call-limit")
        if limit:
            message += f" (API call limit {limit})"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            message += f"; retry after {retry_after:g} s"
    return ctx.api_error(response, message, code=status)


async def get_json(ctx: Context, path: str, key: str, params: dict[str, Any]) -> dict[str, Any]:
    """GET ``path`` under the API base and return the body, which must hold ``key``."""
    response = await ctx.request("GET", f"{api_base(ctx)}/{path}", params=params)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise ctx.api_error(response, f"Shopify answered without {key!r}", kind="api_error")
    return body


# -- pagination -----------------------------------------------------------------------------


class _LinkPages:
    """Shopify's Link-header pagination (``LinkHeaderPagination`` keeping ``limit`` and
    ``fields``), remembering where the list stopped so a call can hand back
    ``next_page_info``, and refusing a next link off the shop's host (the access token
    goes with it)."""

    def __init__(self, ctx: Context, base: str, key: str) -> None:
        self.ctx = ctx
        self.links = LinkHeaderPagination(keep_params=PAGE_PARAMS)
        self.origin = _origin(base)
        self.key = key
        self.seen = 0  # items on the pages fetched so far
        self.next_url: str | None = None  # the last page's rel="next"
        self.previous_url: str | None = None  # the first page's rel="previous"
        self.pages = 0

    def next_request(
        self, response: httpx.Response, body: Any, url: str, params: dict[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        items = body.get(self.key) if isinstance(body, dict) else None
        self.seen += len(items) if isinstance(items, list) else 0
        self.pages += 1
        if self.pages == 1:
            self.previous_url = response.links.get("previous", {}).get("url")
        following = self.links.next_request(response, body, url, params)
        self.next_url = following[0] if following else None
        if following and _origin(urljoin(url, following[0])) != self.origin:
            raise self.ctx.fail(
                "Shopify's next page link points away from the shop; not following it",
                "api_error",
            )
        return following


def _page_info(url: str | None) -> str | None:
    if not url:
        return None
    return dict(parse_qsl(urlsplit(url).query)).get("page_info")


async def list_pages(
    ctx: Context, resource: str, key: str, filters: dict[str, Any], data: Any
) -> dict[str, Any]:
    """One page of a Link-paginated list (or, with ``all_pages``, up to ``max_results``
    items over several pages) and where to resume."""
    base = api_base(ctx)
    if data.page_info:  # the filters live in the page_info; Shopify refuses them again
        params: dict[str, Any] = {"page_info": data.page_info}
    else:
        params = {k: v for k, v in filters.items() if v is not None}
    limit = data.limit or (MAX_LIMIT if data.all_pages else None)
    if limit:
        params["limit"] = limit
    if data.fields:
        params["fields"] = data.fields
    pages = _LinkPages(ctx, base, key)
    items, more = await ctx.collect(
        "GET",
        f"{base}/{resource}",
        pagination=pages,
        params=params,
        items_path=key,
        max_pages=MAX_PAGES if data.all_pages else 1,
        max_items=data.max_results if data.all_pages else None,
    )
    # A resume point only when the items end where a page ended (not cut mid-page).
    resume = pages.next_url if len(items) == pages.seen else None
    return {
        key: items,
        "next_page_info": _page_info(resume),
        "previous_page_info": None if data.all_pages else _page_info(pages.previous_url),
        "has_more": more,
    }


# -- shared schema pieces -------------------------------------------------------------------


def _none() -> None:
    return None


def out(title: str, description: str | None = None) -> Any:
    """An output field Shopify may leave out (``fields``) or send as null."""
    return field(default_factory=_none, title=title, description=description)


class Address(OpenObject):
    first_name: str | None = out("First name")
    last_name: str | None = out("Last name")
    name: str | None = out("Name")
    company: str | None = out("Company")
    address1: str | None = out("Address line 1")
    address2: str | None = out("Address line 2")
    city: str | None = out("City")
    province: str | None = out("Province")
    province_code: str | None = out("Province code")
    country: str | None = out("Country")
    country_code: str | None = out("Country code")
    zip: str | None = out("ZIP / postal code")
    phone: str | None = out("Phone")
    latitude: float | None = out("Latitude")
    longitude: float | None = out("Longitude")


class CustomerAddress(Address):
    id: int | None = out("ID")
    customer_id: int | None = out("Customer ID")
    country_name: str | None = out("Country name")
    default: bool | None = out("Default", "Whether this is the customer's default address")


class MarketingConsent(OpenObject):
    state: str | None = out("State", "subscribed, not_subscribed, pending, unsubscribed...")
    opt_in_level: str | None = out("Opt-in level")
    consent_updated_at: str | None = out("Consent updated at")
    consent_collected_from: str | None = out("Consent collected from")


class Customer(OpenObject):
    id: int | None = out("ID")
    admin_graphql_api_id: str | None = out("GraphQL ID")
    email: str | None = out("Email")
    first_name: str | None = out("First name")
    last_name: str | None = out("Last name")
    phone: str | None = out("Phone")
    state: str | None = out("State", "disabled, invited, enabled or declined")
    note: str | None = out("Note")
    tags: str | None = out("Tags", "Comma-separated")
    currency: str | None = out("Currency")
    verified_email: bool | None = out("Verified email")
    tax_exempt: bool | None = out("Tax exempt")
    tax_exemptions: list[str] | None = out("Tax exemptions")
    multipass_identifier: str | None = out("Multipass identifier")
    orders_count: int | None = out("Orders count")
    total_spent: str | None = out("Total spent")
    last_order_id: int | None = out("Last order ID")
    last_order_name: str | None = out("Last order name")
    created_at: str | None = out("Created at")
    updated_at: str | None = out("Updated at")
    email_marketing_consent: MarketingConsent | None = out("Email marketing consent")
    sms_marketing_consent: MarketingConsent | None = out("SMS marketing consent")
    addresses: list[CustomerAddress] | None = out("Addresses")
    default_address: CustomerAddress | None = out("Default address")


class LineItem(OpenObject):
    id: int | None = out("ID")
    admin_graphql_api_id: str | None = out("GraphQL ID")
    product_id: int | None = out("Product ID")
    variant_id: int | None = out("Variant ID")
    title: str | None = out("Title")
    variant_title: str | None = out("Variant title")
    name: str | None = out("Name")
    sku: str | None = out("SKU")
    vendor: str | None = out("Vendor")
    quantity: int | None = out("Quantity")
    price: str | None = out("Price")
    total_discount: str | None = out("Total discount")
    fulfillment_status: str | None = out("Fulfillment status")
    fulfillable_quantity: int | None = out("Fulfillable quantity")
    requires_shipping: bool | None = out("Requires shipping")
    taxable: bool | None = out("Taxable")
    gift_card: bool | None = out("Gift card")
    grams: int | None = out("Grams")
    properties: list[dict[str, Any]] | None = out("Properties")
    tax_lines: list[dict[str, Any]] | None = out("Tax lines")


class Order(OpenObject):
    id: int | None = out("ID")
    admin_graphql_api_id: str | None = out("GraphQL ID")
    name: str | None = out("Name", "The order's name in the shop, e.g. #1001")
    number: int | None = out("Number")
    order_number: int | None = out("Order number")
    email: str | None = out("Email")
    contact_email: str | None = out("Contact email")
    phone: str | None = out("Phone")
    created_at: str | None = out("Created at")
    updated_at: str | None = out("Updated at")
    processed_at: str | None = out("Processed at")
    closed_at: str | None = out("Closed at")
    cancelled_at: str | None = out("Cancelled at")
    cancel_reason: str | None = out("Cancel reason")
    financial_status: str | None = out("Financial status")
    fulfillment_status: str | None = out("Fulfillment status")
    confirmed: bool | None = out("Confirmed")
    test: bool | None = out("Test")
    currency: str | None = out("Currency")
    presentment_currency: str | None = out("Presentment currency")
    subtotal_price: str | None = out("Subtotal price")
    total_line_items_price: str | None = out("Total line items price")
    total_discounts: str | None = out("Total discounts")
    total_tax: str | None = out("Total tax")
    total_price: str | None = out("Total price")
    total_outstanding: str | None = out("Total outstanding")
    taxes_included: bool | None = out("Taxes included")
    total_weight: int | None = out("Total weight", "In grams")
    tags: str | None = out("Tags", "Comma-separated")
    note: str | None = out("Note")
    note_attributes: list[dict[str, Any]] | None = out("Note attributes")
    source_name: str | None = out("Source name")
    payment_gateway_names: list[str] | None = out("Payment gateway names")
    order_status_url: str | None = out("Order status URL")
    discount_codes: list[dict[str, Any]] | None = out("Discount codes")
    tax_lines: list[dict[str, Any]] | None = out("Tax lines")
    shipping_lines: list[dict[str, Any]] | None = out("Shipping lines")
    customer: Customer | None = out("Customer")
    billing_address: Address | None = out("Billing address")
    shipping_address: Address | None = out("Shipping address")
    line_items: list[LineItem] | None = out("Line items")
    fulfillments: list[dict[str, Any]] | None = out("Fulfillments")
    refunds: list[dict[str, Any]] | None = out("Refunds")


def _fields_input() -> Any:
    return field(
        None,
        title="Fields",
        description="Only these fields of each result, comma-separated (e.g. id,name,email)",
        advanced=True,
        min_length=1,
    )


def _limit_input(noun: str) -> Any:
    return field(
        None,
        title="Limit",
        description=f"{noun} per page, at most 250 (Shopify's default is 50; with All pages, 250)",
        ge=1,
        le=MAX_LIMIT,
    )


def _page_info_input() -> Any:
    return field(
        None,
        title="Page info",
        description="The next_page_info (or previous_page_info) of an earlier call, to get "
        "that page. The filters are then those of the first call: only Limit and Fields "
        "are sent with it",
        advanced=True,
        min_length=1,
    )


def _all_pages_input() -> Any:
    return field(
        False,
        title="All pages",
        description="Follow Shopify's pages and return up to Max results items (else one page)",
    )


def _max_results_input() -> Any:
    return field(
        DEFAULT_MAX_RESULTS,
        title="Max results",
        description=f"With All pages: stop after this many items (at most {MAX_RESULTS})",
        ge=1,
        le=MAX_RESULTS,
    )


class _PageOutput(OpenObject):
    next_page_info: str | None = field(
        title="Next page info",
        description="Give it as Page info to get the next page; null at the end (or when "
        "All pages stopped at Max results in the middle of a page)",
    )
    previous_page_info: str | None = field(
        title="Previous page info",
        description="Give it as Page info to get the previous page (single-page calls)",
    )
    has_more: bool = field(title="Has more", description="Whether more items remain")


# -- list_orders ----------------------------------------------------------------------------

OrderStatus = Literal["any", "open", "closed", "cancelled"]
FinancialStatus = Literal[
    "any",
    "authorized",
    "pending",
    "paid",
    "partially_paid",
    "refunded",
    "voided",
    "partially_refunded",
    "unpaid",
]
FulfillmentStatus = Literal["any", "shipped", "partial", "unshipped", "unfulfilled"]


class ListOrdersInput(BaseModel):
    status: OrderStatus = field(
        "any",
        title="Status",
        description="Which orders: any (the default here), open, closed or cancelled",
        enum_labels=["Any", "Open", "Closed", "Cancelled"],
    )
    financial_status: FinancialStatus | None = field(
        None,
        title="Financial status",
        enum_labels=[
            "Any",
            "Authorized",
            "Pending",
            "Paid",
            "Partially paid",
            "Refunded",
            "Voided",
            "Partially refunded",
            "Unpaid (authorized or pending)",
        ],
    )
    fulfillment_status: FulfillmentStatus | None = field(
        None,
        title="Fulfillment status",
        enum_labels=["Any", "Shipped", "Partial", "Unshipped", "Unfulfilled (or partial)"],
        advanced=True,
    )
    created_at_min: str | None = field(
        None,
        title="Created at or after",
        description="ISO 8601, e.g. 2024-01-31T00:00:00-05:00",
        format="date-time",
    )
    created_at_max: str | None = field(
        None, title="Created at or before", description="ISO 8601", format="date-time"
    )
    updated_at_min: str | None = field(
        None, title="Updated at or after", description="ISO 8601", format="date-time"
    )
    updated_at_max: str | None = field(
        None,
        title="Updated at or before",
        description="ISO 8601",
        format="date-time",
        advanced=True,
    )
    since_id: int | None = field(
        None,
        title="Since ID",
        description="Only orders with a greater ID (in ascending order)",
        ge=1,
        advanced=True,
    )
    ids: list[int] | None = field(
        None, title="IDs", description="Only these orders", min_length=1, advanced=True
    )
    limit: int | None = _limit_input("Orders")
    fields: str | None = _fields_input()
    page_info: str | None = _page_info_input()
    all_pages: bool = _all_pages_input()
    max_results: int = _max_results_input()


class ListOrdersOutput(_PageOutput):
    orders: list[Order] = field(title="Orders")


@operation(
    title="List Orders",
    description="List the shop's orders, newest first (Shopify GET /orders.json).",
    input=ListOrdersInput,
    output=ListOrdersOutput,
    auth_scopes=["read_orders"],
    timeout=LIST_TIMEOUT,
)
async def list_orders(ctx: Context, data: ListOrdersInput) -> dict[str, Any]:
    filters = {
        "status": data.status,
        "financial_status": data.financial_status,
        "fulfillment_status": data.fulfillment_status,
        "created_at_min": data.created_at_min,
        "created_at_max": data.created_at_max,
        "updated_at_min": data.updated_at_min,
        "updated_at_max": data.updated_at_max,
        "since_id": data.since_id,
        "ids": ",".join(map(str, data.ids)) if data.ids else None,
    }
    return await list_pages(ctx, "orders.json", "orders", filters, data)


# -- get_order ------------------------------------------------------------------------------


class GetOrderInput(BaseModel):
    order_id: int = field(title="Order ID", description="The order's numeric ID", ge=1)
    fields: str | None = _fields_input()


class GetOrderOutput(OpenObject):
    order: Order = field(title="Order")


@operation(
    title="Get Order",
    description="Get one order by its ID (Shopify GET /orders/{id}.json).",
    input=GetOrderInput,
    output=GetOrderOutput,
    auth_scopes=["read_orders"],
)
async def get_order(ctx: Context, data: GetOrderInput) -> dict[str, Any]:
    params = {"fields": data.fields} if data.fields else {}
    return await get_json(ctx, f"orders/{data.order_id}.json", "order", params)


# -- get_customer ---------------------------------------------------------------------------


class GetCustomerInput(BaseModel):
    customer_id: int = field(title="Customer ID", description="The customer's numeric ID", ge=1)
    fields: str | None = _fields_input()


class GetCustomerOutput(OpenObject):
    customer: Customer = field(title="Customer")


@operation(
    title="Get Customer",
    description="Get one customer by their ID (Shopify GET /customers/{id}.json).",
    input=GetCustomerInput,
    output=GetCustomerOutput,
    auth_scopes=["read_customers"],
)
async def get_customer(ctx: Context, data: GetCustomerInput) -> dict[str, Any]:
    params = {"fields": data.fields} if data.fields else {}
    return await get_json(ctx, f"customers/{data.customer_id}.json", "customer", params)


# -- search_customers -----------------------------------------------------------------------


class SearchCustomersInput(BaseModel):
    query: str = field(
        title="Query",
        description="Shopify's customer search syntax: words match names, email and phone; "
        "field:value narrows, e.g. email:bob@example.com, first_name:Bob, country:Canada, "
        "tag:vip",
        min_length=1,
    )
    order: str | None = field(
        None,
        title="Order",
        description="Field and direction to sort by (Shopify's default: last_order_date DESC)",
        advanced=True,
    )
    limit: int | None = _limit_input("Customers")
    fields: str | None = _fields_input()
    page_info: str | None = _page_info_input()
    all_pages: bool = _all_pages_input()
    max_results: int = _max_results_input()


class SearchCustomersOutput(_PageOutput):
    customers: list[Customer] = field(title="Customers")


@operation(
    title="Search Customers",
    description="Find customers matching a query (Shopify GET /customers/search.json).",
    input=SearchCustomersInput,
    output=SearchCustomersOutput,
    auth_scopes=["read_customers"],
    timeout=LIST_TIMEOUT,
)
async def search_customers(ctx: Context, data: SearchCustomersInput) -> dict[str, Any]:
    filters = {"query": data.query, "order": data.order}
    return await list_pages(ctx, "customers/search.json", "customers", filters, data)


OPERATIONS = [
    list_orders,
    get_order,
    get_customer,
    search_customers,
    raw_http_request(api_base),  # the SDK's shared operation, under the shop's API base
]
