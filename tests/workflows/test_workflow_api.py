"""Workflows through the API: create, run, read the run's steps."""

from __future__ import annotations

import asyncio


def typed(value):
    if isinstance(value, dict):
        return {"type": "object", "value": {k: typed(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"type": "array", "value": [typed(v) for v in value]}
    if isinstance(value, str) and value.startswith("$."):
        return {"type": "jsonpath", "value": value}
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
    return {"type": kind[type(value)], "value": value}


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


async def wait_run(api, wf_id, run_id, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        r = await api.client.get(f"/core/v1/workflows/{wf_id}/runs/{run_id}", headers=api.master)
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
