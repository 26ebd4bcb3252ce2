"""Workflows through the API: create, run, read the run's steps."""

from __future__ import annotations

import asyncio

from patchbay.engine.definition import typed


def step(connector, operation, version="1.0", **properties):
    return {
        "title": connector,
        "connector": {"name": connector, "version": version},
        "operation": operation,
        "properties": {k: typed(v) for k, v in properties.items()},
        "error_handling": {},
    }


def workflow(structure, steps, title="wf"):
    return {
        "title": title,
        "settings": {"config": {"greeting": "hi"}},
        "steps_structure": [{"name": "trigger", "type": "normal", "content": {}}, *structure],
        "steps": {"trigger": step("noop", "trigger"), **steps},
    }


async def create(api, definition) -> dict:
    r = await api.client.post("/core/v1/workflows", json=definition, headers=api.master)
    assert r.status_code == 201, r.text
    return r.json()


async def run(api, wf_id, trigger=None, timeout=10.0) -> dict:
    r = await api.client.post(
        f"/core/v1/workflows/{wf_id}/runs", json=trigger or {}, headers=api.master
    )
    assert r.status_code == 201, r.text
    return await wait_run(api, wf_id, r.json()["id"], timeout)


def node(name, kind="normal", **content):
    return {"name": name, "type": kind, "content": content}


def steps_named(run_body, name):
    return [s for s in run_body["steps"] if s["step"] == name]


async def wait_run(api, wf_id, run_id, timeout=10.0, headers=None):
    for _ in range(int(timeout / 0.05)):
        r = await api.client.get(
            f"/core/v1/workflows/{wf_id}/runs/{run_id}", headers=headers or api.master
        )
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("succeeded", "failed", "cancelled"):
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"run still {r.json()['status']}")


async def test_loop_storage_and_branch(api):
    definition = workflow(
        [
            {
                "name": "loop-1",
                "type": "loop",
                "content": {
                    "_loop": [
                        {"name": "storage-1", "type": "normal", "content": {}},
                    ]
                },
            },
            {"name": "storage-2", "type": "normal", "content": {}},
        ],
        {
            "loop-1": step("loop", "loop_array", "1.3", array="$.steps.trigger.items"),
            "storage-1": step(
                "storage",
                "atomic_increment",
                "1.4",
                scope="Current Run",
                key="total",
                value_to_add="$.steps.loop-1.value",
            ),
            "storage-2": step("storage", "get", "1.4", scope="Current Run", key="total"),
        },
    )
    r = await api.client.post("/core/v1/workflows", json=definition, headers=api.master)
    assert r.status_code == 201, r.text
    wf = r.json()
    r = await api.client.post(
        f"/core/v1/workflows/{wf['id']}/runs", json={"items": [1, 2, 3, 4]}, headers=api.master
    )
    assert r.status_code == 201, r.text
    run = await wait_run(api, wf["id"], r.json()["id"])
    assert run["status"] == "succeeded", run
    last = [s for s in run["steps"] if s["step"] == "storage-2"][0]
    assert last["output"] == {"value": 10}
    assert len([s for s in run["steps"] if s["step"] == "storage-1"]) == 4


async def test_validation_names_the_step_and_property(api):
    cases = [
        (
            workflow([node("nope-1")], {"nope-1": step("nope", "x")}),
            "nope-1: connector nope is not available in Patchbay",
        ),
        (
            workflow([node("storage-1")], {"storage-1": step("storage", "explode", "1.4")}),
            "storage-1: storage has no operation 'explode'",
        ),
        (
            workflow(
                [node("storage-1"), node("storage-2")],
                {
                    "storage-1": step("storage", "set", "1.4", key="k", value="$.steps.storage-2"),
                    "storage-2": step("storage", "get", "1.4", key="k"),
                },
            ),
            "storage-1.value: refers to step storage-2, which does not precede it",
        ),
        (
            workflow(
                [node("storage-1"), {"name": "break-1", "type": "break", "target": "loop-1"}],
                {"storage-1": step("storage", "get", "1.4", key="k")},
            ),
            "break-1: a break must be inside the loop it targets (loop-1)",
        ),
        (
            workflow(
                [node("http-client-1")],
                {"http-client-1": step("http-client", "get_request", url=42)},
            ),
            "http-client-1.url: 42 is not of type 'string'",
        ),
    ]
    for definition, message in cases:
        r = await api.client.post("/core/v1/workflows", json=definition, headers=api.master)
        body = api.expect_error(r, 400, "invalid_workflow")
        assert message in body["message"], (message, body["message"])
    for broken in ({}, {"title": "x"}, [1], {"title": "t", "steps_structure": [], "steps": {}}):
        r = await api.client.post("/core/v1/workflows", json=broken, headers=api.master)
        api.expect_error(r, 400)


async def test_versions_rollback_and_runs_pin_their_version(api):
    def setter(value):
        return workflow(
            [node("storage-1")],
            {"storage-1": step("storage", "set", "1.4", key="v", value=value)},
        )

    wf = await create(api, setter("one"))
    assert wf["version"] == 1
    r = await api.client.put(
        f"/core/v1/workflows/{wf['id']}", json=setter("two"), headers=api.master
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    second = await run(api, wf["id"])
    assert second["version"] == 2
    assert steps_named(second, "storage-1")[0]["output"] == {"value": "two"}

    r = await api.client.post(
        f"/core/v1/workflows/{wf['id']}/versions/1/rollback", headers=api.master
    )
    assert r.status_code == 200 and r.json()["version"] == 3
    third = await run(api, wf["id"])
    assert steps_named(third, "storage-1")[0]["output"] == {"value": "one"}
    versions = (
        await api.client.get(f"/core/v1/workflows/{wf['id']}/versions", headers=api.master)
    ).json()["elements"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["current"] for v in versions] == [True, False, False]
    api.expect_error(
        await api.client.post(
            f"/core/v1/workflows/{wf['id']}/versions/9/rollback", headers=api.master
        ),
        404,
        "version_not_found",
    )
    exported = (
        await api.client.get(f"/core/v1/workflows/{wf['id']}/export", headers=api.master)
    ).json()
    assert exported["tray_export_version"] == 4
    assert exported["workflows"][0]["steps"]["storage-1"]["properties"]["value"]["value"] == "one"


async def test_tenancy_and_tokens(api):
    wf = await create(
        api, workflow([node("storage-1")], {"storage-1": step("storage", "get", key="k")})
    )
    _, other = await api.other_org()
    for method, path in (
        ("get", f"/core/v1/workflows/{wf['id']}"),
        ("delete", f"/core/v1/workflows/{wf['id']}"),
        ("post", f"/core/v1/workflows/{wf['id']}/runs"),
        ("get", f"/core/v1/workflows/{wf['id']}/runs"),
        ("post", f"/core/v1/workflows/{wf['id']}/enable"),
    ):
        api.expect_error(await getattr(api.client, method)(path, headers=other), 404)
    _, user = await api.new_user()
    api.expect_error(await api.client.get("/core/v1/workflows", headers=user), 403)
    api.expect_error(await api.client.get("/core/v1/workflows"), 401)
    r = await api.client.post(
        f"/core/v1/workflows/{wf['id']}/runs", content=b"{nope", headers=api.master
    )
    api.expect_error(r, 400, "invalid_json")
    api.expect_error(
        await api.client.get(f"/core/v1/workflows/{wf['id']}/runs/nope", headers=api.master),
        404,
        "run_not_found",
    )
    assert (
        await api.client.delete(f"/core/v1/workflows/{wf['id']}", headers=api.master)
    ).status_code == 204
    api.expect_error(
        await api.client.get(f"/core/v1/workflows/{wf['id']}", headers=api.master), 404
    )


async def test_storage_is_safe_under_concurrent_runs(api):
    wf = await create(
        api,
        workflow(
            [node("storage-1")],
            {
                "storage-1": step(
                    "storage", "atomic_increment", "1.4", scope="Workflow", key="n", value_to_add=1
                )
            },
        ),
    )
    started = [
        (
            await api.client.post(
                f"/core/v1/workflows/{wf['id']}/runs", json={}, headers=api.master
            )
        ).json()["id"]
        for _ in range(25)
    ]
    outputs = []
    for run_id in started:
        body = await wait_run(api, wf["id"], run_id, timeout=30)
        assert body["status"] == "succeeded", body
        outputs.append(steps_named(body, "storage-1")[0]["output"]["value"])
    assert sorted(outputs) == list(range(1, 26))  # every increment counted once


async def test_storage_delete_get_default_and_a_bad_scope(api):
    """The storage step's reads, deletes and input errors (carried out in
    engine/core_steps.py through the runtime)."""
    bad_scope = step("storage", "get", "1.4", scope="Galaxy", key="k")
    bad_scope["error_handling"] = {"strategy": "continue"}
    wf = await create(
        api,
        workflow(
            [node(f"storage-{i}") for i in range(1, 7)],
            {
                "storage-1": step("storage", "set", "1.4", scope="Account", key="k", value=5),
                "storage-2": step("storage", "delete", "1.4", scope="Account", key="k"),
                "storage-3": step("storage", "delete", "1.4", scope="Account", key="k"),
                "storage-4": step(
                    "storage", "get", "1.4", scope="Account", key="k", default="none"
                ),
                "storage-5": bad_scope,
                "storage-6": step("storage", "set", "1.4", scope="Account", key=""),
            },
        ),
    )
    body = await run(api, wf["id"])
    outputs = {s["step"]: s for s in body["steps"]}
    assert outputs["storage-1"]["output"] == {"value": 5}
    assert outputs["storage-2"]["output"] == {"deleted": True}
    assert outputs["storage-3"]["output"] == {"deleted": False}
    assert outputs["storage-4"]["output"] == {"value": "none"}
    assert outputs["storage-5"]["status"] == "failed"
    assert outputs["storage-5"]["error"] == {
        "message": "scope must be one of Current Run, Workflow, Account, not 'Galaxy'",
        "kind": "user_input_error",
    }
    assert body["status"] == "failed" and body["failedStep"] == "storage-6"
    assert outputs["storage-6"]["error"]["message"] == "storage needs a key"
    assert outputs["storage-6"]["attempts"] == 1  # bad input is never retried
