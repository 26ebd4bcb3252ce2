"""The one policy of headers to hide: a header whose value may be a credential or a signature
is never shown in an error output, never copied into a trigger's event, and never carried
along when a redirect leaves the origin."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

__all__ = ["SECRET_HEADERS", "SECRET_HEADER_WORDS", "is_secret_header", "visible_headers"]

# Credentials, and the signature headers of well-known webhook senders.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-signature",
        "x-hub-signature",
        "x-hub-signature-256",
        "stripe-signature",
        "x-slack-signature",
        "x-shopify-hmac-sha256",
        "x-twilio-signature",
    }
)
# A header whose name holds one of these words is taken for a secret too (X-API-Key,
# X-Auth-Token, X-Session-Id...).
SECRET_HEADER_WORDS = ("auth", "token", "key", "secret", "password", "cookie", "session")
# Names that hold one of those words but carry no secret: challenges (how to authenticate)
# and idempotency keys (a request's id, which a workflow may need to deduplicate).
_NOT_SECRET = frozenset(
    {"www-authenticate", "proxy-authenticate", "idempotency-key", "x-idempotency-key"}
)


@lru_cache(maxsize=4096)
def is_secret_header(name: str) -> bool:
    """Whether the value of header ``name`` (any case) is kept out of sight."""
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        return True
    return lowered not in _NOT_SECRET and any(word in lowered for word in SECRET_HEADER_WORDS)


def visible_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | Any) -> dict[str, str]:
    """The headers worth showing, names lower-cased, secrets left out."""
    if not headers:
        return {}
    items = headers.items() if hasattr(headers, "items") else headers
    return {k.lower(): v for k, v in items if not is_secret_header(k)}
