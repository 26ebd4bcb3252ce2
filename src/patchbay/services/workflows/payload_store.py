"""The payload store: values kept by reference (``patchbay.payload_refs``), in the database.

A payload's bytes are written in chunks of 1 MiB, each in its own short transaction (a slow
upload never holds the database), and read back chunk by chunk, so neither side ever holds
more than a chunk of it. The database, not a local disk, so that every worker process and
machine sharing the database reads the same payloads, and a payload goes with its run
(pruned with it) and its organisation (a reference names an id; the store checks the
organisation, so a reference copied into another tenant's run reads nothing).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import delete, exists, select, update

from ...payload_refs import PAYLOAD_KEY, FileExpired, PayloadTooLarge, is_ref, make_ref
from ...storage.db import Database
from ...storage.models import Payload, PayloadChunk, WorkflowRun, utcnow
from .files import FileSigner, expired, payload_id_of

__all__ = ["CHUNK_BYTES", "PayloadNotFound", "PayloadTooLarge", "Payloads", "RunPayloads"]

CHUNK_BYTES = 1024 * 1024
STALE_UPLOAD = timedelta(hours=1)  # an incomplete payload older than this was abandoned


class PayloadNotFound(LookupError):
    def __init__(self, ref: Any) -> None:
        payload_id = ref.get(PAYLOAD_KEY) if isinstance(ref, dict) else ref
        super().__init__(f"Stored payload {payload_id} not found")


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class Payloads:
    def __init__(self, db: Database, inline_bytes: int, signer: FileSigner | None = None) -> None:
        self.db = db
        self.inline_bytes = inline_bytes
        self.signer = signer  # signs file URLs (services/workflows/files.py)

    # -- writing ----------------------------------------------------------------------------
    async def store(
        self,
        org_id: str,
        run_id: str | None,
        chunks: AsyncIterator[bytes],
        content_type: str,
        encoding: str,
        *,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """Store ``chunks`` (consumed as they come); their reference once every byte is
        committed. :class:`PayloadTooLarge` past ``max_bytes`` (what was written is removed,
        as on any other failure)."""
        header = Payload(
            org_id=org_id, run_id=run_id, content_type=content_type[:255], encoding=encoding
        )
        async with self.db.session() as s, s.begin():
            s.add(header)
        digest = hashlib.sha256()
        size = 0
        n = 0
        buffer = bytearray()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise PayloadTooLarge(max_bytes)
                digest.update(chunk)
                buffer += chunk
                while len(buffer) >= CHUNK_BYTES:
                    await self._write_chunk(header.id, n, bytes(buffer[:CHUNK_BYTES]))
                    del buffer[:CHUNK_BYTES]
                    n += 1
            if buffer or n == 0:
                await self._write_chunk(header.id, n, bytes(buffer))
            async with self.db.session() as s, s.begin():
                await s.execute(
                    update(Payload)
                    .where(Payload.id == header.id)
                    .values(size=size, sha256=digest.hexdigest(), complete=True)
                )
        except BaseException:
            await self._discard(header.id)
            raise
        return make_ref(header.id, size, content_type, encoding)

    async def put(
        self, org_id: str, run_id: str | None, data: bytes, content_type: str, encoding: str
    ) -> dict[str, Any]:
        return await self.store(org_id, run_id, _one(data), content_type, encoding)

    async def _write_chunk(self, payload_id: str, n: int, data: bytes) -> None:
        async with self.db.session() as s, s.begin():
            s.add(PayloadChunk(payload_id=payload_id, n=n, data=data))

    async def _discard(self, payload_id: str) -> None:
        try:
            async with self.db.session() as s, s.begin():
                await s.execute(delete(PayloadChunk).where(PayloadChunk.payload_id == payload_id))
                await s.execute(delete(Payload).where(Payload.id == payload_id))
        except Exception:  # pragma: no cover - pruned later as a stale upload
            pass

    # -- reading ----------------------------------------------------------------------------
    async def header(self, org_id: str, ref: Any) -> Payload:
        """The stored payload ``ref`` names, in ``org_id``; PayloadNotFound otherwise."""
        payload_id = ref.get(PAYLOAD_KEY) if is_ref(ref) else ref
        if not isinstance(payload_id, str):
            raise PayloadNotFound(ref)
        async with self.db.session() as s:
            row = await s.scalar(
                select(Payload).where(
                    Payload.id == payload_id, Payload.org_id == org_id, Payload.complete.is_(True)
                )
            )
        if row is None:
            raise PayloadNotFound(ref)
        return row

    async def download(self, payload_id: str) -> Payload:
        """A complete payload by id alone, of any organisation: for a signed file URL, whose
        signature is the permission (checked before this)."""
        async with self.db.session() as s:
            row = await s.scalar(
                select(Payload).where(Payload.id == payload_id, Payload.complete.is_(True))
            )
        if row is None:
            raise PayloadNotFound(payload_id)
        return row

    async def open(self, org_id: str, ref: Any) -> AsyncIterator[bytes]:
        """The payload's bytes, one chunk at a time (checked before the first chunk)."""
        return self.chunks(await self.header(org_id, ref))

    async def chunks(self, header: Payload) -> AsyncIterator[bytes]:
        """The bytes of a payload whose :meth:`header` was read, one chunk at a time."""
        payload_id = header.id
        n = 0
        while True:
            async with self.db.session() as s:
                data = await s.scalar(
                    select(PayloadChunk.data).where(
                        PayloadChunk.payload_id == payload_id, PayloadChunk.n == n
                    )
                )
            if data is None:
                return
            yield bytes(data)
            n += 1

    async def read(self, org_id: str, ref: Any) -> bytes:
        return await self._whole(await self.header(org_id, ref))

    async def _whole(self, header: Payload) -> bytes:
        return b"".join([chunk async for chunk in self.chunks(header)])

    async def load(self, org_id: str, ref: Any) -> Any:
        """The payload as a value: parsed JSON, text, or base64 text for binary bytes."""
        row = await self.header(org_id, ref)
        out = await self._whole(row)
        if row.encoding == "json":
            return orjson.loads(out)
        if row.encoding == "text":
            return out.decode("utf-8", "replace")
        return base64.b64encode(out).decode("ascii")

    def access(self, org_id: str, run_id: str | None) -> RunPayloads:
        return RunPayloads(self, org_id, run_id)

    # -- retention --------------------------------------------------------------------------
    async def prune(self) -> int:
        """Remove payloads whose run is gone (pruned, deleted with its workflow) and uploads
        abandoned midway. A payload younger than an hour is kept either way: its run may not
        be stored yet (a webhook body is stored before its run)."""
        cutoff = utcnow() - STALE_UPLOAD
        run_gone = ~exists().where(WorkflowRun.id == Payload.run_id)
        async with self.db.session() as s, s.begin():
            ids = (
                await s.scalars(
                    select(Payload.id)
                    .where(Payload.created_at < cutoff)
                    .where(Payload.complete.is_(False) | run_gone)
                    .limit(1000)
                )
            ).all()
            if ids:
                await s.execute(delete(PayloadChunk).where(PayloadChunk.payload_id.in_(ids)))
                await s.execute(delete(Payload).where(Payload.id.in_(ids)))
        return len(ids)


class RunPayloads:
    """``ctx.payloads`` of an operation run in a workflow step: the store, bound to the run's
    organisation (reads) and run (what it stores belongs to the run)."""

    def __init__(self, payloads: Payloads, org_id: str, run_id: str | None) -> None:
        self._payloads = payloads
        self._org_id = org_id
        self._run_id = run_id

    @property
    def inline_bytes(self) -> int:
        return self._payloads.inline_bytes

    async def size(self, ref: dict[str, Any]) -> int:
        return (await self._payloads.header(self._org_id, ref)).size

    async def open(self, ref: dict[str, Any]) -> AsyncIterator[bytes]:
        return await self._payloads.open(self._org_id, ref)

    async def load(self, ref: dict[str, Any]) -> Any:
        return await self._payloads.load(self._org_id, ref)

    async def store(
        self, chunks: AsyncIterator[bytes], content_type: str, encoding: str
    ) -> dict[str, Any]:
        payloads = self._payloads
        return await payloads.store(self._org_id, self._run_id, chunks, content_type, encoding)

    # -- files (services/workflows/files.py) ------------------------------------------------
    async def store_file(
        self,
        chunks: AsyncIterator[bytes],
        name: str,
        mime_type: str,
        *,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """Store ``chunks`` as a file of the run; its file object (signed URL, expiry)."""
        if self._payloads.signer is None:  # pragma: no cover - the platform always has one
            raise RuntimeError("files need a signer")
        mime_type = mime_type or "application/octet-stream"
        ref = await self._payloads.store(
            self._org_id, self._run_id, chunks, mime_type, "binary", max_bytes=max_bytes
        )
        return self._payloads.signer.file_object(ref[PAYLOAD_KEY], name, mime_type)

    async def open_file(self, file: Any) -> tuple[int, AsyncIterator[bytes]]:
        """A file object's size and bytes (chunk by chunk). FileInvalid (a ValueError) for
        what is not a file object, FileExpired past its expiry, PayloadNotFound for another
        organisation's file or one pruned with its run."""
        payload_id, expires = payload_id_of(file)
        if expired(expires):
            raise FileExpired(f"The file {file['name']} expired")
        header = await self._payloads.header(self._org_id, payload_id)
        return header.size, self._payloads.chunks(header)
