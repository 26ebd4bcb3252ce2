"""Await-and-respond webhooks (answered by the trigger-reply step, or 504), callable
workflows (fire and forget, fire and wait for the callable response), and the alerting
workflow receiving Tray's alert payload when a run fails."""

from __future__ import annotations

import asyncio

from test_workflow_api import create, node, run, step, steps_named, wait_run, workflow


def hook_path(wf) -> str:
    return "/" + wf["triggerUrl"].split("/", 3)[3]


async def enable(api, wf_id):
    r = await api.client.post(f"/core/v1/workflows/{wf_id}/enable", headers=api.master)
    assert r.status_code == 200, r.text


def webhook_trigger(**settings):
    return step("webhook", "webhook", "2.0", **settings)


async def test_await_and_respond_answers_with_the_trigger_reply(api):
    definition = workflow(
        [node("trigger-reply-1"), node("storage-1")],
        {
            "trigger-reply-1": step(
                "trigger-reply",
                "trigger_reply",
                status=201,
                headers={"x-made-by": "patchbay"},
                body={"echo": "$.steps.trigger.body.name"},
            ),
            "storage-1": step("storage", "set", "1.4", key="after", value="reply"),
        },
    )
    definition["steps"]["trigger"] = webhook_trigger(mode="await_response")
    wf = await create(api, definition)
    await enable(api, wf["id"])
    r = await api.client.post(hook_path(wf), json={"name": "Ada"})
    assert r.status_code == 201, r.text
    assert r.json() == {"echo": "Ada"}
    assert r.headers["x-made-by"] == "patchbay"


async def test_the_trigger_output_hides_secret_headers(api):
    """The webhook's trigger output follows the SDK's one header policy: credentials, API
    keys and tokens a sender put in headers are not handed to the workflow (nor logged)."""
    definition = workflow(
        [node("trigger-reply-1")],
        {
            "trigger-reply-1": step(
                "trigger-reply", "trigger_reply", body={"headers": "$.steps.trigger.headers"}
            )
        },
    )
    definition["steps"]["trigger"] = webhook_trigger(mode="await_response")
    wf = await create(api, definition)
    await enable(api, wf["id"])
    sent = {"X-Api-Key": "k3y", "Authorization": "Bearer t", "X-Custom": "kept"}
    r = await api.client.post(hook_path(wf), json={}, headers=sent)
    assert r.status_code == 200, r.text
    shown = r.json()["headers"]
    assert shown["x-custom"] == "kept"
    assert not {"x-api-key", "authorization"} & set(shown)


async def test_await_and_respond_times_out_with_504(api):
    definition = workflow(
        [node("delay-1")],
        {"delay-1": step("delay", "delay", amount=5, unit="seconds")},
    )
    definition["steps"]["trigger"] = webhook_trigger(mode="await_response", timeout_seconds=0.3)
    wf = await create(api, definition)
    await enable(api, wf["id"])
    r = await api.client.post(hook_path(wf), json={})
    api.expect_error(r, 504, "reply_timeout")


async def test_await_without_reply_answers_when_the_run_ends(api):
    definition = workflow([node("storage-1")], {"storage-1": step("storage", "get", key="x")})
    definition["steps"]["trigger"] = webhook_trigger(mode="await_response")
    wf = await create(api, definition)
    await enable(api, wf["id"])
    r = await api.client.post(hook_path(wf), json={})
    assert r.status_code == 200 and r.json()["status"] == "succeeded"


async def test_fire_and_wait_returns_the_callable_response(api):
    child = workflow(
        [node("callable-response-1")],
        {
            "callable-response-1": step(
                "callable-response", "response", data={"doubled": "$.steps.trigger.n"}
            )
        },
        title="child",
    )
    child["steps"]["trigger"] = step("callable-trigger", "trigger")
    child_wf = await create(api, child)
    parent = workflow(
        [node("call-workflow-1"), node("call-workflow-2")],
        {
            "call-workflow-1": step(
                "call-workflow",
                "fire_and_wait",
                "2.0",
                workflow_id=child_wf["id"],
                data={"n": "$.steps.trigger.n"},
            ),
            "call-workflow-2": step(
                "call-workflow", "fire_and_forget", "2.0", workflow_id=child_wf["id"], data={"n": 0}
            ),
        },
        title="parent",
    )
    parent_wf = await create(api, parent)
    body = await run(api, parent_wf["id"], {"n": 21})
    assert body["status"] == "succeeded", body
    [waited] = steps_named(body, "call-workflow-1")
    assert waited["output"]["response"] == {"doubled": 21}
    assert waited["output"]["status"] == "succeeded"
    [forgot] = steps_named(body, "call-workflow-2")
    child_run = await wait_run(api, child_wf["id"], forgot["output"]["runId"])
    assert child_run["status"] == "succeeded"
    runs = (
        await api.client.get(f"/core/v1/workflows/{child_wf['id']}/runs", headers=api.master)
    ).json()["elements"]
    assert len(runs) == 2  # one per call, none started twice


async def test_a_failed_run_alerts_the_alerting_workflow(api):
    alerting = workflow(
        [node("storage-1")],
        {
            "storage-1": step(
                "storage",
                "set",
                "1.4",
                scope="Account",
                key="alert",
                value="$.steps.trigger",
            )
        },
        title="alerts",
    )
    alerting_wf = await create(api, alerting)
    failing = workflow(
        [node("terminate-1")],
        {"terminate-1": step("terminate", "terminate", status="failure", message="boom")},
        title="fragile",
    )
    failing["settings"]["alerting_workflow_id"] = alerting_wf["id"]
    failing_wf = await create(api, failing)
    failed = await run(api, failing_wf["id"])
    assert failed["status"] == "failed"
    for _ in range(200):
        runs = (
            await api.client.get(f"/core/v1/workflows/{alerting_wf['id']}/runs", headers=api.master)
        ).json()["elements"]
        if runs and runs[0]["status"] == "succeeded":
            break
        await asyncio.sleep(0.05)
    [alert] = runs
    assert alert["trigger"] == "alerting"
    detail = await wait_run(api, alerting_wf["id"], alert["id"])
    payload = steps_named(detail, "storage-1")[0]["output"]["value"]
    assert payload["workflow_uuid"] == failing_wf["id"]
    assert payload["workflow_title"] == "fragile"
    assert payload["step_name"] == "terminate-1"
    assert payload["connector"] == "terminate"
    assert payload["message"] == "boom"
    assert payload["step_log_url"].endswith(f"/runs/{failed['id']}")
    assert {"workflow_url", "created"} <= set(payload)
