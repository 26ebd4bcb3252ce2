"""Runs: replay from the start or from the failed step, per-workflow concurrency limits,
the per-run step limit, cancelling a waiting run, retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from test_workflow_api import create, node, run, step, steps_named, wait_run, workflow

from patchbay.storage.models import utcnow
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber


async def test_replay_from_the_failed_step_keeps_what_succeeded(api):
    target = Subscriber()
    target.script(*[500] * 4)  # the first run's call fails for good; the replay's succeeds
    with serve_in_thread(target.app) as url:
        definition = workflow(
            [node("storage-1"), node("http-client-1")],
            {
                "storage-1": step(
                    "storage", "atomic_increment", "1.4", scope="Workflow", key="n", value_to_add=1
                ),
                "http-client-1": step("http-client", "get_request", url=url + "/x"),
            },
        )
        wf = await create(api, definition)
        failed = await run(api, wf["id"])
        assert failed["status"] == "failed"
        r = await api.client.post(
            f"/core/v1/workflows/{wf['id']}/runs/{failed['id']}/replay",
            json={"from": "failed_step"},
            headers=api.master,
        )
        assert r.status_code == 201, r.text
        replayed = await wait_run(api, wf["id"], r.json()["id"])
        assert replayed["status"] == "succeeded", replayed
        [counted] = steps_named(replayed, "storage-1")
        assert counted["attempts"] == 0 and counted["output"] == {"value": 1}  # not run again
        r = await api.client.post(
            f"/core/v1/workflows/{wf['id']}/runs/{failed['id']}/replay",
            json={"from": "start", "version": "latest"},
            headers=api.master,
        )
        again = await wait_run(api, wf["id"], r.json()["id"])
        assert steps_named(again, "storage-1")[0]["output"] == {"value": 2}
        r = await api.client.post(
            f"/core/v1/workflows/{wf['id']}/runs/{again['id']}/replay",
            json={"from": "failed_step"},
            headers=api.master,
        )
        api.expect_error(r, 400, "run_not_failed")
        r = await api.client.post(
            f"/core/v1/workflows/{wf['id']}/runs/{again['id']}/replay",
            json={"from": "middle"},
            headers=api.master,
        )
        api.expect_error(r, 400)


async def test_concurrency_limit_per_workflow(api):
    definition = workflow(
        [node("delay-1"), node("storage-1")],
        {
            "delay-1": step("delay", "delay", amount=0.3, unit="seconds"),
            "storage-1": step(
                "storage",
                "append_to_list",
                "1.4",
                scope="Workflow",
                key="ends",
                value="$.steps.trigger.n",
            ),
        },
    )
    definition["settings"]["max_concurrent_runs"] = 1
    wf = await create(api, definition)
    ids = []
    for n in range(3):
        r = await api.client.post(
            f"/core/v1/workflows/{wf['id']}/runs", json={"n": n}, headers=api.master
        )
        ids.append(r.json()["id"])
    peak = 0
    for _ in range(200):
        runs = (
            await api.client.get(f"/core/v1/workflows/{wf['id']}/runs", headers=api.master)
        ).json()["elements"]
        peak = max(peak, sum(1 for r in runs if r["status"] in ("running", "waiting")))
        if all(r["status"] == "succeeded" for r in runs):
            break
        await asyncio.sleep(0.03)
    assert all(r["status"] == "succeeded" for r in runs), runs
    assert peak == 1


async def test_step_limit_fails_a_runaway_loop(settings, make_api):
    limited = settings.model_copy(update={"workflow_max_steps": 20, "worker_poll_seconds": 0.05})
    async with make_api(limited) as small:
        definition = workflow(
            [node("loop-1", "loop", _loop=[node("storage-1")])],
            {
                "loop-1": step("loop", "loop_forever", "1.3"),
                "storage-1": step("storage", "get", "1.4", key="k"),
            },
        )
        wf = await create(small, definition)
        body = await run(small, wf["id"])
        assert body["status"] == "failed"
        assert body["error"]["kind"] == "limit_exceeded"
        assert "20 steps" in body["error"]["message"]


async def test_cancel_a_waiting_run(api):
    definition = workflow(
        [node("delay-1"), node("storage-1")],
        {
            "delay-1": step("delay", "delay", amount=30, unit="seconds"),
            "storage-1": step("storage", "set", "1.4", key="k", value=1),
        },
    )
    wf = await create(api, definition)
    r = await api.client.post(f"/core/v1/workflows/{wf['id']}/runs", json={}, headers=api.master)
    run_id = r.json()["id"]
    for _ in range(100):
        body = (
            await api.client.get(f"/core/v1/workflows/{wf['id']}/runs/{run_id}", headers=api.master)
        ).json()
        if body["status"] == "waiting":
            break
        await asyncio.sleep(0.03)
    assert body["status"] == "waiting"  # a long delay holds no worker
    r = await api.client.post(
        f"/core/v1/workflows/{wf['id']}/runs/{run_id}/cancel", headers=api.master
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    api.expect_error(
        await api.client.post(
            f"/core/v1/workflows/{wf['id']}/runs/{run_id}/cancel", headers=api.master
        ),
        400,
        "run_finished",
    )


async def test_old_finished_runs_are_pruned(api):
    wf = await create(
        api, workflow([node("storage-1")], {"storage-1": step("storage", "get", key="k")})
    )
    first = await run(api, wf["id"])
    second = await run(api, wf["id"])
    from sqlalchemy import update

    from patchbay.storage.models import WorkflowRun

    async with api.platform.db.session() as s, s.begin():
        await s.execute(
            update(WorkflowRun)
            .where(WorkflowRun.id == first["id"])
            .values(created_at=utcnow() - timedelta(days=40))
        )
    assert await api.platform.runs.prune(utcnow() - timedelta(days=30)) == 1
    runs = (await api.client.get(f"/core/v1/workflows/{wf['id']}/runs", headers=api.master)).json()[
        "elements"
    ]
    assert [r["id"] for r in runs] == [second["id"]]


async def test_runs_are_filtered_by_status_trigger_and_time(api):
    wf = await create(
        api, workflow([node("storage-1")], {"storage-1": step("storage", "get", key="k")})
    )
    first = await run(api, wf["id"])
    await asyncio.sleep(0.05)
    middle = utcnow()
    second = await run(api, wf["id"])
    base = f"/core/v1/workflows/{wf['id']}/runs"

    async def ids(**params):
        r = await api.client.get(base, params=params, headers=api.master)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["elements"]]

    assert await ids(status="succeeded") == [first["id"], second["id"]]
    assert await ids(status="failed") == []
    assert await ids(trigger="manual") == [first["id"], second["id"]]
    assert await ids(trigger="webhook") == []
    assert await ids(since=middle.isoformat()) == [second["id"]]
    assert await ids(until=middle.isoformat()) == [first["id"]]
    r = await api.client.get(base, params={"status": "exploded"}, headers=api.master)
    api.expect_error(r, 400, "invalid_status")
    r = await api.client.get(base, params={"since": "yesterday"}, headers=api.master)
    api.expect_error(r, 400)


async def test_a_webhook_run_starts_in_the_process_that_stored_it(settings, make_api):
    """Stored already leased by this process and started at once: no scan needed (the
    executor's poll is a minute here, and nothing else wakes it before the run ends)."""
    from sqlalchemy import select
    from test_replies_and_calls import enable, hook_path, webhook_trigger

    from patchbay.storage.models import WorkflowRun

    slow_poll = settings.model_copy(update={"worker_poll_seconds": 60.0})
    async with make_api(slow_poll) as api:
        definition = workflow(
            [node("storage-1")], {"storage-1": step("storage", "set", "1.4", key="k", value=1)}
        )
        definition["steps"]["trigger"] = webhook_trigger()
        wf = await create(api, definition)
        await enable(api, wf["id"])
        await asyncio.sleep(0.3)  # the executor's first scan is over; the next is a minute off
        r = await api.client.post(hook_path(wf), json={})
        assert r.status_code == 202
        done = await wait_run(api, wf["id"], r.json()["runId"], timeout=3)
        assert done["status"] == "succeeded"
        async with api.platform.db.session() as s:
            row = await s.scalar(select(WorkflowRun).where(WorkflowRun.id == done["id"]))
        assert row.started_at == row.created_at  # leased when stored, not claimed later


async def test_a_run_whose_worker_died_is_taken_over(api):
    """A run left ``running`` under a lease that ran out (its process died) is resumed by
    another worker: the fate of a webhook run started directly by a process that crashed."""
    from patchbay.storage.models import WorkflowRun

    definition = workflow(
        [node("storage-1")], {"storage-1": step("storage", "set", "1.4", key="k", value=1)}
    )
    wf = await create(api, definition)
    async with api.platform.db.session() as s, s.begin():
        body = await api.client.get(f"/core/v1/workflows/{wf['id']}", headers=api.master)
        orphan = WorkflowRun(
            org_id=(await api.platform.identity.ensure_org()),
            workflow_id=wf["id"],
            version=body.json()["version"],
            status="running",
            trigger_source="webhook",
            trigger_output={},
            started_at=utcnow() - timedelta(minutes=1),
            lease_owner="a-dead-process",
            lease_until=utcnow() - timedelta(seconds=1),
        )
        s.add(orphan)
    api.platform.runs.wake()
    done = await wait_run(api, wf["id"], orphan.id)
    assert done["status"] == "succeeded"
    assert steps_named(done, "storage-1")[0]["output"] == {"value": 1}
