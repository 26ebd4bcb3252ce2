"""The OpenAPI document describes the API: every operation's 2xx schema and error statuses,
no 422 the app never sends, bounds and enums on query parameters; and real answers of the
main endpoints match it (``openapi_contract.Contract``)."""

from __future__ import annotations

import asyncio

import pytest
from openapi_contract import Contract, document

from patchbay.engine.definition import typed
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.subscriber import Subscriber

ERROR_REF = "#/components/schemas/Error"
# Routes whose answers are not JSON, or pass on another party's answer.
RAW_2XX = {
    ("get", "/core/v1/workflows/{workflow_id}/runs/{run_id}/payloads/{payload_id}"),
    ("get", "/files/{file_id}"),
}
PUBLIC = {  # no bearer token
    "/health",
    "/core/v1/oauth/callback",
    "/core/v1/sso",
    "/core/v1/sso/start",
    "/core/v1/sso/callback",
    # One-time links: the link's token is the credential.
    "/core/v1/invites/accept",
    "/core/v1/password-resets",
    "/core/v1/password-resets/complete",
    "/core/v1/setup",
    "/files/{file_id}",  # a signed URL: its signature is the permission
}
# Routes whose success is a redirect (302, documented), never a JSON answer.
REDIRECTS = {("get", "/core/v1/sso/start"), ("get", "/core/v1/sso/callback")}


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    return document(tmp_path_factory.mktemp("openapi"))


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_operation_declares_a_2xx_schema(doc):
    missing = []
    for method, path, operation in operations(doc):
        ok = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        if (method, path) in REDIRECTS:
            assert set(operation["responses"]) & {"302", "200"} == {"302"}, (method, path)
            continue
        assert ok, (method, path)
        for status, response in ok.items():
            if status == "204":
                assert not response.get("content"), (method, path)
                continue
            content = response.get("content") or {}
            schemas = [c.get("schema") for c in content.values()]
            if not schemas or any(s in (None, {}) for s in schemas):
                missing.append((method, path, status))
            if (method, path) not in RAW_2XX:
                assert "application/json" in content, (method, path, status)
    assert not missing, missing


def test_error_statuses_are_declared_with_the_error_body(doc):
    for method, path, operation in operations(doc):
        responses = operation["responses"]
        assert "422" not in responses or path.endswith("/call"), (method, path)
        for status, response in responses.items():
            if status[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, status)
        if path == "/health":
            continue
        assert "400" in responses, (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if path not in PUBLIC and not path.startswith(("/hooks/", "/intake/")):
            assert {"401", "429"} <= set(responses), (method, path)
        if "requestBody" in operation:
            assert "413" in responses, (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["Error"]["required"] == ["message", "code"]


def test_master_only_operations_declare_403(doc):
    for method, path, operation in operations(doc):
        if path.startswith(
            ("/core/v1/end-users", "/core/v1/users", "/core/v1/usage", "/core/v1/workflows")
        ):
            assert "403" in operation["responses"], (method, path)


def parameter(doc, path, method, name):
    found = [p for p in doc["paths"][path][method]["parameters"] if p["name"] == name]
    assert len(found) == 1, (path, method, name)
    return found[0]["schema"]


def test_query_bounds_and_enums(doc):
    pages = [
        (path, method)
        for method, path, operation in operations(doc)
        if any(p["name"] == "first" for p in operation.get("parameters", []))
    ]
    assert len(pages) == 14, pages  # + the audit log
    for path, method in pages:
        # Tray's Platform API pages its users and roles up to 1000, the rest up to 100.
        maximum = 1000 if path in ("/core/v1/users", "/core/v1/roles") else 100
        names = ["first"]
        if path.startswith(("/core/v1/users", "/core/v1/roles", "/core/v1/workspaces")):
            names.append("last")  # Tray's backwards paging
        for name in names:
            schema = parameter(doc, path, method, name)
            assert schema["type"] == "integer", (path, schema)
            assert (schema["minimum"], schema["maximum"]) == (1, maximum), (path, schema)
    kinds = parameter(doc, "/core/v1/workspaces", "get", "type")
    assert set(kinds["items"]["enum"]) == {
        "Embedded",
        "Organization",
        "Personal",
        "PersonalExternal",
        "Shared",
    }
    runs = parameter(doc, "/core/v1/workflows/{workflow_id}/runs", "get", "status")
    assert set(runs["enum"]) == {"queued", "running", "waiting", "succeeded", "failed", "cancelled"}
    events = parameter(doc, "/core/v1/subscriptions/{subscription_id}/events", "get", "status")
    assert set(events["enum"]) == {"pending", "delivered", "dead", "cancelled"}
    export = parameter(doc, "/core/v1/workflows/{workflow_id}/export", "get", "format")
    assert set(export["enum"]) == {"json", "yaml"}
    for method, _, operation in operations(doc):
        for p in operation.get("parameters", []):
            assert "anyOf" not in p["schema"], (method, p)  # never null in a query


# -- real answers against the document -------------------------------------------------------


def step(connector, operation, version="1.0", **properties):
    return {
        "title": connector,
        "connector": {"name": connector, "version": version},
        "operation": operation,
        "properties": {k: typed(v) for k, v in properties.items()},
        "error_handling": {},
    }


WORKFLOW = {
    "title": "contract",
    "steps_structure": [
        {"name": "trigger", "type": "normal", "content": {}},
        {"name": "storage-1", "type": "normal", "content": {}},
    ],
    "steps": {
        "trigger": step("webhook", "webhook", "2.0"),
        "storage-1": step("storage", "set", "1.4", key="k", value=1),
    },
}


@pytest.fixture
async def checked(api, doc):
    """``api`` whose every answer is checked against the document as it arrives."""
    contract = Contract(doc)
    problems: list[str] = []

    async def check(response):
        await response.aread()
        problems.extend(contract.problems(response))

    api.client.event_hooks["response"].append(check)
    yield api, contract
    assert not problems, "\n".join(problems)


async def test_catalog_and_call_answers_match_the_document(checked):
    api, contract = checked
    c, m = api.client, api.master
    assert (await c.get("/health")).status_code == 200
    connectors = (await c.get("/core/v1/connectors", headers=m)).json()["elements"]
    for name, version in (("http-client", "1.0"), ("nope", "1.0")):
        await c.get(f"/core/v1/connectors/{name}/versions/{version}/operations", headers=m)
    triggers = (await c.get("/core/v1/triggers", headers=m)).json()["elements"]
    t = triggers[0]
    await c.get(f"/core/v1/triggers/{t['name']}/versions/{t['version']}/operations", headers=m)
    service = connectors[0]["service"]
    await c.get(
        f"/core/v1/services/{service['name']}/versions/{service['version']}/environments",
        headers=m,
    )
    await c.get("/core/v1/services/nope/versions/1/environments", headers=m)
    call = "/core/v1/connectors/text-helpers/versions/3.0/call"
    body = {"operation": "change_case", "input": {"text": "Ada", "case": "upper"}}
    r = await c.post(call, json=body, headers=m)
    assert r.status_code == 200, r.text
    await c.post(call, json={"operation": 1}, headers=m)
    await c.post(call, json=body)
    await c.get("/core/v1/usage", headers=m)
    await c.get("/core/v1/usage", params={"from": "2026-01-01", "to": "2026-12-31"}, headers=m)
    statuses = {s for (_, _, s) in contract.checked}
    assert {"200", "400", "401", "404"} <= statuses, contract.checked


async def test_users_and_authentications_answers_match_the_document(checked):
    api, _ = checked
    c, m = api.client, api.master
    user = await api.create_user("contract")
    await c.post("/core/v1/end-users", json={"name": "A", "externalUserId": "contract"}, headers=m)
    await c.post("/core/v1/end-users", json={"name": ""}, headers=m)
    await c.get("/core/v1/end-users", params={"first": 1}, headers=m)
    await c.get("/core/v1/end-users", params={"first": 0}, headers=m)
    await c.get(f"/core/v1/end-users/{user['id']}", headers=m)
    await c.get("/core/v1/end-users/nope", headers=m)
    await c.patch(f"/core/v1/end-users/{user['id']}", json={"name": "B"}, headers=m)
    token = await api.user_token(user["id"])
    as_user = api.auth(token)
    assert (await c.get("/core/v1/end-users", headers=as_user)).status_code == 403
    await c.get("/core/v1/authentications", headers=as_user)
    await c.get("/core/v1/authentications/nope", headers=as_user)
    await c.get("/core/v1/authentications/nope/full", headers=as_user)
    await c.post("/core/v1/authentications", json={"name": "x"}, headers=as_user)
    await c.post(
        "/core/v1/oauth/authorize",
        json={"serviceEnvironmentId": "nope", "name": "n"},
        headers=as_user,
    )
    await c.get("/core/v1/oauth/callback", params={"state": "nope", "code": "c"})
    await c.delete(f"/core/v1/end-users/{user['id']}/tokens", headers=m)
    await c.delete(f"/core/v1/end-users/{user['id']}", headers=m)


async def test_subscription_answers_match_the_document(checked):
    api, _ = checked
    c, m = api.client, api.master
    sub = Subscriber()
    with serve_in_thread(sub.app) as url:
        r = await c.post(
            "/core/v1/subscriptions",
            json={
                "name": "s",
                "trigger": {"name": "segment-trigger", "version": "1.0"},
                "operation": "segment_message",
                "input": {},
                "endpoint": url + "/hook",
            },
            headers=m,
        )
        assert r.status_code == 200, r.text
        created = r.json()
        intake = "/" + created["intakeUrl"].split("://", 1)[1].split("/", 1)[1]
        msg = {"type": "track", "messageId": "m1", "userId": "u", "event": "E"}
        assert (await c.post(intake, json=msg)).status_code == 200
        await sub.await_for(1)
        base = f"/core/v1/subscriptions/{created['id']}"
        await c.get("/core/v1/subscriptions", headers=m)
        await c.get(base, headers=m)
        for _ in range(50):
            events = (await c.get(base + "/events", headers=m)).json()["elements"]
            if events and events[0]["status"] == "delivered":
                break
            await asyncio.sleep(0.05)
        await c.get(base + "/events", params={"status": "dead"}, headers=m)
        await c.get(base + "/events", params={"status": "nope"}, headers=m)
        await c.get(base + "/dead-letters", headers=m)
        await c.get(base + "/deliveries", headers=m)
        await c.get(f"{base}/events/{events[0]['id']}", headers=m)
        await c.get(f"{base}/events/nope", headers=m)
        await c.post(f"{base}/events/{events[0]['id']}/replay", headers=m)
        await c.post(base + "/events/replay", json={"status": "delivered"}, headers=m)
        await c.post(base + "/signing-key", json={"overlapSeconds": 60}, headers=m)
        await c.post("/intake/" + "x" * 20, json=msg)
        await c.delete(base, headers=m)
        await c.get("/core/v1/subscriptions/nope", headers=m)


async def test_workflow_and_run_answers_match_the_document(checked):
    api, _ = checked
    c, m = api.client, api.master
    r = await c.post("/core/v1/workflows", json=WORKFLOW, headers=m)
    assert r.status_code == 201, r.text
    wf = r.json()
    base = f"/core/v1/workflows/{wf['id']}"
    await c.post("/core/v1/workflows", json={"title": "x"}, headers=m)
    await c.get("/core/v1/workflows", headers=m)
    await c.get(base, headers=m)
    await c.put(base, json=WORKFLOW, headers=m)
    await c.get(base + "/versions", headers=m)
    await c.post(base + "/versions/1/rollback", headers=m)
    await c.get(base + "/export", headers=m)
    await c.get(base + "/export", params={"format": "yaml"}, headers=m)
    assert (await c.post(base + "/enable", headers=m)).status_code == 200
    hook = "/" + wf["triggerUrl"].split("/", 3)[3]
    assert (await c.post(hook, json={"a": 1})).status_code == 202
    r = await c.post(base + "/runs", json={"a": 1}, headers=m)
    run = r.json()
    for _ in range(100):
        got = (await c.get(f"{base}/runs/{run['id']}", headers=m)).json()
        if got["status"] in ("succeeded", "failed", "cancelled"):
            break
        await asyncio.sleep(0.05)
    await c.get(base + "/runs", params={"status": "succeeded", "first": 5}, headers=m)
    await c.get(base + "/runs", params={"status": "nope"}, headers=m)
    await c.post(f"{base}/runs/{run['id']}/cancel", headers=m)
    await c.post(f"{base}/runs/{run['id']}/replay", json={"from": "start"}, headers=m)
    await c.get(f"{base}/runs/{run['id']}/payloads/nope", headers=m)
    await c.get(f"{base}/runs/nope", headers=m)
    await c.post(base + "/disable", headers=m)
    export = (await c.get(base + "/export", headers=m)).json()
    await c.post("/core/v1/workflows/import", json=export, headers=m)
    await c.delete(base, headers=m)
    await c.get(base, headers=m)


async def test_invitation_reset_and_setup_answers_match_the_document(checked):
    api, _ = checked
    c, m, pf = api.client, api.master, api.platform
    password = "correct horse battery staple"
    setup = (await pf.setup_link()).split("#token=")[1]
    await c.post("/core/v1/setup", json={"token": "pbl_x", "email": "o@x.test", "name": "O"})
    body = {"token": setup, "email": "owner@example.test", "name": "O", "password": password}
    await c.post("/core/v1/setup", json={**body, "password": "short"})
    assert (await c.post("/core/v1/setup", json=body)).status_code == 200
    c.cookies.clear()
    assert (await c.post("/core/v1/setup", json=body)).status_code == 410
    invite = {"email": "new@example.test", "organizationRoleId": "member"}
    r = await c.post("/core/v1/invites", json=invite, headers=m)
    assert r.status_code == 200
    await c.post("/core/v1/invites", json={**invite, "organizationRoleId": "x"}, headers=m)
    await c.post("/core/v1/invites", json={**invite, "email": "owner@example.test"}, headers=m)
    await c.post("/core/v1/invites", json=invite)
    p = await pf.identity.authenticate(api.master_token)
    link = (await pf.invitations.invite(p, "n2@example.test", "admin")).url.split("#token=")[1]
    accept = {"token": link, "name": "N", "password": password}
    await c.post("/core/v1/invites/accept", json={**accept, "token": "pbl_x"})
    assert (await c.post("/core/v1/invites/accept", json=accept)).status_code == 200
    c.cookies.clear()
    assert (await c.post("/core/v1/invites/accept", json=accept)).status_code == 410
    assert (await c.post("/core/v1/password-resets", json={"email": "n2@example.test"})).is_success
    await c.post("/core/v1/password-resets", json={})
    await c.post("/core/v1/password-resets/complete", json={"token": "pbl_x", "password": password})
    await pf.password_resets.settle()
