"""A loopback fake of Twilio's REST API (2010-04-01): the Messages and IncomingPhoneNumbers
resources, for tests.

It reproduces the wire format the connector relies on (see ``services.md``): resources live
under ``/2010-04-01/Accounts/{AccountSid}/...json`` (so a connector's base URL is
``<fake>/2010-04-01``), requests authenticate with HTTP Basic (Account SID + Auth Token, or
an API key SID + secret), writes are form-encoded, errors are
``{"code", "message", "more_info", "status"}``, and lists page with ``PageSize``, ``Page``
and ``PageToken`` and point at the next page with a relative ``next_page_uri`` (null on
the last page).

    state = FakeTwilio()
    with serve_in_thread(create_app(state)) as url:
        ...  # base_url = url + "/2010-04-01"; credentials = state.credentials()

Standalone: ``patchbay fake twilio --port 9000``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JSONDict = dict[str, Any]

API_VERSION = "2010-04-01"
PREFIX = f"/{API_VERSION}"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_BODY = 1600
MAX_MEDIA = 10

# Twilio's magic test number: "To" it is an invalid phone number (21211).
INVALID_NUMBER = "+15005550001"

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The GSM 03.38 alphabet: a message in it is 160 characters a segment (153 when split);
# anything else is UCS-2, 70 a segment (67 when split). Extension characters count twice.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """How many SMS segments Twilio bills ``body`` as."""
    if not body:
        return 1
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        units = len(body) + sum(c in _GSM7_EXTENDED for c in body)
        single, split = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, split = 70, 67
    return 1 if units <= single else math.ceil(units / split)


def rfc2822(when: datetime) -> str:
    """Twilio's date format: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return format_datetime(when.astimezone(UTC))


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> JSONDict:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
            **self.extra,
        }


def _not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


@dataclass
class ReceivedRequest:
    """What the fake saw of one request (the Basic username, never the password)."""

    method: str
    path: str  # percent-decoded, as routed
    raw_path: str  # as sent
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    username: str | None
    content_type: str | None

    def form_values(self, name: str) -> list[str]:
        return [value for key, value in self.form if key == name]

    def form_dict(self) -> dict[str, str]:
        return dict(self.form)


@dataclass
class _Injected:
    remaining: int
    status: int
    code: int
    message: str
    retry_after: float | None = None
    path: str | None = None  # only requests whose path contains this
    after: int = 0  # let this many matching requests through first


@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str = "Patchbay test account"
    phone_numbers: list[JSONDict] = field(default_factory=list)
    messaging_services: set[str] = field(default_factory=set)


class FakeTwilio:
    """The fake's whole state, plus knobs for tests.

    Defaults: one account (:attr:`account_sid` / :attr:`auth_token`), an API key of it
    (:attr:`api_key_sid` / :attr:`api_key_secret`), SMS-capable numbers
    :attr:`from_number` and ``+14155550100``, a WhatsApp sender and the messaging service
    :attr:`messaging_service_sid`.
    """

    account_sid = "AC" + "0a1b2c3d4e5f6a7b" * 2
    auth_token = "9f8e7d6c5b4a3f2e" * 2
    api_key_sid = "SK" + "1234abcd5678ef90" * 2
    api_key_secret = "fakeApiKeySecret0123456789abcdef"
    messaging_service_sid = "MG" + "feedc0de" * 4
    from_number = "+15005550006"

    def __init__(self, *, max_log: int = 1000) -> None:
        account = Account(self.account_sid, self.auth_token)
        account.messaging_services.add(self.messaging_service_sid)
        for number, name, sms in (
            (self.from_number, "Patchbay main line", True),
            ("+14155550100", "Support", True),
            ("whatsapp:+14155238886", "WhatsApp sandbox", True),
            ("+14155550199", "Voice only", False),
        ):
            account.phone_numbers.append(_phone_number(account.sid, number, name, sms))
        self.accounts: dict[str, Account] = {account.sid: account}
        self.api_keys: dict[str, tuple[str, str]] = {
            self.api_key_sid: (self.api_key_secret, account.sid)
        }
        self.messages: dict[str, JSONDict] = {}  # sid -> resource, oldest first
        self.requests: deque[ReceivedRequest] = deque(maxlen=max_log)
        self._injected: deque[_Injected] = deque()
        self._seq = itertools.count()
        self._order: dict[str, int] = {}

    # -- knobs ----------------------------------------------------------------------
    def credentials(self, *, api_key: bool = False) -> dict[str, str]:
        """Credentials for the default account, as a Patchbay authentication holds them."""
        if api_key:
            return {
                "account_sid": self.account_sid,
                "api_key_sid": self.api_key_sid,
                "api_key_secret": self.api_key_secret,
            }
        return {"account_sid": self.account_sid, "auth_token": self.auth_token}

    def rate_limit_next(
        self,
        n: int = 1,
        *,
        retry_after: float | None = None,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next ``n`` requests (whose path contains ``path``, or any; after
        letting ``after`` of them through) with HTTP 429 code 20429, with a ``Retry-After``
        header when given (Twilio's is not guaranteed)."""
        self._injected.append(
            _Injected(n, 429, 20429, "Too Many Requests", retry_after, path, after)
        )

    def fail_next(
        self,
        status: int,
        code: int,
        message: str,
        *,
        n: int = 1,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next ``n`` requests (whose path contains ``path``, or any; after
        letting ``after`` of them through) with this Twilio error."""
        self._injected.append(_Injected(n, status, code, message, None, path, after))

    def add_account(self, sid: str | None = None, auth_token: str | None = None) -> Account:
        account = Account(sid or new_sid("AC"), auth_token or secrets.token_hex(16))
        self.accounts[account.sid] = account
        return account

    def add_message(
        self,
        *,
        to: str,
        from_: str | None = None,
        body: str = "",
        status: str = "delivered",
        date_sent: datetime | None = None,
        direction: str = "outbound-api",
        account_sid: str | None = None,
    ) -> JSONDict:
        """Seed a message (delivered, sent at ``date_sent`` or now)."""
        when = date_sent or datetime.now(UTC)
        message = self._message(
            account_sid or self.account_sid,
            to=to,
            from_=from_ or self.from_number,
            body=body,
            media=[],
            messaging_service_sid=None,
            status=status,
            when=when,
        )
        message["direction"] = direction
        if status in ("sent", "delivered", "received", "undelivered", "read"):
            message["date_sent"] = rfc2822(when)
        return message

    def deliver(self, sid: str | None = None, status: str = "delivered") -> None:
        """Move queued/accepted messages (one, or all) on to ``status``, sent now."""
        now = rfc2822(datetime.now(UTC))
        targets = [self.messages[sid]] if sid else list(self.messages.values())
        for message in targets:
            if message["status"] in ("queued", "accepted", "sending"):
                message.update(status=status, date_sent=now, date_updated=now)

    def phone_number(self, number: str, account_sid: str | None = None) -> JSONDict:
        """The IncomingPhoneNumber resource of ``number`` (``sid``, ``sms_url``, ...)."""
        account = self.accounts[account_sid or self.account_sid]
        return next(n for n in account.phone_numbers if n["phone_number"] == number)

    def requests_to(self, path_suffix: str, method: str | None = None) -> list[ReceivedRequest]:
        return [
            r
            for r in self.requests
            if r.path.endswith(path_suffix) and (method is None or r.method == method)
        ]

    # -- the Messages resource --------------------------------------------------------
    def _message(
        self,
        account_sid: str,
        *,
        to: str,
        from_: str | None,
        body: str,
        media: list[str],
        messaging_service_sid: str | None,
        status: str,
        when: datetime,
    ) -> JSONDict:
        sid = new_sid("MM" if media else "SM")
        uri = f"{PREFIX}/Accounts/{account_sid}/Messages/{sid}"
        stamp = rfc2822(when)
        message: JSONDict = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": stamp,
            "date_sent": None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": messaging_service_sid,
            "num_media": str(len(media)),
            "num_segments": str(num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": to,
            "uri": f"{uri}.json",
        }
        self.messages[sid] = message
        self._order[sid] = next(self._seq)
        return message

    def create_message(self, account: Account, form: list[tuple[str, str]]) -> JSONDict:
        args = dict(form)
        to = args.get("To", "").strip()
        from_ = args.get("From", "").strip() or None
        service = args.get("MessagingServiceSid", "").strip() or None
        body = args.get("Body", "")
        media = [value for key, value in form if key == "MediaUrl"]
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not _is_address(to) or to.removeprefix("whatsapp:") == INVALID_NUMBER:
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if from_ is None and service is None:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if service is not None and service not in account.messaging_services:
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if from_ is not None:
            if not (_is_address(from_) or _ALPHANUMERIC.match(from_)):
                raise TwilioError(400, 21212, f"Invalid From Number: {from_}")
            owned = {n["phone_number"] for n in account.phone_numbers if n["capabilities"]["sms"]}
            if not _ALPHANUMERIC.match(from_) and from_ not in owned:
                raise TwilioError(
                    400,
                    21606,
                    f"The From phone number {from_} is not a valid, SMS-capable inbound phone "
                    "number or short code for your account.",
                )
        if not body and not media:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            raise TwilioError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media) > MAX_MEDIA or any(not u.startswith(("http://", "https://")) for u in media):
            raise TwilioError(400, 21620, "Invalid media URL(s)")
        callback = args.get("StatusCallback")
        if callback is not None and not callback.startswith(("http://", "https://")):
            raise TwilioError(400, 21609, f"Invalid StatusCallback: {callback}")
        return self._message(
            account.sid,
            to=to,
            from_=from_,
            body=body,
            media=media,
            messaging_service_sid=service,
            # With a messaging service Twilio picks the sender later: "accepted", from null.
            status="queued" if from_ is not None else "accepted",
            when=datetime.now(UTC),
        )

    def list_messages(self, account: Account, query: list[tuple[str, str]]) -> list[JSONDict]:
        """The account's messages matching the filters, newest first."""
        args = dict(query)
        exact = _date_arg(args, "DateSent")
        before = _date_arg(args, "DateSent<")
        after = _date_arg(args, "DateSent>")
        found = []
        for message in self.messages.values():
            if message["account_sid"] != account.sid:
                continue
            if "To" in args and message["to"] != args["To"]:
                continue
            if "From" in args and message["from"] != args["From"]:
                continue
            if exact or before or after:
                if not message["date_sent"]:
                    continue
                sent = parsedate_to_datetime(message["date_sent"])
                if exact and not _matches(sent, exact, "="):
                    continue
                if before and not _matches(sent, before, "<"):
                    continue
                if after and not _matches(sent, after, ">"):
                    continue
            found.append(message)
        found.sort(key=lambda m: self._order[m["sid"]], reverse=True)
        found.sort(key=lambda m: parsedate_to_datetime(m["date_created"]), reverse=True)
        return found


def _phone_number(account_sid: str, number: str, name: str, sms: bool) -> JSONDict:
    sid = new_sid("PN")
    stamp = rfc2822(datetime.now(UTC) - timedelta(days=30))
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "capabilities": {"sms": sms, "mms": sms, "voice": True, "fax": False},
        "date_created": stamp,
        "date_updated": stamp,
        "friendly_name": name,
        "phone_number": number,
        "sid": sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "",
        "uri": f"{PREFIX}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json",
    }


# IncomingPhoneNumber update parameters the fake keeps: form name -> resource field.
_NUMBER_FIELDS = {
    "FriendlyName": "friendly_name",
    "SmsApplicationSid": "sms_application_sid",
    "SmsFallbackMethod": "sms_fallback_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsMethod": "sms_method",
    "SmsUrl": "sms_url",
}


def update_phone_number(number: JSONDict, form: list[tuple[str, str]]) -> JSONDict:
    """Apply an IncomingPhoneNumber update (``POST .../IncomingPhoneNumbers/{Sid}.json``):
    URLs must be http(s) or empty (21402), methods GET or POST (21403); other parameters
    are ignored, as Twilio ignores unknown ones."""
    changes: JSONDict = {}
    for name, value in form:
        key = _NUMBER_FIELDS.get(name)
        if key is None:
            continue
        if name.endswith("Url") and value and not value.startswith(("http://", "https://")):
            raise TwilioError(400, 21402, f"{name} is not valid: {value}")
        if name.endswith("Method"):
            value = value.upper()
            if value not in ("GET", "POST"):
                raise TwilioError(400, 21403, f"{name} must be GET or POST, not {value}")
        changes[key] = value
    number.update(changes, date_updated=rfc2822(datetime.now(UTC)))
    return number


def _is_address(value: str) -> bool:
    bare = value.removeprefix("whatsapp:")
    return bool(_E164.match(bare) or (bare == value and _SHORT_CODE.match(value)))


def _date_arg(args: dict[str, str], name: str) -> date | datetime | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        if _DATE.match(value):
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise TwilioError(400, 20001, f"Invalid {name}: {value}") from None


def _matches(sent: datetime, bound: date | datetime, op: str) -> bool:
    """``DateSent`` filters: a date compares by day (inclusive), a date-time exactly."""
    if isinstance(bound, datetime):
        left: date | datetime = sent
    else:
        left = sent.astimezone(UTC).date()
    if op == "<":
        return left <= bound
    if op == ">":
        return left >= bound
    return left == bound


# -- paging ----------------------------------------------------------------------------------


def _int_arg(args: dict[str, str], name: str, default: int) -> int:
    value = args.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise TwilioError(400, 20001, f"Invalid {name}: {value}") from None
    if number < (1 if name == "PageSize" else 0):
        raise TwilioError(400, 20001, f"Invalid {name}: {value}")
    return number


def page_of(items: list[JSONDict], query: list[tuple[str, str]], path: str, key: str) -> JSONDict:
    """Twilio's page of ``items``: ``PageSize`` (default 50, at most 1000), ``Page`` and
    ``PageToken`` (``PA<sid>``: after that item; ``PB<sid>``: before it), with
    ``first/next/previous_page_uri`` relative to the host."""
    args = dict(query)
    size = min(_int_arg(args, "PageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    page = _int_arg(args, "Page", 0)
    token = args.get("PageToken")
    index = {item["sid"]: i for i, item in enumerate(items)}
    if token:
        anchor = index.get(token[2:])
        if token[:2] not in ("PA", "PB") or anchor is None:
            raise TwilioError(400, 20001, f"Invalid PageToken: {token}")
        start = anchor + 1 if token[:2] == "PA" else max(0, anchor - size)
    else:
        start = page * size
    chunk = items[start : start + size]
    filters = [(k, v) for k, v in query if k not in ("PageSize", "Page", "PageToken")]

    def uri(page_number: int, page_token: str | None = None) -> str:
        params = [*filters, ("PageSize", str(size)), ("Page", str(page_number))]
        if page_token:
            params.append(("PageToken", page_token))
        return f"{path}?{urlencode(params)}"

    more = start + size < len(items)
    return {
        key: chunk,
        "end": start + len(chunk) - 1 if chunk else start,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, "PA" + chunk[-1]["sid"]) if more and chunk else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1, "PB" + chunk[0]["sid"]) if page and chunk else None,
        "start": start,
        "uri": uri(page, token),
    }


# -- HTTP ------------------------------------------------------------------------------------

_ACCOUNT = re.compile(rf"^{PREFIX}/Accounts/(?P<account>[^/]+)\.json$")
_MESSAGES = re.compile(rf"^{PREFIX}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE = re.compile(rf"^{PREFIX}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_NUMBERS = re.compile(rf"^{PREFIX}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers\.json$")
_NUMBER = re.compile(
    rf"^{PREFIX}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers/(?P<sid>[^/]+)\.json$"
)


def _respond(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    headers = {"Twilio-Request-Id": new_sid("RQ"), **(headers or {})}
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def _basic_user(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class _Api:
    def __init__(self, twilio: FakeTwilio) -> None:
        self.twilio = twilio

    async def handle(self, request: Request) -> Response:
        twilio = self.twilio
        form: list[tuple[str, str]] = []
        content_type = request.headers.get("content-type")
        if request.method in ("POST", "PUT", "PATCH"):
            raw = await request.body()
            if raw and (content_type or "").startswith("application/x-www-form-urlencoded"):
                form = parse_qsl(raw.decode(), keep_blank_values=True)
        query = parse_qsl(request.url.query, keep_blank_values=True)
        pair = _basic_user(request)
        path = request.url.path
        twilio.requests.append(
            ReceivedRequest(
                request.method,
                path,
                request.scope.get("raw_path", path.encode()).decode("latin-1"),
                query,
                form,
                pair[0] if pair else None,
                content_type,
            )
        )
        try:
            injected = self._injected(path)
            if injected is not None:
                headers = {}
                if injected.retry_after is not None:
                    headers["Retry-After"] = f"{injected.retry_after:g}"
                raise TwilioError(injected.status, injected.code, injected.message, **headers)
            account = self._authenticate(pair)
            status, body = self._route(request.method, path, account, query, form)
        except TwilioError as exc:
            headers = {}
            if "Retry-After" in exc.extra:
                headers["Retry-After"] = exc.extra.pop("Retry-After")
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return _respond(exc.status, exc.body(), headers)
        return _respond(status, body)

    def _injected(self, path: str) -> _Injected | None:
        for injected in self.twilio._injected:
            if injected.path is None or injected.path in path:
                if injected.after > 0:
                    injected.after -= 1
                    return None
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self.twilio._injected.remove(injected)
                return injected
        return None

    def _authenticate(self, pair: tuple[str, str] | None) -> Account:
        twilio = self.twilio
        if pair is not None:
            user, password = pair
            account = twilio.accounts.get(user)
            if account is not None and secrets.compare_digest(account.auth_token, password):
                return account
            key = twilio.api_keys.get(user)
            if key is not None and secrets.compare_digest(key[0], password):
                return twilio.accounts[key[1]]
        raise TwilioError(
            401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect."
        )

    def _route(
        self,
        method: str,
        path: str,
        account: Account,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> tuple[int, Any]:
        twilio = self.twilio
        for pattern, methods in (
            (_MESSAGES, ("GET", "POST")),
            (_MESSAGE, ("GET", "DELETE")),
            (_ACCOUNT, ("GET",)),
            (_NUMBERS, ("GET",)),
            (_NUMBER, ("GET", "POST")),
        ):
            match = pattern.match(path)
            if match is None:
                continue
            if match["account"] != account.sid:
                # Another account's resources: Twilio refuses these credentials for it.
                raise TwilioError(
                    401, 20003, "Authenticate", detail="Your AccountSid or AuthToken was incorrect."
                )
            if method not in methods:
                raise TwilioError(405, 20004, "Method not allowed")
            break
        else:
            raise _not_found(path)
        if pattern is _MESSAGES:
            if method == "POST":
                return 201, twilio.create_message(account, form)
            return 200, page_of(twilio.list_messages(account, query), query, path, "messages")
        if pattern is _MESSAGE:
            message = twilio.messages.get(match["sid"])
            if message is None or message["account_sid"] != account.sid:
                raise _not_found(path)
            if method == "DELETE":
                del twilio.messages[message["sid"]]
                return 204, None
            return 200, message
        if pattern is _NUMBERS:
            args = dict(query)
            numbers = [
                n
                for n in account.phone_numbers
                if ("PhoneNumber" not in args or args["PhoneNumber"] in n["phone_number"])
            ]
            return 200, page_of(numbers, query, path, "incoming_phone_numbers")
        if pattern is _NUMBER:
            number = next((n for n in account.phone_numbers if n["sid"] == match["sid"]), None)
            if number is None:
                raise _not_found(path)
            if method == "POST":
                return 200, update_phone_number(number, form)
            return 200, number
        now = rfc2822(datetime.now(UTC) - timedelta(days=30))
        return 200, {
            "auth_token": "[Redacted]",
            "date_created": now,
            "date_updated": now,
            "friendly_name": account.friendly_name,
            "owner_account_sid": account.sid,
            "sid": account.sid,
            "status": "active",
            "type": "Full",
            "uri": f"{PREFIX}/Accounts/{account.sid}.json",
        }


def create_app(state: FakeTwilio | None = None) -> Starlette:
    """The fake as an ASGI app; ``app.state.twilio`` is its :class:`FakeTwilio`."""
    twilio = state if state is not None else FakeTwilio()
    api = _Api(twilio)
    app = Starlette(
        routes=[
            Route(
                "/{path:path}",
                api.handle,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
            )
        ]
    )
    app.state.twilio = twilio
    return app


def seed_messages(state: FakeTwilio, count: int, *, start: datetime | None = None) -> list[str]:
    """``count`` delivered messages, one a day back from ``start``; their sids newest first."""
    start = start or datetime(2024, 3, 31, 12, 0, tzinfo=UTC)
    sids = []
    for i in range(count):
        message = state.add_message(
            to=f"+1415555{i % 10:04d}",
            body=f"Message {i}",
            date_sent=start - timedelta(days=i),
        )
        sids.append(message["sid"])
    return sids


__all__ = [
    "FakeTwilio",
    "ReceivedRequest",
    "TwilioError",
    "create_app",
    "num_segments",
    "page_of",
    "seed_messages",
]
