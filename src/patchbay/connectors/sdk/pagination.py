"""Pagination declared, not written: a connector says how its lists page and iterates.

- :class:`CursorPagination` — a cursor or page token in the body, sent back as a parameter
  (Slack's ``response_metadata.next_cursor``, Google-style ``nextPageToken``);
- :class:`LinkHeaderPagination` — RFC 8288 ``Link: <...>; rel="next"`` (Shopify, GitHub);
- :class:`NextUrlPagination` — the next page's URL in the body, absolute (JSON:API
  ``links.next``) or relative to the service's origin (Twilio's ``next_page_uri``).

``ctx.paginate(...)`` yields items (or whole pages); ``ctx.collect(...)`` gathers up to
``max_items`` of them and says whether more remained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from ... import keypaths
from .errors import ConnectorError

if TYPE_CHECKING:
    from .context import Context

NextRequest = tuple[str, dict[str, Any]] | None  # (url, params) of the next page, or done

DEFAULT_MAX_PAGES = 50


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@dataclass(frozen=True)
class CursorPagination:
    cursor_param: str
    next_path: str  # a key path (patchbay.keypaths) to the cursor in the body

    def next_request(
        self, response: httpx.Response, body: Any, url: str, params: dict[str, Any]
    ) -> NextRequest:
        cursor = keypaths.get(body, self.next_path, None)
        if cursor in (None, ""):
            return None
        return url, {**params, self.cursor_param: cursor}


@dataclass(frozen=True)
class LinkHeaderPagination:
    """Follows ``rel="next"``; the link carries its own query, to which only
    ``keep_params`` of the first request are added (Shopify refuses other filters on
    follow-up pages)."""

    keep_params: tuple[str, ...] = ()

    def next_request(
        self, response: httpx.Response, body: Any, url: str, params: dict[str, Any]
    ) -> NextRequest:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        present = {k for k, _ in parse_qsl(urlsplit(link).query)}
        kept = {k: params[k] for k in self.keep_params if k in params and k not in present}
        return link, kept


@dataclass(frozen=True)
class NextUrlPagination:
    next_path: str  # a key path (patchbay.keypaths) to the next page's URL

    def next_request(
        self, response: httpx.Response, body: Any, url: str, params: dict[str, Any]
    ) -> NextRequest:
        link = keypaths.get(body, self.next_path, None)
        if not link or not isinstance(link, str):
            return None
        return link, {}


async def pages(
    ctx: Context,
    method: str,
    url: str,
    *,
    pagination: Any,
    params: dict[str, Any] | None = None,
    items_path: str | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    **request_kwargs: Any,
) -> AsyncIterator[tuple[list[Any], bool]]:
    """Each page's items (the whole body as one item without ``items_path``) and whether
    a next page exists. Relative next URLs resolve against the current page's URL."""
    current = ctx.clients.join(ctx.base_url, url)
    origin = _origin(current)
    current_params = dict(params or {})
    for number in range(1, max_pages + 1):
        response = await ctx.request(method, current, params=current_params, **request_kwargs)
        try:
            body = response.json() if response.content else None
        except ValueError as exc:
            raise ConnectorError(
                f"{ctx.connector.title} answered a page that is not JSON", "connector_error"
            ) from exc
        found = keypaths.get(body, items_path, None) if items_path else body
        items = found if isinstance(found, list) else ([] if found is None else [found])
        following = pagination.next_request(response, body, current, current_params)
        yield items, following is not None
        if following is None or number == max_pages:
            return
        next_url, current_params = following
        current = urljoin(current, next_url)
        if _origin(current) != origin:  # the credentials go with the request: never elsewhere
            raise ConnectorError(
                f"{ctx.connector.title} gave a next-page link to another host "
                f"({urlsplit(current).netloc}); not followed",
                "connector_error",
            )


async def paginate(
    ctx: Context, method: str, url: str, *, max_items: int | None = None, **kwargs: Any
) -> AsyncIterator[Any]:
    count = 0
    async for items, _ in pages(ctx, method, url, **kwargs):
        for item in items:
            if max_items is not None and count >= max_items:
                return
            yield item
            count += 1


async def collect(
    ctx: Context, method: str, url: str, *, max_items: int | None = None, **kwargs: Any
) -> tuple[list[Any], bool]:
    """Up to ``max_items`` items, and whether more remained (on this page or a next one)."""
    gathered: list[Any] = []
    more = False
    async for items, has_next in pages(ctx, method, url, **kwargs):
        for item in items:
            if max_items is not None and len(gathered) >= max_items:
                return gathered, True
            gathered.append(item)
        more = has_next
        if max_items is not None and len(gathered) >= max_items:
            return gathered, more
    return gathered, more
