"""Who may call what, where: every route that takes a caller declares its action, and the
role x endpoint matrix holds on SQLite and PostgreSQL.

The matrix is data: ``ROUTES`` lists every route that takes a principal with the action it
declares, whether end users may call it, and how to make the resource it acts on (always in
workspace A, by the organisation's master token). ``CALLERS`` are the kinds of caller; the
expected outcome of each (caller, route) follows from the rules in docs/access.md
(``expected``). Organisation-level routes (members, roles, invites, audit log) are added with
``org=True`` and follow ``org_level``'s rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from patchbay.api import deps
from patchbay.api.app import create_app
from patchbay.connectors.slack.connector import ENVIRONMENTS as SLACK_ENVIRONMENTS
from patchbay.services.identity import roles
from patchbay.services.identity.principal import BUILD, MANAGE, READ
from patchbay.storage.models import TriggerEvent, Workspace, utcnow

WORKFLOW = {
    "title": "wf",
    "steps_structure": [{"name": "trigger", "type": "normal", "content": {}}],
    "steps": {
        "trigger": {
            "connector": {"name": "noop", "version": "1.0"},
            "operation": "trigger",
            "properties": {},
        }
    },
}
EXPORT = {
    "tray_export_version": 4,
    "export_type": "workflow",
    "workflows": [{"id": "source-1", **WORKFLOW}],
    "projects": [],
}
SEGMENT = {"name": "segment-trigger", "version": "1.0"}
PUBLIC = {"/hooks/{trigger_id}", "/intake/{intake_id}", "/core/v1/oauth/callback", "/health"}


# -- a: every route that takes a caller says what it does -------------------------------------
def flat_routes(app) -> list:
    """The app's API routes with their full paths (routers included in the app are
    expanded)."""
    found = []
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            found.extend(c for c in contexts() if getattr(c, "dependant", None) is not None)
        elif getattr(route, "dependant", None) is not None:
            found.append(route)
    return found


def undeclared(dependant, declared: bool = False) -> bool:
    """Whether ``deps.principal`` is reached other than through ``allow``/``org_level``."""
    for sub in dependant.dependencies:
        if sub.call is deps.principal and not declared:
            return True
        via = (
            declared
            or hasattr(sub.call, "action")
            or hasattr(sub.call, "org_action")
            or hasattr(sub.call, "self_service")  # a member's own session and tokens
        )
        if undeclared(sub, via):
            return True
    return False


def takes_principal(dependant) -> bool:
    return any(sub.call is deps.principal or takes_principal(sub) for sub in dependant.dependencies)


def test_every_route_declares_its_action(tmp_path):
    from patchbay.config import Settings

    app = create_app(Settings(data_dir=tmp_path / "data"))
    routes = flat_routes(app)
    assert len(routes) > 40
    bad = [f"{sorted(r.methods)} {r.path}" for r in routes if undeclared(r.dependant)]
    assert not bad, f"routes taking a principal without allow()/org_level(): {bad}"
    for r in routes:
        if r.path in PUBLIC:
            assert not takes_principal(r.dependant), r.path
    # and the matrix below covers every route that takes one (but the cookie session's own
    # routes: signing out and changing one's password, tested in tests/api/test_sign_in.py)
    covered = {(m, r.path) for r in ROUTES for m in [r.method]} | COOKIE_ONLY
    taking = {
        (m, r.path)
        for r in routes
        if takes_principal(r.dependant)
        for m in r.methods
        if m != "HEAD"
    }
    assert taking <= covered, f"routes missing from the matrix: {sorted(taking - covered)}"


# -- b: the role x endpoint matrix ----------------------------------------------------------
@dataclass
class World:
    """The test's organisation: workspaces A (the default) and B, and each caller's
    headers."""

    api: Any
    a: str
    b: str
    callers: dict[str, dict[str, str]] = field(default_factory=dict)
    made: dict[str, dict[str, str]] = field(default_factory=dict)  # shared resources

    @property
    def client(self):
        return self.api.client

    @property
    def org(self) -> dict[str, str]:
        return self.api.master


@dataclass(frozen=True)
class Caller:
    name: str
    kind: str  # master | member | user
    org_wide: bool = False
    role_in_a: str | None = None  # admin | contributor | viewer
    scoped_to: str | None = None  # "a" | "b": a workspace-scoped master token


CALLERS = [
    Caller("org master token", "master", org_wide=True),
    Caller("master token of A", "master", role_in_a="admin", scoped_to="a"),
    Caller("master token of B", "master", scoped_to="b"),
    Caller("owner", "member", org_wide=True),
    Caller("org admin", "member", org_wide=True),
    Caller("workspace admin of A", "member", role_in_a="admin"),
    Caller("contributor of A", "member", role_in_a="contributor"),
    Caller("viewer of A", "member", role_in_a="viewer"),
    Caller("member of B only", "member"),
    Caller("end user", "user"),
]


async def make_callers(world: World) -> None:
    pf = world.api.platform
    org_id = pf.default_org_id
    world.callers["org master token"] = world.org
    for name, ws in (("master token of A", world.a), ("master token of B", world.b)):
        issued = await pf.identity.create_master_token(org_id, name, ws)
        world.callers[name] = world.api.auth(issued.token)
    members = {
        "owner": ("owner", {}),
        "org admin": ("admin", {}),
        "workspace admin of A": ("member", {world.a: "admin"}),
        "contributor of A": ("member", {world.a: "contributor"}),
        "viewer of A": ("member", {world.a: "viewer"}),
        "member of B only": ("member", {world.b: "admin"}),
    }
    for name, (org_role, in_workspaces) in members.items():
        member = await pf.members.create(
            org_id,
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            name=name,
            org_role=org_role,
            workspaces=in_workspaces,
        )
        issued = await pf.identity.create_personal_token(org_id, member.id, name)
        world.callers[name] = world.api.auth(issued.token)
    _, world.callers["end user"] = await world.api.new_user()


# Resources, made in workspace A by the organisation's master token; each gives its path
# parameters and the code of its 404 (which a caller without a role in A gets).
async def make_workflow(w: World) -> dict[str, str]:
    r = await w.client.post("/core/v1/workflows", json=WORKFLOW, headers=w.org)
    assert r.status_code == 201, r.text
    return {"workflow_id": r.json()["id"]}


async def make_run(w: World) -> dict[str, str]:
    ids = await make_workflow(w)
    r = await w.client.post(f"/core/v1/workflows/{ids['workflow_id']}/runs", json={}, headers=w.org)
    assert r.status_code == 201, r.text
    return {**ids, "run_id": r.json()["id"]}


async def make_payload(w: World) -> dict[str, str]:
    ids = await make_run(w)
    pf = w.api.platform
    ref = await pf.runs.payloads.put(
        pf.default_org_id, ids["run_id"], b'{"a": 1}', "application/json", "json"
    )
    return {**ids, "payload_id": ref["$payload"]}


async def token_env(w: World) -> str:
    r = await w.client.get("/core/v1/services/http-client/versions/1/environments", headers=w.org)
    return next(e["id"] for e in r.json()["elements"] if e["title"] == "Token")


async def make_auth(w: World) -> dict[str, str]:
    body = {"name": "a", "serviceEnvironmentId": await token_env(w), "credentials": {"token": "t"}}
    r = await w.client.post("/core/v1/authentications", json=body, headers=w.org)
    assert r.status_code == 200, r.text
    return {"auth_id": r.json()["id"]}


def subscription_body() -> dict[str, Any]:
    return {
        "name": "s",
        "trigger": SEGMENT,
        "operation": "segment_message",
        "input": {},
        "endpoint": "http://127.0.0.1:9/hook",
    }


async def make_subscription(w: World) -> dict[str, str]:
    r = await w.client.post("/core/v1/subscriptions", json=subscription_body(), headers=w.org)
    assert r.status_code == 200 and r.json()["state"] == "active", r.text
    return {"subscription_id": r.json()["id"]}


async def make_event(w: World) -> dict[str, str]:
    ids = await make_subscription(w)
    now = utcnow()
    event = TriggerEvent(
        org_id=w.api.platform.default_org_id,
        subscription_id=ids["subscription_id"],
        body="{}",
        status="dead",
        deadline_at=now + timedelta(hours=1),
    )
    async with w.api.platform.db.session() as s:
        s.add(event)
        await s.commit()
    return {**ids, "event_id": event.id}


async def make_user(w: World) -> dict[str, str]:
    return {"user_id": (await w.api.create_user())["id"]}


async def new_member(w: World, workspaces: dict[str, str] | None = None) -> str:
    pf = w.api.platform
    member = await pf.members.create(
        pf.default_org_id,
        email=f"{uuid.uuid4().hex[:10]}@example.com",
        name="m",
        org_role="member",
        workspaces=workspaces,
    )
    return member.id


async def make_member(w: World) -> dict[str, str]:
    return {"user_id": await new_member(w)}


async def make_workspace(w: World) -> dict[str, str]:
    return {"workspace_id": w.a}


async def make_workspace_member(w: World) -> dict[str, str]:
    return {"workspace_id": w.a, "user_id": await new_member(w, {w.a: "viewer"})}


async def make_own_token(w: World) -> dict[str, str]:
    return {"token_id": "00000000-0000-0000-0000-000000000000"}  # see Route.me


async def workspace_user_body(w: World) -> dict[str, str]:
    return {"userId": await new_member(w), "roleId": roles.workspace_role("viewer").id}


MISSING = {
    make_workflow: "workflow_not_found",
    make_run: "workflow_not_found",
    make_payload: "workflow_not_found",
    make_auth: "authentication_not_found",
    make_subscription: "subscription_not_found",
    make_event: "subscription_not_found",
    make_user: "user_not_found",
    make_workspace: "workspace_not_found",
    make_workspace_member: "workspace_not_found",
}
# Routes of a signed-in browser's own session (cookie only), tested in test_sign_in.py.
COOKIE_ONLY = {("GET", "/core/v1/session"), ("DELETE", "/core/v1/session")}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    action: str
    end_users: bool = False
    make: Callable[[World], Awaitable[dict[str, str]]] | None = None
    body: Any = None  # JSON, or a function of the world giving it
    fresh: bool = False  # changes the resource for good: a new one per request
    ok: tuple[int, str | None] | None = None  # what "allowed" answers, when not a 2xx
    org: bool = False  # an organisation-level route (org_level)
    me: bool = False  # a member's own account (personal tokens, password): members only


def segment_sub_body(w: World) -> dict[str, Any]:
    return subscription_body()


async def auth_body(w: World) -> dict[str, Any]:
    return {"name": "n", "serviceEnvironmentId": await token_env(w), "credentials": {"token": "x"}}


WF = "/core/v1/workflows"
RUN = WF + "/{workflow_id}/runs/{run_id}"
AUTH = "/core/v1/authentications"
SUB = "/core/v1/subscriptions"
USERS = "/core/v1/end-users"
MEMBERS = "/core/v1/users"
WS = "/core/v1/workspaces"
TOKENS = "/core/v1/session/tokens"
CALL = "/core/v1/connectors/math-helpers/versions/1.0/call"

ROUTES = [
    # the catalogue
    Route("GET", "/core/v1/connectors", READ, True),
    Route("GET", "/core/v1/connectors/{name}/versions/{version}/operations", READ, True),
    Route("GET", "/core/v1/triggers", READ, True),
    Route("GET", "/core/v1/triggers/{name}/versions/{version}/operations", READ, True),
    Route("GET", "/core/v1/services/{name}/versions/{version}/environments", READ, True),
    # Call Connector: without an authentication, and with A's (the service does not match:
    # a 400 says the caller got past the access check, a 404 that it did not)
    Route(
        "POST",
        "/core/v1/connectors/{name}/versions/{version}/call",
        BUILD,
        True,
        body={"operation": "absolute", "input": {"number": -2}},
    ),
    Route(
        "POST",
        "/core/v1/connectors/{name}/versions/{version}/call",
        BUILD,
        True,
        make=make_auth,
        body={"operation": "absolute", "input": {"number": -2}, "authId": "{auth_id}"},
        ok=(400, "authentication_service_mismatch"),
    ),
    # authentications
    Route("GET", AUTH, READ, True),
    Route("POST", AUTH, MANAGE, True, body=auth_body),
    Route("GET", AUTH + "/{auth_id}", READ, True, make=make_auth),
    Route("GET", AUTH + "/{auth_id}/full", MANAGE, True, make=make_auth),
    Route(
        "PUT",
        AUTH + "/{auth_id}",
        MANAGE,
        True,
        make=make_auth,
        body={"name": "b", "credentials": {"token": "y"}},
    ),
    Route("DELETE", AUTH + "/{auth_id}", MANAGE, True, make=make_auth, fresh=True),
    Route(
        "POST",
        "/core/v1/oauth/authorize",
        MANAGE,
        True,
        body={"serviceEnvironmentId": SLACK_ENVIRONMENTS[0].id, "name": "n"},
    ),
    # subscriptions
    Route("GET", SUB, READ, True),
    Route("POST", SUB, BUILD, True, body=segment_sub_body),
    Route("GET", SUB + "/{subscription_id}", READ, True, make=make_subscription),
    Route("DELETE", SUB + "/{subscription_id}", BUILD, True, make=make_subscription, fresh=True),
    Route(
        "POST",
        SUB + "/{subscription_id}/signing-key",
        MANAGE,
        True,
        make=make_subscription,
        body={},
    ),
    Route("GET", SUB + "/{subscription_id}/events", READ, True, make=make_subscription),
    Route("GET", SUB + "/{subscription_id}/dead-letters", READ, True, make=make_subscription),
    Route(
        "POST",
        SUB + "/{subscription_id}/events/replay",
        BUILD,
        True,
        make=make_subscription,
        body={"status": "dead"},
    ),
    Route("GET", SUB + "/{subscription_id}/events/{event_id}", READ, True, make=make_event),
    Route(
        "POST",
        SUB + "/{subscription_id}/events/{event_id}/replay",
        BUILD,
        True,
        make=make_event,
        fresh=True,
    ),
    Route("GET", SUB + "/{subscription_id}/deliveries", READ, True, make=make_subscription),
    # workflows and runs
    Route("GET", WF, READ),
    Route("POST", WF, BUILD, body=WORKFLOW),
    Route("POST", WF + "/import", BUILD, body=EXPORT),
    Route("GET", WF + "/{workflow_id}", READ, make=make_workflow),
    Route("PUT", WF + "/{workflow_id}", BUILD, make=make_workflow, body=WORKFLOW),
    Route("DELETE", WF + "/{workflow_id}", BUILD, make=make_workflow, fresh=True),
    Route("POST", WF + "/{workflow_id}/enable", BUILD, make=make_workflow),
    Route("POST", WF + "/{workflow_id}/disable", BUILD, make=make_workflow),
    Route("GET", WF + "/{workflow_id}/versions", READ, make=make_workflow),
    Route("POST", WF + "/{workflow_id}/versions/{version}/rollback", BUILD, make=make_workflow),
    Route("GET", WF + "/{workflow_id}/export", READ, make=make_workflow),
    Route("POST", WF + "/{workflow_id}/runs", BUILD, make=make_workflow, body={}),
    Route("GET", WF + "/{workflow_id}/runs", READ, make=make_workflow),
    Route("GET", RUN, READ, make=make_run),
    Route("GET", RUN + "/payloads/{payload_id}", READ, make=make_payload),
    Route("POST", RUN + "/cancel", BUILD, make=make_run, fresh=True),
    Route("POST", RUN + "/replay", BUILD, make=make_run, body={}),
    # end users and their tokens
    Route("GET", USERS, MANAGE),
    Route("POST", USERS, MANAGE, body=lambda w: {"name": "n", "externalUserId": uuid.uuid4().hex}),
    Route("GET", USERS + "/{user_id}", MANAGE, make=make_user),
    Route("PATCH", USERS + "/{user_id}", MANAGE, make=make_user, body={"name": "m"}),
    Route("DELETE", USERS + "/{user_id}", MANAGE, make=make_user, fresh=True),
    Route("POST", USERS + "/{user_id}/tokens", MANAGE, make=make_user, body={}),
    Route("DELETE", USERS + "/{user_id}/tokens", MANAGE, make=make_user),
    # billing
    Route("GET", "/core/v1/usage", MANAGE),
    # members (Tray's users), roles, invitations, the audit log: the organisation's
    Route("GET", MEMBERS, READ, org=True),
    Route(
        "POST",
        MEMBERS,
        MANAGE,
        org=True,
        body=lambda w: {
            "name": "n",
            "email": f"{uuid.uuid4().hex[:10]}@example.com",
            "organizationRoleId": roles.org_role("member").id,
        },
    ),
    Route("GET", MEMBERS + "/{user_id}", READ, org=True, make=make_member),
    Route("DELETE", MEMBERS + "/{user_id}", MANAGE, org=True, make=make_member, fresh=True),
    Route(
        "PUT",
        MEMBERS + "/{user_id}/roles",
        MANAGE,
        org=True,
        make=make_member,
        body={"roleId": roles.org_role("member").id},
    ),
    Route("GET", "/core/v1/roles", READ, org=True),
    Route(
        "POST",
        "/core/v1/invites",
        MANAGE,
        org=True,
        body=lambda w: {
            "email": f"{uuid.uuid4().hex[:10]}@example.com",
            "organizationRoleId": roles.org_role("member").id,
        },
    ),
    Route("GET", "/core/v1/audit-events", MANAGE, org=True),
    Route("POST", WS, MANAGE, org=True, body=lambda w: {"name": uuid.uuid4().hex[:8]}),
    # workspaces and their members
    Route("GET", WS, READ),
    Route("GET", WS + "/{workspace_id}", READ, make=make_workspace),
    Route("GET", WS + "/{workspace_id}/users", READ, make=make_workspace),
    Route(
        "POST", WS + "/{workspace_id}/users", MANAGE, make=make_workspace, body=workspace_user_body
    ),
    Route("GET", WS + "/{workspace_id}/users/{user_id}", READ, make=make_workspace_member),
    Route(
        "PUT",
        WS + "/{workspace_id}/users/{user_id}",
        MANAGE,
        make=make_workspace_member,
        body={"roleId": roles.workspace_role("contributor").id},
    ),
    Route(
        "DELETE",
        WS + "/{workspace_id}/users/{user_id}",
        MANAGE,
        make=make_workspace_member,
        fresh=True,
    ),
    Route("GET", WS + "/{workspace_id}/roles", MANAGE, make=make_workspace),
    # a member's own account: personal tokens (and the password: it needs the current one)
    Route("GET", TOKENS, READ, me=True),
    Route("POST", TOKENS, READ, me=True, body={"name": "t"}),
    Route(
        "DELETE",
        TOKENS + "/{token_id}",
        READ,
        me=True,
        make=make_own_token,
        ok=(404, "token_not_found"),
    ),
    Route(
        "PUT",
        "/core/v1/session/password",
        READ,
        me=True,
        body={"currentPassword": "not-the-password", "newPassword": "a new long passphrase 9"},
        ok=(400, "wrong_password"),
    ),
]

CATALOGUE = {
    "/core/v1/connectors/{name}/versions/{version}/operations": ("math-helpers", "1.0"),
    "/core/v1/triggers/{name}/versions/{version}/operations": ("segment-trigger", "1.0"),
    "/core/v1/services/{name}/versions/{version}/environments": ("http-client", "1"),
    "/core/v1/connectors/{name}/versions/{version}/call": ("math-helpers", "1.0"),
}


def expected(caller: Caller, route: Route) -> tuple[int, str | None]:
    """(status, code) the caller gets: status 200 stands for "allowed"."""
    if route.me:
        return (200, None) if caller.kind == "member" else (403, "member_required")
    if route.org:
        if caller.kind == "user":
            return 403, "master_token_required"
        if caller.kind == "master":
            return (200, None) if caller.org_wide else (403, "org_scope_required")
        if route.action == READ or caller.org_wide:
            return 200, None
        return 403, "insufficient_role"
    if caller.kind == "user":
        if not route.end_users:
            return 403, "master_token_required"
        # an end user sees only their own things: the organisation's are not theirs
        return (404, MISSING[route.make]) if route.make else (200, None)
    if caller.org_wide:
        return 200, None
    if caller.kind == "member" and caller.role_in_a is not None:
        allowed = {"admin": {READ, BUILD, MANAGE}, "contributor": {READ, BUILD}}.get(
            caller.role_in_a, {READ}
        )
        if route.action not in allowed:
            return 403, "insufficient_role"
    if route.make is None:
        return 200, None  # a list, a create (in the caller's own workspace), the catalogue
    if caller.role_in_a is None:
        return 404, MISSING[route.make]  # the resource is in A: invisible
    return 200, None


def fill(template: str, params: dict[str, str]) -> str:
    out = template
    for key, value in params.items():
        out = out.replace("{" + key + "}", value)
    return out


async def request(world: World, caller: Caller, route: Route):
    params: dict[str, str] = {"version": "1"} if "rollback" in route.path else {}
    if route.path in CATALOGUE:
        params["name"], params["version"] = CATALOGUE[route.path]
    if route.make is not None:
        key = f"{route.make.__name__}"
        if route.fresh or key not in world.made:
            made = await route.make(world)
            if not route.fresh:
                world.made[key] = made
        else:
            made = world.made[key]
        params.update(made)
    body = route.body
    if callable(body):
        body = body(world)
        if hasattr(body, "__await__"):
            body = await body
    if isinstance(body, dict) and "authId" in body:
        body = {**body, "authId": params["auth_id"]}
    url = fill(route.path, params)
    headers = world.callers[caller.name]
    if body is None:
        return await world.client.request(route.method, url, headers=headers)
    return await world.client.request(route.method, url, json=body, headers=headers)


@pytest.fixture
async def world(settings, make_api):
    quiet = settings.model_copy(
        update={
            "background_workers": False,  # runs stay queued: cancelling one is allowed
            "oauth_clients": {
                "slack": {
                    "client_id": "cid",
                    "client_secret": "secret",
                    "authorize_url": "http://127.0.0.1:9/authorize",
                    "token_url": "http://127.0.0.1:9/token",
                }
            },
        }
    )
    async with make_api(quiet) as api:
        pf = api.platform
        a = await pf.identity.default_workspace(pf.default_org_id)
        async with pf.db.session() as s:
            row = Workspace(org_id=pf.default_org_id, name="B")
            s.add(row)
            await s.commit()
            b = row.id
        w = World(api, a, b)
        await make_callers(w)
        yield w


async def test_role_by_endpoint_matrix(world):
    failures = []
    for route in ROUTES:
        for caller in CALLERS:
            r = await request(world, caller, route)
            status, code = expected(caller, route)
            if status == 200:
                wanted = route.ok
                if wanted is None:
                    good = 200 <= r.status_code < 300
                else:
                    good = r.status_code == wanted[0] and r.json().get("code") == wanted[1]
            else:
                good = r.status_code == status
                if good:
                    world.api.expect_error(r, status, code)
            if not good:
                failures.append(
                    f"{caller.name:22} {route.method:6} {route.path}: "
                    f"{r.status_code} {r.text[:160]} (expected {status} {code or ''})"
                )
    assert not failures, "\n".join(failures)


# -- c: a workspace-scoped token sees nothing of another workspace ---------------------------
async def test_a_workspace_token_sees_nothing_of_another_workspace(world):
    w = world
    made = {
        "workflows": (await make_workflow(w))["workflow_id"],
        "authentications": (await make_auth(w))["auth_id"],
        "subscriptions": (await make_subscription(w))["subscription_id"],
        "end-users": (await make_user(w))["user_id"],
    }
    b_token = w.callers["master token of B"]
    outsider = w.callers["member of B only"]
    for headers in (b_token, outsider):
        for kind, row_id in made.items():
            listed = await w.client.get(f"/core/v1/{kind}", headers=headers)
            assert listed.status_code == 200, listed.text
            assert row_id not in {e["id"] for e in listed.json()["elements"]}, kind
            asked = await w.client.get(
                f"/core/v1/{kind}", params={"workspaceId": w.a}, headers=headers
            )
            assert asked.status_code == 200 and asked.json()["elements"] == [], asked.text
            got = await w.client.get(f"/core/v1/{kind}/{row_id}", headers=headers)
            assert got.status_code == 404, (kind, got.text)
        # and cannot create in A
        r = await w.client.post(WF, params={"workspaceId": w.a}, json=WORKFLOW, headers=headers)
        w.api.expect_error(r, 404, "not_found")
    # the organisation's token sees both, and filters
    r = await w.client.post(WF, params={"workspaceId": w.b}, json=WORKFLOW, headers=w.org)
    assert r.status_code == 201, r.text
    in_b = r.json()["id"]
    everything = await w.client.get(WF, headers=w.org)
    assert {made["workflows"], in_b} <= {e["id"] for e in everything.json()["elements"]}
    only_b = await w.client.get(WF, params={"workspaceId": w.b}, headers=w.org)
    assert [e["id"] for e in only_b.json()["elements"]] == [in_b]
    mine = await w.client.get(WF, headers=b_token)
    assert [e["id"] for e in mine.json()["elements"]] == [in_b]
    # Call Connector with A's authentication: as if it did not exist
    body = {"operation": "absolute", "input": {"number": 1}, "authId": made["authentications"]}
    r = await w.client.post(CALL, json=body, headers=b_token)
    w.api.expect_error(r, 404, "authentication_not_found")
