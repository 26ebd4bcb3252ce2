"""Importing Tray exports (``POST /core/v1/workflows/import``) and workflows as YAML."""

from __future__ import annotations

import asyncio
import copy

import orjson
import pytest
from test_workflow_api import node, steps_named, typed, wait_run

from patchbay.engine.core_steps import is_engine_step
from patchbay.services.errors import BadRequest
from patchbay.services.workflows.tray_import import (
    UnsupportedMediaType,
    media_kind,
    parse_body,
    to_yaml,
)
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber

IMPORT = "/core/v1/workflows/import"
YAML = {"Content-Type": "application/yaml"}

BYNDER_AUTH = "6f1c2a9e-58b4-4d0a-9f51-3c7e1b2d4a60"  # a Tray authentication id
MARKETO_AUTH = "0b9d7e3c-1a2f-4e6b-8c5d-9f0a1b2c3d4e"

SCRIPT = """// Bynder wants the date as YYYY-MM-DD
exports.step = function(input) {
  return input.since.slice(0, 10);
};
"""


def jsonpath(path, fallback=None):
    value = {"type": "jsonpath", "value": path}
    if fallback is not None:
        value["fallback"] = fallback
    return value


def text(value):
    return {"type": "string", "value": value}


def tray_step(title, connector, version, operation, properties, **extra):
    return {
        "title": title,
        "description": "",
        "connector": {"name": connector, "version": version},
        "operation": operation,
        "properties": properties,
        "error_handling": {},
        "output_schema": {},
        **extra,
    }


def bynder_to_marketo() -> dict:
    """By hand, after the "Bynder to Marketo" export described in tray-workflows.md: page
    through Bynder's media changed since the last run (loop forever, break on an empty page),
    split each asset's tags, download it and upload it to Marketo."""
    steps = {
        "trigger": tray_step("Manual trigger", "noop", "1.0", "trigger", {}),
        "script-1": tray_step(
            "Since date",
            "script",
            "3.3",
            "execute",
            {
                "variables": {
                    "type": "array",
                    "value": [
                        {
                            "type": "object",
                            "value": {
                                "name": text("since"),
                                "value": jsonpath(
                                    "$.steps.trigger.body.since",
                                    fallback=text("1970-01-01T00:00:00Z"),
                                ),
                            },
                        }
                    ],
                },
                "script": text(SCRIPT),
                "file_output": {"type": "boolean", "value": False},
            },
        ),
        "storage-1": tray_step(
            "Remember the sync date",
            "storage",
            "1.4",
            "set",
            {
                "scope": text("Account"),
                "key": text("{$.env.solution_instance_id or:'dev'}_last_modified"),
                "value": jsonpath("$.steps.script-1.result"),
            },
        ),
        "loop-1": tray_step("Pages", "loop", "1.3", "loop_forever", {}),
        "storage-2": tray_step(
            "Page number",
            "storage",
            "1.4",
            "atomic_increment",
            {
                "scope": text("Current Run"),
                "key": text("page"),
                "value_to_add": {"type": "integer", "value": 1},
            },
        ),
        "bynder-1": tray_step(
            "List changed media",
            "bynder",
            "1.1",
            "raw_http_request",
            {
                "method": text("GET"),
                "url": {
                    "type": "object",
                    "value": {
                        "endpoint": text(
                            "/v4/media/?page={$.steps.storage-2.value}"
                            "&dateModified={$.steps.script-1.result}"
                        )
                    },
                },
                "body": {"type": "object", "value": {"none": {"type": "null", "value": None}}},
                "parse_response": text("true"),
            },
            authentication=BYNDER_AUTH,
        ),
        "boolean-condition-1": tray_step(
            "Empty page?",
            "boolean-condition",
            "2.3",
            "boolean_condition",
            {
                "conditions": {
                    "type": "array",
                    "value": [
                        {
                            "type": "object",
                            "value": {
                                "value1": jsonpath("$.steps.bynder-1.response.body"),
                                "comparison_type": text("is_empty"),
                                "value2": {"type": "null", "value": None},
                            },
                        }
                    ],
                },
                "strictness": text("All"),
            },
        ),
        "loop-2": tray_step(
            "Each asset",
            "loop",
            "1.3",
            "loop_array",
            {"array": jsonpath("$.steps.bynder-1.response.body")},
        ),
        "text-helpers-1": tray_step(
            "Tags",
            "text-helpers",
            "3.0",
            "split",
            {
                "text": jsonpath("$.steps.loop-2.value.tags", fallback=text("")),
                "split_by": text(","),
            },
        ),
        "file-helpers-1": tray_step(
            "Download the original",
            "file-helpers",
            "2.1",
            "download_file",
            {"url": text("{$.steps.loop-2.value.original}"), "filename": text("asset")},
        ),
        "marketo-1": tray_step(
            "Upload to Marketo",
            "marketo",
            "4.2",
            "raw_http_request",
            {
                "method": text("POST"),
                "url": {
                    "type": "object",
                    "value": {"endpoint": text("/rest/asset/v1/files.json")},
                },
                "body": typed(
                    {
                        "name": "$.steps.loop-2.value.name",
                        "folder": "$.config.marketo_folder_id",
                        "tags": "$.steps.text-helpers-1.result",
                        "file": "$.steps.file-helpers-1.file",
                    }
                ),
            },
            authentication=MARKETO_AUTH,
        ),
    }
    structure = [
        node("trigger"),
        node("script-1"),
        node("storage-1"),
        node(
            "loop-1",
            "loop",
            _loop=[
                node("storage-2"),
                node("bynder-1"),
                node(
                    "boolean-condition-1",
                    "branch",
                    true=[{"name": "break-1", "type": "break", "content": {}, "target": "loop-1"}],
                    false=[
                        node(
                            "loop-2",
                            "loop",
                            _loop=[
                                node("text-helpers-1"),
                                node("file-helpers-1"),
                                node("marketo-1"),
                            ],
                        )
                    ],
                ),
            ],
        ),
    ]
    return {
        "tray_export_version": 4,
        "export_type": "workflow",
        "workflows": [
            {
                "id": "0a7c9a32-4f7e-4c49-bd2e-8a5f3f0b6e11",
                "title": "Bynder to Marketo",
                "enabled": True,
                "tags": ["bynder", "marketo"],
                "settings": {
                    "config": {"marketo_folder_id": 1043, "page_size": 50},
                    "input_schema": {},
                    "output_schema": {},
                    "alerting_workflow_id": "5e2b8f1d-0c3a-4b6e-9d7f-1a2b3c4d5e6f",
                },
                "steps_structure": structure,
                "steps": steps,
            }
        ],
        "projects": [],
    }


def small_export(url: str, *, version="1.0", trigger=("noop", "1.0", "trigger"), enabled=True):
    """Engine steps and an HTTP call: storage set, http-client GET with a header from the
    config, storage get."""
    name, trigger_version, operation = trigger
    steps = {
        "trigger": tray_step("Trigger", name, trigger_version, operation, {}),
        "storage-1": tray_step(
            "Remember",
            "storage",
            "1.4",
            "set",
            {"scope": text("Current Run"), "key": text("who"), "value": jsonpath("$.config.who")},
        ),
        "http-client-1": tray_step(
            "Call",
            "http-client",
            version,
            "get_request",
            {
                "url": text(url),
                "headers": typed([{"key": "X-Who", "value": "$.steps.storage-1.value"}]),
            },
        ),
        "storage-2": tray_step(
            "Read",
            "storage",
            "1.4",
            "get",
            {"scope": text("Current Run"), "key": text("who")},
        ),
    }
    return {
        "tray_export_version": 4,
        "export_type": "workflow",
        "workflows": [
            {
                "id": "tray-small-1",
                "title": "Small",
                "enabled": enabled,
                "tags": [],
                "settings": {
                    "config": {"who": "patchbay"},
                    "input_schema": {},
                    "output_schema": {},
                },
                "steps_structure": [
                    node("trigger"),
                    node("storage-1"),
                    node("http-client-1"),
                    node("storage-2"),
                ],
                "steps": steps,
            }
        ],
        "projects": [],
    }


@pytest.fixture
def endpoint():
    target = Subscriber()
    with serve_in_thread(target.app) as url:
        yield target, url + "/thing"


async def import_export(api, export, status=201) -> dict:
    r = await api.client.post(IMPORT, json=export, headers=api.master)
    assert r.status_code == status, r.text
    return r.json()


# -- importing ----------------------------------------------------------------------------


async def test_import_then_enable_and_run(api, endpoint):
    target, url = endpoint
    body = await import_export(api, small_export(url))
    [imported] = body["workflows"]
    assert imported["title"] == "Small"
    assert imported["sourceId"] == "tray-small-1"
    assert imported["enabled"] is False  # even though the export says enabled
    assert imported["problems"] == []
    assert any("imported disabled" in n for n in imported["notes"])
    assert body["report"] == {"missingConnectors": [], "versionMappings": []}

    r = await api.client.get(f"/core/v1/workflows/{imported['id']}", headers=api.master)
    assert r.status_code == 200, r.text
    stored = r.json()
    assert stored["enabled"] is False
    definition = stored["definition"]
    assert definition["steps"]["trigger"]["connector"] == {"name": "noop", "version": "1.0"}
    assert definition["settings"]["config"] == {"who": "patchbay"}

    r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is True
    r = await api.client.post(
        f"/core/v1/workflows/{imported['id']}/runs", json={}, headers=api.master
    )
    assert r.status_code == 201, r.text
    run = await wait_run(api, imported["id"], r.json()["id"])
    assert run["status"] == "succeeded", run
    assert steps_named(run, "storage-2")[0]["output"] == {"value": "patchbay"}
    [request] = target.received
    assert request.headers["x-who"] == "patchbay"


async def test_webhook_trigger_stays_a_webhook(api, endpoint):
    _, url = endpoint
    export = small_export(url, trigger=("webhook", "2.0", "webhook"), enabled=False)
    [imported] = (await import_export(api, export))["workflows"]
    assert imported["problems"] == []
    assert not any("imported disabled" in n for n in imported["notes"])
    wf_id = imported["id"]
    r = await api.client.get(f"/core/v1/workflows/{wf_id}", headers=api.master)
    stored = r.json()
    assert stored["definition"]["steps"]["trigger"]["connector"]["name"] == "webhook"
    r = await api.client.post(f"/core/v1/workflows/{wf_id}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    hook = stored["triggerUrl"].split("://", 1)[1].split("/", 1)[1]
    r = await api.client.post("/" + hook, json={"hello": "world"})
    assert r.status_code == 202, r.text
    run = await wait_run(api, wf_id, r.json()["runId"])
    assert run["status"] == "succeeded", run


async def test_bynder_to_marketo_reports_missing_connectors_and_refuses_to_enable(api):
    export = bynder_to_marketo()
    body = await import_export(api, export)
    [imported] = body["workflows"]
    assert imported["sourceId"] == "0a7c9a32-4f7e-4c49-bd2e-8a5f3f0b6e11"
    assert imported["title"] == "Bynder to Marketo"
    assert imported["enabled"] is False

    # What Patchbay lacks, computed from the registry: the service connectors (bynder,
    # marketo) never exist; core helpers may or may not have landed yet.
    registry = api.platform.registry
    steps = export["workflows"][0]["steps"]
    lacking: dict[tuple[str, str], list[str]] = {}
    for name, s in steps.items():
        connector = s["connector"]["name"]
        if name != "trigger" and not is_engine_step(connector):
            if not registry.versions(connector):
                lacking.setdefault((connector, s["connector"]["version"]), []).append(name)
    assert ("bynder", "1.1") in lacking and ("marketo", "4.2") in lacking
    report = body["report"]
    assert {(m["connector"], m["version"]): m["steps"] for m in report["missingConnectors"]} == (
        lacking
    )
    assert {"connector": "bynder", "version": "1.1", "steps": ["bynder-1"]} in (
        report["missingConnectors"]
    )
    for (connector, _), names in lacking.items():
        for name in names:
            assert (
                f"{name}: connector {connector} is not available in Patchbay"
                in (imported["problems"])
            )
    # Steps on connectors Patchbay has are not problems.
    assert not any(p.startswith(("storage-", "loop-", "trigger")) for p in imported["problems"])

    notes = imported["notes"]
    assert any("imported disabled" in n for n in notes)
    assert any(BYNDER_AUTH in n and n.startswith("bynder-1:") for n in notes)
    assert any("alerting_workflow_id" in n for n in notes)

    # Stored as exported (apart from the dangling alerting workflow), config included.
    r = await api.client.get(f"/core/v1/workflows/{imported['id']}", headers=api.master)
    definition = r.json()["definition"]
    source = export["workflows"][0]
    assert definition["steps"] == source["steps"]
    assert definition["steps_structure"] == source["steps_structure"]
    assert definition["settings"]["config"] == source["settings"]["config"]
    assert "alerting_workflow_id" not in definition["settings"]

    r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
    error = api.expect_error(r, 400, "invalid_workflow")
    assert "bynder-1" in error["message"] and "bynder" in error["message"]
    r = await api.client.get(f"/core/v1/workflows/{imported['id']}", headers=api.master)
    assert r.json()["enabled"] is False


async def test_a_trigger_patchbay_lacks_is_reported(api, endpoint):
    _, url = endpoint
    export = small_export(url, trigger=("form-trigger", "1.2", "form"))
    body = await import_export(api, export)
    [imported] = body["workflows"]
    assert body["report"]["missingConnectors"] == [
        {"connector": "form-trigger", "version": "1.2", "steps": ["trigger"]}
    ]
    # Said in the problems (when the workflow service checks triggers) or else in a note.
    said = [x for x in imported["problems"] + imported["notes"] if x.startswith("trigger:")]
    assert said and "form-trigger" in said[0]


async def test_version_mapping_is_reported(api, endpoint):
    target, url = endpoint
    export = small_export(url, version="5.4")
    export["workflows"][0]["steps"]["storage-2"]["connector"]["version"] = "1.2"
    body = await import_export(api, export)
    [imported] = body["workflows"]
    assert imported["problems"] == []
    chosen, _ = api.platform.workflows.connector_for("http-client", "5.4", "get_request")
    assert chosen.version != "5.4"
    mappings = body["report"]["versionMappings"]
    assert {
        "step": "http-client-1",
        "connector": "http-client",
        "from": "5.4",
        "to": chosen.version,
    } in mappings
    assert {"step": "storage-2", "connector": "storage", "from": "1.2", "to": "1.4"} in mappings
    assert len(mappings) == 2
    assert any(
        n.startswith("http-client-1:") and f"runs on version {chosen.version}" in n
        for n in imported["notes"]
    )
    assert any(n.startswith("storage-2:") for n in imported["notes"])
    # The mapped steps run.
    r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
    assert r.status_code == 200, r.text
    r = await api.client.post(
        f"/core/v1/workflows/{imported['id']}/runs", json={}, headers=api.master
    )
    run = await wait_run(api, imported["id"], r.json()["id"])
    assert run["status"] == "succeeded", run
    assert len(target.received) == 1


async def test_project_export_links_its_workflows(api, endpoint):
    _, url = endpoint
    main = small_export(url)["workflows"][0]
    alerts = copy.deepcopy(main)
    alerts.update(id="tray-alerts", title="Alerts", enabled=False)
    callee = copy.deepcopy(main)
    callee.update(id="tray-callee", title="Callee", enabled=False)
    callee["steps"]["trigger"] = tray_step("Called", "callable-trigger", "1.0", "trigger", {})
    # The main workflow comes first in the file and names both others.
    main["settings"]["alerting_workflow_id"] = "tray-alerts"
    main["steps"]["call-workflow-1"] = tray_step(
        "Call",
        "call-workflow",
        "2.0",
        "fire_and_forget",
        {"workflow_id": text("tray-callee"), "data": typed({"n": 1})},
    )
    main["steps_structure"].append(node("call-workflow-1"))
    export = {
        "tray_export_version": 4,
        "export_type": "project",
        "workflows": [main, alerts, callee],
        "projects": [{"id": "p1", "name": "Sync"}],
    }
    body = await import_export(api, export)
    first, second, third = body["workflows"]  # in the export's order
    assert [w["sourceId"] for w in body["workflows"]] == [
        "tray-small-1",
        "tray-alerts",
        "tray-callee",
    ]
    assert all(w["problems"] == [] for w in body["workflows"]), body
    r = await api.client.get(f"/core/v1/workflows/{first['id']}", headers=api.master)
    definition = r.json()["definition"]
    assert definition["settings"]["alerting_workflow_id"] == second["id"]
    call = definition["steps"]["call-workflow-1"]["properties"]["workflow_id"]
    assert call == {"type": "string", "value": third["id"]}
    r = await api.client.get("/core/v1/workflows", headers=api.master)
    assert len(r.json()["elements"]) == 3

    for imported in (first, third):
        r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
        assert r.status_code == 200, r.text
    r = await api.client.post(f"/core/v1/workflows/{first['id']}/runs", json={}, headers=api.master)
    run = await wait_run(api, first["id"], r.json()["id"])
    assert run["status"] == "succeeded", run
    child = steps_named(run, "call-workflow-1")[0]["output"]["runId"]
    assert (await wait_run(api, third["id"], child))["status"] == "succeeded"


async def test_an_alerting_trigger_imports_and_receives_the_alert(api, endpoint):
    """Tray's alerting workflow (trigger ``alerting-trigger``) imports as it is and, named by
    another workflow's ``alerting_workflow_id``, receives that workflow's failures."""
    target, url = endpoint
    target.script(*[(500, {}, 0)] * 8)  # the main workflow's HTTP call fails
    main = small_export(url)["workflows"][0]
    main["settings"]["alerting_workflow_id"] = "tray-alerts"
    alerts = {
        "id": "tray-alerts",
        "title": "Alerts",
        "enabled": True,
        "settings": {"config": {}},
        "steps_structure": [node("trigger"), node("storage-1")],
        "steps": {
            "trigger": tray_step("On alert", "alerting-trigger", "1.0", "trigger", {}),
            "storage-1": tray_step(
                "Keep",
                "storage",
                "1.4",
                "set",
                {
                    "scope": text("Account"),
                    "key": text("alert"),
                    "value": jsonpath("$.steps.trigger"),
                },
            ),
        },
    }
    export = {"tray_export_version": 4, "export_type": "project", "workflows": [main, alerts]}
    body = await import_export(api, export)
    first, second = body["workflows"]
    assert all(w["problems"] == [] for w in body["workflows"]), body
    assert body["report"]["missingConnectors"] == []
    for imported in (first, second):
        r = await api.client.post(f"/core/v1/workflows/{imported['id']}/enable", headers=api.master)
        assert r.status_code == 200, r.text
    r = await api.client.post(f"/core/v1/workflows/{first['id']}/runs", json={}, headers=api.master)
    failed = await wait_run(api, first["id"], r.json()["id"])
    assert failed["status"] == "failed"
    for _ in range(100):
        r = await api.client.get(f"/core/v1/workflows/{second['id']}/runs", headers=api.master)
        if r.json()["elements"] and r.json()["elements"][0]["status"] == "succeeded":
            break
        await asyncio.sleep(0.05)
    [alert_run] = r.json()["elements"]
    done = await wait_run(api, second["id"], alert_run["id"])
    alert = steps_named(done, "storage-1")[0]["input"]["value"]
    assert alert["workflow_uuid"] == first["id"] and alert["step_name"] == "http-client-1"


async def test_import_accepts_yaml(api, endpoint):
    _, url = endpoint
    export = bynder_to_marketo()
    r = await api.client.post(IMPORT, content=to_yaml(export), headers={**api.master, **YAML})
    assert r.status_code == 201, r.text
    r = await api.client.get(
        f"/core/v1/workflows/{r.json()['workflows'][0]['id']}", headers=api.master
    )
    assert r.json()["definition"]["steps"] == export["workflows"][0]["steps"]


@pytest.mark.parametrize(
    "change,code,words",
    [
        ({"tray_export_version": 3}, "unsupported_export_version", ["3", "version 4"]),
        ({"tray_export_version": "4"}, "unsupported_export_version", ["'4'"]),
        ({"tray_export_version": None}, "unsupported_export_version", ["missing"]),
        ({"export_type": "solution"}, "invalid_export", ["solution"]),
        ({"workflows": []}, "invalid_export", ["no workflows"]),
    ],
)
async def test_bad_exports_are_refused(api, change, code, words):
    export = {**bynder_to_marketo(), **change}
    if change.get("tray_export_version", 0) is None:
        del export["tray_export_version"]
    r = await api.client.post(IMPORT, json=export, headers=api.master)
    error = api.expect_error(r, 400, code)
    for word in words:
        assert word in error["message"]


async def test_a_malformed_workflow_refuses_the_whole_file(api, endpoint):
    _, url = endpoint
    good = small_export(url)["workflows"][0]
    bad = {**copy.deepcopy(good), "id": "tray-bad", "title": "Broken"}
    del bad["steps"]["storage-1"]
    export = {**small_export(url), "workflows": [good, bad]}
    r = await api.client.post(IMPORT, json=export, headers=api.master)
    error = api.expect_error(r, 400, "invalid_workflow")
    assert "workflow 2 ('Broken', id tray-bad)" in error["message"]
    assert "storage-1" in error["message"]
    r = await api.client.get("/core/v1/workflows", headers=api.master)
    assert r.json()["elements"] == []  # nothing was created


async def test_malformed_bodies(api):
    headers = {**api.master, "Content-Type": "application/json"}
    r = await api.client.post(IMPORT, content=b'{"tray_export_version": 4,', headers=headers)
    error = api.expect_error(r, 400, "malformed_json")
    assert "line 1" in error["message"]

    broken = b"tray_export_version: 4\nexport_type: workflow\nworkflows: [\n  - id: x\n"
    r = await api.client.post(IMPORT, content=broken, headers={**api.master, **YAML})
    error = api.expect_error(r, 400, "invalid_yaml")
    assert "line 4" in error["message"] or "line 5" in error["message"], error

    r = await api.client.post(
        IMPORT, content=b"a: b: c\n", headers={**api.master, "Content-Type": "text/yaml"}
    )
    error = api.expect_error(r, 400, "invalid_yaml")
    assert "line 1" in error["message"]

    r = await api.client.post(IMPORT, content=b"- 1\n- 2\n", headers={**api.master, **YAML})
    api.expect_error(r, 400, "invalid_request")
    r = await api.client.post(IMPORT, content=b"", headers=headers)
    api.expect_error(r, 400, "invalid_request")
    r = await api.client.post(
        IMPORT, content=b"x", headers={**api.master, "Content-Type": "text/plain"}
    )
    api.expect_error(r, 415, "unsupported_media_type")


async def test_import_needs_a_master_token(api):
    _, user_headers = await api.new_user()
    r = await api.client.post(IMPORT, json=bynder_to_marketo(), headers=user_headers)
    api.expect_error(r, 403)
    r = await api.client.post(IMPORT, json=bynder_to_marketo())
    api.expect_error(r, 401)
    r = await api.client.get("/core/v1/workflows", headers=api.master)
    assert r.json()["elements"] == []


# -- YAML (pure functions for create / update / export) ------------------------------------


def test_yaml_round_trip_of_a_realistic_export():
    export = bynder_to_marketo()
    written = to_yaml(export)
    assert "|" in written  # the script is a readable block
    assert parse_body("application/yaml", written) == export
    assert parse_body("text/yaml; charset=utf-8", written.encode()) == export
    # and JSON -> YAML -> JSON through bytes, as the API would
    assert orjson.loads(orjson.dumps(parse_body("application/yaml", written))) == export


async def test_yaml_round_trip_of_an_api_export(api):
    export = bynder_to_marketo()
    [imported] = (await import_export(api, export))["workflows"]
    r = await api.client.get(f"/core/v1/workflows/{imported['id']}/export", headers=api.master)
    assert r.status_code == 200, r.text
    exported = r.json()
    assert parse_body("application/yaml", to_yaml(exported)) == exported
    # The YAML export imports again.
    r = await api.client.post(IMPORT, content=to_yaml(exported), headers={**api.master, **YAML})
    assert r.status_code == 201, r.text


def test_hand_written_yaml_means_what_json_would():
    written = """
title: By hand
settings:
  config:
    since: 2024-05-01        # a date stays a string
    version: 1.4
steps_structure:
  - {name: trigger, type: normal, content: {}}
  - name: boolean-condition-1
    type: branch
    content:
      true: []               # YAML booleans as keys are JSON's "true" / "false"
      false: []
steps: {}
"""
    body = parse_body("application/yaml", written)
    assert body["settings"]["config"] == {"since": "2024-05-01", "version": 1.4}
    assert body["steps_structure"][1]["content"] == {"true": [], "false": []}


@pytest.mark.parametrize(
    "raw,words",
    [
        (b"a: !!python/object:os.system {}\n", ["line 1"]),
        (b"a: !!binary aGVsbG8=\n", ["bytes"]),
        (b"a: .nan\n", ["nan"]),
        (b"a: [1\nb: 2\n", ["line"]),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
            b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
            b"e: [*d, *d, *d, *d, *d, *d, *d, *d]\n",
            ["too many"],
        ),
    ],
)
def test_unsafe_or_malformed_yaml_is_invalid_yaml(raw, words):
    with pytest.raises(BadRequest) as caught:
        parse_body("application/yaml", raw)
    assert caught.value.code == "invalid_yaml"
    for word in words:
        assert word in caught.value.message


def test_media_kinds():
    assert media_kind(None) == "json"
    assert media_kind("application/json; charset=utf-8") == "json"
    assert media_kind("application/vnd.tray+json") == "json"
    for yaml_type in ("application/yaml", "text/yaml", "application/x-yaml", "TEXT/X-YAML"):
        assert media_kind(yaml_type) == "yaml"
    with pytest.raises(UnsupportedMediaType):
        media_kind("application/x-www-form-urlencoded")


# Append to tests/workflows/test_import.py once /tmp/routes_workflows_yaml.patch is applied.


async def test_yaml_create_update_and_export(api, endpoint):
    _, url = endpoint
    wf = small_export(url)["workflows"][0]
    r = await api.client.post(
        "/core/v1/workflows", content=to_yaml(wf), headers={**api.master, **YAML}
    )
    assert r.status_code == 201, r.text
    wf_id = r.json()["id"]
    wf["title"] = "Renamed"
    r = await api.client.put(
        f"/core/v1/workflows/{wf_id}",
        content=to_yaml(wf),
        headers={**api.master, "Content-Type": "text/yaml"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Renamed"
    r = await api.client.get(f"/core/v1/workflows/{wf_id}/export?format=yaml", headers=api.master)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/yaml")
    as_json = await api.client.get(f"/core/v1/workflows/{wf_id}/export", headers=api.master)
    assert parse_body("application/yaml", r.content) == as_json.json()
    r = await api.client.get(f"/core/v1/workflows/{wf_id}/export?format=xml", headers=api.master)
    api.expect_error(r, 400, "invalid_request")
    r = await api.client.post(
        "/core/v1/workflows", content=b"title: [\n", headers={**api.master, **YAML}
    )
    assert "line" in api.expect_error(r, 400, "invalid_yaml")["message"]
    r = await api.client.post("/core/v1/workflows", content=b"{", headers=api.master)
    api.expect_error(r, 400, "malformed_json")
