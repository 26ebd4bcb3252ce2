"""The audit log: every write to the platform API by a member or a token is recorded (who,
what, which resource, when, from where, the status), never a secret; listed newest first at
``/core/v1/audit-events`` for owners, admins and organisation tokens; pruned after the
retention; a failure to record never fails the request."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request
from openapi_contract import Contract, document
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from patchbay.api.audit_trail import AuditTrail, describe
from patchbay.api.deps import authenticate_header
from patchbay.api.responses import error_response, json_response
from patchbay.engine.definition import typed
from patchbay.services.audit.retention import BATCH
from patchbay.services.identity.principal import MANAGE
from patchbay.storage.db import Database
from patchbay.storage.models import AuditEvent, WorkspaceMember, utcnow

EVENTS = "/core/v1/audit-events"
AUTHS = "/core/v1/authentications"
SECRET = "sk_live_audit-secret-value-9876"
OTHER_SECRET = "sk_live_audit-rotated-value-5432"


def step(connector, operation, version="1.0", **properties):
    return {
        "title": connector,
        "connector": {"name": connector, "version": version},
        "operation": operation,
        "properties": {k: typed(v) for k, v in properties.items()},
        "error_handling": {},
    }


def workflow(title: str = "audited") -> dict:
    return {
        "title": title,
        "steps_structure": [
            {"name": "trigger", "type": "normal", "content": {}},
            {"name": "storage-1", "type": "normal", "content": {}},
        ],
        "steps": {
            "trigger": step("webhook", "webhook", "2.0"),
            "storage-1": step("storage", "set", "1.4", key="k", value=1),
        },
    }


async def events(api, headers=None, **params) -> list[dict]:
    r = await api.client.get(EVENTS, params=params, headers=headers or api.master)
    assert r.status_code == 200, r.text
    return r.json()["elements"]


async def master_token_id(api) -> str:
    (initial,) = await api.platform.identity.list_master_tokens()
    return initial.id


async def default_workspace(api) -> str:
    return await api.platform.identity.default_workspace(api.platform.default_org_id)


async def member_with_token(api, email: str, org_role: str = "member", role: str | None = None):
    """A member (with ``role`` in the default workspace) and headers acting with their
    personal token."""
    org_id = api.platform.default_org_id
    member = await api.platform.members.create(
        org_id, email=email, name=email.split("@")[0], org_role=org_role
    )
    if role:
        async with api.platform.db.session() as s:
            s.add(
                WorkspaceMember(
                    workspace_id=await default_workspace(api), member_id=member.id, role=role
                )
            )
            await s.commit()
    issued = await api.platform.identity.create_personal_token(org_id, member.id, name="laptop")
    return member, api.auth(issued.token), issued


async def every_stored_value(api) -> str:
    """Every column of every stored audit event, as text."""
    async with api.platform.db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM audit_events"))).all()
    return "\n".join(repr(tuple(row)) for row in rows)


def token_env_id_of(environments: list[dict]) -> str:
    return next(e["id"] for e in environments if e["title"] == "Token")


async def token_env(api) -> str:
    r = await api.client.get(
        "/core/v1/services/http-client/versions/1/environments", headers=api.master
    )
    assert r.status_code == 200, r.text
    return token_env_id_of(r.json()["elements"])


# -- what is recorded ---------------------------------------------------------------------


async def test_workflow_changes_are_recorded_with_who_what_which_when_where(api):
    before = utcnow()
    r = await api.client.post("/core/v1/workflows", json=workflow(), headers=api.master)
    assert r.status_code == 201, r.text
    wf_id = r.json()["id"]
    r = await api.client.put(
        f"/core/v1/workflows/{wf_id}", json=workflow("renamed"), headers=api.master
    )
    assert r.status_code == 200, r.text
    assert (await api.client.get(f"/core/v1/workflows/{wf_id}", headers=api.master)).is_success
    r = await api.client.delete(f"/core/v1/workflows/{wf_id}", headers=api.master)
    assert r.is_success, r.text

    found = await events(api, resourceType="workflows")
    assert [e["action"] for e in found] == ["workflow.delete", "workflow.update", "workflow.create"]
    token_id, workspace_id = await master_token_id(api), await default_workspace(api)
    for event in found:
        assert event["actor"] == {"type": "master_token", "id": token_id, "label": "initial"}
        assert event["resourceType"] == "workflows"
        assert event["resourceId"] == wf_id
        # The create's workspace is the one the service checked; an update's or a
        # delete's once the services check each row they change (else the caller's).
        assert event["workspaceId"] in (workspace_id, None)
        assert event["ip"] == "127.0.0.1"  # httpx's ASGI transport's client address
        assert before <= datetime.fromisoformat(event["createdAt"]) <= utcnow()
    assert found[-1]["workspaceId"] == workspace_id
    assert [e["statusCode"] for e in found] == [r.status_code, 200, 201]
    assert [e["details"] for e in found] == [
        {"route": "/core/v1/workflows/{workflow_id}", "method": "DELETE"},
        {"route": "/core/v1/workflows/{workflow_id}", "method": "PUT"},
        {"route": "/core/v1/workflows", "method": "POST", "createdId": wf_id},
    ]
    # Reads are not changes.
    assert not [e for e in await events(api) if e["details"]["method"] == "GET"]


async def test_a_workspace_token_records_its_workspace(api):
    workspace_id = await default_workspace(api)
    scoped = await api.platform.identity.create_master_token(
        api.platform.default_org_id, "ci", workspace_id=workspace_id
    )
    headers = api.auth(scoped.token)
    r = await api.client.post("/core/v1/workflows", json=workflow(), headers=headers)
    assert r.status_code == 201, r.text
    r = await api.client.delete(f"/core/v1/workflows/{r.json()['id']}", headers=headers)
    assert r.is_success, r.text
    found = await events(api, actor=scoped.id)
    assert [e["action"] for e in found] == ["workflow.delete", "workflow.create"]
    assert {e["workspaceId"] for e in found} == {workspace_id}
    assert {e["actor"]["label"] for e in found} == {"ci"}


async def test_authentication_changes_are_recorded_and_no_secret_is_stored(api):
    env_id = await token_env(api)
    r = await api.client.post(
        AUTHS,
        json={"name": "audited", "serviceEnvironmentId": env_id, "credentials": {"token": SECRET}},
        headers=api.master,
    )
    assert r.status_code == 200, r.text
    auth_id = r.json()["id"]
    r = await api.client.put(
        f"{AUTHS}/{auth_id}",
        json={"name": "audited", "credentials": {"token": OTHER_SECRET}},
        headers=api.master,
    )
    assert r.is_success, r.text
    # An end user's token is a secret too (answered once, never recorded).
    user = await api.create_user()
    user_token = await api.user_token(user["id"])
    r = await api.client.delete(f"{AUTHS}/{auth_id}", headers=api.master)
    assert r.is_success, r.text

    found = await events(api, resourceType="authentications")
    assert [e["action"] for e in found] == [
        "authentication.delete",
        "authentication.update",
        "authentication.create",
    ]
    assert {e["resourceId"] for e in found} == {auth_id}
    assert found[-1]["details"]["createdId"] == auth_id
    assert {e["actor"]["type"] for e in found} == {"master_token"}
    (minted,) = await events(api, resourceType="end-users", resourceId=user["id"], first=1)
    assert minted["action"] == "end-user.token.create"

    stored = await every_stored_value(api)
    assert auth_id in stored and "authentication.update" in stored  # the search looks
    for secret in (SECRET, OTHER_SECRET, user_token, api.master_token):
        assert secret not in stored
    listed = (await api.client.get(EVENTS, params={"first": 100}, headers=api.master)).text
    for secret in (SECRET, OTHER_SECRET, user_token, api.master_token):
        assert secret not in listed


async def test_a_denied_write_is_recorded_with_its_status(api):
    member, viewer, issued = await member_with_token(api, "vera@example.com", role="viewer")
    r = await api.client.post("/core/v1/workflows", json=workflow(), headers=viewer)
    api.expect_error(r, 403, "insufficient_role")

    (event,) = await events(api, actor=member.id)
    assert event["action"] == "workflow.create"
    assert event["statusCode"] == 403
    assert event["actor"] == {
        "type": "personal_token",
        "id": member.id,
        "label": "vera@example.com",
    }
    assert event["details"] == {
        "route": "/core/v1/workflows",
        "method": "POST",
        "tokenId": issued.id,
    }
    assert event["resourceId"] is None


async def test_a_signed_in_member_is_the_actor(api):
    org_id = api.platform.default_org_id
    owner = await api.platform.members.create(
        org_id, email="olga@example.com", name="Olga", org_role="owner"
    )
    started = await api.platform.sessions.start(org_id, owner.id)
    api.client.cookies.set("patchbay_session", started.token)
    try:
        r = await api.client.post(
            "/core/v1/end-users",
            json={"name": "Ada", "externalUserId": "ada"},
            headers={"X-CSRF-Token": started.csrf_token},
        )
        assert r.status_code == 201, r.text
        # A write without the CSRF header (another site's form) is refused, and recorded.
        refused = await api.client.delete(f"/core/v1/end-users/{r.json()['id']}")
        api.expect_error(refused, 403, "csrf_missing")
        attempt, event = await events(api, actor=owner.id)
    finally:
        api.client.cookies.clear()
    assert event["actor"] == {"type": "member", "id": owner.id, "label": "olga@example.com"}
    assert (event["action"], event["resourceId"]) == ("end-user.create", r.json()["id"])
    assert (attempt["action"], attempt["statusCode"]) == ("end-user.delete", 403)
    assert attempt["actor"] == event["actor"]
    assert started.token not in await every_stored_value(api)


async def test_unauthenticated_and_public_writes_are_not_recorded(api):
    r = await api.client.post("/core/v1/workflows", json=workflow())
    api.expect_error(r, 401, "missing_token")
    r = await api.client.post(
        "/core/v1/workflows", json=workflow(), headers=api.auth("pbm_not-a-token")
    )
    api.expect_error(r, 401)
    # Call Connector: a call is not a change (whatever it answers).
    r = await api.client.post(
        "/core/v1/connectors/http-client/versions/1.0/call",
        json={"operation": "nope", "input": {}},
        headers=api.master,
    )
    assert r.status_code >= 400
    await api.client.post("/intake/nope", json={})
    await api.client.post("/hooks/nope", json={})
    assert await events(api) == []


async def test_sign_in_routes_record_anonymous_writes_without_their_secrets(api):
    """The sign-in routes (written elsewhere) are recorded whoever calls them: the member
    they sign in, else anonymous; a reset link's token in the path is never kept. Served
    here by a small app of such routes behind the same middleware."""
    pf = api.platform
    org_id = pf.default_org_id
    member = await pf.members.create(org_id, email="sam@example.com", name="Sam", org_role="admin")
    app = FastAPI()

    @app.post("/core/v1/password-resets/{token}")
    async def use_reset_link(token: str):
        return error_response(410, "This link has expired", "link_expired")

    @app.post("/core/v1/session")
    async def sign_in(request: Request):
        started = await pf.sessions.start(org_id, member.id)
        request.state.principal = await pf.identity.authenticate_session(started.token)
        return json_response({"id": started.id})

    @app.delete("/core/v1/widgets/{widget_id}")
    async def delete_widget(widget_id: str, request: Request):
        # A service checks the row's workspace: that is the event's workspace.
        p = await authenticate_header(pf, request.headers.get("authorization"))
        request.state.principal = p
        p.acting(MANAGE).check(widget_workspace)
        return json_response({"deleted": widget_id})

    widget_workspace = await default_workspace(api)
    link_token = "reset-link-secret-0123456789"
    transport = httpx.ASGITransport(app=AuditTrail(app, platform=pf), client=("203.0.113.9", 5))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post(f"/core/v1/password-resets/{link_token}")).status_code == 410
        assert (await client.post("/core/v1/session", json={})).status_code == 200
    # Behind a proxy, the address uvicorn's proxy headers give (trusted from 127.0.0.1).
    proxied = ProxyHeadersMiddleware(AuditTrail(app, platform=pf), trusted_hosts="127.0.0.1")
    transport = httpx.ASGITransport(app=proxied, client=("127.0.0.1", 5))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {**api.master, "X-Forwarded-For": "198.51.100.7"}
        r = await client.delete("/core/v1/widgets/w1", headers=headers)
        assert r.status_code == 200

    widget, signed_in, reset = await events(api)
    assert (widget["action"], widget["resourceId"]) == ("widget.delete", "w1")
    assert widget["workspaceId"] == widget_workspace
    assert widget["actor"]["type"] == "master_token"
    assert widget["ip"] == "198.51.100.7"
    assert reset["actor"] == {"type": "anonymous", "id": None, "label": None}
    assert (reset["action"], reset["statusCode"]) == ("password-reset.update", 410)
    assert reset["resourceId"] is None and reset["ip"] == "203.0.113.9"
    assert reset["details"] == {"route": "/core/v1/password-resets/{token}", "method": "POST"}
    assert signed_in["actor"] == {"type": "member", "id": member.id, "label": "sam@example.com"}
    assert signed_in["action"] == "session.create"
    assert link_token not in await every_stored_value(api)


def test_actions_are_named_from_the_route():
    assert describe("POST", "/core/v1/workflows") == ("workflow.create", "workflows", None)
    assert describe("PUT", "/core/v1/workflows/{workflow_id}") == (
        "workflow.update",
        "workflows",
        "workflow_id",
    )
    assert describe("POST", "/core/v1/workflows/{workflow_id}/enable")[0] == "workflow.enable"
    assert describe("POST", "/core/v1/workflows/{workflow_id}/runs")[0] == "workflow.run.create"
    assert describe("POST", "/core/v1/workflows/{w}/runs/{r}/cancel")[0] == "workflow.run.cancel"
    assert describe("DELETE", "/core/v1/end-users/{user_id}/tokens")[0] == "end-user.token.delete"
    assert describe("PUT", "/core/v1/users/{userId}/roles")[0] == "user.role.update"
    assert describe("POST", "/core/v1/invites/accept")[0] == "invite.accept"
    assert describe("POST", "/core/v1/workflows/import")[0] == "workflow.import"
    assert describe("POST", "/core/v1/password-resets/{token}")[0] == "password-reset.update"
    assert describe("DELETE", "/core/v1/workspaces/{id}/users/{userId}") == (
        "workspace.user.delete",
        "workspaces",
        "id",
    )


# -- the listing ----------------------------------------------------------------------------


async def test_filters_and_paging(api):
    start = utcnow()
    ids = [(await api.create_user(f"u{n}"))["id"] for n in range(5)]
    r = await api.client.patch(
        f"/core/v1/end-users/{ids[0]}", json={"name": "B"}, headers=api.master
    )
    assert r.status_code == 200
    member, viewer, _ = await member_with_token(api, "val@example.com", role="viewer")
    api.expect_error(
        await api.client.post("/core/v1/workflows", json=workflow(), headers=viewer), 403
    )

    everything = await events(api, first=100)
    assert len(everything) == 7
    seqs = [datetime.fromisoformat(e["createdAt"]) for e in everything]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    assert [e["action"] for e in await events(api, resourceId=ids[0])] == [
        "end-user.update",
        "end-user.create",
    ]
    assert len(await events(api, resourceType="end-users", first=100)) == 6
    assert len(await events(api, actor=await master_token_id(api), first=100)) == 6
    assert [e["statusCode"] for e in await events(api, actor=member.id)] == [403]
    assert await events(api, actor="nobody") == []
    workspace_id = await default_workspace(api)
    in_workspace = await events(api, workspaceId=workspace_id, first=100)
    assert {e["resourceId"] for e in in_workspace} >= set(ids[1:])
    assert await events(api, workspaceId="elsewhere") == []

    later = utcnow() + timedelta(minutes=1)
    assert len(await events(api, first=100, **{"from": start.isoformat()})) == 7
    assert await events(api, **{"from": later.isoformat()}) == []
    assert await events(api, to=start.isoformat()) == []
    naive = later.astimezone(UTC).replace(tzinfo=None).isoformat()  # no zone: UTC
    assert len(await events(api, first=100, to=naive)) == 7
    zulu = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(await events(api, first=100, to=zulu)) == 7

    # Pages of 3, newest first, each starting after the previous one's end.
    seen, cursor, pages = [], None, 0
    while True:
        params = {"first": 3, **({"cursor": cursor} if cursor else {})}
        r = await api.client.get(EVENTS, params=params, headers=api.master)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        seen += [e["id"] for e in body["elements"]]
        assert body["pageInfo"]["hasPreviousPage"] is (cursor is not None)
        if not body["pageInfo"]["hasNextPage"]:
            break
        cursor = body["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [e["id"] for e in everything]


async def test_bad_filters_are_refused(api):
    async def refused(code: str, **params):
        r = await api.client.get(EVENTS, params=params, headers=api.master)
        api.expect_error(r, 400, code)

    await refused("invalid_date", **{"from": "yesterday"})
    await refused("invalid_date", to="2026-13-01")
    await refused("invalid_range", **{"from": "2026-02-01", "to": "2026-01-01"})
    await refused("invalid_page_size", first=0)
    await refused("invalid_page_size", first=101)
    await refused("invalid_cursor", cursor="not a cursor")
    r = await api.client.get(EVENTS, params={"first": "many"}, headers=api.master)
    api.expect_error(r, 400, "invalid_request")


async def test_only_owners_admins_and_organisation_tokens_list(api):
    _, admin, _ = await member_with_token(api, "ann@example.com", org_role="admin")
    _, owner, _ = await member_with_token(api, "oz@example.com", org_role="owner")
    _, plain, _ = await member_with_token(api, "max@example.com", role="admin")
    assert (await api.client.get(EVENTS, headers=admin)).status_code == 200
    assert (await api.client.get(EVENTS, headers=owner)).status_code == 200
    api.expect_error(await api.client.get(EVENTS, headers=plain), 403, "insufficient_role")

    scoped = await api.platform.identity.create_master_token(
        api.platform.default_org_id, "scoped", workspace_id=await default_workspace(api)
    )
    r = await api.client.get(EVENTS, headers=api.auth(scoped.token))
    api.expect_error(r, 403, "org_scope_required")
    _, end_user = await api.new_user()
    api.expect_error(await api.client.get(EVENTS, headers=end_user), 403, "master_token_required")
    api.expect_error(await api.client.get(EVENTS), 401, "missing_token")

    # Another organisation's token sees only its own organisation's events.
    _, other = await api.other_org()
    assert await events(api, headers=other) == []
    assert await events(api)  # the users created above


# -- retention ------------------------------------------------------------------------------


async def test_retention_prunes_old_events_and_keeps_recent_ones(settings, make_api):
    async with make_api(settings.model_copy(update={"audit_retention_days": 30})) as api:
        for n in range(4):
            await api.create_user(f"r{n}")
        db = api.platform.db
        await api.platform.audit.flush()
        async with db.session() as s:
            seqs = list((await s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))).all())
        assert len(seqs) == 4
        async with db.engine.begin() as conn:
            await conn.execute(
                update(AuditEvent)
                .where(AuditEvent.seq.in_(seqs[:2]))
                .values(created_at=utcnow() - timedelta(days=31))
            )
            await conn.execute(
                update(AuditEvent)
                .where(AuditEvent.seq == seqs[2])
                .values(created_at=utcnow() - timedelta(days=29))
            )
        # And many more old ones than one batch deletes.
        audit = api.platform.audit
        for _ in range(2 * BATCH + 10):
            audit.record(org_id=api.platform.default_org_id, actor_type="anonymous", action="x")
        await audit.flush()
        async with db.engine.begin() as conn:
            await conn.execute(
                update(AuditEvent)
                .where(AuditEvent.action == "x")
                .values(created_at=utcnow() - timedelta(days=400))
            )
        assert audit.retention_days == 30
        await audit.prune()  # (the hourly loop may have got there first)
        async with db.session() as s:
            left = list((await s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))).all())
        assert left == seqs[2:]
        assert await audit.prune() == 0


async def test_default_retention_is_a_year(api):
    assert api.platform.settings.audit_retention_days == 365
    assert api.platform.audit.retention_days == 365


# -- recording never fails a request ------------------------------------------------------------


async def test_a_closed_recorder_does_not_fail_the_request(api, caplog):
    audit = api.platform.audit
    await audit.stop()
    try:
        with caplog.at_level(logging.ERROR, logger="patchbay.audit"):
            r = await api.client.post(
                "/core/v1/end-users", json={"name": "A", "externalUserId": "x"}, headers=api.master
            )
        assert r.status_code == 201, r.text
        assert "could not record POST /core/v1/end-users (RecorderClosed)" in caplog.text
        assert api.master_token not in caplog.text
    finally:
        audit.start()


async def test_a_missing_table_does_not_fail_the_request_and_loses_nothing(api, caplog):
    env_id = await token_env(api)
    audit = api.platform.audit
    await audit.flush()
    async with api.platform.db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    try:
        with caplog.at_level(logging.ERROR, logger="patchbay.audit"):
            auth_id = await api.create_auth(api.master, env_id, {"token": SECRET})
            with pytest.raises(DBAPIError):
                await audit.flush()
            assert audit.pending == 1  # kept for the next attempt
    finally:
        async with api.platform.db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))
    assert SECRET not in caplog.text and api.master_token not in caplog.text
    (event,) = await events(api)
    assert (event["action"], event["resourceId"]) == ("authentication.create", auth_id)


# -- the document ---------------------------------------------------------------------------


async def test_answers_match_the_document(api, tmp_path):
    contract = Contract(document(tmp_path))
    problems: list[str] = []

    async def check(response):
        await response.aread()
        problems.extend(contract.problems(response))

    api.client.event_hooks["response"].append(check)
    _, member, _ = await member_with_token(api, "doc@example.com", role="viewer")
    await api.client.post("/core/v1/workflows", json=workflow(), headers=member)
    await api.create_user("doc")
    c, m = api.client, api.master
    assert (await c.get(EVENTS, params={"first": 1}, headers=m)).json()["pageInfo"]["hasNextPage"]
    await c.get(EVENTS, params={"resourceType": "end-users", "from": "2026-01-01"}, headers=m)
    await c.get(EVENTS, params={"from": "soon"}, headers=m)
    await c.get(EVENTS, params={"cursor": "x"}, headers=m)
    await c.get(EVENTS, headers=member)
    await c.get(EVENTS)
    assert {s for (_, _, s) in contract.checked} >= {"200", "400", "401", "403"}
    assert not problems, "\n".join(problems)


async def test_a_large_create_answer_still_names_the_new_resource(api):
    big = workflow("big")
    big["steps"]["storage-1"] = step("storage", "set", "1.4", key="k", value="v" * 100_000)
    r = await api.client.post("/core/v1/workflows", json=big, headers=api.master)
    assert r.status_code == 201, r.text
    assert len(r.content) > 100_000  # the answer is read for its head only
    (event,) = await events(api)
    assert event["resourceId"] == event["details"]["createdId"] == r.json()["id"]


async def test_a_clean_shutdown_writes_what_is_queued(settings, make_api):
    async with make_api(settings) as api:
        await api.create_user("last")
        audit = api.platform.audit
        for _ in range(50):
            audit.record(org_id=api.platform.default_org_id, actor_type="anonymous", action="late")
        assert audit.pending >= 50  # not written yet: the shutdown writes them
    db = Database(settings.effective_database_url)
    try:
        async with db.session() as s:
            actions = list((await s.scalars(select(AuditEvent.action))).all())
    finally:
        await db.dispose()
    assert sorted(set(actions)) == ["end-user.create", "late"] and len(actions) == 51
