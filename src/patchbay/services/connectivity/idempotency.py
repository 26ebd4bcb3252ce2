"""``Idempotency-Key`` on Call Connector: a repeat answers the stored result, with no second
third-party call and no second task. The stored answer is sealed (encrypted with the
platform's keys, like credentials): it may hold a token or Basic credentials the service
echoed back."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ...crypto import KeyRing
from ...storage.db import Database
from ...storage.models import IdempotencyRecord, utcnow
from ..errors import BadRequest, Conflict, Unprocessable
from ..identity.principal import Principal

MAX_KEY_LENGTH = 255


def fingerprint(scope: str, body: Any) -> str:
    return hashlib.sha256(
        scope.encode() + b"\0" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


class Idempotency:
    def __init__(self, db: Database, keyring: KeyRing, *, ttl_seconds: int) -> None:
        self.db = db
        self.keyring = keyring
        self.ttl = timedelta(seconds=ttl_seconds)

    async def run(
        self,
        p: Principal,
        key: str,
        request_hash: str,
        work: Callable[[], Awaitable[tuple[int, Any]]],
    ) -> tuple[int, Any]:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise BadRequest(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
                "invalid_idempotency_key",
            )
        record = IdempotencyRecord(
            org_id=p.org_id, owner=p.owner, key=key, request_hash=request_hash
        )
        async with self.db.session() as s:
            await s.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - self.ttl)
            )
            s.add(record)
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                existing = await s.scalar(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.org_id == p.org_id,
                        IdempotencyRecord.owner == p.owner,
                        IdempotencyRecord.key == key,
                    )
                )
                return self._replay(existing, request_hash)
        try:
            status, body = await work()
        except BaseException:
            async with self.db.session() as s:  # let the client try again
                await s.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.seq == record.seq)
                )
                await s.commit()
            raise
        async with self.db.session() as s:
            row = await s.get(IdempotencyRecord, record.seq)
            row.status_code, row.response = status, self.keyring.seal(body)
            await s.commit()
        return status, body

    def _replay(self, existing: IdempotencyRecord | None, request_hash: str) -> tuple[int, Any]:
        if existing is None:  # expired and removed between the two statements
            raise Conflict(
                "A request with this Idempotency-Key is in progress", "idempotency_in_progress"
            )
        if existing.request_hash != request_hash:
            raise Unprocessable(
                "This Idempotency-Key was used with a different request", "idempotency_key_reused"
            )
        if existing.status_code is None:
            raise Conflict(
                "A request with this Idempotency-Key is in progress", "idempotency_in_progress"
            )
        return existing.status_code, self.keyring.unseal(existing.response)
