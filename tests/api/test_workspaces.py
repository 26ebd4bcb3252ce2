"""Workspaces and their members through Tray's Platform API (``/core/v1/workspaces``):
who sees which workspace, adding, changing and removing members, roles, and every error."""

from __future__ import annotations

import uuid

from people import WORKSPACES, default_workspace, member, workspace, workspace_token

from patchbay.services.identity.roles import WORKSPACE_ROLES, workspace_role

ADMIN, CONTRIBUTOR, VIEWER = (workspace_role(k) for k in ("admin", "contributor", "viewer"))


def ids(page):
    return [w["id"] for w in page["elements"]]


async def test_create_list_and_get_workspaces(api):
    c, m = api.client, api.master
    default = await default_workspace(api)
    r = await c.post(WORKSPACES, json={"name": "Sales", "description": "The sales team"}, headers=m)
    assert r.status_code == 201, r.text
    sales = r.json()
    assert sales == {
        "id": sales["id"],
        "name": "Sales",
        "type": "Shared",
        "description": "The sales team",
    }
    ops = await workspace(api, "Ops")
    listed = (await c.get(WORKSPACES, headers=m)).json()
    assert ids(listed) == [default, sales["id"], ops]
    assert listed["elements"][0] == {"id": default, "name": "Default", "type": "Organization"}
    r = await c.get(WORKSPACES, params={"type": "Organization"}, headers=m)
    assert ids(r.json()) == [default]
    r = await c.get(WORKSPACES, params=[("type", "Shared"), ("type", "Embedded")], headers=m)
    assert ids(r.json()) == [sales["id"], ops]
    assert (await c.get(f"{WORKSPACES}/{sales['id']}", headers=m)).json() == sales

    page = (await c.get(WORKSPACES, params={"first": 2}, headers=m)).json()
    assert ids(page) == [default, sales["id"]] and page["pageInfo"]["hasNextPage"]
    params = {"first": 2, "cursor": page["pageInfo"]["endCursor"]}
    assert ids((await c.get(WORKSPACES, params=params, headers=m)).json()) == [ops]
    assert ids((await c.get(WORKSPACES, params={"last": 1}, headers=m)).json()) == [ops]

    for params in ({"first": 101}, {"last": 0}, {"first": 1, "last": 1}):
        r = await c.get(WORKSPACES, params=params, headers=m)
        api.expect_error(r, 400, "invalid_page_size")
    for params in ({"type": "Team"}, {"first": "x"}):
        api.expect_error(await c.get(WORKSPACES, params=params, headers=m), 400, "invalid_request")
    for body in (
        {},
        {"name": ""},
        {"name": 3},
        {"name": "a", "description": 1},
        {"name": "a", "x": 1},
    ):
        api.expect_error(await c.post(WORKSPACES, json=body, headers=m), 400, "invalid_request")
    r = await c.get(f"{WORKSPACES}/{uuid.uuid4()}", headers=m)
    api.expect_error(r, 404, "workspace_not_found")


async def test_callers_see_only_their_workspaces(api):
    c = api.client
    default = await default_workspace(api)
    a, b = await workspace(api, "A"), await workspace(api, "B")
    _, in_a = await member(api, "member", {a: "viewer"})
    _, nowhere = await member(api, "member")
    _, admin = await member(api, "admin")
    scoped = await workspace_token(api, b)
    _, end_user = await api.new_user()

    assert ids((await c.get(WORKSPACES, headers=in_a)).json()) == [a]
    assert ids((await c.get(WORKSPACES, headers=scoped)).json()) == [b]
    assert ids((await c.get(WORKSPACES, headers=admin)).json()) == [default, a, b]
    api.expect_error(await c.get(WORKSPACES, headers=nowhere), 403, "insufficient_role")
    api.expect_error(await c.get(WORKSPACES, headers=end_user), 403, "master_token_required")
    assert (await c.get(f"{WORKSPACES}/{a}", headers=in_a)).status_code == 200
    # (A viewer asking for roles is refused first: they may manage no workspace at all.)
    for headers, hidden, paths in (
        (in_a, b, ("", "/users", f"/users/{uuid.uuid4()}")),
        (in_a, default, ("", "/users")),
        (scoped, a, ("", "/users", "/roles", f"/users/{uuid.uuid4()}")),
    ):
        for path in paths:
            r = await c.get(f"{WORKSPACES}/{hidden}{path}", headers=headers)
            api.expect_error(r, 404, "workspace_not_found")

    # Another organisation's workspaces are not found, whoever asks.
    _, other = await api.other_org()
    theirs = await workspace(api, "Theirs", other)
    assert theirs not in ids((await c.get(WORKSPACES, headers=api.master)).json())
    for path in ("", "/users", "/roles"):
        r = await c.get(f"{WORKSPACES}/{theirs}{path}", headers=api.master)
        api.expect_error(r, 404, "workspace_not_found")
    r = await c.post(
        f"{WORKSPACES}/{theirs}/users", json={"userId": "x", "roleId": "admin"}, headers=api.master
    )
    api.expect_error(r, 404, "workspace_not_found")

    # Creating a workspace is the organisation's business.
    api.expect_error(
        await c.post(WORKSPACES, json={"name": "x"}, headers=in_a), 403, "insufficient_role"
    )
    api.expect_error(
        await c.post(WORKSPACES, json={"name": "x"}, headers=scoped), 403, "org_scope_required"
    )
    assert (await c.post(WORKSPACES, json={"name": "x"}, headers=admin)).status_code == 201


async def test_workspace_members_and_roles(api):
    c, m = api.client, api.master
    ws = await workspace(api, "Team")
    grace_id, _ = await member(api, email="grace@example.com")
    ada_id, _ = await member(api)
    users = f"{WORKSPACES}/{ws}/users"

    assert (await c.get(users, headers=m)).json() == {
        "elements": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False},
    }
    r = await c.post(users, json={"userId": grace_id, "roleId": CONTRIBUTOR.id}, headers=m)
    assert r.status_code == 200 and r.json() == {}, r.text
    r = await c.post(users, json={"userId": ada_id, "roleId": "viewer"}, headers=m)
    assert r.status_code == 200, r.text
    grace = {
        "workspaceId": ws,
        "id": grace_id,
        "email": "grace@example.com",
        "accountType": "Regular",
        "role": {"id": CONTRIBUTOR.id, "name": "Contributor"},
    }
    assert (await c.get(f"{users}/{grace_id}", headers=m)).json() == grace
    listed = (await c.get(users, headers=m)).json()
    assert [u["id"] for u in listed["elements"]] == [grace_id, ada_id]
    page = (await c.get(users, params={"first": 1}, headers=m)).json()
    assert page["elements"] == [grace] and page["pageInfo"]["hasNextPage"]
    params = {"first": 1, "cursor": page["pageInfo"]["endCursor"]}
    assert [u["id"] for u in (await c.get(users, params=params, headers=m)).json()["elements"]] == [
        ada_id
    ]
    api.expect_error(await c.get(users, params={"first": 101}, headers=m), 400, "invalid_page_size")

    r = await c.put(f"{users}/{grace_id}", json={"roleId": ADMIN.id}, headers=m)
    assert r.status_code == 200 and r.json() == {}, r.text
    assert (await c.get(f"{users}/{grace_id}", headers=m)).json()["role"]["name"] == "Admin"
    r = await c.delete(f"{users}/{ada_id}", headers=m)
    assert r.status_code == 200 and r.json() == {}, r.text
    api.expect_error(await c.get(f"{users}/{ada_id}", headers=m), 404, "user_not_found")

    roles = (await c.get(f"{WORKSPACES}/{ws}/roles", headers=m)).json()
    assert roles["elements"] == [r.to_api() for r in WORKSPACE_ROLES]
    assert roles["pageInfo"]["hasNextPage"] is False
    r = await c.get(f"{WORKSPACES}/{ws}/roles", params={"last": 1}, headers=m)
    assert r.json()["elements"] == [VIEWER.to_api()]


async def test_workspace_member_errors(api):
    c, m = api.client, api.master
    ws = await workspace(api, "Team")
    users = f"{WORKSPACES}/{ws}/users"
    inside, _ = await member(api, workspaces={ws: "viewer"})
    outside, _ = await member(api)
    other_org, _ = await api.other_org()
    foreign, _ = await member(api, org_id=other_org)

    r = await c.post(users, json={"userId": inside, "roleId": "admin"}, headers=m)
    api.expect_error(r, 409, "already_in_workspace")
    for role in ("owner", "member", str(uuid.uuid4())):  # organisation roles are not these
        r = await c.post(users, json={"userId": outside, "roleId": role}, headers=m)
        api.expect_error(r, 400, "unknown_role")
        r = await c.put(f"{users}/{inside}", json={"roleId": role}, headers=m)
        api.expect_error(r, 400, "unknown_role")
    for user_id in (str(uuid.uuid4()), foreign):
        r = await c.post(users, json={"userId": user_id, "roleId": "viewer"}, headers=m)
        api.expect_error(r, 404, "user_not_found")
    # Not in this workspace (or not at all): 404 for every per-member route.
    for user_id in (outside, foreign, str(uuid.uuid4())):
        api.expect_error(await c.get(f"{users}/{user_id}", headers=m), 404, "user_not_found")
        r = await c.put(f"{users}/{user_id}", json={"roleId": "viewer"}, headers=m)
        api.expect_error(r, 404, "user_not_found")
        api.expect_error(await c.delete(f"{users}/{user_id}", headers=m), 404, "user_not_found")
    bad_bodies = [
        {},
        {"userId": outside},
        {"roleId": "viewer"},
        {"userId": 1, "roleId": "viewer"},
        {"userId": "a/b", "roleId": "viewer"},
        {"userId": outside, "roleId": None},
        {"userId": outside, "roleId": "viewer", "x": 1},
        [],
    ]
    for body in bad_bodies:
        api.expect_error(await c.post(users, json=body, headers=m), 400, "invalid_request")
    for body in ({}, {"roleId": 2}, {"roleId": "viewer", "userId": inside}, "viewer"):
        r = await c.put(f"{users}/{inside}", json=body, headers=m)
        api.expect_error(r, 400, "invalid_request")
    missing = f"{WORKSPACES}/{uuid.uuid4()}/users"
    api.expect_error(await c.get(missing, headers=m), 404, "workspace_not_found")
    r = await c.post(missing, json={"userId": outside, "roleId": "viewer"}, headers=m)
    api.expect_error(r, 404, "workspace_not_found")


async def test_who_may_manage_a_workspace(api):
    c = api.client
    a, b = await workspace(api, "A"), await workspace(api, "B")
    target, _ = await member(api)
    _, viewer = await member(api, workspaces={a: "viewer"})
    _, contributor = await member(api, workspaces={a: "contributor", b: "admin"})
    promoted_id, promoted = await member(api, workspaces={a: "viewer"})
    _, ws_admin = await member(api, workspaces={a: "admin"})
    scoped_a = await workspace_token(api, a)
    users = f"{WORKSPACES}/{a}/users"
    add = {"userId": target, "roleId": "viewer"}

    # Viewers and contributors read the workspace and its members, and manage nothing.
    for headers in (viewer, contributor):
        assert (await c.get(f"{WORKSPACES}/{a}", headers=headers)).status_code == 200
        assert (await c.get(users, headers=headers)).status_code == 200
        assert (await c.get(f"{users}/{promoted_id}", headers=headers)).status_code == 200
    api.expect_error(
        await c.get(f"{WORKSPACES}/{a}/roles", headers=viewer), 403, "insufficient_role"
    )
    api.expect_error(await c.post(users, json=add, headers=viewer), 403, "insufficient_role")
    # A contributor here is an admin elsewhere: refused here by this workspace's role.
    for request in (
        c.get(f"{WORKSPACES}/{a}/roles", headers=contributor),
        c.post(users, json=add, headers=contributor),
        c.put(f"{users}/{promoted_id}", json={"roleId": "admin"}, headers=contributor),
        c.delete(f"{users}/{promoted_id}", headers=contributor),
    ):
        api.expect_error(await request, 403, "insufficient_role")
    # The workspace's admin and its master token manage it, not another workspace.
    assert (await c.get(f"{WORKSPACES}/{a}/roles", headers=ws_admin)).status_code == 200
    assert (await c.post(users, json=add, headers=ws_admin)).status_code == 200
    assert (await c.delete(f"{users}/{target}", headers=scoped_a)).status_code == 200
    r = await c.post(f"{WORKSPACES}/{b}/users", json=add, headers=ws_admin)
    api.expect_error(r, 404, "workspace_not_found")
    r = await c.post(f"{WORKSPACES}/{b}/users", json=add, headers=scoped_a)
    api.expect_error(r, 404, "workspace_not_found")

    # A role change applies at once: the viewer made admin manages straight away...
    api.expect_error(await c.post(users, json=add, headers=promoted), 403, "insufficient_role")
    r = await c.put(f"{users}/{promoted_id}", json={"roleId": "admin"}, headers=ws_admin)
    assert r.status_code == 200, r.text
    assert (await c.post(users, json=add, headers=promoted)).status_code == 200
    # ... and, removed, no longer sees the workspace.
    assert (await c.delete(f"{users}/{promoted_id}", headers=ws_admin)).status_code == 200
    r = await c.get(f"{WORKSPACES}/{a}", headers=promoted)
    api.expect_error(r, 403, "insufficient_role")  # no role anywhere now
