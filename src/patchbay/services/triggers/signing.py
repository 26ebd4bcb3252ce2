"""Subscription signing keys and the signatures on delivered events.

Tray's contract: ``x-tray-signature`` = base64(HMAC-SHA256(base64-decoded signingKey, raw
body)). Patchbay adds rotation with an overlap window: after a rotation the previous key
keeps signing ``x-tray-signature`` until the window ends (receivers that still hold it keep
verifying), while ``x-patchbay-signature`` lists the signatures under every key in force,
newest first, so a receiver that already switched to the new key verifies at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

TRAY_SIGNATURE = "x-tray-signature"
SIGNATURES = "x-patchbay-signature"


def new_signing_key() -> str:
    """32 random bytes, base64 (what subscribers decode before keying HMAC-SHA256)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign(signing_key: str, body: bytes) -> str:
    digest = hmac.new(base64.b64decode(signing_key), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(signing_key: str, body: bytes, signature: str) -> bool:
    """What a subscriber does with ``x-tray-signature`` (used by tests and examples)."""
    return hmac.compare_digest(sign(signing_key, body).encode(), signature.strip().encode())


@dataclass(frozen=True)
class SigningKey:
    key: str
    created_at: datetime
    expires_at: datetime | None = None  # set on the previous key by a rotation

    def to_record(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "createdAt": self.created_at.isoformat(),
            "expiresAt": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SigningKey:
        expires = record.get("expiresAt")
        return cls(
            key=record["key"],
            created_at=datetime.fromisoformat(record["createdAt"]),
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )


@dataclass(frozen=True)
class KeySet:
    """A subscription's signing keys, newest first."""

    keys: tuple[SigningKey, ...]

    @classmethod
    def fresh(cls, now: datetime) -> KeySet:
        return cls((SigningKey(new_signing_key(), now),))

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> KeySet:
        return cls(tuple(SigningKey.from_record(r) for r in records))

    def to_records(self) -> list[dict[str, Any]]:
        return [k.to_record() for k in self.keys]

    @property
    def newest(self) -> SigningKey:
        return self.keys[0]

    def in_force(self, now: datetime) -> list[SigningKey]:
        return [k for k in self.keys if k.expires_at is None or k.expires_at > now]

    def rotated(self, now: datetime, overlap_seconds: float) -> KeySet:
        """A new key in front; the current one kept for ``overlap_seconds``; expired
        ones dropped. Older keys still in force expire no later than the current one (an
        older key outliving it would keep signing ``x-tray-signature``)."""
        until = now + timedelta(seconds=max(0.0, overlap_seconds))
        previous = SigningKey(self.newest.key, self.newest.created_at, until)
        kept = [
            SigningKey(k.key, k.created_at, min(k.expires_at, until))
            for k in self.keys[1:]
            if k.expires_at is not None and min(k.expires_at, until) > now
        ]
        return KeySet((SigningKey(new_signing_key(), now), previous, *kept))

    def headers(self, body: bytes, now: datetime) -> dict[str, str]:
        keys = self.in_force(now) or [self.newest]
        signatures = [sign(k.key, body) for k in keys]
        # The oldest key still in force signs Tray's header: receivers switch at their pace.
        return {TRAY_SIGNATURE: signatures[-1], SIGNATURES: ",".join(signatures)}
