"""Stored authentications (``/core/v1/authentications``): validation against the service
environment, owner-only visibility (across users, the organisation and other organisations),
updates, deletion and encryption at rest."""

from __future__ import annotations

import uuid

from sqlalchemy import text

AUTHS = "/core/v1/authentications"
SECRET = "sk_live_very-secret-value-4242"


async def environments(api, service: str = "http-client", version: int = 1) -> dict[str, dict]:
    r = await api.client.get(
        f"/core/v1/services/{service}/versions/{version}/environments", headers=api.master
    )
    assert r.status_code == 200, r.text
    return {e["title"]: e for e in r.json()["elements"]}


async def token_env(api) -> str:
    """The http-client "Token" environment: credentials {token}, optional userData."""
    envs = await environments(api)
    env = envs["Token"]
    assert env["credentialsSchema"]["required"] == ["token"]
    return env["id"]


async def api_key_env(api) -> str:
    """The http-client "API key header" environment: userData.header_name is required."""
    envs = await environments(api)
    env = envs["API key header"]
    assert "header_name" in env["userDataSchema"]["required"]
    return env["id"]


async def raw_credentials(api, auth_id: str) -> str:
    async with api.platform.db.session() as s:
        return await s.scalar(
            text("SELECT credentials FROM authentications WHERE id = :id"), {"id": auth_id}
        )


async def test_create_authentication_as_user_and_as_organisation(api):
    env_id = await token_env(api)
    user, headers = await api.new_user()
    for who in (headers, api.master):
        body = {
            "name": "My token",
            "serviceEnvironmentId": env_id,
            "credentials": {"token": SECRET},
            "userData": {"header_name": "X-Token", "prefix": ""},
            "scopes": ["read", "write"],
        }
        r = await api.client.post(AUTHS, json=body, headers=who)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"id"}
        auth_id = r.json()["id"]
        assert uuid.UUID(auth_id)

        r = await api.client.get(f"{AUTHS}/{auth_id}", headers=who)
        assert r.status_code == 200, r.text
        got = r.json()
        assert {"id", "name", "serviceEnvironmentId", "scopes"} <= set(got)
        assert got["id"] == auth_id
        assert got["name"] == "My token"
        assert got["serviceEnvironmentId"] == env_id
        assert got["scopes"] == ["read", "write"]
        assert "credentials" not in got and "userData" not in got
        assert SECRET not in r.text
    async with api.platform.db.session() as s:
        owners = (
            await s.execute(text("SELECT user_id FROM authentications ORDER BY seq"))
        ).scalars()
        assert list(owners) == [user["id"], None]


async def test_create_authentication_defaults_and_ignored_fields(api):
    env_id = await token_env(api)
    r = await api.client.post(
        AUTHS,
        json={
            "name": "n",
            "serviceEnvironmentId": env_id,
            "credentials": {"token": "t"},
            "onPremAgentGroupId": "group-1",
            "somethingElse": True,
        },
        headers=api.master,
    )
    assert r.status_code == 200, r.text
    r = await api.client.get(f"{AUTHS}/{r.json()['id']}/full", headers=api.master)
    assert r.json()["userData"] == {}
    assert r.json()["scopes"] == []
    assert r.json()["credentials"] == {"token": "t"}


async def test_create_authentication_unknown_environment_is_404(api):
    for env_id in (str(uuid.uuid4()), "nope"):
        r = await api.client.post(
            AUTHS,
            json={"name": "n", "serviceEnvironmentId": env_id, "credentials": {"token": "t"}},
            headers=api.master,
        )
        api.expect_error(r, 404, "service_environment_not_found")


async def test_create_authentication_rejects_invalid_credentials_and_user_data(api):
    token_id = await token_env(api)
    key_id = await api_key_env(api)
    _, headers = await api.new_user()
    for credentials in (
        {},
        {"token": ""},
        {"token": 42},
        {"token": "t", "extra": "x"},
        {"username": "u", "password": "p"},
    ):
        body = {"name": "n", "serviceEnvironmentId": token_id, "credentials": credentials}
        r = await api.client.post(AUTHS, json=body, headers=headers)
        body = api.expect_error(r, 400, "invalid_credentials")
        assert SECRET not in body["message"]
    for env_id, user_data, credentials in (
        (key_id, {}, {"value": "k"}),
        (key_id, {"header_name": "bad header"}, {"value": "k"}),
        (token_id, {"prefix": 5}, {"token": "t"}),
        (token_id, {"unknown": "x"}, {"token": "t"}),
    ):
        body = {
            "name": "n",
            "serviceEnvironmentId": env_id,
            "credentials": credentials,
            "userData": user_data,
        }
        r = await api.client.post(AUTHS, json=body, headers=headers)
        api.expect_error(r, 400, "invalid_userData")
    r = await api.client.get(AUTHS, headers=headers)
    assert r.json()["elements"] == []


async def test_create_authentication_rejects_schema_violations(api):
    env_id = await token_env(api)
    good = {"name": "n", "serviceEnvironmentId": env_id, "credentials": {"token": "t"}}
    bad_bodies = [
        {},
        {k: v for k, v in good.items() if k != "name"},
        {k: v for k, v in good.items() if k != "serviceEnvironmentId"},
        {**good, "name": ""},
        {**good, "name": 3},
        {**good, "serviceEnvironmentId": 7},
        {**good, "credentials": "token"},
        {**good, "credentials": ["t"]},
        {**good, "userData": "x"},
        {**good, "scopes": "read"},
        {**good, "scopes": [1]},
        [good],
        "auth",
    ]
    for body in bad_bodies:
        r = await api.client.post(AUTHS, json=body, headers=api.master)
        api.expect_error(r, 400, "invalid_request")


async def test_authentications_need_a_bearer_token(api):
    env_id = await token_env(api)
    auth_id = await api.create_auth(api.master, env_id, {"token": SECRET})
    for method, path, body in (
        ("POST", AUTHS, {"name": "n", "serviceEnvironmentId": env_id, "credentials": {}}),
        ("GET", AUTHS, None),
        ("GET", f"{AUTHS}/{auth_id}", None),
        ("GET", f"{AUTHS}/{auth_id}/full", None),
        ("PUT", f"{AUTHS}/{auth_id}", {"name": "x", "credentials": {"token": "y"}}),
        ("DELETE", f"{AUTHS}/{auth_id}", None),
    ):
        for headers, code in (
            ({}, "missing_token"),
            ({"Authorization": "Bearer pbu_forged"}, "invalid_token"),
            ({"Authorization": "Token abc"}, "invalid_token"),
        ):
            r = await api.client.request(method, path, json=body, headers=headers)
            api.expect_error(r, 401, code)
    r = await api.client.get(f"{AUTHS}/{auth_id}/full", headers=api.master)
    assert r.json()["credentials"] == {"token": SECRET}


async def test_list_own_authentications_with_pagination(api):
    env_id = await token_env(api)
    _, alice = await api.new_user()
    _, bob = await api.new_user()
    mine = [await api.create_auth(alice, env_id, {"token": f"a{i}"}) for i in range(3)]
    bobs = await api.create_auth(bob, env_id, {"token": "b"})
    orgs = await api.create_auth(api.master, env_id, {"token": "o"})

    r = await api.client.get(AUTHS, headers=alice)
    assert r.status_code == 200
    assert [a["id"] for a in r.json()["elements"]] == mine
    assert all("credentials" not in a for a in r.json()["elements"])
    r = await api.client.get(AUTHS, headers=bob)
    assert [a["id"] for a in r.json()["elements"]] == [bobs]
    r = await api.client.get(AUTHS, headers=api.master)
    assert [a["id"] for a in r.json()["elements"]] == [orgs]

    r = await api.client.get(AUTHS, params={"first": 2}, headers=alice)
    page = r.json()
    assert [a["id"] for a in page["elements"]] == mine[:2]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False
    r = await api.client.get(
        AUTHS, params={"first": 2, "cursor": page["pageInfo"]["endCursor"]}, headers=alice
    )
    page = r.json()
    assert [a["id"] for a in page["elements"]] == mine[2:]
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["pageInfo"]["hasPreviousPage"] is True

    for params, code in (
        ({"first": 0}, "invalid_page_size"),
        ({"first": 1000}, "invalid_page_size"),
        ({"cursor": "%%%"}, "invalid_cursor"),
    ):
        r = await api.client.get(AUTHS, params=params, headers=alice)
        api.expect_error(r, 400, code)


async def test_full_shows_user_data_and_credentials_to_the_owner(api):
    env_id = await token_env(api)
    _, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers, env_id, {"token": SECRET}, userData={"header_name": "X-Key"}, scopes=["s"]
    )
    for params in ({}, {"forceRefresh": "true"}, {"forceRefresh": "false"}):
        r = await api.client.get(f"{AUTHS}/{auth_id}/full", params=params, headers=headers)
        assert r.status_code == 200, r.text
        full = r.json()
        assert full["id"] == auth_id
        assert full["serviceEnvironmentId"] == env_id
        assert full["scopes"] == ["s"]
        assert full["userData"] == {"header_name": "X-Key"}
        assert full["credentials"] == {"token": SECRET}
    r = await api.client.get(
        f"{AUTHS}/{auth_id}/full", params={"forceRefresh": "maybe"}, headers=headers
    )
    api.expect_error(r, 400, "invalid_request")


async def test_update_authentication(api):
    env_id = await token_env(api)
    _, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers, env_id, {"token": "old"}, userData={"prefix": "token"}, scopes=["a"]
    )
    url = f"{AUTHS}/{auth_id}"
    for body, code in (
        ({"credentials": {"token": "new"}}, "invalid_request"),
        ({"name": "renamed"}, "invalid_request"),
        ({}, "invalid_request"),
        ({"name": "", "credentials": {"token": "new"}}, "invalid_request"),
        ({"name": "x", "credentials": "new"}, "invalid_request"),
        ({"name": "x", "credentials": {"token": "new"}, "scopes": "a"}, "invalid_request"),
        ({"name": "x", "credentials": {}}, "invalid_credentials"),
        ({"name": "x", "credentials": {"password": "p"}}, "invalid_credentials"),
        ({"name": "x", "credentials": {"token": "n"}, "userData": {"z": 1}}, "invalid_userData"),
    ):
        r = await api.client.put(url, json=body, headers=headers)
        api.expect_error(r, 400, code)
    # nothing changed
    r = await api.client.get(f"{url}/full", headers=headers)
    assert r.json()["name"] == "auth"
    assert r.json()["credentials"] == {"token": "old"}

    r = await api.client.put(
        url, json={"name": "renamed", "credentials": {"token": "new"}}, headers=headers
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["id"] == auth_id and got["name"] == "renamed"
    assert "credentials" not in got and "new" not in r.text.replace("renamed", "")
    r = await api.client.get(f"{url}/full", headers=headers)
    full = r.json()
    assert full["name"] == "renamed"
    assert full["credentials"] == {"token": "new"}
    assert full["userData"] == {"prefix": "token"}  # kept when not given
    assert full["scopes"] == ["a"]

    r = await api.client.put(
        url,
        json={
            "name": "again",
            "credentials": {"token": "newer"},
            "userData": {"header_name": "X-T"},
            "scopes": [],
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    full = (await api.client.get(f"{url}/full", headers=headers)).json()
    assert full["credentials"] == {"token": "newer"}
    assert full["userData"] == {"header_name": "X-T"}
    assert full["scopes"] == []
    assert "newer" not in await raw_credentials(api, auth_id)


async def test_delete_authentication(api):
    env_id = await token_env(api)
    _, headers = await api.new_user()
    auth_id = await api.create_auth(headers, env_id, {"token": "t"})
    kept = await api.create_auth(headers, env_id, {"token": "k"})
    url = f"{AUTHS}/{auth_id}"
    r = await api.client.delete(url, headers=headers)
    assert r.status_code == 204
    assert r.content == b""
    for method, path, body in (
        ("GET", url, None),
        ("GET", f"{url}/full", None),
        ("PUT", url, {"name": "x", "credentials": {"token": "y"}}),
        ("DELETE", url, None),
    ):
        r = await api.client.request(method, path, json=body, headers=headers)
        api.expect_error(r, 404, "authentication_not_found")
    r = await api.client.get(AUTHS, headers=headers)
    assert [a["id"] for a in r.json()["elements"]] == [kept]


async def test_unknown_authentication_ids_are_404(api):
    for auth_id in (str(uuid.uuid4()), "garbage"):
        url = f"{AUTHS}/{auth_id}"
        for method, path, body in (
            ("GET", url, None),
            ("GET", f"{url}/full", None),
            ("PUT", url, {"name": "x", "credentials": {"token": "y"}}),
            ("DELETE", url, None),
        ):
            r = await api.client.request(method, path, json=body, headers=api.master)
            api.expect_error(r, 404, "authentication_not_found")


async def test_credentials_are_encrypted_at_rest(api):
    env_id = await token_env(api)
    _, headers = await api.new_user()
    auth_id = await api.create_auth(headers, env_id, {"token": SECRET})
    raw = await raw_credentials(api, auth_id)
    assert raw and SECRET not in raw
    assert "token" not in raw  # not even the field names
    r = await api.client.get(f"{AUTHS}/{auth_id}/full", headers=headers)
    assert r.json()["credentials"] == {"token": SECRET}


# -- tenancy ---------------------------------------------------------------------------


async def _attempts(api, headers, auth_id):
    """Every way to reach someone else's authentication; each must be a 404."""
    url = f"{AUTHS}/{auth_id}"
    for method, path, body in (
        ("GET", url, None),
        ("GET", f"{url}/full", None),
        ("PUT", url, {"name": "stolen", "credentials": {"token": "attacker"}}),
        ("DELETE", url, None),
    ):
        r = await api.client.request(method, path, json=body, headers=headers)
        api.expect_error(r, 404, "authentication_not_found")
    r = await api.client.get(AUTHS, headers=headers)
    assert auth_id not in [a["id"] for a in r.json()["elements"]]


async def _intact(api, headers, auth_id, secret):
    r = await api.client.get(f"{AUTHS}/{auth_id}/full", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "auth"
    assert r.json()["credentials"] == {"token": secret}


async def test_users_cannot_reach_each_others_authentications(api):
    env_id = await token_env(api)
    _, alice = await api.new_user()
    _, bob = await api.new_user()
    alices = await api.create_auth(alice, env_id, {"token": "alice-secret"})
    bobs = await api.create_auth(bob, env_id, {"token": "bob-secret"})

    await _attempts(api, alice, bobs)
    await _attempts(api, bob, alices)
    await _intact(api, alice, alices, "alice-secret")
    await _intact(api, bob, bobs, "bob-secret")


async def test_master_and_users_cannot_reach_each_others_authentications(api):
    env_id = await token_env(api)
    _, alice = await api.new_user()
    alices = await api.create_auth(alice, env_id, {"token": "alice-secret"})
    orgs = await api.create_auth(api.master, env_id, {"token": "org-secret"})

    await _attempts(api, api.master, alices)
    await _attempts(api, alice, orgs)
    await _intact(api, alice, alices, "alice-secret")
    await _intact(api, api.master, orgs, "org-secret")


async def test_organisations_cannot_reach_each_others_authentications(api):
    env_id = await token_env(api)
    _, other = await api.other_org()
    r = await api.client.post(
        "/core/v1/end-users", json={"name": "O", "externalUserId": "o"}, headers=other
    )
    r = await api.client.post(f"/core/v1/end-users/{r.json()['id']}/tokens", headers=other)
    other_user = api.auth(r.json()["accessToken"])
    _, alice = await api.new_user()

    orgs = await api.create_auth(api.master, env_id, {"token": "org-secret"})
    alices = await api.create_auth(alice, env_id, {"token": "alice-secret"})
    theirs = await api.create_auth(other, env_id, {"token": "their-secret"})
    their_users = await api.create_auth(other_user, env_id, {"token": "their-user-secret"})

    for headers in (other, other_user):
        await _attempts(api, headers, orgs)
        await _attempts(api, headers, alices)
    for headers in (api.master, alice):
        await _attempts(api, headers, theirs)
        await _attempts(api, headers, their_users)

    await _intact(api, api.master, orgs, "org-secret")
    await _intact(api, alice, alices, "alice-secret")
    await _intact(api, other, theirs, "their-secret")
    await _intact(api, other_user, their_users, "their-user-secret")
