"""The Slack connector's operations: thin handlers over the Slack Web API.

Every call goes through :func:`call_slack`, which applies the authentication (via
``ctx.request``) and turns Slack's ``{"ok": false, "error": ...}`` answers, HTTP 429s and
other failures into one standardized :class:`~patchbay.connectors.sdk.ConnectorError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..sdk import ConnectorError, Context, field, lookup, operation, raw_http_request
from ..sdk.context import kind_for_status
from ..sdk.models import DDLOutput, OpenObject

# Slack's error codes that mean "the authentication is the problem".
AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "ekm_access_denied",
    }
)

# What Slack's error codes mean, in words (unknown codes are reported as they come).
ERROR_TEXT: dict[str, str] = {
    "not_authed": "no token was sent",
    "invalid_auth": "the token is not valid",
    "account_inactive": "the token belongs to a deleted user or workspace",
    "token_revoked": "the token has been revoked",
    "token_expired": "the token has expired; refresh it or authorize again",
    "missing_scope": "the token lacks a scope this method needs",
    "no_permission": "the token may not do this",
    "not_allowed_token_type": "this method does not accept this kind of token"
    " (reminders need a user token, xoxp-)",
    "ratelimited": "too many requests; Slack asks to slow down",
    "channel_not_found": "the channel does not exist or the app cannot see it",
    "not_in_channel": "the app is not a member of the channel",
    "is_archived": "the channel has been archived",
    "no_text": "a message needs text or blocks",
    "invalid_blocks": "the blocks are not valid Block Kit",
    "msg_too_long": "the message text is too long",
    "users_not_found": "no user has that email address",
    "user_not_found": "the user does not exist",
    "cannot_parse": "Slack could not understand the reminder time",
    "time_in_past": "the reminder time is in the past",
    "invalid_time": "the reminder time is missing or invalid",
    "invalid_cursor": "the pagination cursor is invalid",
    "team_access_not_granted": "the token cannot act in that workspace",
    "team_not_found": "the workspace does not exist",
    "unknown_method": "Slack does not know this API method",
    "invalid_arguments": "the request arguments are invalid",
}

# conversations.list / auth.teams.list: items per page, and a bound on pages followed.
PAGE_LIMIT = 200
MAX_PAGES = 50


def _error_message(method: str, error: str, body: dict[str, Any]) -> str:
    detail = ERROR_TEXT.get(error)
    message = f"Slack {method} failed: {error}" + (f" ({detail})" if detail else "")
    if error == "missing_scope":
        message += f"; needed: {body.get('needed') or '?'}, provided: {body.get('provided') or '?'}"
    metadata = body.get("response_metadata")
    notes = metadata.get("messages") if isinstance(metadata, dict) else None
    if isinstance(notes, list) and notes:
        message += "; " + "; ".join(str(note) for note in notes)
    return message


async def call_slack(
    ctx: Context,
    method: str,
    *,
    params: dict[str, Any] | None = None,
    json: dict[str, Any] | None = None,
    _retried: bool = False,
) -> dict[str, Any]:
    """Call a Web API method (POST with a JSON body when ``json`` is given, else GET) and
    return its body when ``ok``; raise a standardized error otherwise. Slack signals an
    expired (rotated) token with HTTP 200 ``token_expired``: the OAuth credentials are then
    refreshed once and the call tried again."""
    response = await ctx.request(
        "GET" if json is None else "POST",
        method,
        params=params,
        json=json,
        raise_for_status=False,
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, str) and error else None
    if error == "token_expired" and not _retried and await ctx.refresh_credentials():
        return await call_slack(ctx, method, params=params, json=json, _retried=True)
    status = response.status_code
    if status == 429 or error == "ratelimited":
        retry_after = response.headers.get("retry-after")
        message = _error_message(method, "ratelimited", body if isinstance(body, dict) else {})
        if retry_after:
            message += f"; retry after {retry_after} s"
        raise ctx.api_error(response, message, code="ratelimited", kind="rate_limited")
    if isinstance(body, dict) and body.get("ok") is True and response.is_success:
        return body
    kind = "auth_error" if error in AUTH_ERRORS else kind_for_status(status)
    if error is not None:
        raise ctx.api_error(response, _error_message(method, error, body), code=error, kind=kind)
    if not response.is_success:
        raise ctx.api_error(response, kind=kind)
    raise ctx.api_error(
        response, f"Slack {method} answered without a Slack API response", kind="api_error"
    )


async def paginate(
    ctx: Context, method: str, params: dict[str, Any], *, max_pages: int = MAX_PAGES
) -> AsyncIterator[dict[str, Any]]:
    """Each page of a cursor-paginated method. Slack's list ends only when
    ``response_metadata.next_cursor`` is empty or missing (a short page does not end it);
    at most ``max_pages`` pages are fetched."""
    params = dict(params)
    for _ in range(max_pages):
        body = await call_slack(ctx, method, params=params)
        yield body
        metadata = body.get("response_metadata")
        cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
        if not cursor:
            return
        params["cursor"] = cursor


# -- shared schema pieces ---------------------------------------------------------------

WORKSPACE_LOOKUP = lookup("list_workspaces_ddl", {}, legacy=True)
CHANNEL_LOOKUP = lookup(
    "list_channels_ddl",
    {"include_private_channels": False, "workspace_id": "{{{workspace_id}}}"},
    legacy=True,
)


def _workspace_field(description: str) -> Any:
    return field(None, title="Workspace", description=description, lookup=WORKSPACE_LOOKUP)


# -- send_message -------------------------------------------------------------------------


class SendMessageInput(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            # Slack needs text or blocks; say so in the schema so bad input is a 400.
            "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}]
        }
    )

    workspace_id: str | None = _workspace_field(
        "The workspace that has the channel (only used to list its channels)"
    )
    channel: str = field(
        title="Channel",
        description="The channel ID (or a user ID, for a direct message) to send to",
        lookup=CHANNEL_LOOKUP,
        min_length=1,
    )
    text: str | None = field(
        None,
        title="Text",
        description="The message text (mrkdwn). Required unless blocks are given, and then "
        "used as the notification fallback",
        format="text",
    )
    blocks: list[dict[str, Any]] | None = field(
        None,
        title="Blocks",
        description="Block Kit blocks (a JSON array of block objects). Required unless text "
        "is given",
        min_length=1,
    )
    thread_ts: str | None = field(
        None,
        title="Thread timestamp",
        description="The ts of the parent message, to reply in its thread",
        advanced=True,
    )
    username: str | None = field(
        None, title="Username", description="The bot's name for this message", advanced=True
    )
    icon_emoji: str | None = field(
        None,
        title="Icon emoji",
        description="An emoji to use as the bot's icon, e.g. :robot_face:",
        advanced=True,
    )
    unfurl_links: bool | None = field(
        None,
        title="Unfurl links",
        description="Whether to unfurl text-based content (Slack's default otherwise)",
        advanced=True,
    )
    mrkdwn: bool | None = field(
        None,
        title="Markdown",
        description="Whether Slack formats the text as mrkdwn (default true)",
        advanced=True,
    )


class SlackMessage(OpenObject):
    type: str = field(title="Type")
    subtype: str | None = field(None, title="Subtype")
    text: str = field(title="Text")
    ts: str = field(title="Timestamp")
    user: str | None = field(None, title="User")
    bot_id: str | None = field(None, title="Bot ID")
    app_id: str | None = field(None, title="App ID")
    username: str | None = field(None, title="Username")
    team: str | None = field(None, title="Team")
    thread_ts: str | None = field(None, title="Thread timestamp")
    blocks: list[dict[str, Any]] | None = field(None, title="Blocks")


class SendMessageOutput(OpenObject):
    ok: bool = field(title="OK")
    channel: str = field(title="Channel", description="The ID of the channel posted to")
    ts: str = field(title="Timestamp", description="The new message's ts (its ID)")
    message: SlackMessage = field(title="Message")


@operation(
    title="Send Message",
    description="Send a message to a user or channel (Slack chat.postMessage).",
    input=SendMessageInput,
    output=SendMessageOutput,
    auth_scopes=["chat:write"],
)
async def send_message(ctx: Context, data: SendMessageInput) -> dict[str, Any]:
    if not data.text and not data.blocks:
        raise ctx.fail("A Slack message needs text or blocks", "connector_error")
    payload = data.model_dump(exclude_none=True, exclude={"workspace_id"})
    return await call_slack(ctx, "chat.postMessage", json=payload)


# -- send_reminder ------------------------------------------------------------------------

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class Recurrence(BaseModel):
    frequency: Literal["daily", "weekly", "monthly", "yearly"] = field(
        title="Frequency", enum_labels=["Daily", "Weekly", "Monthly", "Yearly"]
    )
    weekdays: list[Weekday] | None = field(
        None, title="Weekdays", description="For a weekly reminder: the days it repeats on"
    )


class SendReminderInput(BaseModel):
    workspace_id: str | None = _workspace_field(
        "The workspace to create the reminder in (needed with an org-wide token)"
    )
    text: str = field(title="Text", description="The content of the reminder", min_length=1)
    time: str = field(
        title="Time",
        description="When this reminder should happen. Some examples that work: 1458678068, "
        "20, in 5 minutes, tomorrow, at 3:30pm, on Tuesday, or next week.",
        min_length=1,
    )
    user: str | None = field(
        None,
        title="User",
        description="The ID of the user who will receive the reminder (default: the user "
        "who authorized)",
    )
    recurrence: Recurrence | None = field(
        None, title="Recurrence", description="How the reminder repeats"
    )


class Reminder(OpenObject):
    id: str = field(title="ID")
    creator: str = field(title="Creator")
    user: str = field(title="User")
    text: str = field(title="Text")
    recurring: bool = field(title="Recurring")
    time: int | None = field(None, title="Time", description="Unix time it fires")
    complete_ts: int | None = field(None, title="Completed at")
    recurrence: Recurrence | None = field(None, title="Recurrence")


class SendReminderOutput(OpenObject):
    ok: bool = field(title="OK")
    reminder: Reminder = field(title="Reminder")


@operation(
    title="Send Reminder",
    description="Create a reminder for yourself or another user (Slack reminders.add). "
    "Needs a user token.",
    input=SendReminderInput,
    output=SendReminderOutput,
    auth_scopes=["reminders:write"],
)
async def send_reminder(ctx: Context, data: SendReminderInput) -> dict[str, Any]:
    payload = data.model_dump(exclude_none=True, exclude={"workspace_id"})
    if data.workspace_id:
        payload["team_id"] = data.workspace_id
    return await call_slack(ctx, "reminders.add", json=payload)


# -- list_channels_ddl --------------------------------------------------------------------


class ListChannelsInput(BaseModel):
    include_private_channels: bool = field(
        False,
        title="Include private channels",
        description="Also list the private channels the token can see",
    )
    workspace_id: str | None = _workspace_field(
        "The workspace whose channels to list (needed with an org-wide token)"
    )


@operation(
    title="List Channels DDL",
    description="The workspace's channels, for a drop-down (Slack conversations.list).",
    input=ListChannelsInput,
    output=DDLOutput,
    auth_scopes=["channels:read", "groups:read"],
)
async def list_channels_ddl(ctx: Context, data: ListChannelsInput) -> dict[str, Any]:
    types = "public_channel,private_channel" if data.include_private_channels else "public_channel"
    params: dict[str, Any] = {"types": types, "exclude_archived": "true", "limit": PAGE_LIMIT}
    if data.workspace_id:  # a lookup template renders "" when no workspace is chosen
        params["team_id"] = data.workspace_id
    result = [
        {"text": f"#{channel['name']}", "value": channel["id"]}
        async for page in paginate(ctx, "conversations.list", params)
        for channel in page.get("channels") or ()
    ]
    return {"result": result}


# -- list_workspaces_ddl ------------------------------------------------------------------


class ListWorkspacesInput(BaseModel):
    pass


@operation(
    title="List Workspaces DDL",
    description="The workspaces the token can access, for a drop-down (Slack "
    "auth.teams.list, or auth.test for a single-workspace token).",
    input=ListWorkspacesInput,
    output=DDLOutput,
    auth_scopes=["team:read"],
)
async def list_workspaces_ddl(ctx: Context, data: ListWorkspacesInput) -> dict[str, Any]:
    teams: list[dict[str, Any]] = []
    try:
        async for page in paginate(ctx, "auth.teams.list", {"limit": PAGE_LIMIT}):
            teams.extend(page.get("teams") or ())
    except ConnectorError as exc:
        if exc.kind != "api_error":  # bad token or rate limited: no point falling back
            raise
        teams = []
    if not teams:  # not available for this token: the token's own workspace
        me = await call_slack(ctx, "auth.test")
        name = me.get("team")
        if not name:
            info = await call_slack(ctx, "team.info", params={"team": me["team_id"]})
            name = info["team"]["name"]
        teams = [{"id": me["team_id"], "name": name}]
    return {"result": [{"text": t.get("name") or t["id"], "value": t["id"]} for t in teams]}


# -- lookup_user_by_email -----------------------------------------------------------------


class LookupUserByEmailInput(BaseModel):
    email: str = field(
        title="Email", description="The email address of a user in the workspace", format="email"
    )


class UserProfile(OpenObject):
    email: str | None = field(None, title="Email")
    real_name: str | None = field(None, title="Real name")
    display_name: str | None = field(None, title="Display name")


class SlackUser(OpenObject):
    id: str = field(title="ID")
    team_id: str | None = field(None, title="Team ID")
    name: str = field(title="Name")
    deleted: bool | None = field(None, title="Deleted")
    real_name: str | None = field(None, title="Real name")
    tz: str | None = field(None, title="Time zone")
    is_bot: bool | None = field(None, title="Is bot")
    is_admin: bool | None = field(None, title="Is admin")
    profile: UserProfile | None = field(None, title="Profile")


class LookupUserByEmailOutput(OpenObject):
    ok: bool = field(title="OK")
    user: SlackUser = field(title="User")


@operation(
    title="Lookup User By Email",
    description="Find a user by their email address (Slack users.lookupByEmail).",
    input=LookupUserByEmailInput,
    output=LookupUserByEmailOutput,
    auth_scopes=["users:read", "users:read.email"],
)
async def lookup_user_by_email(ctx: Context, data: LookupUserByEmailInput) -> dict[str, Any]:
    return await call_slack(ctx, "users.lookupByEmail", params={"email": data.email})


OPERATIONS = [
    send_message,
    send_reminder,
    list_channels_ddl,
    list_workspaces_ddl,
    lookup_user_by_email,
    raw_http_request(),  # any Web API method, e.g. url "conversations.history"
]
