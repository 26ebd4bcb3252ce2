"""file-helpers 2.1 through the real SDK path, on a real payload store (SQLite): files made
from a URL (a loopback server) and from text, read back, and the errors of each; the
HTTP client's file body outside a workflow."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.policy import HTTP as HTTP_POLICY
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchbay.connectors.file_helpers.connector import CONNECTORS
from patchbay.connectors.http_client.connector import CONNECTORS as HTTP_CONNECTORS
from patchbay.connectors.sdk import Connector, Service, raw_http_request
from patchbay.connectors.sdk.runner import run_operation
from patchbay.services.workflows.files import FileSigner, payload_id_of
from patchbay.services.workflows.payload_store import Payloads
from patchbay.storage.db import Database
from patchbay.testing.connectors import assert_output_valid, loopback_clients
from patchbay.testing.fakeserver import serve_in_thread

HELPERS = CONNECTORS[0]
HTTP = next(c for c in HTTP_CONNECTORS if c.name == "http-client")
DATA = bytes(range(256)) * 5000  # 1.28 MB: two chunks


async def served(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "missing":
        return Response("no", 404)
    if name == "named":
        return Response(
            DATA,
            media_type="image/jpeg",
            headers={"content-disposition": 'inline; filename="p.jpg"'},
        )
    return Response(DATA, media_type="application/zip; charset=binary")


async def upload(request: Request) -> Response:
    """Answers what a multipart upload carried: each part's name, filename, type, digest."""
    body = await request.body()
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    parts = [
        {
            "name": part.get_param("name", header="content-disposition"),
            "filename": part.get_filename(),
            "type": part.get_content_type(),
            "sha256": hashlib.sha256(part.get_payload(decode=True)).hexdigest(),
        }
        for part in message_from_bytes(head + body, policy=HTTP_POLICY).iter_parts()
    ]
    auth = request.headers.get("authorization")
    return JSONResponse({"parts": parts, "auth": auth, "length": request.headers["content-length"]})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    routes = [
        Route("/f/{name}", served),
        Route("/upload", upload, methods=["POST", "PUT"]),
        Route(
            "/moved",
            lambda r: Response(status_code=307, headers={"location": "/upload"}),
            methods=["POST"],
        ),
    ]
    with serve_in_thread(Starlette(routes=routes)) as url:
        yield url


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Payloads]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'files.db'}")
    await db.migrate()
    try:
        yield Payloads(db, 1024, FileSigner(["k" * 44], "https://pb.example"))
    finally:
        await db.dispose()


@pytest.fixture
async def call(store) -> AsyncIterator[Any]:
    async with loopback_clients() as clients:

        async def call(name: str, data: dict, *, org: str = "org-1", connector=HELPERS):
            op = connector.operation(name)
            return await run_operation(
                connector, op, data, clients=clients, payloads=store.access(org, None)
            )

        yield call


def ok(result) -> dict:
    assert result.outcome == "success", result.output
    return result.output


def failed(result) -> str:
    assert result.outcome == "error", result.output
    return result.output["message"]


def test_declaration() -> None:
    assert (HELPERS.name, HELPERS.version, HELPERS.requires_auth) == ("file-helpers", "2.1", False)
    assert uuid.UUID(HELPERS.service.id)
    assert [op.name for op in HELPERS.operations] == [
        "create_file",
        "download_file",
        "read_file",
        "write_file",
    ]


async def test_create_file_from_a_url(call, store, server) -> None:
    out = assert_output_valid(
        HELPERS, "create_file", await call("create_file", {"url": f"{server}/f/archive.zip"})
    )
    file = out["file"]
    assert (file["name"], file["mime_type"]) == ("archive.zip", "application/zip")
    assert file["url"].startswith("https://pb.example/files/")
    assert time.time() < file["expires"] <= time.time() + 6 * 3600 + 5
    payload_id, _ = payload_id_of(file)
    assert await store.read("org-1", payload_id) == DATA
    # Content-Disposition names it; download_file is Tray's 2.x spelling with filename.
    out = ok(await call("create_file", {"url": f"{server}/f/named"}))
    assert (out["file"]["name"], out["file"]["mime_type"]) == ("p.jpg", "image/jpeg")
    out = ok(await call("download_file", {"url": f"{server}/f/named", "filename": "x.jpg"}))
    assert out["file"]["name"] == "x.jpg"
    out = ok(await call("create_file", {"url": f"{server}/f/a", "name": "n", "mime_type": "a/b"}))
    assert (out["file"]["name"], out["file"]["mime_type"]) == ("n", "a/b")


async def test_create_file_errors(call, server) -> None:
    result = await call("create_file", {"url": f"{server}/f/missing"})
    assert "answered 404" in failed(result)
    assert result.output["kind"] == "api_error"
    blocked = await call("create_file", {"url": "http://10.1.2.3/f"})
    assert failed(blocked)


async def test_write_then_read(call) -> None:
    file = ok(await call("write_file", {"content": "héllo wörld", "name": "a.txt"}))["file"]
    assert file["mime_type"] == "text/plain"
    assert ok(await call("read_file", {"file": file})) == {"content": "héllo wörld"}
    too_big = await call("read_file", {"file": file, "max_bytes": 3})
    assert "more than max_bytes (3)" in failed(too_big)


async def test_a_file_of_another_org_expired_or_foreign_reads_nothing(call, store) -> None:
    file = ok(await call("write_file", {"content": "secret"}))["file"]
    assert "not in this organisation" in failed(await call("read_file", {"file": file}, org="o2"))
    payload_id, _ = payload_id_of(file)
    old = {**file, "url": store.signer.url(payload_id, int(time.time()) - 1, file["name"])}
    assert "expired" in failed(await call("read_file", {"file": old}))
    foreign = {**file, "url": "https://elsewhere.example/x.txt"}
    assert "not a file stored by Patchbay" in failed(await call("read_file", {"file": foreign}))


async def test_outside_a_workflow_files_are_refused(server) -> None:
    async with loopback_clients() as clients:
        op = HELPERS.operation("write_file")
        result = await run_operation(HELPERS, op, {"content": "x"}, clients=clients)
        assert "workflow runs only" in failed(result)
        file = {"name": "a", "url": "https://pb.example/files/x", "mime_type": "text/plain"}
        op = HTTP.operation("post_request")
        data = {"url": f"{server}/f/a", "body": {"file": file}}
        result = await run_operation(HTTP, op, data, clients=clients)
        assert "workflow runs only" in failed(result)


async def test_http_client_binary_response_and_parse_response(call, store, server) -> None:
    out = ok(await call("get_request", {"url": f"{server}/f/a.zip"}, connector=HTTP))
    file = out["response"]["body"]
    assert (file["name"], file["mime_type"]) == ("a.zip", "application/zip")
    assert await store.read("org-1", payload_id_of(file)[0]) == DATA
    as_text = {"url": f"{server}/f/a.zip", "parse_response": "text", "max_response_bytes": 2**22}
    out = ok(await call("get_request", as_text, connector=HTTP))
    assert isinstance(out["response"]["body"], str)  # asked for text: no file
    capped = {"url": f"{server}/f/a.zip", "max_response_bytes": 1000}
    assert "larger than the maximum" in failed(await call("get_request", capped, connector=HTTP))


def test_signed_urls_survive_a_key_rotation() -> None:
    old = FileSigner(["old" * 15], "https://pb.example")
    rotated = FileSigner(["new" * 15, "old" * 15], "https://pb.example")
    url = old.url("id-1", 2_000_000_000, "a.txt")
    signature = url.rsplit("signature=", 1)[1]
    assert rotated.valid("id-1", "2000000000", "a.txt", signature)
    assert not rotated.valid("id-2", "2000000000", "a.txt", signature)
    assert not FileSigner(["new" * 15], "x").valid("id-1", "2000000000", "a.txt", signature)


SERVICE = Connector(
    name="svc",
    title="Svc",
    version="1.0",
    service=Service(id="11111111-2222-4333-8444-555555555555", name="svc", version=1),
    authorize=lambda ctx: {"Authorization": "Bearer t0"},
    operations=[raw_http_request()],
)


async def test_raw_http_request_uploads_a_file_and_makes_binary_bodies_files(store, server) -> None:
    async with loopback_clients() as clients:

        async def raw(data: dict, payloads: Any) -> Any:
            op = SERVICE.operation("raw_http_request")
            return await run_operation(
                SERVICE,
                op,
                data,
                clients=clients,
                credentials={},
                user_data={"base_url": server},
                payloads=payloads,
            )

        access = store.access("org-1", None)
        op = HELPERS.operation("write_file")
        made = await run_operation(
            HELPERS, op, {"content": "x" * 3000}, clients=clients, payloads=access
        )
        file = ok(made)["file"]
        body = {"file": file, "field_name": "doc", "form": [{"key": "title", "value": "T"}]}
        out = ok(await raw({"method": "POST", "url": "upload", "body": body}, access))
        answer = out["response"]["body"]
        assert answer["auth"] == "Bearer t0"
        assert answer["parts"] == [
            {
                "name": "title",
                "filename": None,
                "type": "text/plain",
                "sha256": hashlib.sha256(b"T").hexdigest(),
            },
            {
                "name": "doc",
                "filename": "file.txt",
                "type": "text/plain",
                "sha256": hashlib.sha256(b"x" * 3000).hexdigest(),
            },
        ]
        # A binary answer is a file object, with the exact bytes.
        out = ok(await raw({"method": "GET", "url": "f/a.zip"}, access))
        got = out["response"]["body"]
        assert (got["name"], got["mime_type"]) == ("a.zip", "application/zip")
        assert await store.read("org-1", payload_id_of(got)[0]) == DATA
        # Outside a workflow: refused; the binary body stays text.
        refused = await raw({"method": "POST", "url": "upload", "body": {"file": file}}, None)
        assert "workflow runs only" in failed(refused)
        out = ok(await raw({"method": "GET", "url": "f/a.zip"}, None))
        assert isinstance(out["response"]["body"], str)


async def test_http_client_uploads_a_file_again_after_a_307(call, server) -> None:
    file = ok(await call("write_file", {"content": "y" * 5000, "name": "y.txt"}))["file"]
    data = {"url": f"{server}/moved", "body": {"file": file, "form": [{"key": "k", "value": 1}]}}
    out = ok(await call("post_request", data, connector=HTTP))
    answer = out["response"]["body"]
    assert [p["name"] for p in answer["parts"]] == ["k", "file"]
    assert answer["parts"][1]["sha256"] == hashlib.sha256(b"y" * 5000).hexdigest()
    assert answer["parts"][1]["filename"] == "y.txt"


def test_the_signer_follows_the_ring_as_it_rotates() -> None:
    ring = ["old" * 15]
    signer = FileSigner(lambda: ring, "https://pb.example")
    before = signer.url("id-1", 2_000_000_000, "a").rsplit("signature=", 1)[1]
    ring.insert(0, "new" * 15)  # a rotation: the new key signs, the old still verifies
    after = signer.url("id-1", 2_000_000_000, "a").rsplit("signature=", 1)[1]
    assert after != before
    assert signer.valid("id-1", "2000000000", "a", before)
    assert signer.valid("id-1", "2000000000", "a", after)
