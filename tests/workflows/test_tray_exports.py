"""Tray exports as Tray writes them import and run: break steps, the scheduled trigger,
scripts using lodash and moment, and the ``$.env`` values Tray sets at run time."""

from __future__ import annotations

from test_import import import_export, jsonpath, text, tray_step
from test_workflow_api import node, steps_named, typed, wait_run
from test_workflow_triggers import runs_of

ASSETS = [
    {"id": "a1", "type": "image", "dateCreated": "2024-05-01T23:30:00Z"},
    {"id": "a2", "type": "video", "dateCreated": "2024-05-02T08:00:00+02:00"},
    {"id": "a3", "type": "image", "dateCreated": "2023-12-31T12:00:00.000Z"},
]

# A script as written for Tray: lodash and moment, no require.
TRANSFORM = """exports.step = function(input) {
  var assets = [];
  _.forEach(input.assets, function(a) {
    assets.push({id: a.id, created: moment(a.dateCreated).format("YYYY-MM-DD")});
  });
  return {
    assets: assets,
    types: _.map(_.groupBy(input.assets, "type"), function(xs, type) {
      return type + ":" + xs.length;
    }),
    at: moment().toISOString()
  };
};
"""

# One page of ids per loop turn, an empty page on the third: the loop's end.
PAGE = """exports.step = function(input) {
  return input.page >= 3 ? [] : _.map(_.range(2), function(i) { return input.page * 10 + i; });
};
"""


def variables(**values) -> dict:
    return typed([{"name": k, "value": v} for k, v in values.items()])


def tray_export(steps: dict, structure: list, *, title="Tray sync") -> dict:
    return {
        "tray_export_version": 4,
        "export_type": "workflow",
        "workflows": [
            {
                "id": "3f0e6a52-9b1c-4c5e-a7d2-6e8f9a0b1c2d",
                "title": title,
                "enabled": True,
                "tags": [],
                "settings": {"config": {}, "input_schema": {}, "output_schema": {}},
                "steps_structure": structure,
                "steps": steps,
            }
        ],
        "projects": [],
    }


def break_node(name="break-loop-1", target="loop-1") -> dict:
    return {"name": name, "type": "break", "content": {}, "target": target}


def break_step() -> dict:
    return tray_step("Break loop", "break-loop", "1.1", "break", {})


def sync_export() -> dict:
    """The issue's shape (no files): a transform script, a loop forever over pages counted
    in storage, a condition on an empty page that breaks the loop."""
    steps = {
        "trigger": tray_step("Manual", "noop", "1.0", "trigger", {}),
        "script-1": tray_step(
            "Transform",
            "script",
            "3.3",
            "execute",
            {
                "variables": variables(assets=ASSETS),
                "script": text(TRANSFORM),
                "file_output": {"type": "boolean", "value": False},
            },
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
        "script-2": tray_step(
            "Page",
            "script",
            "3.3",
            "execute",
            {
                "variables": typed([{"name": "page", "value": "$.steps.storage-1.value"}]),
                "script": text(PAGE),
            },
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
                            "value1": "$.steps.script-2.result",
                            "comparison_type": "is_empty",
                            "value2": None,
                        }
                    ]
                ),
                "strictness": text("All"),
            },
        ),
        "break-loop-1": break_step(),
        "storage-2": tray_step(
            "Seen",
            "storage",
            "1.4",
            "append_to_list",
            {
                "scope": text("Current Run"),
                "key": text("seen"),
                "value": jsonpath("$.steps.script-2.result"),
            },
        ),
        "storage-3": tray_step(
            "Pages read",
            "storage",
            "1.4",
            "get",
            {"scope": text("Current Run"), "key": text("seen")},
        ),
        "storage-4": tray_step(
            "Run facts",
            "storage",
            "1.4",
            "set",
            {
                "scope": text("Current Run"),
                "key": text("env"),
                "value": typed(
                    {
                        "public_url": "$.env.public_url",
                        "workflow_id": "$.env.workflow_id",
                        "execution_id": "$.env.execution_id",
                        "instance": "{$.env.solution_instance_id or:'dev'}",
                        "url": "{$.env.public_url}/runs/{$.env.execution_id}",
                    }
                ),
            },
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
                node("script-2"),
                node(
                    "boolean-condition-1",
                    "branch",
                    true=[break_node()],
                    false=[node("storage-2")],
                ),
            ],
        ),
        node("storage-3"),
        node("storage-4"),
    ]
    return tray_export(steps, structure)


async def test_a_tray_sync_imports_and_runs_to_the_end(api):
    body = await import_export(api, sync_export())
    report = body["report"]
    assert report == {"missingConnectors": [], "versionMappings": []}
    [imported] = body["workflows"]
    assert imported["problems"] == []
    wf = imported["id"]
    # The break's step is kept as exported.
    r = await api.client.get(f"/core/v1/workflows/{wf}", headers=api.master)
    assert r.json()["definition"]["steps"]["break-loop-1"]["connector"] == {
        "name": "break-loop",
        "version": "1.1",
    }

    r = await api.client.post(f"/core/v1/workflows/{wf}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    r = await api.client.post(f"/core/v1/workflows/{wf}/runs", json={}, headers=api.master)
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    run = await wait_run(api, wf, run_id, timeout=30)
    assert run["status"] == "succeeded", run

    [transform] = steps_named(run, "script-1")
    result = transform["output"]["result"]
    assert result["assets"] == [
        {"id": "a1", "created": "2024-05-01"},
        {"id": "a2", "created": "2024-05-02"},
        {"id": "a3", "created": "2023-12-31"},
    ]
    assert result["types"] == ["image:2", "video:1"]
    assert result["at"].endswith("Z")
    assert [s["output"]["value"] for s in steps_named(run, "storage-1")] == [1, 2, 3]
    assert [s["output"]["result"] for s in steps_named(run, "boolean-condition-1")] == [
        False,
        False,
        True,
    ]
    assert not steps_named(run, "break-loop-1")  # a break is not a step that runs
    [seen] = steps_named(run, "storage-3")
    assert seen["output"]["value"] == [[10, 11], [20, 21]]
    [facts] = steps_named(run, "storage-4")
    public_url = api.platform.settings.effective_public_url
    assert facts["output"]["value"] == {
        "public_url": public_url,
        "workflow_id": wf,
        "execution_id": run_id,
        "instance": "dev",
        "url": f"{public_url}/runs/{run_id}",
    }


async def test_solution_instance_id_without_a_fallback_does_not_resolve(api):
    steps = {
        "trigger": tray_step("Manual", "noop", "1.0", "trigger", {}),
        "storage-1": tray_step(
            "Instance",
            "storage",
            "1.4",
            "set",
            {
                "scope": text("Current Run"),
                "key": text("instance"),
                "value": jsonpath("$.env.solution_instance_id"),
            },
        ),
    }
    body = await import_export(api, tray_export(steps, [node("trigger"), node("storage-1")]))
    wf = body["workflows"][0]["id"]
    await api.client.post(f"/core/v1/workflows/{wf}/enable", headers=api.master)
    r = await api.client.post(f"/core/v1/workflows/{wf}/runs", json={}, headers=api.master)
    run = await wait_run(api, wf, r.json()["id"])
    assert run["status"] == "failed"
    assert "$.env.solution_instance_id" in run["error"]["message"]


async def test_a_break_step_is_not_a_missing_connector_nor_run(api):
    steps = {
        "trigger": tray_step("Manual", "noop", "1.0", "trigger", {}),
        "loop-1": tray_step("Forever", "loop", "1.3", "loop_forever", {}),
        "break-loop-1": break_step(),
    }
    structure = [node("trigger"), node("loop-1", "loop", _loop=[break_node()])]
    body = await import_export(api, tray_export(steps, structure))
    assert body["report"]["missingConnectors"] == []
    [imported] = body["workflows"]
    assert imported["problems"] == []
    wf = imported["id"]
    await api.client.post(f"/core/v1/workflows/{wf}/enable", headers=api.master)
    r = await api.client.post(f"/core/v1/workflows/{wf}/runs", json={}, headers=api.master)
    run = await wait_run(api, wf, r.json()["id"])
    assert run["status"] == "succeeded", run
    [loop] = steps_named(run, "loop-1")
    assert not steps_named(run, "break-loop-1")
    # A break outside its loop still refuses the file.
    steps["loop-2"] = tray_step("Other", "loop", "1.3", "loop_forever", {})
    structure = [node("trigger"), node("loop-2", "loop", _loop=[]), *structure[1:]]
    structure[1]["content"]["_loop"] = [break_node("break-loop-1", "loop-1")]
    structure[2]["content"]["_loop"] = []
    r = await api.client.post(
        "/core/v1/workflows/import", json=tray_export(steps, structure), headers=api.master
    )
    error = api.expect_error(r, 400, "invalid_workflow")
    assert "break-loop-1" in error["message"] and "inside the loop" in error["message"]


def scheduled_export(operation: str, **properties) -> dict:
    steps = {
        "trigger": tray_step(
            "Every second",
            "scheduled",
            "3.5",
            operation,
            {k: typed(v) for k, v in properties.items()},
        ),
        "storage-1": tray_step(
            "Count",
            "storage",
            "1.4",
            "atomic_increment",
            {"scope": text("Workflow"), "key": text("fired")},
        ),
    }
    steps["storage-2"] = tray_step(
        "When",
        "storage",
        "1.4",
        "set",
        {"scope": text("Current Run"), "key": text("when"), "value": jsonpath("$.steps.trigger")},
    )
    structure = [node("trigger"), node("storage-1"), node("storage-2")]
    return tray_export(steps, structure, title="Scheduled")


async def test_a_scheduled_export_enables_and_fires(api):
    body = await import_export(api, scheduled_export("simple", interval=1, time_unit="seconds"))
    assert body["report"] == {"missingConnectors": [], "versionMappings": []}
    [imported] = body["workflows"]
    assert imported["problems"] == []
    assert not any(n.startswith("trigger:") for n in imported["notes"])
    wf = imported["id"]
    r = await api.client.post(f"/core/v1/workflows/{wf}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    runs = await runs_of(api, wf, 2, timeout=15)
    assert all(r["status"] == "succeeded" for r in runs)
    detail = await wait_run(api, wf, runs[-1]["id"])
    [when] = steps_named(detail, "storage-2")
    assert when["output"]["value"]["timezone"] == "UTC" and when["output"]["value"]["scheduledAt"]
    r = await api.client.post(f"/core/v1/workflows/{wf}/disable", headers=api.master)
    assert r.status_code == 200, r.text


async def test_tray_calendar_schedules_import_and_enable(api):
    exports = [
        scheduled_export("simple", interval=15, time_unit="minutes"),
        scheduled_export("cron", cron="0 9 * * 1-5", timezone="Europe/Paris"),
        scheduled_export("daily", time_of_day="06:30"),
        scheduled_export("weekly", day_of_week="monday", time_of_day="08:00"),
        scheduled_export("monthly", day_of_month=1, time_of_day="00:00", timezone="UTC"),
    ]
    for export in exports:
        body = await import_export(api, export)
        [imported] = body["workflows"]
        assert imported["problems"] == [], imported
        r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
        assert r.status_code == 200, r.text
        assert r.json()["enabled"] is True


async def test_bad_scheduled_settings_are_problems(api):
    body = await import_export(api, scheduled_export("simple", interval=5, time_unit="eons"))
    [imported] = body["workflows"]
    assert any(p.startswith("trigger:") and "eons" in p for p in imported["problems"])
    r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
    api.expect_error(r, 400, "invalid_workflow")
    # What only the settings' validators know is a problem too, not a failure at enable.
    body = await import_export(api, scheduled_export("weekly", day_of_week="someday"))
    [imported] = body["workflows"]
    assert any("unknown day of the week 'someday'" in p for p in imported["problems"])
    r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
    error = api.expect_error(r, 400, "invalid_workflow")
    assert "day of the week" in error["message"]
    body = await import_export(api, scheduled_export("cron", cron="0 9 * *"))
    [imported] = body["workflows"]
    assert any("5 fields" in p for p in imported["problems"])
