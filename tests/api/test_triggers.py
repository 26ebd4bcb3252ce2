"""The trigger catalogue: ``GET /core/v1/triggers`` and ``.../operations``, in Tray's shapes,
plus trigger discovery (built-in folders, the ``patchbay.triggers`` entry points)."""

from __future__ import annotations

import textwrap
import uuid

import jsonschema
import pytest

from patchbay.connectors.registry import Registry, builtin_connectors, builtin_triggers

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
SEGMENT_OPS = "/core/v1/triggers/segment-trigger/versions/1.0/operations"


async def test_list_triggers_has_trays_shape(api):
    r = await api.client.get("/core/v1/triggers", headers=api.master)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"elements"}
    by_name = {t["name"]: t for t in body["elements"]}
    assert "segment-trigger" in by_name
    for t in body["elements"]:
        assert set(t) == {"name", "version", "title", "description", "service"}, t
        assert all(isinstance(t[k], str) and t[k] for k in ("name", "title", "description"))
        major, _, minor = t["version"].partition(".")
        assert major.isdigit() and minor.isdigit(), t["version"]
        assert set(t["service"]) == {"id", "name", "version"}
        uuid.UUID(t["service"]["id"])
        assert type(t["service"]["version"]) is int
    segment = by_name["segment-trigger"]
    assert segment["version"] == "1.0"
    assert segment["title"] == "Segment"
    assert segment["service"]["name"] == "segment"


async def test_every_trigger_operation_list_is_served_with_valid_schemas(api):
    triggers = (await api.client.get("/core/v1/triggers", headers=api.master)).json()
    for t in triggers["elements"]:
        r = await api.client.get(
            f"/core/v1/triggers/{t['name']}/versions/{t['version']}/operations",
            headers=api.master,
        )
        assert r.status_code == 200, (t["name"], r.text)
        body = r.json()
        assert set(body) == {"elements"} and body["elements"], t["name"]
        for op in body["elements"]:
            where = f"{t['name']}.{op['name']}"
            assert set(op) == OPERATION_KEYS, where
            assert isinstance(op["title"], str) and op["title"], where
            assert type(op["hasDynamicOutput"]) is bool, where
            assert all(isinstance(s, str) for s in op["authScopes"]), where
            assert op["inputSchema"]["$schema"] == INPUT_SCHEMA_URL, where
            assert op["inputSchema"]["type"] == "object", where
            jsonschema.Draft4Validator.check_schema(op["inputSchema"])
            assert op["outputSchema"]["$schema"] == OUTPUT_SCHEMA_URL, where
            jsonschema.Draft4Validator.check_schema(op["outputSchema"])


async def test_segment_operation(api):
    r = await api.client.get(SEGMENT_OPS, headers=api.master)
    assert r.status_code == 200, r.text
    [op] = r.json()["elements"]
    assert op["name"] == "segment_message"
    assert op["title"] == "Segment Message"
    assert op["hasDynamicOutput"] is False
    assert op["authScopes"] == []
    settings = op["inputSchema"]
    assert settings["additionalProperties"] is False
    assert set(settings["properties"]) == {"message_types", "shared_secret"}
    assert settings["properties"]["message_types"]["items"]["enum"] == [
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
        "delete",
    ]
    assert not settings.get("required")
    validator = jsonschema.Draft4Validator(settings)
    assert validator.is_valid({})
    assert validator.is_valid({"message_types": ["delete"], "shared_secret": "x"})
    assert not validator.is_valid({"message_types": ["nope"]})
    output = op["outputSchema"]
    assert output["type"] == "object" and "type" in output["required"]
    assert {"messageId", "userId", "traits", "event", "groupId", "previousId"} <= set(
        output["properties"]
    )
    event = {"type": "track", "messageId": "m1", "event": "Signed Up", "properties": {}}
    assert jsonschema.Draft4Validator(output).is_valid(event)
    # served again from the catalogue's cache, unchanged
    assert (await api.client.get(SEGMENT_OPS, headers=api.master)).json() == r.json()


async def test_unknown_trigger_or_version_is_404(api):
    for path in (
        "/core/v1/triggers/nope/versions/1.0/operations",
        "/core/v1/triggers/segment-trigger/versions/9.9/operations",
        "/core/v1/triggers/segment-trigger/versions/1/operations",
        "/core/v1/triggers/Segment-trigger/versions/1.0/operations",
        "/core/v1/triggers/segment/versions/1.0/operations",
        "/core/v1/triggers/slack/versions/1.0/operations",  # a connector, not a trigger
    ):
        r = await api.client.get(path, headers=api.master)
        body = api.expect_error(r, 404, "trigger_not_found")
        assert path.split("/")[4] in body["message"]


async def test_trigger_catalogue_needs_a_token(api):
    for path in ("/core/v1/triggers", SEGMENT_OPS):
        api.expect_error(await api.client.get(path), 401)
        r = await api.client.get(path, headers={"Authorization": "Bearer pbm_not-a-token"})
        api.expect_error(r, 401)
        r = await api.client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
        api.expect_error(r, 401)


async def test_trigger_catalogue_works_with_a_user_token(api):
    _, headers = await api.new_user()
    for path in ("/core/v1/triggers", SEGMENT_OPS):
        as_master = await api.client.get(path, headers=api.master)
        as_user = await api.client.get(path, headers=headers)
        assert as_user.status_code == 200, as_user.text
        assert as_user.json() == as_master.json()


async def test_triggers_do_not_show_up_as_connectors(api):
    r = await api.client.get("/core/v1/connectors", headers=api.master)
    assert "segment-trigger" not in {c["name"] for c in r.json()["elements"]}
    assert "segment" not in {c["name"] for c in r.json()["elements"]}


# -- discovery --------------------------------------------------------------------------

PLUGIN = textwrap.dedent(
    """
    from patchbay.connectors.sdk import Event, Service, Trigger, TriggerOperation

    SERVICE = Service(id="0b7e4c1a-2f3d-4e5a-8b6c-7d8e9f0a1b2c", name="ping", version=1)


    def on_request(request, settings, state):
        return [Event(data=request.json())]


    def make(version):
        op = TriggerOperation(name="ping", title="Ping", on_request=on_request)
        return Trigger(
            name="ping-trigger", title="Ping", version=version, service=SERVICE,
            description="Pings", operations=[op],
        )


    def TRIGGERS():
        return [make("1.0"), make("1.1")]
    """
)


@pytest.fixture
def ping_plugin(tmp_path, monkeypatch):
    """A distribution declaring a ``patchbay.triggers`` entry point (two versions)."""
    (tmp_path / "ping_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "ping_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ping-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[patchbay.triggers]\nping = ping_plugin:TRIGGERS\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_builtin_triggers_leave_connectors_alone():
    assert ("segment-trigger", "1.0") in {(t.name, t.version) for t in builtin_triggers()}
    assert "segment" not in {c.service.name for c in builtin_connectors()}


def test_entry_point_triggers_load_beside_builtins(ping_plugin):
    registry = Registry.discover()
    assert registry.trigger("ping-trigger", "1.0") is not None
    assert registry.latest_trigger("ping-trigger").version == "1.1"
    assert registry.trigger("segment-trigger", "1.0") is not None
    assert registry.get("slack", "1.0") is not None
    with pytest.raises(ValueError, match="declared twice"):
        registry.add_trigger(registry.trigger("ping-trigger", "1.0"))
    names = [(t.name, t.version) for t in registry.triggers()]
    assert names == sorted(names)
