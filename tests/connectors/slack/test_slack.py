"""The Slack connector, run through the real SDK path against the loopback Slack fake."""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

import httpx
import jsonschema
import pytest

from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid
from patchbay.connectors.slack import connector as slack_connector
from patchbay.connectors.slack.connector import CONNECTORS, SLACK
from patchbay.connectors.slack.fake import Channel, FakeSlack, Token, create_app
from patchbay.connectors.slack.operations import MAX_PAGES, PAGE_LIMIT
from patchbay.testing import connectors as testing
from patchbay.testing.connectors import make_call
from patchbay.testing.fakeserver import serve_in_thread

BOT = FakeSlack.bot_token
USER = FakeSlack.user_token
ORG = FakeSlack.org_token


@pytest.fixture
def slack(request: pytest.FixtureRequest) -> FakeSlack:
    """The fake's state; parametrize indirectly with FakeSlack's keyword arguments."""
    return FakeSlack(**getattr(request, "param", {}))


@pytest.fixture
def slack_url(slack: FakeSlack):
    with serve_in_thread(create_app(slack)) as url:
        yield url + "/api"


@pytest.fixture
def call(slack_url: str, clients: HttpClientPool):
    run = make_call(SLACK, clients, user_data={"base_url": slack_url})

    async def call(
        name: str, data: dict[str, Any], *, token: str = BOT, validate: bool = True
    ) -> CallResult:
        return await run(name, data, credentials={"access_token": token}, validate=validate)

    return call


assert_output_valid = partial(testing.assert_output_valid, SLACK)


def assert_error(result: CallResult, kind: str, code: str, status: int = 200) -> dict[str, Any]:
    assert result.outcome == "error", result.output
    output = result.output
    assert output["kind"] == kind
    assert output["code"] == code
    assert code in output["message"]
    assert output["response"]["statusCode"] == status
    assert output["response"]["body"]["ok"] is False
    assert output["response"]["body"]["error"] == code
    return output


def channels(n: int, *, team: str = "T0PATCHBAY", archived=(), private=()) -> list[Channel]:
    return [
        Channel(
            f"C{i:06d}", f"chan-{i:03d}", team, is_private=i in private, is_archived=i in archived
        )
        for i in range(n)
    ]


# -- the declaration ----------------------------------------------------------------------


def test_declaration() -> None:
    assert CONNECTORS == [SLACK]
    assert SLACK.to_api() == {
        "name": "slack",
        "title": "Slack",
        "description": SLACK.description,
        "version": "1.0",
        "service": {"id": "6f1b4c2e-9d3a-4e57-8a1b-2c3d4e5f6a70", "name": "slack", "version": 1},
    }
    oauth, token = (env.to_api() for env in SLACK.environments)
    assert (oauth["id"], oauth["authenticationType"]) == (
        "0b6c8f52-3e1d-4d0a-9f3e-5a7b8c9d0e11",
        "oauth2",
    )
    assert (token["id"], token["authenticationType"]) == (
        "0b6c8f52-3e1d-4d0a-9f3e-5a7b8c9d0e12",
        "token",
    )
    assert [s["scope"] for s in oauth["scopes"]] == [
        "chat:write",
        "reminders:write",
        "channels:read",
        "groups:read",
        "users:read",
        "users:read.email",
        "team:read",
    ]
    assert all(s["description"] for s in oauth["scopes"])
    for env in (oauth, token):
        assert env["credentialsSchema"]["required"] == ["access_token"]
        assert env["userDataSchema"]["properties"]["base_url"]["format"] == "uri"
        jsonschema.Draft4Validator.check_schema(env["credentialsSchema"])
    assert {"refresh_token", "expires_at"} <= set(oauth["credentialsSchema"]["properties"])
    assert [op.name for op in SLACK.operations] == [
        "send_message",
        "send_reminder",
        "list_channels_ddl",
        "list_workspaces_ddl",
        "lookup_user_by_email",
        "raw_http_request",
    ]


def test_send_message_schema() -> None:
    schema = SLACK.operation("send_message").input_schema
    assert schema["required"] == ["channel"]
    assert schema["additionalProperties"] is False
    assert schema["advanced"] == ["thread_ts", "username", "icon_emoji", "unfurl_links", "mrkdwn"]
    assert schema["properties"]["workspace_id"]["lookup"] == {
        "message": "list_workspaces_ddl",
        "input": {},
    }
    assert schema["properties"]["channel"]["lookup"] == {
        "message": "list_channels_ddl",
        "input": {"include_private_channels": False, "workspace_id": "{{{workspace_id}}}"},
    }
    assert schema["anyOf"] == [{"required": ["text"]}, {"required": ["blocks"]}]
    for operation in SLACK.operations:
        jsonschema.Draft4Validator.check_schema(operation.input_schema)
        assert operation.output_schema["type"] == "object"


# -- send_message -------------------------------------------------------------------------


async def test_send_message(call, slack: FakeSlack) -> None:
    result = await call("send_message", {"channel": "C0000GENERAL", "text": "Hello"})
    output = assert_output_valid("send_message", result)
    assert output["ok"] is True
    assert output["channel"] == "C0000GENERAL"
    assert output["message"]["text"] == "Hello"
    assert output["message"]["ts"] == output["ts"]
    assert slack.messages[-1]["text"] == "Hello"
    assert slack.calls_to("chat.postMessage") == [{"channel": "C0000GENERAL", "text": "Hello"}]


async def test_send_message_blocks_and_advanced_fields(call, slack: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = await call("send_message", {"channel": "C0000RANDOM0", "text": "parent"})
    result = await call(
        "send_message",
        {
            "workspace_id": "T0PATCHBAY",
            "channel": "C0000RANDOM0",
            "blocks": blocks,
            "thread_ts": first.output["ts"],
            "username": "Patchbay bot",
            "icon_emoji": ":robot_face:",
            "unfurl_links": False,
            "mrkdwn": True,
        },
    )
    output = assert_output_valid("send_message", result)
    assert output["message"]["blocks"] == blocks
    assert output["message"]["thread_ts"] == first.output["ts"]
    sent = slack.calls_to("chat.postMessage")[-1]
    assert "workspace_id" not in sent and "text" not in sent
    assert sent["unfurl_links"] is False and sent["username"] == "Patchbay bot"


async def test_send_message_needs_text_or_blocks(call, slack: FakeSlack) -> None:
    with pytest.raises(InputInvalid) as caught:
        await call("send_message", {"channel": "C0000GENERAL"})
    assert caught.value.message == (
        "Connector input validation failed. Schema validation errors:\n"
        "[ 1 - #: no subschema matched out of the total 2 subschemas ]"
    )
    # Without schema validation the handler still refuses, before calling Slack.
    result = await call("send_message", {"channel": "C0000GENERAL", "text": ""}, validate=False)
    assert result.outcome == "error"
    assert result.output["kind"] == "connector_error"
    assert "text or blocks" in result.output["message"]
    assert slack.calls["chat.postMessage"] == 0


async def test_input_violating_the_schema(call) -> None:
    with pytest.raises(InputInvalid) as caught:
        await call("send_message", {"text": "hi"})
    assert caught.value.message == (
        "Connector input validation failed. Schema validation errors:\n"
        "[ 1 - #: required key [channel] not found ]"
    )
    with pytest.raises(InputInvalid) as caught:
        await call("send_message", {"channel": 42, "text": "hi", "colour": "red"})
    assert caught.value.errors == [
        "#: extraneous key [colour] is not permitted",
        "#/channel: expected type: String, found: Integer",
    ]


async def test_channel_not_found(call) -> None:
    result = await call("send_message", {"channel": "C404", "text": "hi"})
    output = assert_error(result, "api_error", "channel_not_found")
    assert output["response"]["body"] == {"ok": False, "error": "channel_not_found"}
    assert output["message"].startswith("Slack chat.postMessage failed: channel_not_found")


async def test_archived_channel(call, slack: FakeSlack) -> None:
    slack.channels["C0000RANDOM0"].is_archived = True
    result = await call("send_message", {"channel": "C0000RANDOM0", "text": "hi"})
    assert_error(result, "api_error", "not_in_channel")


@pytest.mark.parametrize(
    ("setup", "token", "code"),
    [
        (None, "xoxb-unknown", "invalid_auth"),
        (None, "", "not_authed"),
        ("revoke", BOT, "token_revoked"),
        ("expire", BOT, "token_expired"),
    ],
)
async def test_auth_errors(call, slack: FakeSlack, setup, token, code) -> None:
    if setup:
        getattr(slack, setup)(token)
    result = await call("send_message", {"channel": "C0000GENERAL", "text": "hi"}, token=token)
    assert_error(result, "auth_error", code)


async def test_missing_scope(call, slack: FakeSlack) -> None:
    slack.add_token("xoxb-narrow", scopes=["users:read"])
    result = await call(
        "send_message", {"channel": "C0000GENERAL", "text": "x"}, token="xoxb-narrow"
    )
    output = assert_error(result, "auth_error", "missing_scope")
    assert "needed: chat:write" in output["message"]
    assert "provided: users:read" in output["message"]


async def test_rate_limited(call, slack: FakeSlack) -> None:
    slack.rate_limit_next(1, retry_after=7)
    result = await call("send_message", {"channel": "C0000GENERAL", "text": "hi"})
    output = assert_error(result, "rate_limited", "ratelimited", status=429)
    assert output["retryAfter"] == 7.0
    assert output["response"]["headers"]["retry-after"] == "7"
    # Only the next call was limited.
    assert_output_valid(
        "send_message", await call("send_message", {"channel": "C0000GENERAL", "text": "hi"})
    )


# -- send_reminder ------------------------------------------------------------------------


async def test_send_reminder(call, slack: FakeSlack) -> None:
    result = await call("send_reminder", {"text": "Stand-up", "time": "in 15 minutes"}, token=USER)
    output = assert_output_valid("send_reminder", result)
    reminder = output["reminder"]
    assert (reminder["text"], reminder["user"], reminder["recurring"]) == (
        "Stand-up",
        "U0ALICE",
        False,
    )
    assert slack.reminders == [reminder]


async def test_send_reminder_recurring_for_another_user(call, slack: FakeSlack) -> None:
    data = {
        "workspace_id": "T0PATCHBAY",
        "text": "Timesheets",
        "time": "1900000000",
        "user": "U0BOB",
        "recurrence": {"frequency": "weekly", "weekdays": ["friday"]},
    }
    output = assert_output_valid("send_reminder", await call("send_reminder", data, token=USER))
    assert output["reminder"]["user"] == "U0BOB"
    assert output["reminder"]["recurrence"] == {"frequency": "weekly", "weekdays": ["friday"]}
    sent = slack.calls_to("reminders.add")[-1]
    assert sent["team_id"] == "T0PATCHBAY" and "workspace_id" not in sent


async def test_send_reminder_errors(call, slack: FakeSlack) -> None:
    result = await call("send_reminder", {"text": "x", "time": "whenever"}, token=USER)
    assert_error(result, "api_error", "cannot_parse")
    # reminders.add takes user tokens only.
    slack.add_token("xoxb-all-scopes")
    result = await call("send_reminder", {"text": "x", "time": "20"}, token="xoxb-all-scopes")
    assert_error(result, "auth_error", "not_allowed_token_type")
    with pytest.raises(InputInvalid, match=r"required key \[time\] not found"):
        await call("send_reminder", {"text": "x"}, token=USER)


# -- list_channels_ddl ----------------------------------------------------------------------


async def test_list_channels(call, slack: FakeSlack) -> None:
    output = assert_output_valid("list_channels_ddl", await call("list_channels_ddl", {}))
    expected = [
        {"text": f"#{c.name}", "value": c.id}
        for c in slack.ordered_channels()
        if c.team_id == "T0PATCHBAY" and not c.is_private and not c.is_archived
    ]
    assert output["result"] == expected
    assert {"text": "#general", "value": "C0000GENERAL"} in expected
    (sent,) = slack.calls_to("conversations.list")
    assert sent == {"types": "public_channel", "exclude_archived": "true", "limit": "200"}


async def test_list_channels_private_and_workspace(call, slack: FakeSlack) -> None:
    data = {"include_private_channels": True, "workspace_id": "T0PATCHBAY"}
    output = assert_output_valid("list_channels_ddl", await call("list_channels_ddl", data))
    values = {item["value"] for item in output["result"]}
    assert "C0000007AB" in values  # private
    assert "C0000011AB" not in values  # archived
    sent = slack.calls_to("conversations.list")[-1]
    assert sent["types"] == "public_channel,private_channel"
    assert sent["team_id"] == "T0PATCHBAY"
    # An unfilled lookup template renders "": no workspace filter then.
    await call("list_channels_ddl", {"workspace_id": ""})
    assert "team_id" not in slack.calls_to("conversations.list")[-1]


@pytest.mark.parametrize(
    "slack", [{"channels": channels(450, archived=range(200, 260))}], indirect=True
)
async def test_list_channels_follows_cursors_past_short_pages(call, slack: FakeSlack) -> None:
    # Slack applies `limit` before dropping archived channels, so page 2 comes back short.
    output = assert_output_valid("list_channels_ddl", await call("list_channels_ddl", {}))
    assert [item["value"] for item in output["result"]] == [
        f"C{i:06d}" for i in range(450) if not 200 <= i < 260
    ]
    pages = slack.calls_to("conversations.list")
    assert len(pages) == 3
    assert "cursor" not in pages[0]
    assert pages[1]["cursor"] and pages[2]["cursor"] and pages[1]["cursor"] != pages[2]["cursor"]
    assert all(page["limit"] == str(PAGE_LIMIT) for page in pages)


@pytest.mark.parametrize(
    "slack", [{"channels": channels(30, archived=range(10, 20))}], indirect=True
)
async def test_list_channels_empty_page_mid_list(call, slack: FakeSlack) -> None:
    slack.page_size_cap = 10  # Slack may return fewer than `limit`; here page 2 is empty
    output = assert_output_valid("list_channels_ddl", await call("list_channels_ddl", {}))
    assert [item["value"] for item in output["result"]] == [
        f"C{i:06d}" for i in (*range(10), *range(20, 30))
    ]
    assert len(slack.calls_to("conversations.list")) == 3


async def test_list_channels_pages_are_bounded(call, slack: FakeSlack) -> None:
    slack.page_size_cap = 1
    output = assert_output_valid("list_channels_ddl", await call("list_channels_ddl", {}))
    assert len(slack.calls_to("conversations.list")) == MAX_PAGES
    assert len(output["result"]) <= MAX_PAGES


async def test_list_channels_rate_limited(call, slack: FakeSlack) -> None:
    # A Retry-After longer than the SDK waits for ends the call, surfacing it.
    slack.rate_limit_next(1, retry_after=30, method="conversations.list")
    result = await call("list_channels_ddl", {})
    assert assert_error(result, "rate_limited", "ratelimited", status=429)["retryAfter"] == 30.0


async def test_list_channels_retried_after_a_short_rate_limit(call, slack: FakeSlack) -> None:
    before = len(slack.calls_to("conversations.list"))
    slack.rate_limit_next(1, retry_after=0, method="conversations.list")
    output = assert_output_valid("list_channels_ddl", await call("list_channels_ddl", {}))
    assert output["result"]
    assert len(slack.calls_to("conversations.list")) - before >= 2  # the 429, then pages


# -- list_workspaces_ddl --------------------------------------------------------------------


async def test_list_workspaces(call, slack: FakeSlack) -> None:
    output = assert_output_valid("list_workspaces_ddl", await call("list_workspaces_ddl", {}))
    assert output == {"result": [{"text": "Patchbay", "value": "T0PATCHBAY"}]}
    output = assert_output_valid(
        "list_workspaces_ddl", await call("list_workspaces_ddl", {}, token=ORG)
    )
    assert output == {
        "result": [
            {"text": "Patchbay", "value": "T0PATCHBAY"},
            {"text": "Patchbay Sister", "value": "T0SISTER01"},
        ]
    }


async def test_list_workspaces_falls_back_to_auth_test(call, slack: FakeSlack) -> None:
    slack.disabled_methods.add("auth.teams.list")
    output = assert_output_valid("list_workspaces_ddl", await call("list_workspaces_ddl", {}))
    assert output == {"result": [{"text": "Patchbay", "value": "T0PATCHBAY"}]}
    assert slack.calls["auth.teams.list"] == 1 and slack.calls["auth.test"] == 1


async def test_list_workspaces_does_not_hide_auth_errors(call, slack: FakeSlack) -> None:
    slack.revoke(BOT)
    assert_error(await call("list_workspaces_ddl", {}), "auth_error", "token_revoked")
    assert slack.calls["auth.test"] == 0


# -- lookup_user_by_email -------------------------------------------------------------------


async def test_lookup_user_by_email(call) -> None:
    result = await call("lookup_user_by_email", {"email": "Bob@example.com"})
    output = assert_output_valid("lookup_user_by_email", result)
    assert output["user"]["id"] == "U0BOB"
    assert output["user"]["profile"]["email"] == "bob@example.com"


async def test_lookup_user_by_email_errors(call) -> None:
    result = await call("lookup_user_by_email", {"email": "nobody@example.com"})
    assert_error(result, "api_error", "users_not_found")
    with pytest.raises(InputInvalid) as caught:
        await call("lookup_user_by_email", {"email": "not-an-email"})
    assert caught.value.errors == ["#/email: [not-an-email] is not a valid email address"]


# -- the fake's wire format -----------------------------------------------------------------


async def test_fake_wire_format(slack: FakeSlack, slack_url: str) -> None:
    auth = {"Authorization": f"Bearer {BOT}"}
    async with httpx.AsyncClient(base_url=slack_url + "/") as http:
        # Unknown methods are 404s.
        response = await http.post("no.suchMethod", headers=auth)
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error": "unknown_method"}
        # A token in a JSON body does not count; form bodies work with the header.
        response = await http.post("auth.test", json={"token": BOT})
        assert response.json() == {"ok": False, "error": "not_authed"}
        response = await http.post(
            "chat.postMessage", data={"channel": "general", "text": "form"}, headers=auth
        )
        assert response.json()["channel"] == "C0000GENERAL"
        response = await http.post("chat.postMessage", json={"channel": "general"}, headers=auth)
        assert response.json() == {"ok": False, "error": "no_text"}
        response = await http.get("conversations.list", params={"cursor": "%%%"}, headers=auth)
        assert response.json() == {"ok": False, "error": "invalid_cursor"}


@pytest.mark.parametrize("slack", [{"channels": channels(150, archived=[3])}], indirect=True)
async def test_fake_conversations_list_paging(slack: FakeSlack, slack_url: str) -> None:
    auth = {"Authorization": f"Bearer {BOT}"}
    async with httpx.AsyncClient(base_url=slack_url + "/", headers=auth) as http:
        # Default limit 100, an opaque base64 cursor, "" on the last page.
        page = (await http.get("conversations.list")).json()
        assert [c["id"] for c in page["channels"]] == [f"C{i:06d}" for i in range(100)]
        cursor = page["response_metadata"]["next_cursor"]
        assert base64.b64decode(cursor)
        page = (await http.get("conversations.list", params={"cursor": cursor})).json()
        assert [c["id"] for c in page["channels"]] == [f"C{i:06d}" for i in range(100, 150)]
        assert page["response_metadata"]["next_cursor"] == ""
        # exclude_archived filters after the limit: a short page, not the end.
        params = {"limit": 4, "exclude_archived": "true"}
        page = (await http.get("conversations.list", params=params)).json()
        assert len(page["channels"]) == 3 and page["response_metadata"]["next_cursor"]
        # limit is capped at 1000.
        page = (await http.get("conversations.list", params={"limit": 5000})).json()
        assert len(page["channels"]) == 150
        # Rate limiting.
        slack.rate_limit_next(2, retry_after=3)
        for _ in range(2):
            response = await http.get("auth.test")
            assert response.status_code == 429
            assert response.headers["retry-after"] == "3"
            assert response.json() == {"ok": False, "error": "ratelimited"}
        assert (await http.get("auth.test")).json()["ok"] is True


def test_fake_message_log_is_bounded() -> None:
    state = FakeSlack(max_messages=5)
    state.tokens["xoxb-t"] = Token("T0PATCHBAY", "U0BOT", "bot", "B0BOT")
    info = state.tokens["xoxb-t"]
    for i in range(20):
        state.chat_post_message(info, {"channel": "C0000GENERAL", "text": str(i)})
    assert [m["text"] for m in state.messages] == ["15", "16", "17", "18", "19"]


def test_connector_module_exposes_connectors() -> None:
    assert slack_connector.CONNECTORS[0] is SLACK


async def test_raw_http_request_reaches_any_web_api_method(call, slack: FakeSlack) -> None:
    result = await call("raw_http_request", {"method": "GET", "url": "auth.test"})
    assert result.outcome == "success", result.output
    assert result.output["response"]["status_code"] == 200
    assert result.output["response"]["body"]["ok"] is True
