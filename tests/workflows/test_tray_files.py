"""Files as Tray passes them between steps: a Tray export whose loop downloads files from one
loopback service (file-helpers) and uploads each to another (the HTTP client, multipart),
the bytes arriving exact; a binary response as a file object; the signed download URL."""

from __future__ import annotations

import hashlib
import json
import os
import time
from email import message_from_bytes
from email.policy import HTTP
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from test_import import import_export, jsonpath, text, tray_step
from test_tray_exports import ASSETS, TRANSFORM, break_node, break_step, tray_export, variables
from test_workflow_api import node, steps_named, typed, wait_run

from patchbay.testing.fakeserver import serve_in_thread

FILES = {
    "logo.png": ("image/png", os.urandom(70_000)),
    "big.bin": ("application/octet-stream", os.urandom(2 * 1024 * 1024 + 123)),  # 3 chunks
    "notes.pdf": ("application/pdf", b"%PDF-1.4 " + os.urandom(5000)),
}


# Tray's fileInput: the files given as variables, read; file_output makes the result a file.
FILE_SCRIPT = """exports.step = function(input, fileInput) {
  return {text: _.toUpper(fileInput.doc), name: input.doc.name};
};
"""


class Source:
    """Serves a list of files and each file's bytes."""

    def __init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/assets", self.assets),
                Route("/assets/{name}", self.one),
                Route("/pages/{n:int}", self.page),
            ]
        )

    async def assets(self, request: Request) -> Response:
        return JSONResponse([{"name": name} for name in FILES])

    async def page(self, request: Request) -> Response:
        """The asset names of page ``n``, as a paging API gives them: empty past the end."""
        names = list(FILES)
        return JSONResponse({1: names[:2], 2: names[2:]}.get(request.path_params["n"], []))

    async def one(self, request: Request) -> Response:
        mime, data = FILES[request.path_params["name"]]
        return Response(data, media_type=mime)


class Target:
    """Receives multipart uploads; keeps each part."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.app = Starlette(routes=[Route("/upload", self.upload, methods=["POST"])])

    async def upload(self, request: Request) -> Response:
        body = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = message_from_bytes(head + body, policy=HTTP)
        parts = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts[name] = {
                "filename": part.get_filename(),
                "type": part.get_content_type(),
                "data": part.get_payload(decode=True),
            }
        self.received.append(
            {"parts": parts, "length": int(request.headers["content-length"]), "size": len(body)}
        )
        return JSONResponse({"ok": True, "n": len(self.received)})


@pytest.fixture
def services():
    source, target = Source(), Target()
    with serve_in_thread(source.app) as src, serve_in_thread(target.app) as dst:
        yield src, dst, target


def copy_export(src: str, dst: str) -> dict:
    steps = {
        "trigger": tray_step("Manual", "noop", "1.0", "trigger", {}),
        "http-client-1": tray_step(
            "List assets", "http-client", "1.0", "get_request", {"url": text(f"{src}/assets")}
        ),
        "loop-1": tray_step(
            "Each asset",
            "loop",
            "1.3",
            "loop_array",
            {"array": jsonpath("$.steps.http-client-1.response.body")},
        ),
        "file-helpers-1": tray_step(
            "Download",
            "file-helpers",
            "2.1",
            "create_file",
            {"url": text(f"{src}/assets/{{$.steps.loop-1.value.name}}")},
        ),
        "http-client-2": tray_step(
            "Upload",
            "http-client",
            "1.0",
            "post_request",
            {
                "url": text(f"{dst}/upload"),
                "body": typed(
                    {
                        "file": "$.steps.file-helpers-1.file",
                        "field_name": "asset",
                        "form": [{"key": "title", "value": "{$.steps.loop-1.value.name}"}],
                    }
                ),
            },
        ),
        "http-client-3": tray_step(
            "A binary response",
            "http-client",
            "1.0",
            "get_request",
            {"url": text(f"{src}/assets/logo.png")},
        ),
        "file-helpers-2": tray_step(
            "Write",
            "file-helpers",
            "2.1",
            "write_file",
            {"content": text("héllo"), "name": text("a.txt")},
        ),
        "file-helpers-3": tray_step(
            "Read",
            "file-helpers",
            "2.1",
            "read_file",
            {"file": jsonpath("$.steps.file-helpers-2.file")},
        ),
        "script-1": tray_step(
            "Script on a file",
            "script",
            "3.3",
            "execute",
            {
                "variables": typed([{"name": "doc", "value": "$.steps.file-helpers-2.file"}]),
                "script": text(FILE_SCRIPT),
                "file_output": {"type": "boolean", "value": True},
            },
        ),
        "file-helpers-4": tray_step(
            "Read the script's file",
            "file-helpers",
            "2.1",
            "read_file",
            {"file": jsonpath("$.steps.script-1.file")},
        ),
    }
    structure = [
        node("trigger"),
        node("http-client-1"),
        node("loop-1", "loop", _loop=[node("file-helpers-1"), node("http-client-2")]),
        node("http-client-3"),
        node("file-helpers-2"),
        node("file-helpers-3"),
        node("script-1"),
        node("file-helpers-4"),
    ]
    return tray_export(steps, structure, title="Copy files")


async def run_export(api, export) -> dict:
    body = await import_export(api, export)
    assert body["report"] == {"missingConnectors": [], "versionMappings": []}
    [imported] = body["workflows"]
    assert imported["problems"] == []
    wf = imported["id"]
    r = await api.client.post(f"/core/v1/workflows/{wf}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    r = await api.client.post(f"/core/v1/workflows/{wf}/runs", json={}, headers=api.master)
    assert r.status_code == 201, r.text
    return await wait_run(api, wf, r.json()["id"], timeout=60)


def local(url: str) -> str:
    """A file URL (public_url based) as a path for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_loop_copies_files_between_two_services(api, services):
    src, dst, target = services
    run = await run_export(api, copy_export(src, dst))
    assert run["status"] == "succeeded", run

    # The second service received the exact bytes of each file, with name and type.
    assert len(target.received) == len(FILES)
    for got, (name, (mime, data)) in zip(target.received, FILES.items(), strict=True):
        assert got["length"] == got["size"]
        asset = got["parts"]["asset"]
        assert (asset["filename"], asset["type"]) == (name, mime)
        assert hashlib.sha256(asset["data"]).digest() == hashlib.sha256(data).digest()
        assert got["parts"]["title"]["data"] == name.encode()

    files = [s["output"]["file"] for s in steps_named(run, "file-helpers-1")]
    assert [f["name"] for f in files] == list(FILES)
    assert [f["mime_type"] for f in files] == [m for m, _ in FILES.values()]
    assert all(f["expires"] > time.time() + 3600 for f in files)
    public_url = api.platform.settings.effective_public_url
    assert all(f["url"].startswith(f"{public_url}/files/") for f in files)

    # A binary response is a file object; text written to a file reads back.
    [binary] = steps_named(run, "http-client-3")
    logo = binary["output"]["response"]["body"]
    assert (logo["name"], logo["mime_type"]) == ("logo.png", "image/png")
    [read] = steps_named(run, "file-helpers-3")
    assert read["output"]["content"] == "héllo"
    [script] = steps_named(run, "script-1")
    assert script["output"]["file"]["mime_type"] == "application/json"
    [read] = steps_named(run, "file-helpers-4")
    assert json.loads(read["output"]["content"]) == {"text": "HÉLLO", "name": "a.txt"}

    # The signed URL downloads the exact bytes, streamed.
    big = files[1]
    r = await api.client.get(local(big["url"]))
    assert r.status_code == 200, r.text
    assert r.content == FILES["big.bin"][1]
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-length"] == str(len(FILES["big.bin"][1]))
    assert "big.bin" in r.headers["content-disposition"]

    # Tampered: another id, a later expiry, another name, no signature: 403.
    parts = urlsplit(big["url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    other_id = urlsplit(files[0]["url"]).path
    for path, changed in [
        (other_id, {}),
        (parts.path, {"expires": str(int(query["expires"]) + 3600)}),
        (parts.path, {"name": "evil.exe"}),
        (parts.path, {"signature": "0" * 64}),
    ]:
        r = await api.client.get(f"{path}?{urlencode({**query, **changed})}")
        api.expect_error(r, 403, "invalid_signature")

    # Expired (a URL signed for the past): 410. Signed but no longer stored: 404.
    signer = api.platform.runs.payloads.signer
    payload_id = parts.path.rsplit("/", 1)[-1]
    past = signer.url(payload_id, int(time.time()) - 10, "big.bin")
    api.expect_error(await api.client.get(local(past)), 410, "file_expired")
    gone = signer.url("0" * 36, int(time.time()) + 60, "x")
    api.expect_error(await api.client.get(local(gone)), 404, "file_not_found")
    api.expect_error(await api.client.get(parts.path), 400)
    r = await api.client.get(f"{parts.path}?{urlencode({**query, 'expires': 'soon'})}")
    api.expect_error(r, 403, "invalid_signature")


async def test_another_orgs_file_is_not_found(api, services):
    """A file object copied into another organisation's workflow reads nothing."""
    src, _, _ = services
    steps = {
        "trigger": tray_step("Manual", "noop", "1.0", "trigger", {}),
        "file-helpers-1": tray_step(
            "Write", "file-helpers", "2.1", "write_file", {"content": text("secret")}
        ),
    }
    run = await run_export(api, tray_export(steps, [node("trigger"), node("file-helpers-1")]))
    assert run["status"] == "succeeded", run
    [made] = steps_named(run, "file-helpers-1")
    file = made["output"]["file"]

    _, other = await api.other_org()
    steps = {
        "trigger": tray_step("Manual", "noop", "1.0", "trigger", {}),
        "file-helpers-1": tray_step(
            "Read", "file-helpers", "2.1", "read_file", {"file": typed(file)}
        ),
    }
    r = await api.client.post(
        "/core/v1/workflows/import",
        json=tray_export(steps, [node("trigger"), node("file-helpers-1")]),
        headers=other,
    )
    assert r.status_code == 201, r.text
    wf = r.json()["workflows"][0]["id"]
    r = await api.client.post(f"/core/v1/workflows/{wf}/enable", headers=other)
    assert r.status_code == 200, r.text
    r = await api.client.post(f"/core/v1/workflows/{wf}/runs", json={}, headers=other)
    run = await wait_run(api, wf, r.json()["id"], headers=other)
    assert run["status"] == "failed"
    assert "not stored (or not in this organisation)" in run["error"]["message"]


def sync_with_files_export(src: str, dst: str) -> dict:
    """The issue's whole shape: a script using lodash and moment, a loop forever over pages
    counted in storage, a condition on an empty page that breaks the loop, and a nested loop
    downloading each of the page's files from one service and uploading it to another."""
    steps = {
        "trigger": tray_step("Manual", "noop", "1.0", "trigger", {}),
        "script-1": tray_step(
            "Transform",
            "script",
            "3.3",
            "execute",
            {"variables": variables(assets=ASSETS), "script": text(TRANSFORM)},
        ),
        "loop-1": tray_step("Pages", "loop", "1.3", "loop_forever", {}),
        "storage-1": tray_step(
            "Page number",
            "storage",
            "1.4",
            "atomic_increment",
            {
                "scope": text("Current Run"),
                "key": text("{$.env.solution_instance_id or:'dev'}_page"),
                "value_to_add": {"type": "integer", "value": 1},
            },
        ),
        "http-client-1": tray_step(
            "A page of assets",
            "http-client",
            "1.0",
            "get_request",
            {"url": text(f"{src}/pages/{{$.steps.storage-1.value}}")},
        ),
        "boolean-condition-1": tray_step(
            "Empty page?",
            "boolean-condition",
            "2.3",
            "boolean_condition",
            {
                "conditions": typed(
                    [
                        {
                            "value1": "$.steps.http-client-1.response.body",
                            "comparison_type": "is_empty",
                            "value2": None,
                        }
                    ]
                ),
                "strictness": text("All"),
            },
        ),
        "break-loop-1": break_step(),
        "loop-2": tray_step(
            "Each asset of the page",
            "loop",
            "1.3",
            "loop_array",
            {"array": jsonpath("$.steps.http-client-1.response.body")},
        ),
        "file-helpers-1": tray_step(
            "Download",
            "file-helpers",
            "2.1",
            "create_file",
            {"url": text(f"{src}/assets/{{$.steps.loop-2.value}}")},
        ),
        "http-client-2": tray_step(
            "Upload",
            "http-client",
            "1.0",
            "post_request",
            {
                "url": text(f"{dst}/upload"),
                "body": typed(
                    {
                        "file": "$.steps.file-helpers-1.file",
                        "field_name": "asset",
                        "form": [{"key": "title", "value": "{$.steps.loop-2.value}"}],
                    }
                ),
            },
        ),
        "storage-2": tray_step(
            "Copied",
            "storage",
            "1.4",
            "append_to_list",
            {
                "scope": text("Current Run"),
                "key": text("copied"),
                "value": jsonpath("$.steps.http-client-1.response.body"),
            },
        ),
        "storage-3": tray_step(
            "Pages copied",
            "storage",
            "1.4",
            "get",
            {"scope": text("Current Run"), "key": text("copied")},
        ),
    }
    structure = [
        node("trigger"),
        node("script-1"),
        node(
            "loop-1",
            "loop",
            _loop=[
                node("storage-1"),
                node("http-client-1"),
                node(
                    "boolean-condition-1",
                    "branch",
                    true=[break_node()],
                    false=[
                        node(
                            "loop-2",
                            "loop",
                            _loop=[node("file-helpers-1"), node("http-client-2")],
                        ),
                        node("storage-2"),
                    ],
                ),
            ],
        ),
        node("storage-3"),
    ]
    return tray_export(steps, structure, title="Sync assets with their files")


async def test_the_issues_whole_sync_with_files_runs_to_the_end(api, services):
    src, dst, target = services
    run = await run_export(api, sync_with_files_export(src, dst))
    assert run["status"] == "succeeded", run
    [script] = steps_named(run, "script-1")
    assert script["output"]["result"]["assets"][0] == {"id": "a1", "created": "2024-05-01"}
    # three pages asked for, the third empty: the break ended the loop forever
    assert [s["output"]["value"] for s in steps_named(run, "storage-1")] == [1, 2, 3]
    names = list(FILES)
    [copied] = steps_named(run, "storage-3")
    assert copied["output"]["value"] == [names[:2], names[2:]]
    # every file of every page arrived, exact
    assert [got["parts"]["title"]["data"].decode() for got in target.received] == names
    for got, (mime, data) in zip(target.received, FILES.values(), strict=True):
        asset = got["parts"]["asset"]
        assert asset["type"] == mime
        assert hashlib.sha256(asset["data"]).digest() == hashlib.sha256(data).digest()
