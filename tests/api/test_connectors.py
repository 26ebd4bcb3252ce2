"""The connector catalogue: ``GET /core/v1/connectors`` and ``.../operations``, in Tray's shapes."""

from __future__ import annotations

import uuid

import jsonschema

INPUT_SCHEMA_URL = "https://api.tray.io/core/v1/connectors/operations/input-schema#"
OUTPUT_SCHEMA_URL = "https://api.tray.io/core/v1/connectors/operations/output-schema#"
OPERATION_KEYS = {
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "hasDynamicOutput",
    "authScopes",
}


async def test_list_connectors_has_trays_shape(api):
    r = await api.client.get("/core/v1/connectors", headers=api.master)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"elements"}
    by_name = {c["name"]: c for c in body["elements"]}
    assert {"slack", "http-client"} <= set(by_name)
    for c in body["elements"]:
        assert set(c) == {"name", "title", "description", "version", "service"}, c
        assert all(isinstance(c[k], str) and c[k] for k in ("name", "title", "description"))
        major, _, minor = c["version"].partition(".")
        assert major.isdigit() and minor.isdigit(), c["version"]
        assert set(c["service"]) == {"id", "name", "version"}
        uuid.UUID(c["service"]["id"])
        assert isinstance(c["service"]["name"], str)
        assert type(c["service"]["version"]) is int
    assert by_name["slack"]["title"] == "Slack"
    assert by_name["slack"]["service"]["name"] == "slack"


async def test_every_operation_list_is_served_with_valid_schemas(api):
    connectors = (await api.client.get("/core/v1/connectors", headers=api.master)).json()
    for c in connectors["elements"]:
        r = await api.client.get(
            f"/core/v1/connectors/{c['name']}/versions/{c['version']}/operations",
            headers=api.master,
        )
        assert r.status_code == 200, (c["name"], r.text)
        body = r.json()
        assert set(body) == {"elements"}
        assert body["elements"], c["name"]
        names = [op["name"] for op in body["elements"]]
        assert len(names) == len(set(names))
        for op in body["elements"]:
            where = f"{c['name']}.{op['name']}"
            assert set(op) == OPERATION_KEYS, where
            assert isinstance(op["title"], str) and op["title"], where
            assert isinstance(op["description"], str), where
            assert type(op["hasDynamicOutput"]) is bool, where
            assert isinstance(op["authScopes"], list), where
            assert all(isinstance(s, str) for s in op["authScopes"]), where
            assert op["inputSchema"]["$schema"] == INPUT_SCHEMA_URL, where
            assert op["inputSchema"]["type"] == "object", where
            jsonschema.Draft4Validator.check_schema(op["inputSchema"])
            if op["outputSchema"]:
                assert op["outputSchema"]["$schema"] == OUTPUT_SCHEMA_URL, where
                jsonschema.Draft4Validator.check_schema(op["outputSchema"])
            # Tray's "advanced" names fields of the same object
            advanced = op["inputSchema"].get("advanced", [])
            assert set(advanced) <= set(op["inputSchema"].get("properties", {})), where


async def test_slack_operations_match_trays_wiring(api):
    r = await api.client.get(
        "/core/v1/connectors/slack/versions/1.0/operations", headers=api.master
    )
    assert r.status_code == 200, r.text
    ops = {op["name"]: op for op in r.json()["elements"]}
    assert {
        "send_message",
        "send_reminder",
        "list_channels_ddl",
        "list_workspaces_ddl",
        "lookup_user_by_email",
    } <= set(ops)

    send = ops["send_message"]
    assert send["title"] == "Send Message"
    props = send["inputSchema"]["properties"]
    channel_field = next(p for p in props.values() if p.get("title") == "Channel")
    assert channel_field["lookup"] == {
        "message": "list_channels_ddl",
        "input": {"include_private_channels": False, "workspace_id": "{{{workspace_id}}}"},
    }
    assert props["workspace_id"]["lookup"] == {"message": "list_workspaces_ddl", "input": {}}
    assert send["inputSchema"]["additionalProperties"] is False
    assert "thread_ts" in send["inputSchema"]["advanced"]
    for name in send["inputSchema"]["advanced"]:
        assert name not in send["inputSchema"].get("required", [])
    assert send["hasDynamicOutput"] is False
    assert "chat:write" in send["authScopes"]

    reminder = ops["send_reminder"]
    assert reminder["title"] == "Send Reminder"
    assert {"text", "time"} <= set(reminder["inputSchema"]["required"])
    assert "reminders:write" in reminder["authScopes"]

    # every lookup names an operation of this connector, and DDLs answer {result: [{text, value}]}
    for op in ops.values():
        for prop in op["inputSchema"]["properties"].values():
            if "lookup" in prop:
                assert prop["lookup"]["message"] in ops
    for name in ("list_channels_ddl", "list_workspaces_ddl"):
        result = ops[name]["outputSchema"]["properties"]["result"]
        assert result["type"] == "array"
        assert set(result["items"]["properties"]) >= {"text", "value"}
    assert (
        ops["list_channels_ddl"]["inputSchema"]["properties"]["include_private_channels"]["type"]
        == "boolean"
    )

    # the scopes operations ask for are scopes the service's environments offer
    service = next(
        c["service"]
        for c in (await api.client.get("/core/v1/connectors", headers=api.master)).json()[
            "elements"
        ]
        if c["name"] == "slack"
    )
    r = await api.client.get(
        f"/core/v1/services/slack/versions/{service['version']}/environments", headers=api.master
    )
    assert r.status_code == 200, r.text
    offered = {s["scope"] for env in r.json()["elements"] for s in env["scopes"]}
    for op in ops.values():
        if op["name"] != "raw_http_request":  # its scopes depend on the method called
            assert op["authScopes"], op["name"]
        assert set(op["authScopes"]) <= offered, op["name"]


async def test_unknown_connector_or_version_is_404(api):
    for path in (
        "/core/v1/connectors/nope/versions/1.0/operations",
        "/core/v1/connectors/slack/versions/9.9/operations",
        "/core/v1/connectors/slack/versions/latest/operations",
        "/core/v1/connectors/Slack/versions/1.0/operations",
        "/core/v1/connectors/http-client/versions/1/operations",
    ):
        r = await api.client.get(path, headers=api.master)
        body = api.expect_error(r, 404, "connector_not_found")
        assert path.split("/")[4] in body["message"]


async def test_catalogue_needs_a_token(api):
    for path in ("/core/v1/connectors", "/core/v1/connectors/slack/versions/1.0/operations"):
        api.expect_error(await api.client.get(path), 401)
        r = await api.client.get(path, headers={"Authorization": "Bearer pbm_not-a-token"})
        api.expect_error(r, 401)
        r = await api.client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
        api.expect_error(r, 401)


async def test_catalogue_works_with_a_user_token(api):
    _, headers = await api.new_user()
    as_master = await api.client.get("/core/v1/connectors", headers=api.master)
    as_user = await api.client.get("/core/v1/connectors", headers=headers)
    assert as_user.status_code == 200, as_user.text
    assert as_user.json() == as_master.json()
    r = await api.client.get("/core/v1/connectors/slack/versions/1.0/operations", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["elements"]


async def test_the_catalogue_holds_every_connector_of_the_seeds(api):
    r = await api.client.get("/core/v1/connectors", headers=api.master)
    listed = {(c["name"], c["version"]) for c in r.json()["elements"]}
    assert {
        ("slack", "1.0"),
        ("http-client", "1.0"),
        ("twilio", "1.0"),
        ("pendo", "1.0"),
        ("shopify", "1.0"),
        ("outreach", "1.0"),
        ("tmu", "1.0"),
        ("tmu", "1.1"),
        ("email", "1.0"),
    } <= listed
    # Every HTTP service connector offers raw access (TMU from 1.1, as its seed says; the
    # HTTP client is raw access itself; email is SMTP).
    registry = api.platform.registry
    for name, version in listed - {("http-client", "1.0"), ("email", "1.0"), ("tmu", "1.0")}:
        connector = registry.get(name, version)
        if not connector.side_effects:  # core helpers compute: no service to call
            continue
        ops = await api.client.get(
            f"/core/v1/connectors/{name}/versions/{version}/operations", headers=api.master
        )
        assert "raw_http_request" in {op["name"] for op in ops.json()["elements"]}, name
