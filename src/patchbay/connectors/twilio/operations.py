"""The Twilio connector's operations: thin handlers over Twilio's Messages resource.

Every request goes through ``ctx.request`` / ``ctx.collect`` (authentication, outbound
guard, retries). :func:`twilio_error`, the connector's ``error_mapper``, is the one place
where Twilio's error body ``{"code", "message", "more_info", "status"}`` becomes the
standardized error, keeping Twilio's code and message; the SDK applies it to every
non-2xx answer, ``raw_http_request``'s included.
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..sdk import (
    ConnectorError,
    Context,
    NextUrlPagination,
    field,
    lookup,
    operation,
    raw_http_request,
)
from ..sdk.context import response_body
from ..sdk.errors import ErrorKind
from ..sdk.models import DDLOutput, OpenObject

# Twilio error codes that mean "the credentials are the problem".
AUTH_CODES = frozenset({20003, 20005, 20006, 20008})
RATE_LIMIT_CODES = frozenset({20429, 14107})

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 10_000
DDL_MAX_PAGES = 5

PAGINATION = NextUrlPagination(next_path="next_page_uri")

_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


# -- errors ---------------------------------------------------------------------------------


def twilio_error(ctx: Context, response: httpx.Response) -> ConnectorError:
    """The connector's error mapper: a Twilio error answer becomes the standardized error
    with Twilio's ``code`` as the code and its ``message`` (plus ``detail`` and
    ``more_info``) in the message, the body kept. An answer that is not Twilio's error
    body (a proxy's HTML page) gets the SDK's generic error."""
    body = response_body(response)
    if not isinstance(body, dict) or "code" not in body:
        return ctx.api_error(response)
    code = body.get("code")
    text = str(body.get("message") or f"HTTP {response.status_code}")
    message = f"Twilio error {code}: {text}" if code is not None else f"Twilio error: {text}"
    if body.get("detail"):
        message += f" ({body['detail']})"
    if body.get("more_info"):
        message += f"; see {body['more_info']}"
    kind: ErrorKind | None = None  # from the HTTP status
    if code in RATE_LIMIT_CODES:
        kind = "rate_limited"
    elif code in AUTH_CODES:
        kind = "auth_error"
    return ctx.api_error(response, message, code=code, kind=kind)


def account_path(ctx: Context, resource: str) -> str:
    """``Accounts/{AccountSid}/<resource>``, relative to the base URL."""
    account_sid = str(ctx.credentials.get("account_sid") or "")
    if not account_sid:
        raise ctx.fail("The Twilio authentication has no account_sid", "auth_error")
    return f"Accounts/{quote(account_sid, safe='')}/{resource}"


# -- shared schema pieces -------------------------------------------------------------------

FROM_LOOKUP = lookup("list_phone_numbers_ddl", {})

MediaUrl = Annotated[str, Field(min_length=1, json_schema_extra={"format": "uri"})]


class SubresourceUris(OpenObject):
    media: str | None = field(None, title="Media")
    feedback: str | None = field(None, title="Feedback")


class Message(OpenObject):
    """Twilio's Message resource, as Twilio returns it."""

    sid: str = field(title="SID", description="SM… (or MM… with media)")
    account_sid: str = field(title="Account SID")
    api_version: str = field(title="API version")
    to: str = field(title="To")
    from_: str | None = field(
        title="From",
        alias="from",
        description="The sender (null until a messaging service picks one)",
    )
    messaging_service_sid: str | None = field(title="Messaging service SID")
    body: str = field(title="Body")
    status: str = field(
        title="Status",
        description="queued, accepted, scheduled, sending, sent, delivered, undelivered, "
        "failed, receiving, received, read or canceled",
    )
    direction: str = field(
        title="Direction", description="outbound-api, outbound-call, outbound-reply or inbound"
    )
    num_segments: str | int = field(title="Segments", description="SMS segments billed")
    num_media: str | int = field(title="Media count")
    date_created: str = field(title="Date created", description="RFC 2822")
    date_updated: str | None = field(title="Date updated", description="RFC 2822")
    date_sent: str | None = field(title="Date sent", description="RFC 2822; null until sent")
    error_code: int | None = field(title="Error code")
    error_message: str | None = field(title="Error message")
    price: str | None = field(title="Price")
    price_unit: str | None = field(title="Price unit")
    uri: str = field(title="URI")
    subresource_uris: SubresourceUris | None = field(None, title="Subresource URIs")


# -- send_sms -------------------------------------------------------------------------------


class SendSmsInput(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            # Twilio needs a sender: a From number or a Messaging Service, exactly one.
            "oneOf": [{"required": ["from"]}, {"required": ["messaging_service_sid"]}]
        },
    )

    to: str = field(
        title="To",
        description="The recipient: an E.164 number (+14155550100) or a channel address "
        "(whatsapp:+14155550100)",
        min_length=1,
    )
    from_: str | None = field(
        None,
        title="From",
        alias="from",
        description="A Twilio number of the account (E.164), a short code or an "
        "alphanumeric sender ID. Give this or a messaging service SID, not both",
        lookup=FROM_LOOKUP,
        min_length=1,
    )
    messaging_service_sid: str | None = field(
        None,
        title="Messaging service SID",
        description="MG…: let the messaging service pick the sender. Give this or From, not both",
        pattern=r"^MG[0-9a-fA-F]{32}$",
    )
    body: str | None = field(
        None,
        title="Body",
        description="The message text, up to 1600 characters. Required unless media URLs are given",
        format="text",
        max_length=1600,
    )
    media_url: list[MediaUrl] | None = field(
        None,
        title="Media URLs",
        description="Public URLs of media to send as MMS (up to 10)",
        min_length=1,
        max_length=10,
    )
    status_callback: str | None = field(
        None,
        title="Status callback",
        description="A URL Twilio POSTs each status change of the message to",
        format="uri",
        advanced=True,
    )
    validity_period: int | None = field(
        None,
        title="Validity period",
        description="Seconds the message may wait in the queue before it fails (1-36000)",
        ge=1,
        le=36000,
        advanced=True,
    )


@operation(
    title="Send SMS",
    description="Send an SMS, MMS or WhatsApp message (Twilio POST "
    "/Accounts/{AccountSid}/Messages.json).",
    input=SendSmsInput,
    output=Message,
)
async def send_sms(ctx: Context, data: SendSmsInput) -> dict[str, Any]:
    if (data.from_ is None) == (data.messaging_service_sid is None):
        raise ctx.fail(
            "Twilio needs exactly one sender: give either From or a messaging service SID",
            "connector_error",
        )
    form: dict[str, Any] = {"To": data.to}
    if data.from_ is not None:
        form["From"] = data.from_
    if data.messaging_service_sid is not None:
        form["MessagingServiceSid"] = data.messaging_service_sid
    if data.body is not None:
        form["Body"] = data.body
    if data.media_url:
        form["MediaUrl"] = list(data.media_url)  # a repeated form field
    if data.status_callback is not None:
        form["StatusCallback"] = data.status_callback
    if data.validity_period is not None:
        form["ValidityPeriod"] = str(data.validity_period)
    response = await ctx.request("POST", account_path(ctx, "Messages.json"), data=form)
    return response.json()


# -- get_message ----------------------------------------------------------------------------


class GetMessageInput(BaseModel):
    sid: str = field(
        title="Message SID", description="The SID of the message (SM… or MM…)", min_length=1
    )


@operation(
    title="Get Message",
    description="Fetch one message (Twilio GET /Accounts/{AccountSid}/Messages/{Sid}.json).",
    input=GetMessageInput,
    output=Message,
)
async def get_message(ctx: Context, data: GetMessageInput) -> dict[str, Any]:
    path = account_path(ctx, f"Messages/{quote(data.sid, safe='')}.json")
    response = await ctx.request("GET", path)
    return response.json()


# -- list_messages --------------------------------------------------------------------------


class ListMessagesInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    to: str | None = field(
        None, title="To", description="Only messages sent to this number", min_length=1
    )
    from_: str | None = field(
        None,
        title="From",
        alias="from",
        description="Only messages sent from this number",
        lookup=FROM_LOOKUP,
        min_length=1,
    )
    date_sent: str | None = field(
        None,
        title="Date sent",
        description="Only messages sent on this day (YYYY-MM-DD, UTC)",
        pattern=_DATE_PATTERN,
    )
    date_sent_after: str | None = field(
        None,
        title="Sent on or after",
        description="Only messages sent on or after this day (YYYY-MM-DD, UTC)",
        pattern=_DATE_PATTERN,
    )
    date_sent_before: str | None = field(
        None,
        title="Sent on or before",
        description="Only messages sent on or before this day (YYYY-MM-DD, UTC)",
        pattern=_DATE_PATTERN,
    )
    max_results: int = field(
        DEFAULT_MAX_RESULTS,
        title="Max results",
        description="At most this many messages (newest first), across pages",
        ge=1,
        le=MAX_RESULTS,
    )
    page_size: int = field(
        DEFAULT_PAGE_SIZE,
        title="Page size",
        description="Messages per request to Twilio (1-1000)",
        ge=1,
        le=MAX_PAGE_SIZE,
        advanced=True,
    )


class ListMessagesOutput(BaseModel):
    messages: list[Message] = field(title="Messages", description="Newest first")
    has_more: bool = field(
        title="Has more", description="Whether more messages matched than were returned"
    )


@operation(
    title="List Messages",
    description="List the account's messages, newest first, following Twilio's pages "
    "(Twilio GET /Accounts/{AccountSid}/Messages.json).",
    input=ListMessagesInput,
    output=ListMessagesOutput,
)
async def list_messages(ctx: Context, data: ListMessagesInput) -> dict[str, Any]:
    page_size = min(data.page_size, data.max_results)
    params: dict[str, Any] = {
        "To": data.to,
        "From": data.from_,
        "DateSent": data.date_sent,
        "DateSent>": data.date_sent_after,
        "DateSent<": data.date_sent_before,
        "PageSize": page_size,
    }
    messages, more = await ctx.collect(
        "GET",
        account_path(ctx, "Messages.json"),
        pagination=PAGINATION,
        params={k: v for k, v in params.items() if v is not None},
        items_path="messages",
        max_items=data.max_results,
        max_pages=math.ceil(data.max_results / page_size),
    )
    return {"messages": messages, "has_more": more}


# -- list_phone_numbers_ddl -----------------------------------------------------------------


class ListPhoneNumbersInput(BaseModel):
    sms_only: bool = field(
        True, title="SMS-capable only", description="Leave out numbers that cannot send SMS"
    )


@operation(
    title="List Phone Numbers DDL",
    description="The account's phone numbers, for the From drop-down (Twilio GET "
    "/Accounts/{AccountSid}/IncomingPhoneNumbers.json).",
    input=ListPhoneNumbersInput,
    output=DDLOutput,
)
async def list_phone_numbers_ddl(ctx: Context, data: ListPhoneNumbersInput) -> dict[str, Any]:
    numbers, _ = await ctx.collect(
        "GET",
        account_path(ctx, "IncomingPhoneNumbers.json"),
        pagination=PAGINATION,
        params={"PageSize": MAX_PAGE_SIZE},
        items_path="incoming_phone_numbers",
        max_pages=DDL_MAX_PAGES,
    )
    result = []
    for number in numbers:
        capabilities = number.get("capabilities") or {}
        if data.sms_only and not capabilities.get("sms"):
            continue
        phone, name = number.get("phone_number"), number.get("friendly_name")
        if not phone:
            continue
        text = f"{name} ({phone})" if name and name != phone else phone
        result.append({"text": text, "value": phone})
    return {"result": result}


OPERATIONS = [
    send_sms,
    get_message,
    list_messages,
    list_phone_numbers_ddl,
    raw_http_request(),  # the SDK's shared operation; twilio_error applies to it too
]
