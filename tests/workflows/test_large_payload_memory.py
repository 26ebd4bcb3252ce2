"""The memory bound of large payloads: a 50 MB webhook body flows through three steps of a
real ``patchbay serve`` (the data mapper moves it, the HTTP client uploads it, a last step
maps the upload's answer and the body again) while the server's peak resident memory grows
by less than 3x the payload, and the whole process stays under 3x the payload. The body is
never held whole: it is streamed into the payload store as it arrives, handed on by
reference, and streamed out of it to the upload."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
from test_large_payloads import Sink, mover
from test_workflow_api import node, step, workflow

from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.process import ServerProcess

MB = 1024 * 1024
PAYLOAD = 50 * MB


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of ``pid``, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) * 1024
    return out


def _body_chunks():
    """A 50 MB JSON document, sent in 1 MB pieces: {"items": ["xxxx...", ...]}."""
    item = b'"' + b"x" * (MB - 16) + b'"'
    count = PAYLOAD // len(item)
    yield b'{"items":['
    for i in range(count):
        yield item + (b"," if i < count - 1 else b"")
    yield b"]}"


def test_a_50_mb_body_flows_through_three_steps_under_3x_memory(tmp_path, database_url):
    sink = Sink()
    env = {
        "PATCHBAY_DATABASE_URL": database_url,
        "PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1/32",
        "PATCHBAY_WORKER_POLL_SECONDS": "0.1",
    }
    server = ServerProcess(tmp_path / "data", env=env)
    try:
        server.wait_healthy()
        [token] = server.tokens()
        master = {"Authorization": f"Bearer {token}"}
        with (
            serve_in_thread(sink) as url,
            httpx.Client(base_url=server.url, headers=master, timeout=120) as client,
        ):
            definition = workflow(
                [node("data-mapper-1"), node("http-client-1"), node("data-mapper-2")],
                {
                    "data-mapper-1": mover(),
                    "http-client-1": step(
                        "http-client",
                        "put_request",
                        url=f"{url}/upload",
                        body={"json": "$.steps.data-mapper-1.result.payload"},
                        timeout_seconds=120,
                    ),
                    "data-mapper-2": step(
                        "data-mapper",
                        "map_values",
                        value={
                            "answer": "$.steps.http-client-1.response.body",
                            "payload": "$.steps.data-mapper-1.result.payload",
                        },
                        mappings=[{"from": "answer.ok", "to": "uploaded"}],
                        keep_unmapped=True,
                    ),
                },
            )
            definition["steps"]["trigger"] = step("webhook", "webhook", "2.0")
            wf = client.post("/core/v1/workflows", json=definition).json()
            assert client.post(f"/core/v1/workflows/{wf['id']}/enable").status_code == 200
            hook = "/" + wf["triggerUrl"].split("/", 3)[3]

            # warm up (imports, connection pools, the first run) with a small request
            warm = client.post(hook, json={"items": []})
            assert warm.status_code == 202, warm.text
            _wait(client, wf["id"], warm.json()["runId"])

            pid = server.proc.pid
            before = _status(pid)["VmRSS"]
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            sent = hashlib.sha256()

            def body():
                for chunk in _body_chunks():
                    sent.update(chunk)
                    yield chunk

            r = client.post(hook, content=body(), headers={"content-type": "application/json"})
            assert r.status_code == 202, r.text
            done = _wait(client, wf["id"], r.json()["runId"], timeout=120)
            peak = _status(pid)["VmHWM"]
            assert done["status"] == "succeeded", done

            mapped = [s for s in done["steps"] if s["step"] == "data-mapper-2"][0]["output"]
            ref = mapped["result"]["payload"]
            assert mapped["result"]["uploaded"] is True
            assert ref["size"] >= PAYLOAD - MB and ref["encoding"] == "json"
            upload = sink.uploads[-1]  # (the first is the warm-up run's)
            assert upload["sha256"] == sent.hexdigest() and upload["size"] == ref["size"]

            growth = peak - before
            print(
                f"\n50 MB body through 3 steps ({database_url.split(':')[0]}): RSS before "
                f"{before / MB:.0f} MB, peak {peak / MB:.0f} MB, growth {growth / MB:.0f} MB "
                f"({growth / ref['size']:.2f}x the payload)"
            )
            assert growth < 3 * ref["size"], f"peak grew by {growth / MB:.0f} MB"
            assert peak < 3 * ref["size"], f"peak {peak / MB:.0f} MB"  # the whole process too
    finally:
        server.stop()


def _wait(client: httpx.Client, wf_id: str, run_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/core/v1/workflows/{wf_id}/runs/{run_id}")
        if r.status_code == 200 and r.json()["status"] in ("succeeded", "failed", "cancelled"):
            return r.json()
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")
