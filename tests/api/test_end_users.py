"""End users (``/core/v1/end-users``): creation, validation, listing, updates, deletion and
tenancy, through HTTP only."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from patchbay.connectors.http_client.connector import TOKEN_ENVIRONMENT_ID

USERS = "/core/v1/end-users"
MISSING_ID = str(uuid.uuid4())


async def test_create_user_returns_201_and_the_user(api):
    r = await api.client.post(
        USERS, json={"name": "Ada Lovelace", "externalUserId": "ext-1"}, headers=api.master
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert {"id", "name", "externalUserId", "isTestUser"} <= set(user)
    assert uuid.UUID(user["id"])
    assert user["name"] == "Ada Lovelace"
    assert user["externalUserId"] == "ext-1"
    assert user["isTestUser"] is False

    r = await api.client.post(
        USERS,
        json={"name": "Test", "externalUserId": "ext-2", "isTestUser": True},
        headers=api.master,
    )
    assert r.status_code == 201, r.text
    assert r.json()["isTestUser"] is True
    assert r.json()["id"] != user["id"]


async def test_create_user_rejects_invalid_bodies(api):
    bad_bodies = [
        {},
        {"name": "Ada"},
        {"externalUserId": "x"},
        {"name": 1, "externalUserId": "x"},
        {"name": "Ada", "externalUserId": 2},
        {"name": None, "externalUserId": "x"},
        {"name": "", "externalUserId": "x"},
        {"name": "Ada", "externalUserId": ""},
        {"name": "Ada", "externalUserId": "x" * 256},
        {"name": "Ada", "externalUserId": "x", "isTestUser": "yes"},
        {"name": "Ada", "externalUserId": "x", "isTestUser": 1},
        {"name": "Ada", "externalUserId": "x", "role": "admin"},
    ]
    for body in bad_bodies:
        r = await api.client.post(USERS, json=body, headers=api.master)
        api.expect_error(r, 400, "invalid_request")
    for body in ([], "Ada", 7, None):
        r = await api.client.post(USERS, json=body, headers=api.master)
        api.expect_error(r, 400, "invalid_request")
    r = await api.client.get(USERS, headers=api.master)
    assert r.json()["elements"] == []


async def test_create_user_duplicate_external_id_is_409(api):
    await api.create_user("same")
    r = await api.client.post(
        USERS, json={"name": "Other", "externalUserId": "same"}, headers=api.master
    )
    api.expect_error(r, 409, "external_user_id_taken")
    # externalUserId is unique per organisation only
    _, other = await api.other_org()
    body = {"name": "Other", "externalUserId": "same"}
    r = await api.client.post(USERS, json=body, headers=other)
    assert r.status_code == 201, r.text


async def test_every_users_endpoint_needs_a_valid_bearer_token(api):
    user = await api.create_user()
    uid = user["id"]
    endpoints = [
        ("POST", USERS, {"name": "A", "externalUserId": "b"}),
        ("GET", USERS, None),
        ("GET", f"{USERS}/{uid}", None),
        ("PATCH", f"{USERS}/{uid}", {"name": "B"}),
        ("DELETE", f"{USERS}/{uid}", None),
        ("POST", f"{USERS}/{uid}/tokens", None),
        ("DELETE", f"{USERS}/{uid}/tokens", None),
    ]
    bad_headers = [
        ({}, "missing_token"),
        ({"Authorization": "Bearer pbm_not-a-real-token"}, "invalid_token"),
        ({"Authorization": "Bearer "}, "invalid_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_token"),
        ({"Authorization": api.master_token}, "invalid_token"),
    ]
    for method, url, body in endpoints:
        for headers, code in bad_headers:
            r = await api.client.request(method, url, json=body, headers=headers)
            api.expect_error(r, 401, code)
    # nothing happened
    r = await api.client.get(f"{USERS}/{uid}", headers=api.master)
    assert r.json() == user


async def test_users_endpoints_refuse_user_tokens_with_403(api):
    user, headers = await api.new_user()
    uid = user["id"]
    endpoints = [
        ("POST", USERS, {"name": "A", "externalUserId": "b"}),
        ("GET", USERS, None),
        ("GET", f"{USERS}/{uid}", None),
        ("PATCH", f"{USERS}/{uid}", {"name": "B"}),
        ("DELETE", f"{USERS}/{uid}", None),
        ("POST", f"{USERS}/{uid}/tokens", None),
        ("DELETE", f"{USERS}/{uid}/tokens", None),
    ]
    for method, url, body in endpoints:
        r = await api.client.request(method, url, json=body, headers=headers)
        api.expect_error(r, 403, "master_token_required")
    r = await api.client.get(f"{USERS}/{uid}", headers=api.master)
    assert r.json() == user
    r = await api.client.get(USERS, headers=api.master)
    assert [u["id"] for u in r.json()["elements"]] == [uid]


async def test_list_users_paginates_with_cursors(api):
    created = [await api.create_user(f"ext-{i}") for i in range(5)]
    _, other = await api.other_org()
    r = await api.client.post(USERS, json={"name": "X", "externalUserId": "x"}, headers=other)
    assert r.status_code == 201

    r = await api.client.get(USERS, headers=api.master)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["elements"] == created
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["pageInfo"]["hasPreviousPage"] is False

    seen: list[dict] = []
    cursor = None
    pages = []
    while True:
        params = {"first": 2, **({"cursor": cursor} if cursor else {})}
        r = await api.client.get(USERS, params=params, headers=api.master)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"elements", "pageInfo"}
        info = page["pageInfo"]
        assert set(info) == {"startCursor", "endCursor", "hasNextPage", "hasPreviousPage"}
        assert info["hasPreviousPage"] is (cursor is not None)
        pages.append(len(page["elements"]))
        seen.extend(page["elements"])
        if not info["hasNextPage"]:
            break
        assert info["endCursor"] and info["startCursor"]
        cursor = info["endCursor"]
    assert pages == [2, 2, 1]
    assert seen == created

    # past the end: an empty page with null cursors
    r = await api.client.get(USERS, params={"cursor": cursor, "first": 5}, headers=api.master)
    r = await api.client.get(
        USERS, params={"cursor": r.json()["pageInfo"]["endCursor"]}, headers=api.master
    )
    assert r.json()["elements"] == []
    assert r.json()["pageInfo"]["startCursor"] is None
    assert r.json()["pageInfo"]["endCursor"] is None
    assert r.json()["pageInfo"]["hasNextPage"] is False

    r = await api.client.get(USERS, params={"first": 100}, headers=api.master)
    assert r.status_code == 200 and len(r.json()["elements"]) == 5


async def test_list_users_rejects_bad_cursor_and_page_size(api):
    await api.create_user()
    for params, code in [
        ({"cursor": "not-a-cursor!!"}, "invalid_cursor"),
        ({"cursor": "b3RoZXI6MTI"}, "invalid_cursor"),  # base64 of "other:12"
        ({"cursor": "c2VxOmFiYw"}, "invalid_cursor"),  # base64 of "seq:abc"
        ({"first": 0}, "invalid_page_size"),
        ({"first": -1}, "invalid_page_size"),
        ({"first": 101}, "invalid_page_size"),
        ({"first": "ten"}, "invalid_request"),
    ]:
        r = await api.client.get(USERS, params=params, headers=api.master)
        api.expect_error(r, 400, code)


async def test_get_patch_delete_user(api):
    user = await api.create_user("ext-a")
    other = await api.create_user("ext-b")
    url = f"{USERS}/{user['id']}"

    r = await api.client.get(url, headers=api.master)
    assert r.status_code == 200
    assert r.json() == user

    r = await api.client.patch(url, json={"name": "Grace"}, headers=api.master)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Grace"
    assert r.json()["externalUserId"] == "ext-a"

    r = await api.client.patch(
        url, json={"externalUserId": "ext-c", "isTestUser": True}, headers=api.master
    )
    assert r.status_code == 200, r.text
    assert r.json()["externalUserId"] == "ext-c"
    assert r.json()["isTestUser"] is True
    assert r.json()["name"] == "Grace"

    r = await api.client.patch(url, json={}, headers=api.master)
    assert r.status_code == 200
    assert r.json()["externalUserId"] == "ext-c"

    r = await api.client.get(url, headers=api.master)
    assert r.json()["name"] == "Grace"
    assert r.json()["externalUserId"] == "ext-c"

    for body in ({"name": 3}, {"name": ""}, {"isTestUser": "no"}, {"id": "x"}, [], "x"):
        r = await api.client.patch(url, json=body, headers=api.master)
        api.expect_error(r, 400, "invalid_request")

    # taking another user's externalUserId is a conflict; keeping one's own is not
    r = await api.client.patch(url, json={"externalUserId": "ext-b"}, headers=api.master)
    api.expect_error(r, 409, "external_user_id_taken")
    r = await api.client.patch(url, json={"externalUserId": "ext-c"}, headers=api.master)
    assert r.status_code == 200
    r = await api.client.get(f"{USERS}/{other['id']}", headers=api.master)
    assert r.json() == other

    r = await api.client.delete(url, headers=api.master)
    assert r.status_code == 204
    assert r.content == b""
    for method, body in (("GET", None), ("PATCH", {"name": "Z"}), ("DELETE", None)):
        r = await api.client.request(method, url, json=body, headers=api.master)
        api.expect_error(r, 404, "user_not_found")
    # its externalUserId is free again
    await api.create_user("ext-c")


async def test_unknown_user_ids_are_404(api):
    for user_id in (MISSING_ID, "not-a-uuid"):
        url = f"{USERS}/{user_id}"
        for method, body in (("GET", None), ("PATCH", {"name": "Z"}), ("DELETE", None)):
            r = await api.client.request(method, url, json=body, headers=api.master)
            api.expect_error(r, 404, "user_not_found")
        r = await api.client.post(f"{url}/tokens", headers=api.master)
        api.expect_error(r, 404, "user_not_found")
        r = await api.client.delete(f"{url}/tokens", headers=api.master)
        api.expect_error(r, 404, "user_not_found")


async def test_organisations_cannot_see_each_others_users(api):
    mine = await api.create_user("mine")
    _, other = await api.other_org()
    r = await api.client.post(USERS, json={"name": "Y", "externalUserId": "theirs"}, headers=other)
    theirs = r.json()

    for headers, user in ((other, mine), (api.master, theirs)):
        url = f"{USERS}/{user['id']}"
        for method, path, body in (
            ("GET", url, None),
            ("PATCH", url, {"name": "Stolen"}),
            ("DELETE", url, None),
            ("POST", f"{url}/tokens", None),
            ("DELETE", f"{url}/tokens", None),
        ):
            r = await api.client.request(method, path, json=body, headers=headers)
            api.expect_error(r, 404, "user_not_found")

    r = await api.client.get(USERS, headers=api.master)
    assert r.json()["elements"] == [mine]
    r = await api.client.get(USERS, headers=other)
    assert r.json()["elements"] == [theirs]
    # both are untouched
    r = await api.client.get(f"{USERS}/{mine['id']}", headers=api.master)
    assert r.json() == mine
    r = await api.client.get(f"{USERS}/{theirs['id']}", headers=other)
    assert r.json() == theirs


async def test_deleting_a_user_deletes_its_tokens_and_authentications(api):
    user, headers = await api.new_user()
    keep, keep_headers = await api.new_user()
    auth_id = await api.create_auth(headers, TOKEN_ENVIRONMENT_ID, {"token": "s3cret"})
    kept_auth = await api.create_auth(keep_headers, TOKEN_ENVIRONMENT_ID, {"token": "k"})
    r = await api.client.get("/core/v1/authentications", headers=headers)
    assert [a["id"] for a in r.json()["elements"]] == [auth_id]

    r = await api.client.delete(f"{USERS}/{user['id']}", headers=api.master)
    assert r.status_code == 204

    r = await api.client.get("/core/v1/authentications", headers=headers)
    api.expect_error(r, 401, "invalid_token")
    async with api.platform.db.session() as s:
        for table in ("authentications", "api_tokens"):
            count = await s.scalar(
                text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": user["id"]}
            )
            assert count == 0, table
        assert (
            await s.scalar(
                text("SELECT count(*) FROM authentications WHERE id = :a"), {"a": auth_id}
            )
            == 0
        )

    # the other user keeps everything
    r = await api.client.get(f"/core/v1/authentications/{kept_auth}/full", headers=keep_headers)
    assert r.status_code == 200
    assert r.json()["credentials"] == {"token": "k"}
