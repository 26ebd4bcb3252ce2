"""Request limits (body size, per-token rate) and the flat error body on every kind of
failure: malformed JSON, wrong shapes, unknown routes, wrong methods."""

from __future__ import annotations

import asyncio
import json

import pytest

USERS = "/core/v1/end-users"
CALL = "/core/v1/connectors/http-client/versions/1.0/call"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def limited(settings, make_api):
    """A Patchbay with a small body limit and a tight rate limit: 3 requests, then one every
    4 s (slow enough that a loaded machine's slow requests get no refill between them)."""
    tight = settings.model_copy(
        update={"rate_limit_per_second": 0.25, "rate_limit_burst": 3, "max_body_bytes": 1024}
    )
    async with make_api(tight) as running:
        yield running


async def test_malformed_json_is_400_malformed_json(api):
    _, user = await api.new_user()
    for path, headers in ((USERS, api.master), ("/core/v1/authentications", user)):
        for raw in (b"{", b'{"name": "x",}', b"{'name': 'x'}", b"nul", b'{"a": 1} trailing'):
            r = await api.client.post(path, content=raw, headers={**headers, **JSON})
            api.expect_error(r, 400, "malformed_json")
    r = await api.client.put("/core/v1/authentications/x", content=b"[", headers={**user, **JSON})
    api.expect_error(r, 400, "malformed_json")


async def test_bodies_that_are_not_objects_are_400(api):
    for body in ([], [{"name": "a", "externalUserId": "b"}], "text", 12, True, None):
        r = await api.client.post(
            USERS, content=json.dumps(body).encode(), headers={**api.master, **JSON}
        )
        api.expect_error(r, 400, "invalid_request")
    r = await api.client.post(USERS, content=b"", headers={**api.master, **JSON})
    api.expect_error(r, 400, "invalid_request")
    r = await api.client.post(USERS, headers=api.master)
    api.expect_error(r, 400, "invalid_request")


async def test_body_over_the_default_limit_is_413(api):
    limit = api.platform.settings.max_body_bytes
    name = "x" * (limit + 1 - len('{"name": "", "externalUserId": "a"}'))
    body = json.dumps({"name": name, "externalUserId": "a"}).encode()
    assert len(body) == limit + 1
    r = await api.client.post(USERS, content=body, headers={**api.master, **JSON})
    body = api.expect_error(r, 413, "payload_too_large")
    assert str(limit) in body["message"]
    # exactly at the limit the body is read (and refused for its content, not its size)
    body = json.dumps({"name": name[1:], "externalUserId": "a"}).encode()
    r = await api.client.post(USERS, content=body, headers={**api.master, **JSON})
    api.expect_error(r, 400, "invalid_request")
    assert (await api.client.get(USERS, headers=api.master)).json()["elements"] == []


async def test_streamed_body_over_the_limit_is_413(limited):
    api = limited

    async def chunks(total: int, size: int = 256):
        yield b'{"name": "'
        sent = 10
        while sent < total:
            yield b"x" * size
            sent += size
        yield b'", "externalUserId": "a"}'

    r = await api.client.post(USERS, content=chunks(2048), headers={**api.master, **JSON})
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    body = api.expect_error(r, 413, "payload_too_large")
    assert "1024" in body["message"]
    # a small streamed body goes through
    r = await api.client.post(USERS, content=chunks(100, 50), headers={**api.master, **JSON})
    assert r.status_code == 201, r.text


async def test_announced_body_over_a_small_limit_is_413(limited):
    api = limited
    _, user_headers = await limited.new_user()
    for path, headers in ((USERS, api.master), ("/core/v1/authentications", user_headers)):
        r = await api.client.post(path, content=b"{" + b" " * 1100 + b"}", headers=headers)
        api.expect_error(r, 413, "payload_too_large")
    # the limit also guards unauthenticated requests and unknown routes
    r = await api.client.post("/nowhere", content=b"x" * 2000)
    api.expect_error(r, 413, "payload_too_large")
    r = await api.client.post(
        USERS, content=b"{}", headers={**api.master, **JSON, "Content-Length": "two"}
    )
    api.expect_error(r, 400, "invalid_request")


async def test_a_signed_in_browser_has_its_own_budget(limited):
    api = limited
    pf = api.platform
    member = await pf.members.create(
        pf.default_org_id, email="ada@example.com", name="Ada", org_role="owner"
    )
    started = await pf.sessions.start(pf.default_org_id, member.id)
    api.client.cookies.set("patchbay_session", started.token)
    try:
        for remaining in (2, 1, 0):
            r = await api.client.get(USERS)
            assert r.status_code == 200, r.text
            assert r.headers["ratelimit-remaining"] == str(remaining)
        api.expect_error(await api.client.get(USERS), 429, "rate_limited")
        # the master token's budget is its own
        assert (await api.client.get(USERS, headers=api.master)).status_code == 200
    finally:
        api.client.cookies.clear()


async def test_rate_limit_per_token(limited):
    api = limited
    identity = api.platform.identity
    second = await identity.create_master_token(api.platform.default_org_id, "second")
    for remaining in (2, 1, 0):
        r = await api.client.get(USERS, headers=api.master)
        assert r.status_code == 200, r.text
        assert r.headers["ratelimit-limit"] == "3"
        assert r.headers["ratelimit-remaining"] == str(remaining)
        assert int(r.headers["ratelimit-reset"]) >= 1
    r = await api.client.get(USERS, headers=api.master)
    api.expect_error(r, 429, "rate_limited")
    # a token back in (1 - 0) / 0.3 s, less whatever time passed since the first request
    assert r.headers["retry-after"] in ("3", "4")
    assert r.headers["ratelimit-limit"] == "3"
    assert r.headers["ratelimit-remaining"] == "0"
    assert int(r.headers["ratelimit-reset"]) >= 1
    # whatever the endpoint or method
    r = await api.client.post(USERS, json={"name": "a", "externalUserId": "b"}, headers=api.master)
    api.expect_error(r, 429, "rate_limited")

    # another token has its own budget
    other = api.auth(second.token)
    r = await api.client.get(USERS, headers=other)
    assert r.status_code == 200
    assert r.headers["ratelimit-remaining"] == "2"
    # unauthenticated requests are answered 401, not counted nor limited
    for _ in range(5):
        api.expect_error(await api.client.get(USERS), 401, "missing_token")
    # Call Connector is exempt, even for an exhausted token
    for _ in range(5):
        r = await api.client.post(
            CALL, json={"operation": "no_such_operation", "input": {}}, headers=api.master
        )
        assert r.status_code != 429, r.text
        assert "ratelimit-limit" not in r.headers
    r = await api.client.get(USERS, headers=api.master)
    assert r.status_code == 429


async def test_rate_limit_refills(limited):
    api = limited
    for _ in range(3):
        assert (await api.client.get(USERS, headers=api.master)).status_code == 200
    r = await api.client.get(USERS, headers=api.master)
    assert r.status_code == 429
    await asyncio.sleep(float(r.headers["retry-after"]))
    r = await api.client.get(USERS, headers=api.master)
    assert r.status_code == 200, r.text
    assert r.headers["ratelimit-remaining"] == "0"


async def test_unknown_route_and_wrong_method(api):
    for path in ("/nowhere", "/core/v1/nothing", "/core/v2/users"):
        r = await api.client.get(path, headers=api.master)
        api.expect_error(r, 404, "not_found")
    r = await api.client.get("/nowhere")  # no token needed to be told it does not exist
    api.expect_error(r, 404, "not_found")
    for method, path in (
        ("DELETE", USERS),
        ("PUT", USERS),
        ("POST", f"{USERS}/some-id"),
        ("PATCH", "/core/v1/authentications/some-id"),
        ("POST", "/health"),
    ):
        r = await api.client.request(method, path, headers=api.master)
        api.expect_error(r, 405, "method_not_allowed")
        assert "allow" in r.headers


async def test_openapi_and_docs(api):
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "Patchbay"
    for path in (
        "/core/v1/end-users",
        "/core/v1/end-users/{user_id}",
        "/core/v1/end-users/{user_id}/tokens",
        "/core/v1/authentications",
        "/core/v1/authentications/{auth_id}",
        "/core/v1/authentications/{auth_id}/full",
        "/core/v1/services/{name}/versions/{version}/environments",
    ):
        assert path in spec["paths"], path
    r = await api.client.get("/docs")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]
    assert "/openapi.json" in r.text
