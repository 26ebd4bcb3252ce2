"""A loopback fake of the Slack Web API, for tests and benchmarks.

It reproduces the wire format the connector relies on (see ``services.md``): methods live
at ``/api/{method}`` (so a connector's base URL is ``<fake>/api``), every answer carries
``ok``, failures are HTTP 200 ``{"ok": false, "error": ...}``, rate limiting is HTTP 429
with ``Retry-After``, and ``conversations.list`` pages with opaque cursors.

    state = FakeSlack()
    with serve_in_thread(create_app(state)) as url:
        ...  # base_url = url + "/api", token = state.bot_token

Everything is in memory and the hot path (``chat.postMessage``) does a couple of dict
lookups, builds one message dict and appends it to a bounded deque.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import json
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.routing import Route

JSONDict = dict[str, Any]

# The scope each method needs (None: any valid token will do).
METHOD_SCOPES: dict[str, str | None] = {
    "api.test": None,
    "auth.test": None,
    "auth.teams.list": None,
    "chat.postMessage": "chat:write",
    "conversations.list": "channels:read",
    "reminders.add": "reminders:write",
    "team.info": "team:read",
    "users.lookupByEmail": "users:read.email",
}

ALL_SCOPES = frozenset(
    {
        "chat:write",
        "reminders:write",
        "channels:read",
        "groups:read",
        "users:read",
        "users:read.email",
        "team:read",
    }
)
BOT_SCOPES = ALL_SCOPES - {"reminders:write"}

CHANNEL_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass
class Team:
    id: str
    name: str
    domain: str

    def to_api(self) -> JSONDict:
        return {"id": self.id, "name": self.name, "domain": self.domain}


@dataclass
class Channel:
    id: str
    name: str
    team_id: str
    is_private: bool = False
    is_archived: bool = False
    created: int = 1_600_000_000

    def to_api(self) -> JSONDict:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "created": self.created,
            "context_team_id": self.team_id,
            "name_normalized": self.name,
            "num_members": 3,
        }


@dataclass
class User:
    id: str
    name: str
    team_id: str
    email: str | None = None
    real_name: str = ""
    is_bot: bool = False

    def to_api(self) -> JSONDict:
        profile: JSONDict = {
            "real_name": self.real_name or self.name,
            "display_name": self.name,
        }
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name or self.name,
            "is_bot": self.is_bot,
            "is_admin": False,
            "tz": "Europe/London",
            "profile": profile,
        }


@dataclass
class Token:
    """What a token stands for. ``kind`` is "bot" (xoxb) or "user" (xoxp)."""

    team_id: str
    user_id: str
    kind: str = "bot"
    bot_id: str | None = None
    scopes: frozenset[str] = ALL_SCOPES
    org_wide: bool = False
    status: str = "active"  # active | revoked | expired | inactive


class SlackError(Exception):
    def __init__(self, error: str, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


@dataclass
class _RateLimit:
    remaining: int
    retry_after: int
    method: str | None


def _default_teams() -> list[Team]:
    return [
        Team("T0PATCHBAY", "Patchbay", "patchbay"),
        Team("T0SISTER01", "Patchbay Sister", "patchbay-sister"),
    ]


def _default_channels() -> list[Channel]:
    main = "T0PATCHBAY"
    channels = [Channel("C0000GENERAL", "general", main), Channel("C0000RANDOM0", "random", main)]
    for i in range(1, 59):  # a few dozen, some private, some archived
        channels.append(
            Channel(
                f"C{i:07d}AB",
                f"project-{i:02d}",
                main,
                is_private=i % 7 == 0,
                is_archived=i % 11 == 0,
            )
        )
    channels.append(Channel("C0SISTERGEN", "general", "T0SISTER01"))
    channels.append(Channel("C0SISTERENG", "engineering", "T0SISTER01"))
    return channels


def _default_users() -> list[User]:
    return [
        User("U0ALICE", "alice", "T0PATCHBAY", "alice@example.com", "Alice Example"),
        User("U0BOB", "bob", "T0PATCHBAY", "bob@example.com", "Bob Example"),
        User("U0BOT", "patchbay", "T0PATCHBAY", None, "Patchbay", is_bot=True),
        User("U0CAROL", "carol", "T0SISTER01", "carol@example.com", "Carol Example"),
    ]


class FakeSlack:
    """The fake's whole state, plus knobs for tests.

    Default tokens: ``bot_token`` (xoxb, workspace T0PATCHBAY, all bot scopes),
    ``user_token`` (xoxp, same workspace, all scopes incl. reminders:write) and
    ``org_token`` (xoxb, org-wide: ``auth.teams.list`` returns every team).
    """

    bot_token = "xoxb-fake-bot-token"
    user_token = "xoxp-fake-user-token"
    org_token = "xoxb-fake-org-token"

    def __init__(
        self,
        *,
        teams: Iterable[Team] | None = None,
        channels: Iterable[Channel] | None = None,
        users: Iterable[User] | None = None,
        tokens: dict[str, Token] | None = None,
        max_messages: int = 1000,
        max_log: int = 1000,
    ) -> None:
        self.teams: dict[str, Team] = {t.id: t for t in (teams or _default_teams())}
        self.users: dict[str, User] = {}
        self._by_email: dict[str, User] = {}
        for user in users if users is not None else _default_users():
            self.add_user(user)
        self.channels: dict[str, Channel] = {}
        self._by_name: dict[tuple[str, str], Channel] = {}
        self._ordered: list[Channel] = []
        self._ordered_dirty = False
        for channel in channels if channels is not None else _default_channels():
            self.add_channel(channel)
        first_team = next(iter(self.teams))
        self.tokens: dict[str, Token] = (
            tokens
            if tokens is not None
            else {
                self.bot_token: Token(first_team, "U0BOT", "bot", "B0BOT", BOT_SCOPES),
                self.user_token: Token(first_team, "U0ALICE", "user"),
                self.org_token: Token(first_team, "U0BOT", "bot", "B0BOT", BOT_SCOPES, True),
            }
        )
        self.messages: deque[JSONDict] = deque(maxlen=max_messages)
        self.reminders: list[JSONDict] = []
        self.calls: Counter[str] = Counter()
        self.log: deque[tuple[str, JSONDict]] = deque(maxlen=max_log)
        # Knobs.
        self.page_size_cap: int | None = None  # Slack may return fewer than `limit`
        self.disabled_methods: set[str] = set()  # answer 404 unknown_method
        # Tokens not in `tokens` are asked of this callback (e.g. backed by an OAuth
        # provider fake): it answers the Token they stand for, a Slack error code
        # ("token_expired", "token_revoked", ...) or None (invalid_auth).
        self.token_validator: Callable[[str], Token | str | None] | None = None
        self._rate_limits: deque[_RateLimit] = deque()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)

    # -- state helpers --------------------------------------------------------------
    def add_channel(self, channel: Channel) -> Channel:
        self.channels[channel.id] = channel
        self._by_name[(channel.team_id, channel.name)] = channel
        self._ordered_dirty = True
        return channel

    def ordered_channels(self) -> list[Channel]:
        """Channels sorted by id: a cursor means "from the first id at or after X"."""
        if self._ordered_dirty:
            self._ordered = sorted(self.channels.values(), key=lambda c: c.id)
            self._ordered_dirty = False
        return self._ordered

    def add_user(self, user: User) -> User:
        self.users[user.id] = user
        if user.email:
            self._by_email[user.email.lower()] = user
        return user

    def add_token(
        self,
        token: str,
        *,
        team_id: str | None = None,
        user_id: str = "U0BOT",
        kind: str = "bot",
        scopes: Iterable[str] | None = None,
        org_wide: bool = False,
    ) -> Token:
        info = Token(
            team_id or next(iter(self.teams)),
            user_id,
            kind,
            "B0BOT" if kind == "bot" else None,
            frozenset(scopes) if scopes is not None else ALL_SCOPES,
            org_wide,
        )
        self.tokens[token] = info
        return info

    def revoke(self, token: str) -> None:
        self.tokens[token].status = "revoked"

    def expire(self, token: str) -> None:
        self.tokens[token].status = "expired"

    def rate_limit_next(
        self, n: int = 1, retry_after: int = 1, *, method: str | None = None
    ) -> None:
        """Answer the next ``n`` calls (of ``method``, or any) with HTTP 429."""
        self._rate_limits.append(_RateLimit(n, retry_after, method))

    def calls_to(self, method: str) -> list[JSONDict]:
        """The arguments of the logged calls to ``method`` (most recent last)."""
        return [args for name, args in self.log if name == method]

    # -- dispatch -------------------------------------------------------------------
    def _rate_limited(self, method: str) -> int | None:
        for limit in self._rate_limits:
            if limit.method is None or limit.method == method:
                limit.remaining -= 1
                if limit.remaining <= 0:
                    self._rate_limits.remove(limit)
                return limit.retry_after
        return None

    def _authenticate(self, method: str, token: str | None) -> Token:
        if not token:
            raise SlackError("not_authed")
        info = self.tokens.get(token)
        if info is None and self.token_validator is not None:
            found = self.token_validator(token)
            if isinstance(found, str):
                raise SlackError(found)
            info = found
        if info is None:
            raise SlackError("invalid_auth")
        if info.status != "active":
            raise SlackError(
                {"revoked": "token_revoked", "expired": "token_expired"}.get(
                    info.status, "account_inactive"
                )
            )
        needed = METHOD_SCOPES.get(method)
        if needed is not None and needed not in info.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(sorted(info.scopes)))
        return info

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{int(time.time())}.{n % 1_000_000:06d}"

    def _team_for(self, token: Token, args: JSONDict) -> str | None:
        """The team a call acts in: the token's, or (org-wide tokens) ``team_id``."""
        team_id = args.get("team_id") or None
        if token.org_wide:
            if team_id is not None and team_id not in self.teams:
                raise SlackError("team_not_found")
            return team_id
        if team_id is not None and team_id != token.team_id:
            raise SlackError("team_access_not_granted")
        return token.team_id

    # -- methods ----------------------------------------------------------------------
    def api_test(self, token: Token, args: JSONDict) -> JSONDict:
        return {"ok": True, "args": args}

    def auth_test(self, token: Token, args: JSONDict) -> JSONDict:
        team = self.teams[token.team_id]
        user = self.users.get(token.user_id)
        out: JSONDict = {
            "ok": True,
            "url": f"https://{team.domain}.slack.com/",
            "team": team.name,
            "user": user.name if user else token.user_id,
            "team_id": team.id,
            "user_id": token.user_id,
            "is_enterprise_install": token.org_wide,
        }
        if token.bot_id:
            out["bot_id"] = token.bot_id
        return out

    def auth_teams_list(self, token: Token, args: JSONDict) -> JSONDict:
        teams = self.teams.values() if token.org_wide else [self.teams[token.team_id]]
        return {
            "ok": True,
            "teams": [{"id": t.id, "name": t.name} for t in teams],
            "response_metadata": {"next_cursor": ""},
        }

    def team_info(self, token: Token, args: JSONDict) -> JSONDict:
        team_id = args.get("team") or token.team_id
        team = self.teams.get(team_id)
        if team is None or (team_id != token.team_id and not token.org_wide):
            raise SlackError("team_not_found")
        return {"ok": True, "team": team.to_api()}

    def chat_post_message(self, token: Token, args: JSONDict) -> JSONDict:
        target = args.get("channel")
        if not target:
            raise SlackError("channel_not_found")
        channel = self.channels.get(target)
        if channel is None:
            channel = self._by_name.get((token.team_id, target.lstrip("#")))
        if channel is not None:
            if channel.team_id != token.team_id and not token.org_wide:
                raise SlackError("channel_not_found")
            if channel.is_archived:
                raise SlackError("not_in_channel")
            channel_id = channel.id
        elif target in self.users:
            channel_id = "D" + target[1:]  # a DM with the user
        else:
            raise SlackError("channel_not_found")
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise SlackError("invalid_blocks") from None
        if blocks is not None and not isinstance(blocks, list):
            raise SlackError("invalid_blocks")
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        ts = self._next_ts()
        message: JSONDict = {
            "type": "message",
            "text": text or "",
            "ts": ts,
            "user": token.user_id,
            "team": token.team_id,
        }
        if token.bot_id:
            message["bot_id"] = token.bot_id
            message["app_id"] = "A0PATCHBAY"
            if args.get("username"):
                message["subtype"] = "bot_message"
                message["username"] = args["username"]
        if blocks:
            message["blocks"] = blocks
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        if args.get("icon_emoji"):
            message["icons"] = {"emoji": args["icon_emoji"]}
        self.messages.append({"channel": channel_id, **message})
        return {"ok": True, "channel": channel_id, "ts": ts, "message": message}

    def conversations_list(self, token: Token, args: JSONDict) -> JSONDict:
        team_id = self._team_for(token, args)
        types = args.get("types") or "public_channel"
        wanted = {t.strip() for t in types.split(",") if t.strip()}
        if not wanted <= CHANNEL_TYPES:
            raise SlackError("invalid_types")
        if "private_channel" in wanted and "groups:read" not in token.scopes:
            raise SlackError(
                "missing_scope", needed="groups:read", provided=",".join(sorted(token.scopes))
            )
        public, private = "public_channel" in wanted, "private_channel" in wanted
        exclude_archived = _truthy(args.get("exclude_archived"))
        try:
            limit = int(args.get("limit") or DEFAULT_LIMIT)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        limit = min(max(limit, 1), MAX_LIMIT)
        if self.page_size_cap is not None:
            limit = min(limit, self.page_size_cap)
        start = ""
        cursor = args.get("cursor")
        if cursor:
            try:
                kind, _, start = base64.b64decode(cursor, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
            if kind != "channel" or not start:
                raise SlackError("invalid_cursor")
        # As Slack does, `limit` bounds the channels examined, and archived ones are
        # filtered out afterwards: a page may be short (even empty) mid-list.
        page: list[JSONDict] = []
        seen = 0
        next_cursor = ""
        ordered = self.ordered_channels()
        begin = bisect.bisect_left(ordered, start, key=lambda c: c.id) if start else 0
        for channel in itertools.islice(ordered, begin, None):
            if team_id is not None and channel.team_id != team_id:
                continue
            if not (private if channel.is_private else public):
                continue
            if seen == limit:
                next_cursor = base64.b64encode(f"channel:{channel.id}".encode()).decode()
                break
            seen += 1
            if exclude_archived and channel.is_archived:
                continue
            page.append(channel.to_api())
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def reminders_add(self, token: Token, args: JSONDict) -> JSONDict:
        if token.kind != "user":
            raise SlackError("not_allowed_token_type")
        text = args.get("text")
        if not text:
            raise SlackError("no_text")
        when = _parse_time(args.get("time"))
        user = args.get("user") or token.user_id
        if user not in self.users:
            raise SlackError("user_not_found")
        recurrence = args.get("recurrence")
        if isinstance(recurrence, str):
            try:
                recurrence = json.loads(recurrence)
            except ValueError:
                raise SlackError("invalid_recurrence") from None
        if recurrence is not None and (
            not isinstance(recurrence, dict)
            or recurrence.get("frequency") not in ("daily", "weekly", "monthly", "yearly")
        ):
            raise SlackError("invalid_recurrence")
        reminder: JSONDict = {
            "id": f"Rm{next(self._ids):08d}",
            "creator": token.user_id,
            "user": user,
            "text": text,
            "recurring": recurrence is not None,
            "time": when,
            "complete_ts": 0,
        }
        if recurrence is not None:
            reminder["recurrence"] = recurrence
        self.reminders.append(reminder)
        return {"ok": True, "reminder": reminder}

    def users_lookup_by_email(self, token: Token, args: JSONDict) -> JSONDict:
        email = args.get("email")
        if not email:
            raise SlackError("invalid_arguments")
        user = self._by_email.get(email.lower())
        if user is None or (user.team_id != token.team_id and not token.org_wide):
            raise SlackError("users_not_found")
        return {"ok": True, "user": user.to_api()}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes")
    return bool(value)


_RELATIVE = re.compile(r"^in (\d+) (second|minute|hour|day|week)s?$")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def _parse_time(value: Any) -> int:
    """Slack's ``time``: a unix timestamp, seconds from now, or (a little) English."""
    now = int(time.time())
    if value is None or value == "":
        raise SlackError("invalid_time")
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        number = int(float(text))
        when = number if number >= 100_000_000 else now + number
    elif text == "tomorrow":
        when = now + 86400
    elif text == "next week":
        when = now + 604800
    elif match := _RELATIVE.match(text):
        when = now + int(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise SlackError("cannot_parse")
    if when < now:
        raise SlackError("time_in_past")
    return when


Method = Callable[[FakeSlack, Token, JSONDict], JSONDict]

METHODS: dict[str, Method] = {
    "api.test": FakeSlack.api_test,
    "auth.test": FakeSlack.auth_test,
    "auth.teams.list": FakeSlack.auth_teams_list,
    "chat.postMessage": FakeSlack.chat_post_message,
    "conversations.list": FakeSlack.conversations_list,
    "reminders.add": FakeSlack.reminders_add,
    "team.info": FakeSlack.team_info,
    "users.lookupByEmail": FakeSlack.users_lookup_by_email,
}

_JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
_UNKNOWN_METHOD = orjson.dumps({"ok": False, "error": "unknown_method"})
_RATELIMITED = orjson.dumps({"ok": False, "error": "ratelimited"})


async def _send(send: Any, status: int, body: bytes, extra: list | None = None) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    return body


def _arguments(scope: Any, headers: dict[bytes, bytes], body: bytes) -> JSONDict:
    """The call's arguments: the query string, then the (JSON or form) body."""
    query = scope.get("query_string")
    args: JSONDict = (
        dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {}
    )
    if not body:
        return args
    content_type = headers.get(b"content-type", b"")
    if content_type.startswith(b"application/json"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("invalid_json")
        args.update(data)
    elif content_type.startswith(b"application/x-www-form-urlencoded"):
        args.update(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    else:
        raise SlackError("invalid_form_data")
    return args


class _Endpoint:
    """``/api/{method}`` as a bare ASGI app: no Request/Response objects on the hot path."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        slack = self.slack
        name = scope["path_params"]["method"]
        handler = METHODS.get(name)
        if handler is None:
            await _send(send, 404, _UNKNOWN_METHOD)
            return
        body = await _read_body(receive) if scope["method"] == "POST" else b""
        headers = dict(scope["headers"])  # ASGI header names are lower-case
        try:
            args = _arguments(scope, headers, body)
            slack.calls[name] += 1
            slack.log.append((name, args))
            if slack.disabled_methods and name in slack.disabled_methods:
                await _send(send, 404, _UNKNOWN_METHOD)
                return
            if slack._rate_limits:
                retry_after = slack._rate_limited(name)
                if retry_after is not None:
                    extra = [(b"retry-after", str(retry_after).encode())]
                    await _send(send, 429, _RATELIMITED, extra)
                    return
            # Only the header carries the token (Slack ignores one in a JSON body).
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
            reply = handler(slack, slack._authenticate(name, token), args)
            status = 200
        except SlackError as exc:
            reply = {"ok": False, "error": exc.error, **exc.extra}
            status = exc.status
        await _send(send, status, orjson.dumps(reply))


def create_app(state: FakeSlack | None = None) -> Starlette:
    """The fake as an ASGI app; ``app.state.slack`` is its :class:`FakeSlack`."""
    slack = state if state is not None else FakeSlack()
    app = Starlette(routes=[Route("/api/{method}", _Endpoint(slack), methods=["GET", "POST"])])
    app.state.slack = slack
    return app


__all__ = ["Channel", "FakeSlack", "SlackError", "Team", "Token", "User", "create_app"]
