"""Patchbay's members, roles and workspaces answer as Tray's Platform API says.

Every answer of every endpoint below (successes and errors) is validated, as it arrives,
against the schemas of Tray's Platform API document (``tray_platform_api.yaml``, an
unchanged extract of ``platform-api.yaml``, loaded with PyYAML; ``#/components/schemas/...``
references resolved with jsonschema's registry), and against Patchbay's own
``/openapi.json`` (``openapi_contract.Contract``: the status is declared there with its
schema).

Where Tray's document contradicts itself, it is read by its samples and intent:

- ``WorkspaceType`` and ``AccountType`` are written as a ``oneOf`` of empty objects, each
  titled with a value; Tray's samples answer those titles as strings (``"Organization"``,
  ``"Regular"``), so they are read as string enums of the titles.
- ``ExternalApiDataPage_ENT`` types every list's ``elements`` as workspaces; each list is
  read with its own items: users lists ``UserExternalApiModel``, roles lists
  ``RoleExternalApiModel``, a workspace's users ``WorkspaceUserExternalApiModel``.
- Tray declares no 409 anywhere, though duplicate emails and the last owner are conflicts
  (issue #13 asks for 409): a 409 is checked against Tray's ``ConcurrencyConflict`` error,
  a 413 against ``ContentTooLarge``.
- ``POST /core/v1/workspaces`` is beyond Tray: its 201 is checked against
  ``WorkspaceExternalApiModel`` and its errors against Tray's error shapes.
- A 204 (Tray's Delete User) has no body, though the document gives it ``type: object``.
"""

from __future__ import annotations

import copy
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from openapi_contract import Contract, document
from people import ROLES, USERS, WORKSPACES, create, default_workspace, member, workspace_token
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from patchbay.services.identity import roles

EXTRACT = Path(__file__).with_name("tray_platform_api.yaml")
SOURCE = Path("/work/shared/reference/tray-openapi/platform-api.yaml")
ENUMS_WRITTEN_AS_ONE_OF = ("WorkspaceType", "AccountType")
PAGE_ITEMS = {
    ("get", "/core/v1/users"): "UserExternalApiModel",
    ("get", "/core/v1/roles"): "RoleExternalApiModel",
    ("get", "/core/v1/workspaces"): "WorkspaceExternalApiModel",
    ("get", "/core/v1/workspaces/{workspaceId}/users"): "WorkspaceUserExternalApiModel",
    ("get", "/core/v1/workspaces/{workspaceId}/roles"): "RoleExternalApiModel",
}
UNDECLARED_ERRORS = {"409": "ConcurrencyConflict", "413": "ContentTooLarge"}
BEYOND_TRAY = {("post", "/core/v1/workspaces"): {"201": "WorkspaceExternalApiModel"}}
ERROR_BY_STATUS = {
    "400": "InvalidInput",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "ResourceNotFound",
    "429": "TooManyRequestsError",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"urn:tray#/components/schemas/{name}"}


def tray_document() -> dict[str, Any]:
    """Tray's document with the readings of this module's docstring applied."""
    doc = yaml.safe_load(EXTRACT.read_text())
    schemas = doc["components"]["schemas"]
    for name in ENUMS_WRITTEN_AS_ONE_OF:
        titles = [schemas[v["$ref"].rsplit("/", 1)[1]]["title"] for v in schemas[name]["oneOf"]]
        schemas[name] = {"title": name, "type": "string", "enum": titles}
    for (method, path), item in PAGE_ITEMS.items():
        page = copy.deepcopy(schemas["ExternalApiDataPage_ENT"])
        page["properties"]["elements"]["items"] = {"$ref": f"#/components/schemas/{item}"}
        name = f"Page_{item}"
        schemas[name] = page
        content = doc["paths"][path][method]["responses"]["200"]["content"]
        content["application/json"]["schema"] = {"$ref": f"#/components/schemas/{name}"}
    return doc


class TrayContract:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry = Registry().with_resource(
            "urn:tray", Resource.from_contents(doc, default_specification=DRAFT202012)
        )
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in doc["paths"]
        ]
        self.checked: set[tuple[str, str, str]] = set()

    def template(self, method: str, path: str) -> str | None:
        for pattern, template in self.routes:
            if pattern.match(path) and (
                method in self.doc["paths"][template] or (method, template) in BEYOND_TRAY
            ):
                return template
        return None

    def schema(self, method: str, template: str, status: str) -> dict[str, Any] | None:
        beyond = BEYOND_TRAY.get((method, template))
        if beyond is not None:
            name = (
                beyond.get(status) or ERROR_BY_STATUS.get(status) or UNDECLARED_ERRORS.get(status)
            )
            return ref(name) if name else None
        declared = self.doc["paths"][template][method]["responses"].get(status)
        if declared is None:
            name = UNDECLARED_ERRORS.get(status)
            return ref(name) if name else None
        schema = declared["content"]["application/json"]["schema"]
        return _rebased(schema)

    def problems(self, response: httpx.Response) -> list[str]:
        method, path = response.request.method.lower(), response.request.url.path
        template = self.template(method, path)
        if template is None:
            return []  # the tests' set-up (end users); ``_covered`` checks what was seen
        status = str(response.status_code)
        where = f"{method.upper()} {template} -> {status}"
        schema = self.schema(method, template, status)
        if schema is None:
            return [f"{where}: Tray declares no such status"]
        self.checked.add((method, template, status))
        if status == "204":
            return [] if not response.content else [f"{where}: a 204 with a body"]
        if not response.headers.get("content-type", "").startswith("application/json"):
            return [f"{where}: not JSON"]
        validator = jsonschema.Draft202012Validator(
            schema,
            registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        return [
            f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(response.json())
        ]


def _rebased(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: ("urn:tray" + v if k == "$ref" and v.startswith("#/") else _rebased(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebased(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def own_document(tmp_path_factory):
    return document(tmp_path_factory.mktemp("openapi"))


@pytest.fixture
async def checked(api, own_document):
    """``api`` whose every answer is checked against Tray's document and Patchbay's own."""
    tray, own = TrayContract(tray_document()), Contract(own_document)
    problems: list[str] = []

    async def check(response):
        await response.aread()
        problems.extend(tray.problems(response))
        problems.extend(own.problems(response))

    api.client.event_hooks["response"].append(check)
    yield api, tray
    assert not problems, "\n".join(problems)


def test_the_extract_is_tray_s_document_unchanged():
    if not SOURCE.exists():
        pytest.skip(f"Tray's document is not at {SOURCE}")
    source, extract = yaml.safe_load(SOURCE.read_text()), yaml.safe_load(EXTRACT.read_text())
    for path, item in extract["paths"].items():
        assert source["paths"][path] == item, path
    for name, schema in extract["components"]["schemas"].items():
        assert source["components"]["schemas"][name] == schema, name


def test_the_readings_of_tray_s_document():
    doc = tray_document()
    schemas = doc["components"]["schemas"]
    assert "Organization" in schemas["WorkspaceType"]["enum"]
    assert "Regular" in schemas["AccountType"]["enum"]
    for (method, path), item in PAGE_ITEMS.items():
        page = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]
        name = page["schema"]["$ref"].rsplit("/", 1)[1]
        assert schemas[name]["properties"]["elements"]["items"]["$ref"].endswith("/" + item)


async def test_members_and_roles_answer_as_tray_says(checked):
    api, tray = checked
    c, m = api.client, api.master
    owner_id, owner = await member(api, "owner")
    _, admin = await member(api, "admin")
    _, plain = await member(api, "member")
    scoped = await workspace_token(api, await default_workspace(api))
    _, end_user = await api.new_user()

    # POST /core/v1/users
    grace = (await create(api, email="grace@example.com", organizationRoleId="admin")).json()
    await create(api, email="grace@example.com")  # 409
    await create(api, organizationRoleId=str(uuid.uuid4()))  # 400 unknown role
    await create(api, email="not-an-email")  # 400
    await c.post(USERS, json={"name": 1}, headers=m)  # 400
    await c.post(USERS, content=b"{" + b" " * 1_100_000 + b"}", headers=m)  # 413
    await create(api, plain)  # 403
    await create(api, admin, organizationRoleId="owner")  # 403 owner only
    await c.post(USERS, json={"name": "x"})  # 401
    # GET /core/v1/users
    await c.get(USERS, headers=m)
    await c.get(USERS, params={"email": "nobody@example.com"}, headers=m)  # an empty page
    await c.get(USERS, params={"first": 1, "email": "grace@example.com"}, headers=plain)
    await c.get(USERS, params={"last": 2}, headers=m)
    await c.get(USERS, params={"first": 1001}, headers=m)  # 400
    await c.get(USERS, params={"cursor": "x"}, headers=m)  # 400
    await c.get(USERS, headers=end_user)  # 403
    await c.get(USERS)  # 401
    # GET /core/v1/users/{userId}
    await c.get(f"{USERS}/{grace['id']}", headers=plain)
    await c.get(f"{USERS}/{uuid.uuid4()}", headers=m)  # 404
    await c.get(f"{USERS}/{grace['id']}", headers=scoped)  # 403
    await c.get(f"{USERS}/{grace['id']}", headers=api.auth("pbm_nope"))  # 401
    await c.get(f"{USERS}/a%00b", headers=m)  # 400
    # PUT /core/v1/users/{userId}/roles
    await c.put(f"{USERS}/{grace['id']}/roles", json={"roleId": "member"}, headers=m)
    await c.put(f"{USERS}/{owner_id}/roles", json={"roleId": "admin"}, headers=m)  # 409
    await c.put(f"{USERS}/{grace['id']}/roles", json={"roleId": "viewer"}, headers=m)  # 400
    await c.put(f"{USERS}/{grace['id']}/roles", json={}, headers=m)  # 400
    await c.put(f"{USERS}/{uuid.uuid4()}/roles", json={"roleId": "admin"}, headers=m)  # 404
    await c.put(f"{USERS}/{owner_id}/roles", json={"roleId": "admin"}, headers=admin)  # 403
    await c.put(f"{USERS}/{owner_id}/roles", json={"roleId": "admin"})  # 401
    # DELETE /core/v1/users/{userId}
    await c.delete(f"{USERS}/{owner_id}", headers=owner)  # 409 the last owner
    await c.delete(f"{USERS}/{grace['id']}", headers=plain)  # 403
    await c.delete(f"{USERS}/{grace['id']}", headers=m)  # 204
    await c.delete(f"{USERS}/{grace['id']}", headers=m)  # 404
    await c.delete(f"{USERS}/{grace['id']}")  # 401
    await c.delete(f"{USERS}/a%00b", headers=m)  # 400
    # GET /core/v1/roles
    await c.get(ROLES, headers=plain)
    await c.get(ROLES, params={"first": 1}, headers=m)
    await c.get(ROLES, params={"first": 0}, headers=m)  # 400
    await c.get(ROLES, headers=scoped)  # 403
    await c.get(ROLES)  # 401

    _covered(tray, "/core/v1/users", "/core/v1/roles")


async def test_invites_answer_as_tray_says(checked):
    api, tray = checked
    c, m = api.client, api.master
    _, admin = await member(api, "admin")
    _, plain = await member(api, "member")
    scoped = await workspace_token(api, await default_workspace(api))
    invites = "/core/v1/invites"

    def body(**extra):
        return {
            "email": f"{uuid.uuid4().hex[:10]}@example.com",
            "organizationRoleId": roles.org_role("member").id,
            **extra,
        }

    r = await c.post(invites, json=body(), headers=m)  # 200 (no SMTP: emailSent false)
    assert r.status_code == 200 and r.json()["emailSent"] is False, r.text
    await c.post(invites, json=body(), headers=admin)  # 200
    await c.post(invites, json=body(organizationRoleId=str(uuid.uuid4())), headers=m)  # 400
    await c.post(invites, json=body(email="not-an-email"), headers=m)  # 400
    await c.post(invites, json={"email": 5}, headers=m)  # 400
    taken = (
        await api.platform.members.create(
            api.platform.default_org_id, email="taken@example.com", name="T", org_role="member"
        )
    ).email
    await c.post(invites, json=body(email=taken), headers=m)  # 409
    await c.post(invites, json=body(organizationRoleId="owner"), headers=admin)  # 403
    await c.post(invites, json=body(), headers=plain)  # 403
    await c.post(invites, json=body(), headers=scoped)  # 403
    await c.post(invites, json=body())  # 401

    _covered(tray, "/core/v1/invites")


async def test_workspaces_answer_as_tray_says(checked):
    api, tray = checked
    c, m = api.client, api.master
    _, other = await api.other_org()
    theirs = (await c.post(WORKSPACES, json={"name": "Theirs"}, headers=other)).json()["id"]
    # POST /core/v1/workspaces (beyond Tray)
    r = await c.post(WORKSPACES, json={"name": "Team", "description": "d"}, headers=m)
    ws = r.json()["id"]
    bare = (await c.post(WORKSPACES, json={"name": "Bare"}, headers=m)).json()["id"]
    target_id, _ = await member(api)
    inside_id, _ = await member(api, workspaces={ws: "contributor"})
    _, viewer = await member(api, workspaces={ws: "viewer"})
    _, nowhere = await member(api)
    await c.post(WORKSPACES, json={"name": ""}, headers=m)  # 400
    await c.post(WORKSPACES, json={"name": "x"}, headers=viewer)  # 403
    await c.post(WORKSPACES, json={"name": "x"})  # 401
    # GET /core/v1/workspaces
    await c.get(WORKSPACES, headers=m)
    await c.get(WORKSPACES, params={"type": "Organization", "first": 1}, headers=m)
    await c.get(WORKSPACES, params={"type": "Embedded"}, headers=m)  # an empty page
    await c.get(WORKSPACES, headers=viewer)
    await c.get(WORKSPACES, params={"type": "Team"}, headers=m)  # 400
    await c.get(WORKSPACES, headers=nowhere)  # 403
    await c.get(WORKSPACES)  # 401
    # GET /core/v1/workspaces/{workspaceId}
    base = f"{WORKSPACES}/{ws}"
    await c.get(base, headers=viewer)
    await c.get(f"{WORKSPACES}/{bare}", headers=m)
    await c.get(f"{WORKSPACES}/{theirs}", headers=m)  # 404
    await c.get(base, headers=nowhere)  # 403 (no role anywhere)
    await c.get(base)  # 401
    await c.get(f"{WORKSPACES}/a%00b", headers=m)  # 400
    # /users
    users = f"{base}/users"
    await c.post(users, json={"userId": target_id, "roleId": "viewer"}, headers=m)
    await c.post(users, json={"userId": target_id, "roleId": "admin"}, headers=m)  # 409
    await c.post(users, json={"userId": target_id, "roleId": "owner"}, headers=m)  # 400
    await c.post(users, json={"userId": str(uuid.uuid4()), "roleId": "viewer"}, headers=m)  # 404
    await c.post(users, json={"userId": target_id, "roleId": "viewer"}, headers=viewer)  # 403
    await c.post(users, json={"userId": target_id})  # 401
    await c.get(users, headers=viewer)
    await c.get(users, params={"last": 1}, headers=m)
    await c.get(f"{WORKSPACES}/{bare}/users", headers=m)  # an empty page
    await c.get(users, params={"first": 101}, headers=m)  # 400
    await c.get(f"{WORKSPACES}/{theirs}/users", headers=m)  # 404
    await c.get(users, headers=nowhere)  # 403
    await c.get(users)  # 401
    # /users/{userId}
    await c.get(f"{users}/{inside_id}", headers=viewer)
    await c.get(f"{users}/{uuid.uuid4()}", headers=m)  # 404
    await c.get(f"{users}/{inside_id}", headers=nowhere)  # 403
    await c.get(f"{users}/{inside_id}")  # 401
    await c.get(f"{users}/a%00b", headers=m)  # 400
    await c.put(f"{users}/{inside_id}", json={"roleId": "admin"}, headers=m)
    await c.put(f"{users}/{inside_id}", json={"roleId": "member"}, headers=m)  # 400
    await c.put(f"{users}/{uuid.uuid4()}", json={"roleId": "admin"}, headers=m)  # 404
    await c.put(f"{users}/{inside_id}", json={"roleId": "admin"}, headers=viewer)  # 403
    await c.put(f"{users}/{inside_id}", json={"roleId": "admin"})  # 401
    await c.delete(f"{users}/{inside_id}", headers=viewer)  # 403
    await c.delete(f"{users}/{inside_id}", headers=m)
    await c.delete(f"{users}/{inside_id}", headers=m)  # 404
    await c.delete(f"{users}/{inside_id}")  # 401
    await c.delete(f"{users}/a%00b", headers=m)  # 400
    # /roles
    await c.get(f"{base}/roles", headers=m)
    await c.get(f"{base}/roles", params={"first": 2}, headers=m)
    await c.get(f"{base}/roles", params={"first": 0}, headers=m)  # 400
    await c.get(f"{base}/roles", headers=viewer)  # 403
    await c.get(f"{WORKSPACES}/{theirs}/roles", headers=m)  # 404
    await c.get(f"{base}/roles")  # 401

    _covered(tray, "/core/v1/workspaces")


def _covered(tray: TrayContract, *prefixes: str) -> None:
    """Every operation under ``prefixes`` answered a success and each error it can."""
    operations = {
        (method, path)
        for path, item in tray.doc["paths"].items()
        if path.startswith(prefixes)
        for method in item
    } | {op for op in BEYOND_TRAY if op[1].startswith(prefixes)}
    for method, path in operations:
        statuses = {s for (m, p, s) in tray.checked if (m, p) == (method, path)}
        assert any(s.startswith("2") for s in statuses), (method, path, statuses)
        assert {"400", "401", "403"} <= statuses, (method, path, statuses)
        if "{" in path:
            assert "404" in statuses, (method, path, statuses)
