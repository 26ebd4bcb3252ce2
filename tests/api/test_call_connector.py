"""Call Connector (``POST /core/v1/connectors/{name}/versions/{v}/call``) end to end: the API,
stored authentications, the outbound guard, idempotency, the in-flight cap and billing,
against loopback servers (the Slack fake and small Starlette apps)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from sqlalchemy import text, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from patchbay.connectors.http_client.connector import TOKEN_ENVIRONMENT_ID
from patchbay.connectors.slack.connector import ENVIRONMENTS as SLACK_ENVIRONMENTS
from patchbay.connectors.slack.fake import FakeSlack, create_app
from patchbay.services.credentials.key_rotation import rotate
from patchbay.services.identity.tokens import hash_token
from patchbay.storage.models import ApiToken, utcnow
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.rawserver import raw_server

SLACK_OAUTH_ENV = SLACK_ENVIRONMENTS[0].id
USER_TOKEN = FakeSlack.user_token
ORG_TOKEN = FakeSlack.org_token
VALIDATION_PREFIX = "Connector input validation failed. Schema validation errors:\n[ 1 - "


def call_path(connector: str = "slack", version: str = "1.0") -> str:
    return f"/core/v1/connectors/{connector}/versions/{version}/call"


async def call(
    api,
    headers: dict[str, str],
    operation: str,
    input: Any,
    *,
    auth_id: str | None = None,
    connector: str = "slack",
    version: str = "1.0",
    key: str | None = None,
    **extra: Any,
):
    body: dict[str, Any] = {"operation": operation, "input": input, **extra}
    if auth_id is not None:
        body["authId"] = auth_id
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    return await api.client.post(call_path(connector, version), json=body, headers=headers)


async def billed(api) -> int:
    r = await api.client.get("/core/v1/usage", headers=api.master)
    assert r.status_code == 200, r.text
    return r.json()["total"]


def assert_success(r) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"outcome", "output"}
    assert body["outcome"] == "success", body
    return body["output"]


def assert_error_outcome(r, kind: str) -> dict[str, Any]:
    """A third-party failure: HTTP 200 with Patchbay's standardized error output."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"outcome", "output"}
    assert body["outcome"] == "error", body
    output = body["output"]
    assert {"response", "message", "kind"} <= set(output)
    assert output["kind"] == kind, output
    assert isinstance(output["message"], str) and output["message"]
    if output["response"] is not None:
        assert set(output["response"]) == {"statusCode", "headers", "body"}
        assert isinstance(output["response"]["statusCode"], int)
        assert isinstance(output["response"]["headers"], dict)
    return output


# -- loopback servers ---------------------------------------------------------------------


class Recorder:
    """ASGI wrapper noting each request's method, path and Authorization header."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[tuple[str, str, str | None]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            auth = headers.get(b"authorization")
            self.requests.append((scope["method"], scope["path"], auth and auth.decode()))
        await self.app(scope, receive, send)


@dataclass
class Slack:
    state: FakeSlack
    url: str  # the base URL for userData.base_url (ends in /api)
    recorder: Recorder

    def seen(self, method: str) -> list[str | None]:
        """The Authorization headers of the requests to a Slack method."""
        return [auth for _, path, auth in self.recorder.requests if path == f"/api/{method}"]


@pytest.fixture
def slack() -> Iterator[Slack]:
    state = FakeSlack()
    recorder = Recorder(create_app(state))
    with serve_in_thread(recorder) as url:
        yield Slack(state, url + "/api", recorder)


@dataclass
class Target:
    """A small HTTP service: counts its requests."""

    url: str
    hits: list[str] = field(default_factory=list)


def target_app(hits: list[str], **extra_routes) -> Starlette:
    async def echo(request: Request) -> Response:
        hits.append(request.url.path)
        return JSONResponse({"path": request.url.path, "query": str(request.url.query)})

    async def slow(request: Request) -> Response:
        hits.append(request.url.path)
        await asyncio.sleep(0.5)
        return JSONResponse({"slow": True})

    async def echo_auth_401(request: Request) -> Response:
        hits.append(request.url.path)
        seen = request.headers.get("authorization", "")
        return JSONResponse(
            {"error": "bad credentials", "you_sent": seen},
            status_code=401,
            headers={"x-echo-authorization": seen},
        )

    routes = [
        Route("/echo", echo),
        Route("/slow", slow),
        Route("/echo-auth-401", echo_auth_401),
        *(Route(path, handler) for path, handler in extra_routes.items()),
    ]
    return Starlette(routes=routes)


@pytest.fixture
def target() -> Iterator[Target]:
    hits: list[str] = []
    with serve_in_thread(target_app(hits)) as url:
        yield Target(url, hits)


async def slack_user(api, slack: Slack, token: str = USER_TOKEN):
    """A new end user with their own Slack authentication pointing at the fake."""
    user, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers, SLACK_OAUTH_ENV, {"access_token": token}, userData={"base_url": slack.url}
    )
    return user, headers, auth_id


# -- success through the Slack fake -----------------------------------------------------------


async def test_send_message_as_end_user(api, slack):
    user, headers, auth_id = await slack_user(api, slack)
    r = await call(
        api, headers, "send_message", {"channel": "C0000GENERAL", "text": "Hi"}, auth_id=auth_id
    )
    output = assert_success(r)
    assert output["ok"] is True
    assert output["channel"] == "C0000GENERAL"
    assert output["message"]["text"] == "Hi"
    assert output["ts"] == output["message"]["ts"]
    # the output fits the operation's published output schema
    ops = (
        await api.client.get("/core/v1/connectors/slack/versions/1.0/operations", headers=headers)
    ).json()["elements"]
    schema = next(op["outputSchema"] for op in ops if op["name"] == "send_message")
    jsonschema.Draft4Validator(schema).validate(output)
    # the fake really got it, with the user's token as a Bearer token
    assert [m["text"] for m in slack.state.messages] == ["Hi"]
    assert slack.state.messages[0]["channel"] == "C0000GENERAL"
    assert slack.seen("chat.postMessage") == [f"Bearer {USER_TOKEN}"]
    assert USER_TOKEN not in r.text
    # billed to that user
    usage = (await api.client.get("/core/v1/usage", headers=api.master)).json()
    assert [(e["userId"], e["tasks"]) for e in usage["elements"]] == [(user["id"], 1)]


async def test_send_reminder(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    r = await call(
        api,
        headers,
        "send_reminder",
        {"text": "Stand-up", "time": "in 5 minutes"},
        auth_id=auth_id,
    )
    output = assert_success(r)
    assert output["reminder"]["text"] == "Stand-up"
    assert output["reminder"]["user"] == "U0ALICE"
    assert [rem["text"] for rem in slack.state.reminders] == ["Stand-up"]
    assert slack.seen("reminders.add") == [f"Bearer {USER_TOKEN}"]


async def test_list_channels_ddl_follows_every_page(api, slack):
    slack.state.page_size_cap = 7  # many short pages
    _, headers, auth_id = await slack_user(api, slack)
    r = await call(
        api,
        headers,
        "list_channels_ddl",
        {"include_private_channels": False, "workspace_id": "T0PATCHBAY"},
        auth_id=auth_id,
    )
    output = assert_success(r)
    expected = [
        {"text": f"#{c.name}", "value": c.id}
        for c in slack.state.ordered_channels()
        if c.team_id == "T0PATCHBAY" and not c.is_private and not c.is_archived
    ]
    assert len(expected) > 40
    assert output == {"result": expected}
    pages = slack.state.calls_to("conversations.list")
    assert len(pages) > 5
    assert "cursor" not in pages[0] and all(p.get("cursor") for p in pages[1:])
    assert all(p["team_id"] == "T0PATCHBAY" for p in pages)

    # with private channels: more of them, still every page
    before = len(pages)
    r = await call(
        api, headers, "list_channels_ddl", {"include_private_channels": True}, auth_id=auth_id
    )
    output = assert_success(r)
    values = {item["value"] for item in output["result"]}
    private = {c.id for c in slack.state.channels.values() if c.is_private and not c.is_archived}
    assert private and private <= values
    assert len(values) == len(output["result"]) == len(expected) + len(private)
    assert len(slack.state.calls_to("conversations.list")) - before > 5


async def test_list_workspaces_ddl(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    r = await call(api, headers, "list_workspaces_ddl", {}, auth_id=auth_id)
    assert assert_success(r) == {"result": [{"text": "Patchbay", "value": "T0PATCHBAY"}]}

    _, headers, org_auth = await slack_user(api, slack, ORG_TOKEN)
    r = await call(api, headers, "list_workspaces_ddl", {}, auth_id=org_auth)
    assert assert_success(r) == {
        "result": [
            {"text": "Patchbay", "value": "T0PATCHBAY"},
            {"text": "Patchbay Sister", "value": "T0SISTER01"},
        ]
    }
    assert ORG_TOKEN not in r.text


async def test_lookup_user_by_email(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    r = await call(
        api, headers, "lookup_user_by_email", {"email": "bob@example.com"}, auth_id=auth_id
    )
    output = assert_success(r)
    assert output["user"]["id"] == "U0BOB"
    assert output["user"]["profile"]["email"] == "bob@example.com"
    assert slack.seen("users.lookupByEmail") == [f"Bearer {USER_TOKEN}"]
    # returnOutputSchema only matters for operations with a dynamic output
    r = await call(
        api,
        headers,
        "lookup_user_by_email",
        {"email": "bob@example.com"},
        auth_id=auth_id,
        returnOutputSchema=True,
    )
    assert assert_success(r) == output


# -- third-party failures: 200 with outcome "error" -----------------------------------------


async def test_slack_api_error(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    r = await call(
        api, headers, "send_message", {"channel": "C0MISSING", "text": "x"}, auth_id=auth_id
    )
    output = assert_error_outcome(r, "api_error")
    assert output["response"]["statusCode"] == 200
    assert output["response"]["body"] == {"ok": False, "error": "channel_not_found"}
    assert "channel_not_found" in output["message"]
    assert output["code"] == "channel_not_found"
    assert USER_TOKEN not in r.text
    assert not slack.state.messages


async def test_slack_auth_error_never_shows_the_token(api, slack):
    bad = "xoxp-not-a-valid-token-0123456789"
    _, headers, auth_id = await slack_user(api, slack, bad)
    r = await call(
        api, headers, "send_message", {"channel": "C0000GENERAL", "text": "x"}, auth_id=auth_id
    )
    output = assert_error_outcome(r, "auth_error")
    assert output["response"]["body"]["error"] == "invalid_auth"
    assert output["code"] == "invalid_auth"
    assert slack.seen("chat.postMessage") == [f"Bearer {bad}"]  # it was sent, and only there
    assert bad not in r.text and "not-a-valid-token" not in r.text


async def test_slack_rate_limited(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    slack.state.rate_limit_next(1, retry_after=7)
    r = await call(
        api, headers, "send_message", {"channel": "C0000GENERAL", "text": "x"}, auth_id=auth_id
    )
    output = assert_error_outcome(r, "rate_limited")
    assert output["response"]["statusCode"] == 429
    assert output["response"]["headers"]["retry-after"] == "7"
    assert output["retryAfter"] == 7
    assert USER_TOKEN not in r.text
    # the limit has passed: the next call goes through
    r = await call(
        api, headers, "send_message", {"channel": "C0000GENERAL", "text": "x"}, auth_id=auth_id
    )
    assert_success(r)
    assert await billed(api) == 2  # an error outcome is a task too


async def test_http_client_credentials_never_in_error_output(api, target):
    secret = "s3cr3t-http-token-value"
    user, headers = await api.new_user()
    auth_id = await api.create_auth(headers, TOKEN_ENVIRONMENT_ID, {"token": secret})
    r = await call(
        api,
        headers,
        "get_request",
        {"url": f"{target.url}/echo-auth-401"},
        auth_id=auth_id,
        connector="http-client",
    )
    output = assert_error_outcome(r, "auth_error")
    assert output["response"]["statusCode"] == 401
    assert output["response"]["body"]["error"] == "bad credentials"
    assert target.hits == ["/echo-auth-401"]
    assert secret not in r.text


# -- rejected calls: Tray's validation errors ---------------------------------------------


async def test_input_schema_violation_lists_every_error(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    r = await call(api, headers, "send_message", {}, auth_id=auth_id)
    body = api.expect_error(r, 400)
    assert body["code"] is None
    assert body["message"].startswith(VALIDATION_PREFIX)
    assert "#: required key [channel] not found" in body["message"]
    assert body["message"].endswith(" ]")

    r = await call(
        api,
        headers,
        "send_message",
        {"channel": 5, "text": "x", "surprise": 1, "unfurl_links": "no"},
        auth_id=auth_id,
    )
    body = api.expect_error(r, 400)
    assert body["code"] is None
    message = body["message"]
    assert message.startswith(VALIDATION_PREFIX)
    assert ", 2 - " in message and ", 3 - " in message and ", 4 - " not in message
    assert "extraneous key [surprise] is not permitted" in message
    assert "#/channel: expected type: String, found: Integer" in message
    assert "#/unfurl_links: expected type: Boolean, found: String" in message

    assert not slack.recorder.requests  # nothing reached Slack
    assert await billed(api) == 0  # and nothing was billed


BAD_BODIES = [
    {"input": {}},
    {"operation": "get_request"},
    {"operation": 5, "input": {"url": "http://127.0.0.1/"}},
    {"operation": None, "input": {"url": "http://127.0.0.1/"}},
    {"operation": "get_request", "input": ["http://127.0.0.1/"]},
    {"operation": "get_request", "input": "http://127.0.0.1/"},
    {"operation": "get_request", "input": None},
    {"operation": "get_request", "input": {"url": "http://127.0.0.1/"}, "authId": 7},
    {"operation": "get_request", "input": {"url": "http://127.0.0.1/"}, "returnOutputSchema": "y"},
    [],
    "get_request",
    {},
]


async def test_malformed_body_is_400(api):
    for body in BAD_BODIES:
        r = await api.client.post(call_path("http-client"), json=body, headers=api.master)
        api.expect_error(r, 400, "invalid_request")
    for content in (b"{", b'{"operation": "get_request",}', b"", b"\xff\xfe"):
        r = await api.client.post(
            call_path("http-client"),
            content=content,
            headers={**api.master, "Content-Type": "application/json"},
        )
        api.expect_error(r, 400)
    r = await api.client.post(
        call_path("http-client"),
        content=b'{"operation": "get_request", "input": {',
        headers={**api.master, "Content-Type": "application/json"},
    )
    api.expect_error(r, 400, "malformed_json")
    assert await billed(api) == 0


async def test_unknown_connector_version_or_operation_is_404(api):
    good = {"url": "http://127.0.0.1/"}
    r = await call(api, api.master, "get_request", good, connector="nope")
    api.expect_error(r, 404, "connector_not_found")
    r = await call(api, api.master, "get_request", good, connector="http-client", version="9.0")
    api.expect_error(r, 404, "connector_not_found")
    r = await call(api, api.master, "fly_request", good, connector="http-client")
    api.expect_error(r, 404, "operation_not_found")
    assert await billed(api) == 0


async def test_authentications_are_the_callers_own(api, slack):
    good = {"channel": "C0000GENERAL", "text": "x"}
    _, alice, alice_auth = await slack_user(api, slack)
    _, bob, bob_auth = await slack_user(api, slack)
    org_auth = await api.create_auth(
        api.master, SLACK_OAUTH_ENV, {"access_token": USER_TOKEN}, userData={"base_url": slack.url}
    )
    cases = [
        (alice, str(uuid.uuid4())),  # no such authentication
        (alice, "not-a-uuid"),
        (alice, "x" * 300),
        (alice, bob_auth),  # another user's
        (bob, alice_auth),
        (api.master, alice_auth),  # the organisation may not use a user's
        (alice, org_auth),  # nor a user the organisation's
    ]
    for headers, auth_id in cases:
        r = await call(api, headers, "send_message", good, auth_id=auth_id)
        api.expect_error(r, 404, "authentication_not_found")
        assert USER_TOKEN not in r.text
    assert not slack.recorder.requests
    assert await billed(api) == 0
    # each may use their own
    for headers, auth_id in ((alice, alice_auth), (bob, bob_auth), (api.master, org_auth)):
        assert_success(await call(api, headers, "send_message", good, auth_id=auth_id))
    assert await billed(api) == 3


async def test_authentication_of_another_service_is_400(api, slack):
    _, headers = await api.new_user()
    http_auth = await api.create_auth(headers, TOKEN_ENVIRONMENT_ID, {"token": "abcdef-123456"})
    r = await call(
        api, headers, "send_message", {"channel": "C0000GENERAL", "text": "x"}, auth_id=http_auth
    )
    body = api.expect_error(r, 400, "authentication_service_mismatch")
    assert "abcdef-123456" not in r.text
    assert "slack" in body["message"]
    assert not slack.recorder.requests


async def test_slack_needs_an_authentication(api, slack):
    _, headers = await api.new_user()
    r = await call(api, headers, "send_message", {"channel": "C0000GENERAL", "text": "x"})
    api.expect_error(r, 400, "authentication_required")
    assert await billed(api) == 0


async def test_call_needs_a_valid_token(api, target):
    good = {"url": f"{target.url}/echo"}
    body = {"operation": "get_request", "input": good}
    r = await api.client.post(call_path("http-client"), json=body)
    api.expect_error(r, 401)
    r = await api.client.post(call_path("http-client"), json=body, headers=api.auth("pbu_nope"))
    api.expect_error(r, 401)

    user = await api.create_user()
    token = await api.user_token(user["id"])
    async with api.platform.db.session() as s:  # the token's two days are over
        await s.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    r = await api.client.post(call_path("http-client"), json=body, headers=api.auth(token))
    api.expect_error(r, 401, "token_expired")
    assert target.hits == []
    assert await billed(api) == 0


# -- Idempotency-Key -------------------------------------------------------------------------


async def test_idempotent_repeat_answers_the_stored_result(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    message = {"channel": "C0000GENERAL", "text": "once"}
    first = await call(api, headers, "send_message", message, auth_id=auth_id, key="k-1")
    assert_success(first)
    second = await call(api, headers, "send_message", message, auth_id=auth_id, key="k-1")
    assert second.status_code == 200
    assert second.json() == first.json()
    assert slack.state.calls["chat.postMessage"] == 1
    assert len(slack.state.messages) == 1
    assert await billed(api) == 1

    # the same key with another body is refused, and nothing is sent
    other = {"channel": "C0000GENERAL", "text": "twice"}
    r = await call(api, headers, "send_message", other, auth_id=auth_id, key="k-1")
    api.expect_error(r, 422, "idempotency_key_reused")
    r = await call(api, headers, "list_workspaces_ddl", {}, auth_id=auth_id, key="k-1")
    api.expect_error(r, 422, "idempotency_key_reused")
    assert slack.state.calls["chat.postMessage"] == 1
    assert await billed(api) == 1

    # another key is another call
    third = await call(api, headers, "send_message", message, auth_id=auth_id, key="k-2")
    assert_success(third)
    assert third.json()["output"]["ts"] != first.json()["output"]["ts"]
    assert slack.state.calls["chat.postMessage"] == 2
    assert await billed(api) == 2


async def test_idempotent_repeat_of_an_error_outcome(api, slack):
    _, headers, auth_id = await slack_user(api, slack)
    message = {"channel": "C0MISSING", "text": "x"}
    first = await call(api, headers, "send_message", message, auth_id=auth_id, key="err")
    assert_error_outcome(first, "api_error")
    second = await call(api, headers, "send_message", message, auth_id=auth_id, key="err")
    assert second.json() == first.json()
    assert slack.state.calls["chat.postMessage"] == 1
    assert await billed(api) == 1


async def test_idempotency_keys_are_per_caller(api, target):
    _, alice = await api.new_user()
    _, bob = await api.new_user()
    url = {"url": f"{target.url}/echo"}
    for headers in (alice, bob, api.master):
        r = await call(api, headers, "get_request", url, connector="http-client", key="shared")
        assert_success(r)
    assert len(target.hits) == 3
    for headers in (alice, bob, api.master):  # and each caller's repeat is a replay
        r = await call(api, headers, "get_request", url, connector="http-client", key="shared")
        assert_success(r)
    assert len(target.hits) == 3
    assert await billed(api) == 3


async def test_idempotency_key_length(api, target):
    url = {"url": f"{target.url}/echo"}
    r = await call(api, api.master, "get_request", url, connector="http-client", key="k" * 256)
    api.expect_error(r, 400, "invalid_idempotency_key")
    assert target.hits == []
    assert await billed(api) == 0
    r = await call(api, api.master, "get_request", url, connector="http-client", key="k" * 255)
    assert_success(r)
    assert await billed(api) == 1


# -- the in-flight cap --------------------------------------------------------------------


async def test_calls_over_the_in_flight_cap_are_429_and_not_billed(settings, make_api, target):
    async with make_api(settings.model_copy(update={"max_calls_in_flight": 2})) as api:
        _, headers = await api.new_user()
        await api.client.get("/core/v1/connectors", headers=headers)  # token verified, cached
        slow = {"url": f"{target.url}/slow"}
        keys = [f"slow-{i}" for i in range(5)]
        responses = await asyncio.gather(
            *(call(api, headers, "get_request", slow, connector="http-client", key=k) for k in keys)
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 429, 429, 429], [r.text for r in responses]
        for r in responses:
            if r.status_code == 200:
                assert assert_success(r)["response"]["body"] == {"slow": True}
            else:
                api.expect_error(r, 429, "too_many_calls_in_flight")
                assert int(r.headers["retry-after"]) >= 1
        assert len(target.hits) == 2  # the refused calls never went out
        assert await billed(api) == 2

        # a refused call's key was not used up: retried, it runs (the slots are free again)
        refused = next(k for k, r in zip(keys, responses, strict=True) if r.status_code == 429)
        r = await call(api, headers, "get_request", slow, connector="http-client", key=refused)
        assert_success(r)
        # an accepted call's key replays
        done, first = next((k, r) for k, r in zip(keys, responses, strict=True) if r.is_success)
        r = await call(api, headers, "get_request", slow, connector="http-client", key=done)
        assert r.json() == first.json()
        assert len(target.hits) == 3
        assert await billed(api) == 3


# -- the outbound guard through the API --------------------------------------------------


async def test_outbound_guard_refuses_loopback(settings, make_api, target):
    async with make_api(settings.model_copy(update={"outbound_allow": ""})) as api:
        r = await call(
            api, api.master, "get_request", {"url": f"{target.url}/echo"}, connector="http-client"
        )
        output = assert_error_outcome(r, "connector_error")
        assert output["response"] is None
        assert "refused" in output["message"]
        assert "127.0.0.1" in output["message"]
        assert target.hits == []


@pytest.fixture
def blocked_target() -> Iterator[Target]:
    """A server on 127.0.0.2, outside the allowed 127.0.0.1/32."""
    hits: list[str] = []
    with serve_in_thread(target_app(hits), host="127.0.0.2") as url:
        yield Target(url, hits)


@pytest.mark.parametrize("where", ["blocked-server", "metadata"])
async def test_redirect_to_a_blocked_host_is_refused(settings, make_api, blocked_target, where):
    to = (
        f"{blocked_target.url}/echo"
        if where == "blocked-server"
        else "http://169.254.169.254/latest/meta-data/"
    )
    hits: list[str] = []

    async def go(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse(to, status_code=302)

    with serve_in_thread(target_app(hits, **{"/go": go})) as allowed:
        async with make_api(settings.model_copy(update={"outbound_allow": "127.0.0.1/32"})) as api:
            # the allowed host itself answers
            r = await call(
                api, api.master, "get_request", {"url": f"{allowed}/echo"}, connector="http-client"
            )
            assert assert_success(r)["response"]["status_code"] == 200
            # but its redirect to a blocked host is not followed
            r = await call(
                api, api.master, "get_request", {"url": f"{allowed}/go"}, connector="http-client"
            )
            output = assert_error_outcome(r, "connector_error")
            assert "refused" in output["message"]
            assert ("127.0.0.2" if where == "blocked-server" else "169.254.169.254") in output[
                "message"
            ]
    assert hits == ["/echo", "/go"]
    assert blocked_target.hits == []


async def test_outbound_guard_covers_an_authentications_base_url(settings, make_api, slack):
    """An end user cannot point a connector at an internal address through userData."""
    async with make_api(settings.model_copy(update={"outbound_allow": ""})) as api:
        _, headers, auth_id = await slack_user(api, slack)
        r = await call(
            api, headers, "send_message", {"channel": "C0000GENERAL", "text": "x"}, auth_id=auth_id
        )
        output = assert_error_outcome(r, "connector_error")
        assert "refused" in output["message"]
        assert USER_TOKEN not in r.text
    assert not slack.recorder.requests


async def test_an_idempotent_answer_is_kept_sealed_and_rotated(api):
    """The answer kept for replay may echo the credential (here the Authorization header a
    service answered back): stored encrypted, replayed as it was, re-encrypted by a key
    rotation."""
    hits: list[str] = []

    async def echo_authorization(request: Request) -> Response:
        hits.append(request.url.path)
        return JSONResponse({"you_sent": request.headers.get("authorization")})

    auth_id = await api.create_auth(api.master, TOKEN_ENVIRONMENT_ID, {"token": "s3cret-idem"})
    with serve_in_thread(target_app(hits, **{"/echo-authorization": echo_authorization})) as url:
        input = {"url": f"{url}/echo-authorization"}
        args = {"auth_id": auth_id, "connector": "http-client", "key": "sealed"}
        first = await call(api, api.master, "get_request", input, **args)
        assert_success(first)
        assert "Bearer s3cret-idem" in first.text  # the caller's own answer

        async def stored() -> str:
            async with api.platform.db.session() as s:
                rows = await s.execute(text("SELECT response FROM idempotency_keys"))
                return str([row[0] for row in rows])

        kept = await stored()
        assert "s3cret-idem" not in kept and "$sealed" in kept
        second = await call(api, api.master, "get_request", input, **args)
        assert second.json() == first.json()

        report = await rotate(api.platform.db, api.platform.keyring)
        assert report.rotated == 2  # the authentication and the kept answer
        assert await stored() != kept
        third = await call(api, api.master, "get_request", input, **args)
        assert third.json() == first.json()
    assert hits == ["/echo-authorization"]


@pytest.mark.parametrize(
    ("answer", "follow", "outcome"),
    [
        (b'Content-Disposition: attachment; filename="caf\xc3\xa9.pdf"', True, "success"),
        (b"Location: http:\\\\host\\path", True, "error"),
        (b"Location: http:\\\\host\\path", False, "error"),
    ],
)
async def test_an_odd_response_is_never_a_500(api, answer, follow, outcome):
    """A non-ASCII header byte or a malformed Location from the service: Call Connector
    answers 200 with the operation's outcome."""
    status = b"302 Found" if answer.startswith(b"Location") else b"200 OK"
    raw = b"HTTP/1.1 " + status + b"\r\n" + answer + b"\r\nContent-Length: 0\r\n\r\n"
    async with raw_server({"/odd": raw}) as url:
        input = {"url": f"{url}/odd", "follow_redirects": follow}
        r = await call(api, api.master, "get_request", input, connector="http-client")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == outcome, r.text
