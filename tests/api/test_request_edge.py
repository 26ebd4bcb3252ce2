"""The rules every API request meets first (patchbay.api.edge): one Content-Type rule for
every endpoint, said in the error; NUL characters refused 400, naming where, alike on
SQLite and PostgreSQL (PostgreSQL cannot store them: they were 500 there)."""

from __future__ import annotations

import json

import pytest

USERS = "/core/v1/end-users"
AUTHS = "/core/v1/authentications"
WORKFLOWS = "/core/v1/workflows"
CALL = "/core/v1/connectors/text-helpers/versions/3.0/call"
TOKEN_ENVIRONMENT = "b7e2c4a1-3f5d-4c8e-9a0b-1d2e3f4a5b60"  # http-client's Token


def workflow(title: str = "wf") -> dict:
    return {
        "title": title,
        "steps_structure": [{"name": "trigger", "type": "normal", "content": {}}],
        "steps": {
            "trigger": {
                "connector": {"name": "noop", "version": "1.0"},
                "operation": "trigger",
                "properties": {},
                "error_handling": {},
            }
        },
    }


def call_body() -> dict:
    return {"operation": "change_case", "input": {"text": "ab", "case": "upper"}}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/yaml"]
)
async def test_a_json_body_sent_as_another_type_is_415_saying_what_to_send(api, content_type):
    """Call Connector took any type while the other endpoints refused it with a message
    that never named the type: now every endpoint refuses it alike (curl -d is form)."""
    cases = [(USERS, {"name": "Ada", "externalUserId": "ada"}), (CALL, call_body())]
    for path, body in cases:
        r = await api.client.post(
            path,
            content=json.dumps(body).encode(),
            headers={**api.master, "Content-Type": content_type},
        )
        error = api.expect_error(r, 415, "unsupported_media_type")
        assert repr(content_type) in error["message"], error
        assert "Content-Type: application/json" in error["message"], error


async def test_json_types_and_no_type_are_read_as_json(api):
    for n, headers in enumerate(
        [
            {},  # no Content-Type: read as JSON
            {"Content-Type": "application/json; charset=utf-8"},
            {"Content-Type": "application/merge-patch+json"},
            {"Content-Type": "text/json"},
        ]
    ):
        body = json.dumps({"name": "Ada", "externalUserId": f"ada-{n}"}).encode()
        r = await api.client.post(USERS, content=body, headers={**api.master, **headers})
        assert r.status_code == 201, (headers, r.text)
        r = await api.client.post(
            CALL, content=json.dumps(call_body()).encode(), headers={**api.master, **headers}
        )
        assert r.status_code == 200, (headers, r.text)
        assert r.json()["output"] == {"result": "AB"}


async def test_workflows_take_yaml_and_say_so(api):
    import yaml

    r = await api.client.post(
        WORKFLOWS,
        content=yaml.safe_dump(workflow("from yaml")).encode(),
        headers={**api.master, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    r = await api.client.post(
        WORKFLOWS, content=b"x", headers={**api.master, "Content-Type": "text/plain"}
    )
    error = api.expect_error(r, 415, "unsupported_media_type")
    assert "application/json or application/yaml" in error["message"]


async def test_a_bodyless_post_is_not_asked_for_a_content_type(api):
    user = await api.create_user()
    r = await api.client.post(
        f"{USERS}/{user['id']}/tokens", headers={**api.master, "Content-Type": "text/plain"}
    )
    assert r.status_code == 201, r.text


ID_ROUTES = [
    f"{USERS}/a%00b",
    f"{AUTHS}/a%00b",
    f"{AUTHS}/a%00b/full",
    "/core/v1/subscriptions/a%00b",
    f"{WORKFLOWS}/a%00b",
    f"{WORKFLOWS}/a%00b/runs",
    f"{WORKFLOWS}/wf/runs/a%00b",
    "/core/v1/connectors/a%00b/versions/1.0/operations",
]


async def test_a_nul_in_a_path_or_query_is_400_on_every_database(api):
    for path in ID_ROUTES:
        r = await api.client.get(path, headers=api.master)
        error = api.expect_error(r, 400, "invalid_request")
        assert "Invalid request: path: must not contain NUL characters" in error["message"]
    r = await api.client.get(USERS, params={"externalUserId": "a\x00b"}, headers=api.master)
    error = api.expect_error(r, 400, "invalid_request")
    assert "query parameter 'externalUserId'" in error["message"]


async def test_a_nul_in_a_stored_string_is_400_naming_the_field(api):
    """User, authentication, subscription names, workflow titles: 201 on SQLite, 500 on
    PostgreSQL before; a NUL anywhere in a body, keys included, is named by its place."""
    user = await api.create_user()
    cases = [
        ("POST", USERS, {"name": "a\x00b", "externalUserId": "x"}, "name"),
        ("PATCH", f"{USERS}/{user['id']}", {"name": "a\x00b"}, "name"),
        (
            "POST",
            AUTHS,
            {"name": "a\x00b", "serviceEnvironmentId": TOKEN_ENVIRONMENT, "credentials": {}},
            "name",
        ),
        ("POST", "/core/v1/subscriptions", {"name": "a\x00b", "trigger": "x"}, "name"),
        ("POST", WORKFLOWS, workflow("a\x00b"), "title"),
        ("POST", WORKFLOWS, {**workflow(), "settings": {"config": {"k": ["ok", "\x00"]}}},
         "settings.config.k.1"),
        ("POST", CALL, {"operation": "change_case", "input": {"text": "\x00"}}, "input.text"),
    ]  # fmt: skip
    for method, path, body, where in cases:
        r = await api.client.request(method, path, json=body, headers=api.master)
        error = api.expect_error(r, 400, "invalid_request")
        assert error["message"] == (
            f"Invalid request: {where}: must not contain NUL characters (\\u0000)"
        ), error
    r = await api.client.get(USERS, headers=api.master)
    assert r.status_code == 200 and len(r.json()["elements"]) == 1  # nothing was stored

    # a backslash before "u0000" is no NUL: such text is taken
    r = await api.client.post(
        USERS, json={"name": "a\\u0000b", "externalUserId": "y"}, headers=api.master
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "a\\u0000b"
