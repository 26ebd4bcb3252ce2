"""A loopback OAuth 2 provider (RFC 6749 authorization code + PKCE, refresh with rotation),
for tests and demos.

    provider = OAuthProvider(clients={"patchbay": "s3cret"}, expires_in=3600)
    with serve_in_thread(create_app(provider)) as url:
        authorize_url, token_url = url + "/oauth/authorize", url + "/oauth/token"

- ``GET /oauth/authorize`` approves at once (there is no user to ask): it redirects to the
  ``redirect_uri`` with ``code`` and ``state``, or with ``error=access_denied`` after
  :meth:`OAuthProvider.deny_next`. An unknown client or a redirect URI it did not register
  is answered 400 without redirecting (RFC 6749 4.1.2.1).
- ``POST /oauth/token`` (form body; client authentication by HTTP Basic or by
  ``client_id``/``client_secret`` in the body) serves ``authorization_code`` (the code is
  single use and bound to its client and ``redirect_uri``; the PKCE ``code_verifier`` is
  checked against the S256 or plain challenge) and ``refresh_token`` (each refresh issues a
  new refresh token and revokes the one used, when ``rotate_refresh_tokens``). JSON
  answers; errors are 400 ``{"error", "error_description"}`` (401 ``invalid_client`` when
  the client authenticated with HTTP Basic).
- ``GET /resource`` is a protected resource: 200 with the token's details for a valid
  bearer token, else 401 with ``WWW-Authenticate: Bearer error="invalid_token"``. A
  service fake can ask :meth:`OAuthProvider.check` the same question in-process.

``flavor="slack"`` answers the way Slack's ``oauth.v2.access`` does instead: HTTP 200 with
``"ok": true`` on success, HTTP 200 ``{"ok": false, "error": ...}`` on failure, and
``invalid_refresh_token`` for a refresh token it does not accept.

The provider runs in its own thread (``serve_in_thread``) while tests and other fakes read
it: every change of state happens under one lock.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

TokenStatus = Literal["active", "expired", "revoked", "unknown"]

CODE_TTL_SECONDS = 600.0


@dataclass
class Client:
    client_id: str
    client_secret: str
    # Redirect URIs the client registered (exact match); empty: any http(s) URI.
    redirect_uris: frozenset[str] = frozenset()


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    subject: str
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    scope: str
    subject: str
    expires_at: float
    revoked: bool = False

    def status(self, now: float) -> TokenStatus:
        if self.revoked:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


@dataclass
class RefreshToken:
    token: str
    client_id: str
    scope: str
    subject: str
    revoked: bool = False


@dataclass
class TokenRequest:
    """One request to the token endpoint, as the provider understood it."""

    grant_type: str | None
    form: dict[str, str]
    client_auth: str | None  # "basic" | "body" | None
    status: int
    error: str | None = None


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class _Failure:
    remaining: int
    status: int
    error: str
    grant_type: str | None


class OAuthProvider:
    """The provider's state, plus knobs and counters for tests."""

    def __init__(
        self,
        clients: dict[str, str] | None = None,
        *,
        expires_in: float = 3600,
        rotate_refresh_tokens: bool = True,
        issue_refresh_tokens: bool = True,
        require_pkce: bool = True,
        redirect_uris: dict[str, list[str]] | None = None,
        token_prefix: str = "at-",
        subject: str = "U0ALICE",
        flavor: Literal["rfc6749", "slack"] = "rfc6749",
    ) -> None:
        self.clients: dict[str, Client] = {
            cid: Client(cid, secret, frozenset((redirect_uris or {}).get(cid, ())))
            for cid, secret in (clients or {"patchbay": "patchbay-secret"}).items()
        }
        self.expires_in = expires_in
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.issue_refresh_tokens = issue_refresh_tokens
        self.require_pkce = require_pkce
        self.token_prefix = token_prefix
        self.subject = subject
        self.flavor = flavor
        # Seconds the token endpoint waits before answering (widens race windows).
        self.token_delay = 0.0
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.token_requests: list[TokenRequest] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.refresh_count = 0  # successful refresh_token grants
        self.code_exchange_count = 0  # successful authorization_code grants
        self._deny = 0
        self._failures: list[_Failure] = []
        self._serial = itertools.count(1)
        self._lock = threading.Lock()

    # -- knobs ------------------------------------------------------------------------
    def deny_next(self, n: int = 1) -> None:
        """The next ``n`` authorizations end in ``error=access_denied`` (the user said no)."""
        with self._lock:
            self._deny += n

    def fail_next_token(
        self,
        n: int = 1,
        *,
        status: int = 503,
        error: str = "temporarily_unavailable",
        grant_type: str | None = None,
    ) -> None:
        """Answer the next ``n`` token requests (of ``grant_type``, or any) with an error."""
        with self._lock:
            self._failures.append(_Failure(n, status, error, grant_type))

    def revoke_refresh_token(self, token: str) -> None:
        with self._lock:
            self.refresh_tokens[token].revoked = True

    def revoke_all(self) -> None:
        """Revoke every access and refresh token (the user removed the app)."""
        with self._lock:
            for rt in self.refresh_tokens.values():
                rt.revoked = True
            for at in self.access_tokens.values():
                at.revoked = True

    def expire(self, access_token: str) -> None:
        """Make an access token expire now."""
        with self._lock:
            self.access_tokens[access_token].expires_at = time.time()

    def expire_all(self) -> None:
        with self._lock:
            now = time.time()
            for at in self.access_tokens.values():
                at.expires_at = min(at.expires_at, now)

    # -- questions --------------------------------------------------------------------
    def check(self, access_token: str | None) -> TokenStatus:
        """Whether a bearer token is valid now (for a service fake guarding a resource)."""
        with self._lock:
            found = self.access_tokens.get(access_token or "")
            return "unknown" if found is None else found.status(time.time())

    def token(self, access_token: str) -> AccessToken | None:
        with self._lock:
            return self.access_tokens.get(access_token)

    def active_refresh_tokens(self) -> list[str]:
        with self._lock:
            return [t for t, rt in self.refresh_tokens.items() if not rt.revoked]

    # -- authorize --------------------------------------------------------------------
    def authorize(self, params: dict[str, str]) -> tuple[int, str | dict[str, str]]:
        """(302, location) or (400, error body) for an authorization request."""
        with self._lock:
            self.authorize_requests.append(dict(params))
            client = self.clients.get(params.get("client_id", ""))
            redirect_uri = params.get("redirect_uri", "")
            if client is None:
                return 400, _error_body("invalid_client", "Unknown client_id")
            if not _redirect_allowed(client, redirect_uri):
                return 400, _error_body("invalid_request", "redirect_uri is not registered")
            state = params.get("state")

            def back(**answer: str) -> tuple[int, str]:
                if state is not None:
                    answer["state"] = state
                sep = "&" if urlsplit(redirect_uri).query else "?"
                return 302, f"{redirect_uri}{sep}{urlencode(answer)}"

            if params.get("response_type") != "code":
                return back(
                    error="unsupported_response_type",
                    error_description="Only response_type=code is supported",
                )
            challenge = params.get("code_challenge")
            method = params.get("code_challenge_method") or ("plain" if challenge else None)
            if challenge is None and self.require_pkce:
                return back(error="invalid_request", error_description="PKCE is required")
            if method not in (None, "plain", "S256"):
                return back(
                    error="invalid_request",
                    error_description="code_challenge_method must be S256 or plain",
                )
            if self._deny > 0:
                self._deny -= 1
                return back(error="access_denied", error_description="The user denied the request")
            code = "code-" + secrets.token_urlsafe(24)
            self.codes[code] = AuthorizationCode(
                code=code,
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scope=params.get("scope", ""),
                code_challenge=challenge,
                code_challenge_method=method,
                subject=self.subject,
                expires_at=time.time() + CODE_TTL_SECONDS,
            )
            return back(code=code)

    # -- token ------------------------------------------------------------------------
    def token_endpoint(
        self, form: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Status and JSON answer of a token request."""
        grant_type = form.get("grant_type")
        with self._lock:
            client_auth = "basic" if authorization else ("body" if "client_id" in form else None)
            record = TokenRequest(grant_type, dict(form), client_auth, 200)
            self.token_requests.append(record)
            try:
                failure = self._failure(grant_type)
                if failure is not None:
                    raise OAuthError(failure.error, "Injected failure", failure.status)
                client = self._client(form, authorization)
                if grant_type == "authorization_code":
                    answer = self._exchange_code(client, form)
                    self.code_exchange_count += 1
                elif grant_type == "refresh_token":
                    answer = self._refresh(client, form)
                    self.refresh_count += 1
                else:
                    raise OAuthError(
                        "unsupported_grant_type", f"grant_type {grant_type!r} is not supported"
                    )
            except OAuthError as exc:
                record.status, record.error = exc.status, exc.error
                return self._error(exc, grant_type)
            if self.flavor == "slack":
                answer = {"ok": True, **answer}
            return 200, answer

    def _error(self, exc: OAuthError, grant_type: str | None) -> tuple[int, dict[str, Any]]:
        if self.flavor == "slack":
            error = exc.error
            if error == "invalid_grant":
                refreshing = grant_type == "refresh_token"
                error = "invalid_refresh_token" if refreshing else "invalid_code"
            if exc.status >= 500:
                return exc.status, {"ok": False, "error": "fatal_error"}
            return 200, {"ok": False, "error": error}
        return exc.status, _error_body(exc.error, exc.description)

    def _failure(self, grant_type: str | None) -> _Failure | None:
        for failure in self._failures:
            if failure.grant_type in (None, grant_type):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _client(self, form: dict[str, str], authorization: str | None) -> Client:
        if authorization:
            scheme, _, encoded = authorization.partition(" ")
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, sep, secret = decoded.partition(":")
            if scheme.lower() != "basic" or not sep:
                raise OAuthError("invalid_client", "Malformed HTTP Basic credentials", 401)
            # RFC 6749 2.3.1: both parts are form-encoded before Basic encoding.
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
            status = 401
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            status = 400
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, secret):
            raise OAuthError("invalid_client", "Client authentication failed", status)
        return client

    def _exchange_code(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "The authorization code is not valid")
        if grant.used:
            raise OAuthError("invalid_grant", "The authorization code was already used")
        if time.time() >= grant.expires_at:
            raise OAuthError("invalid_grant", "The authorization code has expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                raise OAuthError("invalid_request", "code_verifier is required")
            if _challenge(verifier, grant.code_challenge_method) != grant.code_challenge:
                raise OAuthError("invalid_grant", "code_verifier does not match the challenge")
        grant.used = True
        return self._issue(client.client_id, grant.scope, grant.subject, with_refresh=True)

    def _refresh(self, client: Client, form: dict[str, str]) -> dict[str, Any]:
        presented = form.get("refresh_token", "")
        found = self.refresh_tokens.get(presented)
        if found is None or found.revoked or found.client_id != client.client_id:
            raise OAuthError("invalid_grant", "The refresh token is invalid or revoked")
        scope = found.scope
        if form.get("scope"):  # may only narrow what was granted
            asked = set(form["scope"].split())
            if not asked <= set(scope.split()):
                raise OAuthError("invalid_scope", "The scope exceeds what was granted")
            scope = " ".join(sorted(asked))
        answer = self._issue(
            client.client_id, scope, found.subject, with_refresh=self.rotate_refresh_tokens
        )
        if self.rotate_refresh_tokens:
            found.revoked = True
        return answer

    def _issue(
        self, client_id: str, scope: str, subject: str, *, with_refresh: bool
    ) -> dict[str, Any]:
        serial = next(self._serial)
        access = f"{self.token_prefix}{serial}-{secrets.token_urlsafe(16)}"
        self.access_tokens[access] = AccessToken(
            access, client_id, scope, subject, time.time() + self.expires_in
        )
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": scope,
        }
        if with_refresh and self.issue_refresh_tokens:
            refresh = f"rt-{serial}-{secrets.token_urlsafe(24)}"
            self.refresh_tokens[refresh] = RefreshToken(refresh, client_id, scope, subject)
            answer["refresh_token"] = refresh
        return answer

    # -- protected resource -----------------------------------------------------------
    def resource(self, authorization: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401, {"error": "invalid_request"}, {"WWW-Authenticate": 'Bearer realm="fake"'}
        token = token.strip()
        status = self.check(token)
        if status != "active":
            description = {
                "expired": "The access token expired",
                "revoked": "The access token was revoked",
            }.get(status, "The access token is not valid")
            header = f'Bearer error="invalid_token", error_description="{description}"'
            return 401, _error_body("invalid_token", description), {"WWW-Authenticate": header}
        found = self.token(token)
        assert found is not None
        return (
            200,
            {
                "active": True,
                "sub": found.subject,
                "client_id": found.client_id,
                "scope": found.scope,
                "exp": int(found.expires_at),
            },
            {},
        )


def _error_body(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def _challenge(verifier: str, method: str | None) -> str:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier


def _redirect_allowed(client: Client, redirect_uri: str) -> bool:
    if client.redirect_uris:
        return redirect_uri in client.redirect_uris
    parts = urlsplit(redirect_uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def create_app(state: OAuthProvider | None = None) -> Starlette:
    """The provider as an ASGI app; ``app.state.provider`` is its :class:`OAuthProvider`."""
    provider = state if state is not None else OAuthProvider()

    async def authorize(request: Request) -> Response:
        status, answer = provider.authorize(dict(request.query_params))
        if status == 302:
            assert isinstance(answer, str)
            return RedirectResponse(answer, status_code=302)
        return JSONResponse(answer, status_code=status)

    async def token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            body = _error_body("invalid_request", "The body must be form-encoded")
            return JSONResponse(body, status_code=400, headers=_NO_STORE)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if provider.token_delay:
            await asyncio.sleep(provider.token_delay)
        status, answer = provider.token_endpoint(form, request.headers.get("authorization"))
        headers = dict(_NO_STORE)
        if status == 401 and request.headers.get("authorization"):
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return JSONResponse(answer, status_code=status, headers=headers)

    async def resource(request: Request) -> Response:
        status, answer, headers = provider.resource(request.headers.get("authorization"))
        return JSONResponse(answer, status_code=status, headers=headers)

    app = Starlette(
        routes=[
            Route("/oauth/authorize", authorize, methods=["GET"]),
            Route("/oauth/token", token, methods=["POST"]),
            Route("/resource", resource, methods=["GET"]),
        ]
    )
    app.state.provider = provider
    return app


__all__ = [
    "AccessToken",
    "Client",
    "OAuthProvider",
    "RefreshToken",
    "TokenRequest",
    "create_app",
]
