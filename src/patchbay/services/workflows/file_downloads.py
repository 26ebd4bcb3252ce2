"""Downloading a file by its signed URL (``GET /files/{id}``): no token, the signature is
the permission (services/workflows/files.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from ...storage.models import Payload
from ..errors import Forbidden, Gone, NotFound
from .files import FileSigner
from .payload_store import PayloadNotFound, Payloads


class FileDownloads:
    def __init__(self, signer: FileSigner, payloads: Payloads) -> None:
        self.signer = signer
        self.payloads = payloads

    async def open(
        self, payload_id: str, expires: str, name: str, signature: str
    ) -> tuple[Payload, AsyncIterator[bytes]]:
        """The file's header and bytes. The signature is checked first (403), so nothing is
        told about an id without one; then the expiry (410), then whether the file is still
        stored (404: pruned with its run)."""
        if not self.signer.valid(payload_id, expires, name, signature):
            raise Forbidden("The file URL's signature is not valid", "invalid_signature")
        if int(expires) < time.time():
            raise Gone("The file URL expired", "file_expired")
        try:
            header = await self.payloads.download(payload_id)
        except PayloadNotFound:
            raise NotFound("The file is no longer stored", "file_not_found") from None
        return header, self.payloads.chunks(header)
