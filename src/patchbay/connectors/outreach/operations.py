"""The Outreach connector's operations: prospects over the Outreach API v2 (JSON:API).

Every request goes through ``ctx.request`` / ``ctx.paginate`` (the authentication, the
``application/vnd.api+json`` content type, the outbound guard, retries and the rate budget
are applied there); :func:`outreach_error`, the connector's ``error_mapper``, is the one
place an Outreach JSON:API error document becomes Patchbay's standardized error; the SDK
applies it to every non-2xx answer, ``raw_http_request``'s included.
"""

from __future__ import annotations

import math
from contextlib import aclosing
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from ..sdk import ConnectorError, Context, NextUrlPagination, field, operation, raw_http_request
from ..sdk.context import response_body
from ..sdk.models import OpenObject

MAX_PAGE_SIZE = 1000  # Outreach's largest page[size]
MAX_RESULTS = 10_000
NEXT_PAGE = NextUrlPagination(next_path="links.next")

# Error ids whose kind is not what the HTTP status alone says.
ERROR_KINDS: dict[str, Literal["auth_error", "rate_limited"]] = {
    "unauthorized": "auth_error",
    "unauthorizedOauthScope": "auth_error",
    "rateLimitExceeded": "rate_limited",
}


# -- errors -------------------------------------------------------------------------------


def _describe(item: dict[str, Any]) -> str:
    """One JSON:API error item in words: ``Title: detail (at /data/attributes/x)``."""
    title = item.get("title")
    detail = item.get("detail") or item.get("details")  # sic: Outreach's 415 says "details"
    text = ": ".join(str(part) for part in (title, detail) if part) or str(item.get("id") or "")
    source = item.get("source") if isinstance(item.get("source"), dict) else {}
    where = source.get("pointer") or source.get("parameter")
    return f"{text} (at {where})" if where else text


def outreach_error(ctx: Context, response: httpx.Response) -> ConnectorError:
    """The connector's error mapper: every item of an Outreach answer's JSON:API ``errors``
    in the message, the first item's ``id`` as the code (``validationError``,
    ``resourceNotFound``...), the kind from that id or the HTTP status; status, headers,
    body and Retry-After kept. An answer that is not a JSON:API error gets the SDK's
    generic error."""
    body = response_body(response)
    items = body.get("errors") if isinstance(body, dict) else None
    items = [item for item in items or () if isinstance(item, dict)]
    if not items:
        return ctx.api_error(response)
    code = items[0].get("id")
    code = str(code) if code not in (None, "") else None
    message = f"Outreach answered {response.status_code}: " + "; ".join(map(_describe, items))
    return ctx.api_error(response, message, code=code, kind=ERROR_KINDS.get(code or ""))


async def _request(ctx: Context, method: str, path: str, **kwargs: Any) -> Any:
    """One request; the JSON body of its answer (None when empty)."""
    response = await ctx.request(method, path, **kwargs)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ctx.api_error(response, "Outreach answered with a body that is not JSON") from None


async def _document(ctx: Context, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """A request whose answer is a single-resource JSON:API document."""
    body = await _request(ctx, method, path, **kwargs)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ctx.fail("Outreach answered without a resource", "api_error", body=body)
    return body


# -- shared schema pieces ---------------------------------------------------------------


def _none() -> None:
    return None


def _maybe(title: str, description: str | None = None, **kwargs: Any) -> Any:
    """An output field that may be absent or null (Outreach sends null for unset values)."""
    return field(default_factory=_none, title=title, description=description, **kwargs)


class ResourceIdentifier(OpenObject):
    type: str = field(title="Type")
    id: int | str = field(title="ID")


class Relationship(OpenObject):
    data: ResourceIdentifier | list[ResourceIdentifier] | None = _maybe(
        "Data", "The related resource(s), when included"
    )
    links: dict[str, Any] | None = _maybe("Links")
    meta: dict[str, Any] | None = _maybe("Meta")


# Outreach's own attribute names, camelCase as on the wire.
class ProspectAttributes(OpenObject):
    firstName: str | None = _maybe("First name")
    middleName: str | None = _maybe("Middle name")
    lastName: str | None = _maybe("Last name")
    name: str | None = _maybe("Name", "First and last name (read-only)")
    nickname: str | None = _maybe("Nickname")
    emails: list[str] | None = _maybe("Emails")
    title: str | None = _maybe("Title")
    company: str | None = _maybe("Company")
    occupation: str | None = _maybe("Occupation")
    workPhones: list[str] | None = _maybe("Work phones")
    mobilePhones: list[str] | None = _maybe("Mobile phones")
    homePhones: list[str] | None = _maybe("Home phones")
    otherPhones: list[str] | None = _maybe("Other phones")
    voipPhones: list[str] | None = _maybe("VoIP phones")
    tags: list[str] | None = _maybe("Tags")
    addressStreet: str | None = _maybe("Street")
    addressCity: str | None = _maybe("City")
    addressState: str | None = _maybe("State")
    addressZip: str | None = _maybe("ZIP code")
    addressCountry: str | None = _maybe("Country")
    timeZone: str | None = _maybe("Time zone")
    websiteUrl1: str | None = _maybe("Website")
    linkedInUrl: str | None = _maybe("LinkedIn URL")
    twitterUrl: str | None = _maybe("Twitter URL")
    externalId: str | None = _maybe("External ID")
    externalSource: str | None = _maybe("External source")
    personalNote1: str | None = _maybe("Personal note")
    optedOut: bool | None = _maybe("Opted out")
    createdAt: str | None = _maybe("Created at", "ISO 8601")
    updatedAt: str | None = _maybe("Updated at", "ISO 8601")


class Prospect(OpenObject):
    type: str = field(title="Type", description="Always prospect")
    id: int = field(title="ID")
    attributes: ProspectAttributes = field(title="Attributes")
    relationships: dict[str, Relationship] | None = _maybe(
        "Relationships", "account, owner, stage... each as a JSON:API relationship"
    )
    links: dict[str, Any] | None = _maybe("Links")


class ProspectDocument(OpenObject):
    data: Prospect = field(title="Prospect")


def _prospect_id(description: str) -> Any:
    return field(title="Prospect ID", description=description, ge=1)


# -- list_prospects -------------------------------------------------------------------------


Sort = Literal[
    "-updatedAt",
    "updatedAt",
    "-createdAt",
    "createdAt",
    "lastName",
    "-lastName",
    "firstName",
    "-firstName",
    "id",
    "-id",
]
SORT_LABELS = [
    "Recently updated first",
    "Least recently updated first",
    "Newest first",
    "Oldest first",
    "Last name A-Z",
    "Last name Z-A",
    "First name A-Z",
    "First name Z-A",
    "ID ascending",
    "ID descending",
]


class ListProspectsInput(BaseModel):
    email: str | None = field(
        None,
        title="Email",
        description="Only prospects with this email address (several: separate with commas)",
        min_length=1,
    )
    first_name: str | None = field(None, title="First name", min_length=1)
    last_name: str | None = field(None, title="Last name", min_length=1)
    sort: Sort | None = field(
        None, title="Sort", description="Outreach's default: by ID", enum_labels=SORT_LABELS
    )
    max_results: int = field(
        100,
        title="Max results",
        description=f"At most this many prospects are returned (up to {MAX_RESULTS:,})",
        ge=1,
        le=MAX_RESULTS,
    )
    updated_after: str | None = field(
        None,
        title="Updated after",
        description="Only prospects updated at or after this time (ISO 8601)",
        format="date-time",
        advanced=True,
    )
    page_size: int | None = field(
        None,
        title="Page size",
        description=f"Prospects per request (page[size], 1-{MAX_PAGE_SIZE}); by default as "
        "many as max results, to spend as few of the 10,000 hourly requests as possible",
        ge=1,
        le=MAX_PAGE_SIZE,
        advanced=True,
    )


class ListMeta(OpenObject):
    count: int | None = _maybe("Count", "How many prospects match, over every page")


class ListProspectsOutput(BaseModel):
    data: list[Prospect] = field(title="Prospects")
    meta: ListMeta = field(title="Meta")
    has_more: bool = field(
        title="Has more", description="More prospects matched than max results allowed"
    )


@operation(
    title="List Prospects",
    description="Prospects matching the filters, following links.next across pages "
    "(Outreach GET /prospects).",
    input=ListProspectsInput,
    output=ListProspectsOutput,
    auth_scopes=["prospects.read"],
)
async def list_prospects(ctx: Context, data: ListProspectsInput) -> dict[str, Any]:
    size = data.page_size or min(data.max_results, MAX_PAGE_SIZE)
    params: dict[str, Any] = {
        "filter[emails]": data.email,
        "filter[firstName]": data.first_name,
        "filter[lastName]": data.last_name,
        "filter[updatedAt]": f"{data.updated_after}..inf" if data.updated_after else None,
        "sort": data.sort,
        "page[size]": size,
    }
    prospects: list[dict[str, Any]] = []
    count: int | None = None
    more = False
    pages = ctx.paginate(
        "GET",
        "prospects",
        pagination=NEXT_PAGE,
        params={k: v for k, v in params.items() if v is not None},
        max_pages=math.ceil(data.max_results / size),
    )
    async with aclosing(pages):
        async for page in pages:
            if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                raise ctx.fail("Outreach answered without a list", "api_error", body=page)
            if count is None:
                meta = page.get("meta")
                count = meta.get("count") if isinstance(meta, dict) else None
            room = data.max_results - len(prospects)
            prospects.extend(page["data"][:room])
            links = page.get("links")
            more = len(page["data"]) > room or bool(isinstance(links, dict) and links.get("next"))
            if len(prospects) >= data.max_results:
                break
    return {"data": prospects, "meta": {"count": count}, "has_more": more}


# -- get_prospect ---------------------------------------------------------------------------


class GetProspectInput(BaseModel):
    id: int = _prospect_id("The ID of the prospect to get")


@operation(
    title="Get Prospect",
    description="One prospect by ID (Outreach GET /prospects/{id}).",
    input=GetProspectInput,
    output=ProspectDocument,
    auth_scopes=["prospects.read"],
)
async def get_prospect(ctx: Context, data: GetProspectInput) -> dict[str, Any]:
    return await _document(ctx, "GET", f"prospects/{data.id}")


# -- create_prospect / update_prospect --------------------------------------------------


# Input field -> Outreach attribute.
ATTRIBUTE_NAMES = {
    "first_name": "firstName",
    "last_name": "lastName",
    "emails": "emails",
    "title": "title",
    "company": "company",
    "work_phones": "workPhones",
    "mobile_phones": "mobilePhones",
    "tags": "tags",
    "middle_name": "middleName",
    "nickname": "nickname",
    "occupation": "occupation",
    "address_street": "addressStreet",
    "address_city": "addressCity",
    "address_state": "addressState",
    "address_zip": "addressZip",
    "address_country": "addressCountry",
    "time_zone": "timeZone",
    "website_url": "websiteUrl1",
    "linkedin_url": "linkedInUrl",
    "twitter_url": "twitterUrl",
    "external_id": "externalId",
    "external_source": "externalSource",
    "personal_note": "personalNote1",
}


def _optional(title: str, description: str | None = None, **kwargs: Any) -> Any:
    return field(None, title=title, description=description, **kwargs)


class ProspectFields(BaseModel):
    """What create and update share: Outreach prospect attributes and relationships."""

    first_name: str | None = _optional("First name")
    last_name: str | None = _optional("Last name")
    emails: list[str] | None = _optional(
        "Emails", "Email addresses (each unique among the organisation's prospects)"
    )
    title: str | None = _optional("Title", "Job title")
    company: str | None = _optional("Company")
    work_phones: list[str] | None = _optional("Work phones")
    mobile_phones: list[str] | None = _optional("Mobile phones")
    tags: list[str] | None = _optional("Tags")
    middle_name: str | None = _optional("Middle name", advanced=True)
    nickname: str | None = _optional("Nickname", advanced=True)
    occupation: str | None = _optional("Occupation", advanced=True)
    address_street: str | None = _optional("Street", advanced=True)
    address_city: str | None = _optional("City", advanced=True)
    address_state: str | None = _optional("State", advanced=True)
    address_zip: str | None = _optional("ZIP code", advanced=True)
    address_country: str | None = _optional("Country", advanced=True)
    time_zone: str | None = _optional(
        "Time zone", "An IANA name, e.g. Europe/London", advanced=True
    )
    website_url: str | None = _optional("Website", advanced=True)
    linkedin_url: str | None = _optional("LinkedIn URL", advanced=True)
    twitter_url: str | None = _optional("Twitter URL", advanced=True)
    external_id: str | None = _optional("External ID", "Its ID in another system", advanced=True)
    external_source: str | None = _optional("External source", advanced=True)
    personal_note: str | None = _optional("Personal note", format="text", advanced=True)
    owner_id: int | None = _optional(
        "Owner ID", "The Outreach user who owns the prospect", ge=1, advanced=True
    )
    account_id: int | None = _optional(
        "Account ID", "The Outreach account (company) the prospect belongs to", ge=1, advanced=True
    )
    additional_attributes: dict[str, Any] | None = _optional(
        "Additional attributes",
        'Any other prospect attributes by their Outreach name, e.g. {"custom1": "Gold"}; '
        "null clears a value. The fields above win over these.",
        advanced=True,
    )

    def resource(self) -> dict[str, Any]:
        """The JSON:API resource object (without ``id``)."""
        attributes = dict(self.additional_attributes or {})
        for name, wire in ATTRIBUTE_NAMES.items():
            value = getattr(self, name)
            if value is not None:
                attributes[wire] = value
        relationships = {
            name: {"data": {"type": kind, "id": value}}
            for name, kind, value in (
                ("owner", "user", self.owner_id),
                ("account", "account", self.account_id),
            )
            if value is not None
        }
        resource: dict[str, Any] = {"type": "prospect", "attributes": attributes}
        if relationships:
            resource["relationships"] = relationships
        return resource


class CreateProspectInput(ProspectFields):
    pass


@operation(
    title="Create Prospect",
    description="Add a prospect (Outreach POST /prospects).",
    input=CreateProspectInput,
    output=ProspectDocument,
    auth_scopes=["prospects.write"],
)
async def create_prospect(ctx: Context, data: CreateProspectInput) -> dict[str, Any]:
    return await _document(ctx, "POST", "prospects", json={"data": data.resource()})


class _UpdateId(BaseModel):
    id: int = _prospect_id("The ID of the prospect to update")


class UpdateProspectInput(ProspectFields, _UpdateId):  # the ID first in the form
    pass


@operation(
    title="Update Prospect",
    description="Change a prospect's attributes; the others keep their values (Outreach "
    "PATCH /prospects/{id}).",
    input=UpdateProspectInput,
    output=ProspectDocument,
    auth_scopes=["prospects.write"],
)
async def update_prospect(ctx: Context, data: UpdateProspectInput) -> dict[str, Any]:
    resource = {"id": data.id, **data.resource()}
    if not resource["attributes"] and "relationships" not in resource:
        raise ctx.fail("Nothing to update: give at least one attribute or relationship")
    # PATCH sets the same values however often it is sent: safe to retry.
    return await _document(
        ctx, "PATCH", f"prospects/{data.id}", json={"data": resource}, idempotent=True
    )


# -- delete_prospect ------------------------------------------------------------------------


class DeleteProspectInput(BaseModel):
    id: int = _prospect_id("The ID of the prospect to delete")


class DeleteProspectOutput(BaseModel):
    deleted: bool = field(title="Deleted")
    id: int = field(title="Prospect ID")


@operation(
    title="Delete Prospect",
    description="Delete a prospect for good (Outreach DELETE /prospects/{id}).",
    input=DeleteProspectInput,
    output=DeleteProspectOutput,
    auth_scopes=["prospects.delete"],
)
async def delete_prospect(ctx: Context, data: DeleteProspectInput) -> dict[str, Any]:
    await _request(ctx, "DELETE", f"prospects/{data.id}")
    return {"deleted": True, "id": data.id}


OPERATIONS = [
    list_prospects,
    get_prospect,
    create_prospect,
    update_prospect,
    delete_prospect,
    raw_http_request(),  # the SDK's shared operation; outreach_error applies to it too
]
