"""A file's signed download URL (``/files/{id}``, public): what Tray's file objects point
to. No bearer token: the URL's signature and expiry are the permission."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from ...services.platform import Platform
from ..deps import platform
from ..schemas.common import errors

router = APIRouter(tags=["files"])


@router.get(
    "/files/{file_id}",
    summary="Download a file by its signed URL",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file's bytes, with its MIME type, streamed",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **errors(400, 403, 404, 410, 429),
    },
)
async def download_file(
    file_id: str,
    expires: str = Query(description="Expiry, seconds since the epoch (signed)"),
    signature: str = Query(description="HMAC-SHA256 of the id, expiry and name"),
    name: str = Query("", description="The file's name (signed)"),
    pf: Platform = Depends(platform),
):
    """400 without expires or signature, 403 when the signature does not match (a changed
    id, expiry or name), 410 past the expiry, 404 when the file is no longer stored (its run
    was pruned)."""
    header, chunks = await pf.runs.files.open(file_id, expires, name, signature)
    disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    return StreamingResponse(
        chunks,
        media_type=header.content_type or "application/octet-stream",
        headers={"content-length": str(header.size), "content-disposition": disposition},
    )
