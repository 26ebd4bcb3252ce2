"""Encryption-key rotation: re-encrypt every stored secret under the newest key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cryptography.fernet import Fernet
from sqlalchemy import Text, cast, select

from ...crypto import SEALED, KeyRing, is_sealed, read_key_file, write_key_file
from ...storage.db import Database
from ...storage.models import Authentication, IdempotencyRecord, RunStep, Subscription

BATCH = 200
ROTATION_GRACE_SECONDS = 0.5

# Every column holding Fernet ciphertext, by model.
ENCRYPTED = (
    (Authentication, ("credentials",)),
    (Subscription, ("input", "trigger_state", "signing_keys")),
)
# JSON columns holding sealed values (crypto.SEALED): the run journal's step outputs that
# echoed a credential (services/workflows/run_logs.py), the Call Connector answers kept for
# Idempotency-Key replays (services/connectivity/idempotency.py).
SEALED_JSON = ((RunStep, "output"), (IdempotencyRecord, "response"))


@dataclass
class RotationReport:
    rotated: int
    key_file_updated: bool


async def reencrypt_all(db: Database, keyring: KeyRing) -> int:
    """Re-encrypt, batch by batch, every secret not yet under the newest key; returns how
    many values were rewritten."""
    rotated = 0
    for model, columns in ENCRYPTED:
        async for rows in _batches(db, model):
            for row in rows:
                for column in columns:
                    value = getattr(row, column)
                    if value and not keyring.is_current(value):
                        setattr(row, column, keyring.rotate(value))
                        rotated += 1
    for model, column in SEALED_JSON:
        mentions_sealed = cast(getattr(model, column), Text).like(f'%"{SEALED}"%')
        async for rows in _batches(db, model, mentions_sealed):
            for row in rows:
                value = getattr(row, column)
                if is_sealed(value) and not keyring.is_current(value[SEALED]):
                    setattr(row, column, {**value, SEALED: keyring.rotate(value[SEALED])})
                    rotated += 1
    return rotated


async def _batches(db: Database, model, *where) -> AsyncIterator[list]:
    """The rows of ``model`` matching ``where``, ``BATCH`` at a time in ``seq`` order, each
    batch in a session committed once the caller has changed its rows."""
    last_seq = 0
    while True:
        async with db.session() as s:
            rows = (
                await s.scalars(
                    select(model)
                    .where(model.seq > last_seq, *where)
                    .order_by(model.seq)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                return
            yield rows
            last_seq = rows[-1].seq
            await s.commit()


async def rotate(db: Database, keyring: KeyRing) -> RotationReport:
    """With a key file: add a new key in front, re-encrypt, then drop the old keys (until
    then they still decrypt, for a server running beside the rotation). With keys from the
    environment: re-encrypt under the first configured key; the operator then removes the
    older ones from ``PATCHBAY_SECRET_KEYS``."""
    if keyring.key_file is None:
        return RotationReport(await reencrypt_all(db, keyring), key_file_updated=False)
    path = keyring.key_file
    old = read_key_file(path)
    new_key = Fernet.generate_key().decode()
    write_key_file(path, [new_key, *old])
    ring = KeyRing([new_key, *old], key_file=path)
    count = await reencrypt_all(db, ring)
    # A server that encrypted just before it saw the new key file may have written a row
    # behind the first pass: sweep once more before the old keys go.
    await asyncio.sleep(ROTATION_GRACE_SECONDS)
    count += await reencrypt_all(db, ring)
    write_key_file(path, [new_key])
    return RotationReport(count, key_file_updated=True)
