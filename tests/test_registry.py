"""The connector catalogue: built-in folders, the ``patchbay.connectors`` entry-point group,
several versions side by side, and dynamic output through the API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from patchbay.api.app import create_app
from patchbay.connectors.registry import Registry, builtin_connectors
from patchbay.services.platform import Platform

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def echo_plugin(tmp_path, monkeypatch):
    """Install ``echo_plugin`` as a distribution declaring the entry point."""
    dist = tmp_path / "echo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[patchbay.connectors]\necho = echo_plugin:CONNECTORS\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGINS))


def test_builtin_folders_are_discovered():
    names = {(c.name, c.version) for c in builtin_connectors()}
    assert {("slack", "1.0"), ("http-client", "1.0")} <= names


def test_entry_point_connectors_load_beside_builtins(echo_plugin):
    registry = Registry.discover()
    assert registry.get("echo", "1.0") is not None
    assert registry.get("echo", "2.0") is not None
    assert registry.latest("echo").version == "2.0"
    assert registry.get("slack", "1.0") is not None


def test_a_version_declared_twice_is_refused(echo_plugin):
    registry = Registry.discover()
    with pytest.raises(ValueError, match="declared twice"):
        registry.add(registry.get("echo", "1.0"))


@pytest.fixture
async def echo_api(settings, echo_plugin):
    platform = Platform(settings, registry=Registry.discover())
    app = create_app(settings, platform)
    token = await platform.start()
    # Unhandled errors come back as responses, as a real server would send them.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://patchbay.test") as client:
        client.platform = platform
        yield client, {"Authorization": f"Bearer {token}"}
    await platform.stop()


async def test_both_versions_are_listed_and_callable(echo_api):
    client, master = echo_api
    r = await client.get("/core/v1/connectors", headers=master)
    versions = [c["version"] for c in r.json()["elements"] if c["name"] == "echo"]
    assert versions == ["1.0", "2.0"]
    for version, dynamic in (("1.0", False), ("2.0", True)):
        r = await client.get(
            f"/core/v1/connectors/echo/versions/{version}/operations", headers=master
        )
        assert r.json()["elements"][0]["hasDynamicOutput"] is dynamic
        r = await client.post(
            f"/core/v1/connectors/echo/versions/{version}/call",
            json={"operation": "echo", "input": {"value": 3}},
            headers=master,
        )
        assert r.json() == {"outcome": "success", "output": {"value": 3}}


async def test_return_output_schema_adds_the_dynamic_schema(echo_api):
    client, master = echo_api
    body = {"operation": "echo", "input": {"value": {"a": "x"}}, "returnOutputSchema": True}
    r = await client.post("/core/v1/connectors/echo/versions/2.0/call", json=body, headers=master)
    assert r.status_code == 200
    assert r.json()["output"] == {
        "value": {"a": "x"},
        "output_schema": {
            "type": "object",
            "properties": {"value": {"type": "object", "properties": {"a": {"type": "string"}}}},
        },
    }
    # Without the flag, or on an operation without dynamic output, no schema is added.
    body["returnOutputSchema"] = False
    r = await client.post("/core/v1/connectors/echo/versions/2.0/call", json=body, headers=master)
    assert "output_schema" not in r.json()["output"]
    body["returnOutputSchema"] = True
    r = await client.post("/core/v1/connectors/echo/versions/1.0/call", json=body, headers=master)
    assert "output_schema" not in r.json()["output"]


async def test_a_connector_bug_is_a_flat_500_that_leaks_nothing(echo_api):
    client, master = echo_api
    body = {"operation": "explode", "input": {"value": "secret-ish"}}
    r = await client.post("/core/v1/connectors/echo/versions/1.0/call", json=body, headers=master)
    assert r.status_code == 500
    assert r.json() == {"message": "Internal error", "code": "internal_error"}


async def test_undecryptable_credentials_are_a_flat_500(echo_api):
    client, master = echo_api
    envs = await client.get("/core/v1/services/slack/versions/1/environments", headers=master)
    env_id = envs.json()["elements"][0]["id"]
    auth = await client.post(
        "/core/v1/authentications",
        json={"name": "s", "serviceEnvironmentId": env_id, "credentials": {"access_token": "x"}},
        headers=master,
    )
    auth_id = auth.json()["id"]
    async with client.platform.db.engine.begin() as conn:  # a key that is gone
        await conn.execute(
            text("UPDATE authentications SET credentials = 'gAAAAAB-not-a-token' WHERE id = :i"),
            {"i": auth_id},
        )
    r = await client.get(f"/core/v1/authentications/{auth_id}/full", headers=master)
    assert r.status_code == 500
    assert r.json() == {"message": "Internal error", "code": "internal_error"}
