"""A real ``patchbay serve`` is SIGKILLed in the middle of a run; after a restart the run
resumes at its first unfinished step: finished steps are not executed again, and only the
step interrupted mid-call (at most one) is sent twice, as its second attempt."""

from __future__ import annotations

import time
from collections import Counter

import httpx
from test_workflow_api import node, step, workflow

from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.process import ServerProcess
from patchbay.testing.subscriber import Subscriber

ITEMS = 40


def test_sigkill_mid_run_resumes_without_repeating_steps(tmp_path, database_url):
    target = Subscriber()
    target.script(*[(200, {}, 0.05)] * (ITEMS + 5))  # each call takes a moment
    env = {
        "PATCHBAY_DATABASE_URL": database_url,
        "PATCHBAY_OUTBOUND_ALLOW": "127.0.0.1/32",
        "PATCHBAY_WORKER_LEASE_SECONDS": "2",
        "PATCHBAY_WORKER_POLL_SECONDS": "0.1",
    }
    server = ServerProcess(tmp_path / "data", env=env)
    try:
        server.wait_healthy()
        [token] = server.tokens()
        master = {"Authorization": f"Bearer {token}"}
        with (
            serve_in_thread(target.app) as url,
            httpx.Client(base_url=server.url, headers=master, timeout=30) as client,
        ):
            definition = workflow(
                [node("loop-1", "loop", _loop=[node("http-client-1"), node("storage-1")])],
                {
                    "loop-1": step("loop", "loop_array", "1.3", array="$.steps.trigger.items"),
                    "http-client-1": step(
                        "http-client",
                        "post_request",
                        url=url + "/items",
                        body={"json": {"item": "$.steps.loop-1.value"}},
                    ),
                    "storage-1": step(
                        "storage",
                        "append_to_list",
                        "1.4",
                        key="done",
                        value="$.steps.loop-1.value",
                    ),
                },
            )
            wf = client.post("/core/v1/workflows", json=definition)
            assert wf.status_code == 201, wf.text
            wf_id = wf.json()["id"]
            run = client.post(
                f"/core/v1/workflows/{wf_id}/runs", json={"items": list(range(ITEMS))}
            )
            assert run.status_code == 201, run.text
            run_id = run.json()["id"]

            deadline = time.monotonic() + 30
            while len(target.received) < ITEMS // 3:
                assert time.monotonic() < deadline, "the run did not get going"
                time.sleep(0.01)
            server.kill()
            killed_after = len(target.received)
            server.start()
            server.wait_healthy()

            deadline = time.monotonic() + 60
            while True:
                body = client.get(f"/core/v1/workflows/{wf_id}/runs/{run_id}").json()
                if body["status"] in ("succeeded", "failed"):
                    break
                assert time.monotonic() < deadline, body["status"]
                time.sleep(0.1)
    finally:
        server.stop()

    assert body["status"] == "succeeded", body
    assert 0 < killed_after < ITEMS
    sent = Counter(r.json["item"] for r in target.received)
    assert set(sent) == set(range(ITEMS))
    repeated = [item for item, n in sent.items() if n > 1]
    assert len(repeated) <= 1 and all(sent[i] == 2 for i in repeated), sent
    calls = [s for s in body["steps"] if s["step"] == "http-client-1"]
    assert len(calls) == ITEMS  # one journal entry per iteration
    assert sum(s["attempts"] for s in calls) == ITEMS + len(repeated)
    [last] = [s for s in body["steps"] if s["key"] == f"storage-1/loop-1#{ITEMS - 1}"]
    assert last["output"]["value"] == list(range(ITEMS))  # every item stored once, in order
