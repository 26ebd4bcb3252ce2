"""Files: Tray's file objects, kept in the payload store and downloaded by signed URL.

A file object is what Tray's steps pass each other::

    {"name": "report.pdf", "url": "https://patchbay.example/files/<id>?...",
     "mime_type": "application/pdf", "expires": 1767225600}

Its bytes are a stored payload (chunked, streamed, of one organisation, gone with its run).
The URL is signed: an HMAC over the payload id, the expiry and the name, with a key derived
from the platform's key ring, so anyone holding the URL may download the file until it
expires, and nobody can make a URL for another id or a later expiry. The object carries no
``$payload`` key on purpose: it is a plain value that data mapping hands on as it is (a
reference would be loaded); the id is read back from the URL, and the organisation check of
the store still applies (a file object copied into another tenant's run reads nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from ...payload_refs import FileInvalid, is_file

FILE_PATH = "/files/"
DEFAULT_TTL_SECONDS = 6 * 3600  # Tray's file URLs are short-lived; six hours here
_KEY_LABEL = b"patchbay-files-v1"


class FileSigner:
    """Signs and checks file URLs. Every key of the ring verifies (a rotation does not break
    the URLs already handed out); the newest signs."""

    def __init__(self, keys: list[str] | Callable[[], list[str]], public_url: str) -> None:
        """``keys``: the ring's keys, or a callable giving them as they are now (the key
        ring's, which a rotation changes under a running server)."""
        self._ring = keys if callable(keys) else (lambda: keys)
        self._derived: tuple[tuple[str, ...], list[bytes]] = ((), [])
        self.public_url = public_url.rstrip("/")

    @property
    def _keys(self) -> list[bytes]:
        ring = tuple(self._ring())
        if ring != self._derived[0]:
            derived = [hmac.new(k.encode(), _KEY_LABEL, hashlib.sha256).digest() for k in ring]
            self._derived = (ring, derived)
        return self._derived[1]

    def _mac(self, key: bytes, payload_id: str, expires: int, name: str) -> str:
        message = f"{payload_id}\n{expires}\n{name}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def url(self, payload_id: str, expires: int, name: str) -> str:
        query = urlencode(
            {
                "expires": expires,
                "name": name,
                "signature": self._mac(self._keys[0], payload_id, expires, name),
            }
        )
        return f"{self.public_url}{FILE_PATH}{quote(payload_id, safe='')}?{query}"

    def file_object(
        self, payload_id: str, name: str, mime_type: str, ttl: int = DEFAULT_TTL_SECONDS
    ) -> dict[str, Any]:
        expires = int(time.time()) + ttl
        return {
            "name": name,
            "url": self.url(payload_id, expires, name),
            "mime_type": mime_type,
            "expires": expires,
        }

    def valid(self, payload_id: str, expires: str, name: str, signature: str) -> bool:
        """Whether ``signature`` was made by one of the ring's keys (constant-time)."""
        try:
            when = int(expires)
        except (TypeError, ValueError):
            return False
        ok = False
        for key in self._keys:  # every key is tried: the time does not tell which matched
            ok |= hmac.compare_digest(self._mac(key, payload_id, when, name), signature or "")
        return ok


def payload_id_of(file: Any) -> tuple[str, int | None]:
    """The stored payload's id in a file object's URL, and the object's expiry."""
    if not is_file(file):
        raise FileInvalid("Not a file object (expected name, url, mime_type, expires)")
    parts = urlsplit(file["url"])
    if FILE_PATH not in parts.path:
        raise FileInvalid(f"{file['name']} is not a file stored by Patchbay")
    payload_id = parts.path.rsplit("/", 1)[-1]
    expires = parse_qs(parts.query).get("expires", [None])[0]
    return payload_id, int(expires) if expires and expires.isdigit() else None


def expired(expires: int | None) -> bool:
    return expires is not None and expires < time.time()
