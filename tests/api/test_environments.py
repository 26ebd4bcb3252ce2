"""Service environments (``/core/v1/services/{name}/versions/{v}/environments``)."""

from __future__ import annotations

ENV_KEYS = {"id", "title", "authenticationType", "userDataSchema", "credentialsSchema", "scopes"}


def url(service: str, version: str | int) -> str:
    return f"/core/v1/services/{service}/versions/{version}/environments"


async def test_environments_have_trays_shape(api):
    _, user = await api.new_user()
    r = await api.client.get(url("http-client", 1), headers=api.master)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"elements"}
    envs = body["elements"]
    assert {e["title"] for e in envs} >= {"Token", "Basic auth", "API key header"}
    for env in envs:
        assert set(env) == ENV_KEYS, env
        assert isinstance(env["id"], str) and env["id"]
        assert isinstance(env["authenticationType"], str)
        assert env["credentialsSchema"]["type"] == "object"
        assert env["userDataSchema"]["type"] == "object"
        assert isinstance(env["scopes"], list)
    assert len({e["id"] for e in envs}) == len(envs)
    # end users read the same listing
    r = await api.client.get(url("http-client", 1), headers=user)
    assert r.status_code == 200
    assert r.json() == body


async def test_environment_scopes_are_scope_and_description(api):
    r = await api.client.get(url("slack", 1), headers=api.master)
    assert r.status_code == 200, r.text
    envs = r.json()["elements"]
    oauth = [e for e in envs if e["authenticationType"] == "oauth2"]
    assert oauth, envs
    scopes = oauth[0]["scopes"]
    assert scopes
    for scope in scopes:
        assert set(scope) == {"scope", "description"}
        assert isinstance(scope["scope"], str) and isinstance(scope["description"], str)
    assert "chat:write" in {s["scope"] for s in scopes}
    for env in envs:
        assert set(env) == ENV_KEYS


async def test_unknown_service_or_version_is_404(api):
    for service, version in (
        ("no-such-service", 1),
        ("http-client", 2),
        ("http-client", 0),
        ("http-client", "1.0"),
        ("http-client", "one"),
    ):
        r = await api.client.get(url(service, version), headers=api.master)
        api.expect_error(r, 404, "service_not_found")
    r = await api.client.get(url("http-client", 1))
    api.expect_error(r, 401, "missing_token")
    r = await api.client.get(url("http-client", 1), headers=api.auth("pbm_nope"))
    api.expect_error(r, 401, "invalid_token")
