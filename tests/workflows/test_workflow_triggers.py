"""What starts a workflow: its webhook URL, a service trigger (Segment, through the
workflow's own subscription and intake URL), a schedule."""

from __future__ import annotations

import asyncio

from test_workflow_api import create, node, step, steps_named, wait_run, workflow


async def runs_of(api, wf_id, count, timeout=10.0) -> list[dict]:
    for _ in range(int(timeout / 0.05)):
        r = await api.client.get(f"/core/v1/workflows/{wf_id}/runs", headers=api.master)
        assert r.status_code == 200, r.text
        elements = r.json()["elements"]
        if len(elements) >= count and all(e["status"] in ("succeeded", "failed") for e in elements):
            return elements
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(elements)} runs of {count}")


def hook_of(wf) -> str:
    return "/" + wf["triggerUrl"].split("/", 3)[3]


def remember(value):
    return {
        "storage-1": step(
            "storage", "append_to_list", "1.4", scope="Workflow", key="seen", value=value
        )
    }


async def test_webhook_starts_a_run_once_stored(api):
    manual = await create(api, workflow([node("storage-1")], remember(1)))
    assert (
        await api.client.post(f"/core/v1/workflows/{manual['id']}/enable", headers=api.master)
    ).status_code == 200
    api.expect_error(await api.client.post(hook_of(manual), json={}), 404, "not_found")

    definition = workflow([node("storage-1")], remember("$.steps.trigger.body.n"))
    definition["steps"]["trigger"] = step("webhook", "webhook", "2.0")
    wf = await create(api, definition)
    hook = hook_of(wf)
    r = await api.client.post(hook, json={"n": 1})
    api.expect_error(r, 404, "not_found")  # not enabled yet
    assert (
        await api.client.post(f"/core/v1/workflows/{wf['id']}/enable", headers=api.master)
    ).status_code == 200
    r = await api.client.post(hook, json={"n": 1}, params={"q": "x"})
    assert r.status_code == 202, r.text
    run = await wait_run(api, wf["id"], r.json()["runId"])
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "webhook"
    api.expect_error(
        await api.client.post(hook, content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "invalid_json",
    )


async def test_segment_trigger_starts_runs_through_its_intake_url(api):
    definition = workflow([node("storage-1")], remember("$.steps.trigger.messageId"))
    definition["steps"]["trigger"] = step(
        "segment-trigger", "segment_message", "1.0", message_types=["track"]
    )
    wf = await create(api, definition)
    r = await api.client.post(f"/core/v1/workflows/{wf['id']}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    assert r.json()["subscriptionId"]
    got = (await api.client.get(f"/core/v1/workflows/{wf['id']}", headers=api.master)).json()
    intake = "/" + got["triggerUrl"].split("/", 3)[3]
    assert intake.startswith("/intake/")
    # The workflow's own subscription is not among the caller's subscriptions.
    listed = await api.client.get("/core/v1/subscriptions", headers=api.master)
    assert listed.json()["elements"] == []

    for n, kind in enumerate(["track", "identify", "track", "track"]):
        message = {"type": kind, "messageId": f"m{n}", "userId": "u"}
        assert (await api.client.post(intake, json=message)).status_code == 200
    assert (
        await api.client.post(intake, json={"type": "track", "messageId": "m0"})
    ).status_code == 200
    runs = await runs_of(api, wf["id"], 3)
    assert len(runs) == 3  # identify filtered out, m0 deduplicated
    assert {r["trigger"] for r in runs} == {"segment-trigger"}

    r = await api.client.post(f"/core/v1/workflows/{wf['id']}/disable", headers=api.master)
    assert r.json()["subscriptionId"] is None
    assert (await api.client.post(intake, json={"type": "track"})).status_code == 410


async def test_schedule_trigger_fires_runs(api):
    definition = workflow([node("storage-1")], remember("$.steps.trigger.scheduledAt"))
    definition["steps"]["trigger"] = step("schedule-trigger", "interval", "1.0", every_seconds=1)
    wf = await create(api, definition)
    r = await api.client.post(f"/core/v1/workflows/{wf['id']}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    runs = await runs_of(api, wf["id"], 2, timeout=15)
    assert all(r["status"] == "succeeded" for r in runs)
    detail = await wait_run(api, wf["id"], runs[-1]["id"])
    assert steps_named(detail, "storage-1")[0]["output"]["value"]


async def test_service_trigger_settings_are_validated_on_save(api):
    definition = workflow([node("storage-1")], remember(1))
    definition["steps"]["trigger"] = step(
        "segment-trigger", "segment_message", "1.0", message_types=["nope"]
    )
    r = await api.client.post("/core/v1/workflows", json=definition, headers=api.master)
    body = api.expect_error(r, 400, "invalid_workflow")
    assert "trigger" in body["message"]
    definition["steps"]["trigger"] = step("no-such-trigger", "x", "1.0")
    r = await api.client.post("/core/v1/workflows", json=definition, headers=api.master)
    assert "no-such-trigger" in api.expect_error(r, 400, "invalid_workflow")["message"]


async def test_webhook_refuses_bodies_over_the_limit_and_unknown_urls(api):
    definition = workflow([node("storage-1")], remember(1))
    definition["steps"]["trigger"] = step("webhook", "webhook", "2.0")
    wf = await create(api, definition)
    await api.client.post(f"/core/v1/workflows/{wf['id']}/enable", headers=api.master)
    big = b"x" * (api.platform.settings.workflow_max_body_bytes + 1)
    r = await api.client.post(hook_of(wf), content=big, headers={"content-type": "text/plain"})
    api.expect_error(r, 413, "payload_too_large")
    api.expect_error(await api.client.post("/hooks/short"), 404, "not_found")
    api.expect_error(await api.client.post("/hooks/" + "a" * 32, json={}), 404, "not_found")
    runs = (await api.client.get(f"/core/v1/workflows/{wf['id']}/runs", headers=api.master)).json()[
        "elements"
    ]
    assert runs == []  # nothing stored for a refused request


async def test_nul_characters_in_a_webhook_body_run_and_are_kept(api):
    """A sender's NUL characters are data, not a request error (the API edge refuses them
    only in what Patchbay stores as names): the run goes through on both databases, and
    the body, step input and output keep them."""
    definition = workflow([node("storage-1")], remember("$.steps.trigger.body.s"))
    definition["steps"]["trigger"] = step("webhook", "webhook", "2.0")
    wf = await create(api, definition)
    r = await api.client.post(f"/core/v1/workflows/{wf['id']}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    r = await api.client.post(hook_of(wf), json={"s": "a\u0000b"})
    assert r.status_code == 202, r.text
    run = await wait_run(api, wf["id"], r.json()["runId"])
    assert run["status"] == "succeeded", run
    stored = next(s for s in run["steps"] if s["step"] == "storage-1")
    assert "a\u0000b" in stored["output"]["value"], stored
