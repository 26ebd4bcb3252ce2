"""The organisation's members through Tray's Platform API (``/core/v1/users``,
``/core/v1/roles``): creation, paging, roles, deletion, who may do what, and every error."""

from __future__ import annotations

import asyncio
import uuid

from people import ROLES, USERS, create, default_workspace, member, workspace_token

from patchbay.services.identity.roles import ORG_ROLES, org_role

OWNER, ADMIN, MEMBER = (org_role(k) for k in ("owner", "admin", "member"))


async def test_create_get_and_list_members(api):
    c, m = api.client, api.master
    r = await create(
        api, name="Grace Hopper", email="Grace@Example.com", organizationRoleId=ADMIN.id
    )
    assert r.status_code == 200, r.text
    grace = r.json()
    assert grace == {
        "id": grace["id"],
        "email": "grace@example.com",
        "name": "Grace Hopper",
        "accountType": "Regular",
        "role": {"id": ADMIN.id, "name": "Admin"},
    }
    assert uuid.UUID(grace["id"])
    r = await create(api, organizationRoleId="member")  # a role's key is taken too
    assert r.status_code == 200, r.text
    assert r.json()["role"] == {"id": MEMBER.id, "name": "Member"}

    r = await c.get(f"{USERS}/{grace['id']}", headers=m)
    assert r.status_code == 200 and r.json() == grace
    listed = (await c.get(USERS, headers=m)).json()
    assert [u["id"] for u in listed["elements"]][:1] == [grace["id"]]
    assert len(listed["elements"]) == 2
    assert listed["pageInfo"]["hasNextPage"] is False
    r = await c.get(USERS, params={"email": "GRACE@example.com"}, headers=m)
    assert r.json()["elements"] == [grace]
    r = await c.get(USERS, params={"email": "nobody@example.com"}, headers=m)
    assert r.json() == {
        "elements": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False},
    }


async def test_create_member_errors(api):
    c, m = api.client, api.master
    assert (await create(api, email="ada@example.com")).status_code == 200
    for email in ("ada@example.com", "ADA@example.com"):
        api.expect_error(await create(api, email=email), 409, "email_taken")
    for role in ("nope", str(uuid.uuid4()), "contributor"):  # a workspace role is not one
        r = await create(api, organizationRoleId=role)
        body = api.expect_error(r, 400, "unknown_role")
        assert OWNER.id in body["message"]
    for email in ("not-an-email", "a@", "@b.com", "a b@c.com", "a@b..com", "x" * 330 + "@b.com"):
        api.expect_error(await create(api, email=email), 400, "invalid_request")
    good = {"name": "N", "email": "n@example.com", "organizationRoleId": "member"}
    bad_bodies = [
        {},
        {"name": "N", "email": "n@example.com"},
        {"email": "n@example.com", "organizationRoleId": "member"},
        {**good, "name": ""},
        {**good, "name": 7},
        {**good, "email": None},
        {**good, "organizationRoleId": 1},
        {**good, "password": "secret"},
        [],
        "n@example.com",
    ]
    for body in bad_bodies:
        api.expect_error(await c.post(USERS, json=body, headers=m), 400, "invalid_request")
    emails = [u["email"] for u in (await c.get(USERS, headers=m)).json()["elements"]]
    assert emails == ["ada@example.com"]


async def test_paging_forwards_backwards_and_its_errors(api):
    c, m = api.client, api.master
    ids = [(await create(api)).json()["id"] for _ in range(5)]
    r = await c.get(USERS, params={"first": 2}, headers=m)
    page = r.json()
    assert [u["id"] for u in page["elements"]] == ids[:2]
    assert page["pageInfo"]["hasNextPage"] is True and page["pageInfo"]["hasPreviousPage"] is False
    seen = [u["id"] for u in page["elements"]]
    while page["pageInfo"]["hasNextPage"]:
        params = {"first": 2, "cursor": page["pageInfo"]["endCursor"]}
        page = (await c.get(USERS, params=params, headers=m)).json()
        seen += [u["id"] for u in page["elements"]]
    assert seen == ids
    r = await c.get(USERS, params={"last": 2}, headers=m)
    back = r.json()
    assert [u["id"] for u in back["elements"]] == ids[3:]
    assert back["pageInfo"]["hasPreviousPage"] is True and back["pageInfo"]["hasNextPage"] is False
    params = {"last": 2, "cursor": back["pageInfo"]["startCursor"]}
    back = (await c.get(USERS, params=params, headers=m)).json()
    assert [u["id"] for u in back["elements"]] == ids[1:3]
    assert back["pageInfo"]["hasNextPage"] is True
    assert len((await c.get(USERS, params={"first": 1000}, headers=m)).json()["elements"]) == 5

    for params in ({"first": 1001}, {"first": 0}, {"last": 1001}, {"first": 1, "last": 1}):
        api.expect_error(await c.get(USERS, params=params, headers=m), 400, "invalid_page_size")
    for params in ({"first": "ten"}, {"last": "1.5"}, {"email": "not an email"}):
        api.expect_error(await c.get(USERS, params=params, headers=m), 400, "invalid_request")
    r = await c.get(USERS, params={"cursor": "garbage"}, headers=m)
    api.expect_error(r, 400, "invalid_cursor")


async def test_org_roles(api):
    c, m = api.client, api.master
    r = await c.get(ROLES, headers=m)
    assert r.status_code == 200, r.text
    assert r.json()["elements"] == [role.to_api() for role in ORG_ROLES]
    page = (await c.get(ROLES, params={"first": 2}, headers=m)).json()
    assert [x["name"] for x in page["elements"]] == ["Owner", "Admin"]
    params = {"first": 2, "cursor": page["pageInfo"]["endCursor"]}
    rest = (await c.get(ROLES, params=params, headers=m)).json()
    assert [x["name"] for x in rest["elements"]] == ["Member"]
    assert rest["pageInfo"] == {
        "startCursor": rest["pageInfo"]["startCursor"],
        "endCursor": rest["pageInfo"]["endCursor"],
        "hasNextPage": False,
        "hasPreviousPage": True,
    }
    last = (await c.get(ROLES, params={"last": 1}, headers=m)).json()
    assert [x["name"] for x in last["elements"]] == ["Member"]
    api.expect_error(
        await c.get(ROLES, params={"first": 1001}, headers=m), 400, "invalid_page_size"
    )
    _, plain = await member(api)
    assert (await c.get(ROLES, headers=plain)).status_code == 200


async def test_role_changes_apply_at_once_and_keep_an_owner(api):
    c, m = api.client, api.master
    owner_id, owner = await member(api, "owner")
    admin_id, admin = await member(api, "admin")
    roles = f"{USERS}/{owner_id}/roles"

    # The only owner cannot be demoted (nor, below, deleted).
    api.expect_error(await c.put(roles, json={"roleId": ADMIN.id}, headers=m), 409, "last_owner")
    # An admin may not grant or take away the owner role.
    r = await c.put(f"{USERS}/{admin_id}/roles", json={"roleId": OWNER.id}, headers=admin)
    api.expect_error(r, 403, "owner_required")
    api.expect_error(
        await c.put(roles, json={"roleId": "member"}, headers=admin), 403, "owner_required"
    )
    api.expect_error(await create(api, admin, organizationRoleId="owner"), 403, "owner_required")
    # An owner may; then the first owner can step down.
    r = await c.put(f"{USERS}/{admin_id}/roles", json={"roleId": OWNER.id}, headers=owner)
    assert r.status_code == 200 and r.json() == {}, r.text
    r = await c.put(roles, json={"roleId": "member"}, headers=admin)
    assert r.status_code == 200 and r.json() == {}, r.text
    assert (await c.get(f"{USERS}/{owner_id}", headers=m)).json()["role"]["name"] == "Member"
    # ... at once: the demoted owner can no longer create members.
    api.expect_error(await create(api, owner), 403, "insufficient_role")
    # The same role again changes nothing.
    assert (await c.put(roles, json={"roleId": "member"}, headers=m)).status_code == 200

    for body in ({}, {"roleId": 1}, {"roleId": "member", "x": 1}, []):
        api.expect_error(await c.put(roles, json=body, headers=m), 400, "invalid_request")
    api.expect_error(await c.put(roles, json={"roleId": "viewer"}, headers=m), 400, "unknown_role")
    r = await c.put(f"{USERS}/{uuid.uuid4()}/roles", json={"roleId": "admin"}, headers=m)
    api.expect_error(r, 404, "user_not_found")


async def test_deleting_a_member_ends_their_sessions_and_tokens(api):
    c, m = api.client, api.master
    owner_id, owner = await member(api, "owner")
    gone_id, gone = await member(api, "admin")
    session = await api.platform.sessions.start(api.platform.default_org_id, gone_id)
    cookie = {"Cookie": f"patchbay_session={session.token}"}
    assert (await c.get(USERS, headers=gone)).status_code == 200
    assert (await c.get(USERS, headers=cookie)).status_code == 200

    r = await c.delete(f"{USERS}/{gone_id}", headers=m)
    assert r.status_code == 204 and r.content == b""
    api.expect_error(await c.get(USERS, headers=gone), 401, "invalid_token")
    api.expect_error(await c.get(USERS, headers=cookie), 401, "session_ended")
    api.expect_error(await c.get(f"{USERS}/{gone_id}", headers=m), 404, "user_not_found")
    api.expect_error(await c.delete(f"{USERS}/{gone_id}", headers=m), 404, "user_not_found")

    # The last owner stays; an admin cannot remove an owner.
    api.expect_error(await c.delete(f"{USERS}/{owner_id}", headers=m), 409, "last_owner")
    api.expect_error(await c.delete(f"{USERS}/{owner_id}", headers=owner), 409, "last_owner")
    _, admin = await member(api, "admin")
    second_id, second = await member(api, "owner")
    api.expect_error(await c.delete(f"{USERS}/{owner_id}", headers=admin), 403, "owner_required")
    assert (await c.delete(f"{USERS}/{owner_id}", headers=second)).status_code == 204


async def test_who_may_read_and_change_members(api):
    c = api.client
    target_id, _ = await member(api)
    _, plain = await member(api, "member")
    _, admin = await member(api, "admin")
    scoped = await workspace_token(api, await default_workspace(api))
    _, end_user = await api.new_user()

    # Any member reads.
    for path in (USERS, f"{USERS}/{target_id}", ROLES):
        assert (await c.get(path, headers=plain)).status_code == 200, path
    # Only owners, admins and the organisation's master token change.
    api.expect_error(await create(api, plain), 403, "insufficient_role")
    r = await c.put(f"{USERS}/{target_id}/roles", json={"roleId": "admin"}, headers=plain)
    api.expect_error(r, 403, "insufficient_role")
    api.expect_error(
        await c.delete(f"{USERS}/{target_id}", headers=plain), 403, "insufficient_role"
    )
    assert (await create(api, admin)).status_code == 200
    r = await c.put(f"{USERS}/{target_id}/roles", json={"roleId": "admin"}, headers=admin)
    assert r.status_code == 200, r.text
    # A workspace's master token and an end user's token are not organisation-level.
    for path in (USERS, f"{USERS}/{target_id}", ROLES):
        api.expect_error(await c.get(path, headers=scoped), 403, "org_scope_required")
        api.expect_error(await c.get(path, headers=end_user), 403, "master_token_required")
    api.expect_error(await create(api, scoped), 403, "org_scope_required")
    api.expect_error(await c.get(USERS), 401, "missing_token")
    api.expect_error(await c.get(USERS, headers=api.auth("pbm_nope")), 401, "invalid_token")


async def test_another_organisations_members_are_not_found(api):
    c = api.client
    other_org, other = await api.other_org()
    theirs_id, _ = await member(api, "owner", org_id=other_org, email="same@example.com")
    mine = (await create(api, email="same@example.com")).json()  # an email per organisation
    assert mine["id"] != theirs_id
    assert [u["id"] for u in (await c.get(USERS, headers=other)).json()["elements"]] == [theirs_id]
    for headers, foreign in ((api.master, theirs_id), (other, mine["id"])):
        api.expect_error(await c.get(f"{USERS}/{foreign}", headers=headers), 404, "user_not_found")
        r = await c.put(f"{USERS}/{foreign}/roles", json={"roleId": "admin"}, headers=headers)
        api.expect_error(r, 404, "user_not_found")
        r = await c.delete(f"{USERS}/{foreign}", headers=headers)
        api.expect_error(r, 404, "user_not_found")


async def test_two_owners_demoting_each_other_at_once_leave_one(api):
    c, m = api.client, api.master
    first_id, _ = await member(api, "owner")
    second_id, _ = await member(api, "owner")
    for _ in range(3):
        answers = await asyncio.gather(
            c.put(f"{USERS}/{first_id}/roles", json={"roleId": "admin"}, headers=m),
            c.put(f"{USERS}/{second_id}/roles", json={"roleId": "admin"}, headers=m),
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 409], [r.text for r in answers]
        owners = (await c.get(USERS, headers=m)).json()["elements"]
        assert [u["role"]["name"] for u in owners].count("Owner") == 1
        for member_id in (first_id, second_id):  # both owners again, for the next round
            await c.put(f"{USERS}/{member_id}/roles", json={"roleId": "owner"}, headers=m)
