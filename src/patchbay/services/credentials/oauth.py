"""OAuth 2 once for every connector: the authorization-code flow (``state`` + PKCE), token
refresh (one at a time per credential, rotated refresh tokens kept) and re-authorization
when the provider no longer honours the grant.

A service environment takes part when its declaration has ``oauth2`` (an
:class:`~patchbay.connectors.sdk.OAuth2Endpoints`) and ``PATCHBAY_OAUTH_CLIENTS`` holds a
client for it (keyed by environment id or service name). Stored credentials are
``access_token``, ``refresh_token``, ``token_type``, ``scope`` and ``expires_at`` (unix
seconds), encrypted like every other authentication's.

Every request to a provider goes through the platform's guarded :class:`HttpClientPool`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
import time
import weakref
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx
import orjson
from sqlalchemy import delete, select, update

from ...config import Settings
from ...connectors.registry import Registry
from ...connectors.sdk import AuthEnvironment, Connector, ConnectorError, OAuth2Endpoints
from ...connectors.sdk.context import Refresher
from ...connectors.sdk.http import HttpClientPool
from ...crypto import KeyRing, KeyRingError
from ...storage.db import Database
from ...storage.models import Authentication, OAuthState, utcnow
from ..errors import BadRequest, NotFound, ServiceError
from ..identity.principal import Principal
from .authentications import Authentications, LoadedAuth, check_schema

log = logging.getLogger("patchbay.oauth")

CALLBACK_PATH = "/core/v1/oauth/callback"
STATE_TTL = timedelta(minutes=10)
# Pending states are deleted this long after they expired (kept a while to tell
# "expired" from "unknown").
STATE_RETENTION = timedelta(days=1)
REFRESH_AHEAD_SECONDS = 60.0
TOKEN_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
NEEDS_REAUTHORIZATION = "needs_reauthorization"
# Token-endpoint errors that mean "the grant is gone: the user must authorize again"
# (RFC 6749's invalid_grant; Slack's names for it).
REAUTHORIZE_ERRORS = frozenset({"invalid_grant", "invalid_refresh_token", "token_revoked"})


class BadGateway(ServiceError):
    status = 502
    default_code = "oauth_provider_unavailable"


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """A configured client of one provider, with the endpoints to use."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    endpoints: OAuth2Endpoints


class TokenError(Exception):
    """The token endpoint refused: its ``error`` code and description."""

    def __init__(self, error: str, description: str | None, status: int) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out

    def describe(self) -> str:
        return self.error + (f": {self.description}" if self.description else "")


class ProviderUnavailable(Exception):
    """The token endpoint could not be reached or failed (5xx, 429, not JSON)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.timed_out = timed_out


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def code_challenge(verifier: str) -> str:
    """PKCE S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def expires_at_of(credentials: dict[str, Any]) -> float | None:
    """``expires_at`` as unix seconds (stored as a number; ISO 8601 accepted)."""
    value = credentials.get("expires_at")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _split_scopes(scope: Any) -> list[str]:
    if not isinstance(scope, str):
        return []
    return [s for s in re.split(r"[\s,]+", scope) if s]


def add_query(url: str, params: list[tuple[str, str]] | dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def _moved(seen: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether the stored credentials changed since ``seen`` was read (another caller
    refreshed them, or they were replaced)."""
    return current.get("access_token") != seen.get("access_token") or current.get(
        "expires_at"
    ) != seen.get("expires_at")


def _consume(task: asyncio.Task) -> None:
    """Retrieve a shielded refresh's outcome when its caller went away."""
    if not task.cancelled():
        task.exception()


class OAuth:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        keyring: KeyRing,
        registry: Registry,
        clients: HttpClientPool,
        authentications: Authentications,
    ) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self.registry = registry
        self.clients = clients
        self.authentications = authentications
        self._environments: dict[str, tuple[Connector, AuthEnvironment]] = {}
        # One refresh at a time per authentication (in this process).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def redirect_uri(self) -> str:
        return self.settings.effective_public_url + CALLBACK_PATH

    # -- configuration ----------------------------------------------------------------
    def _lookup(self, environment_id: str) -> tuple[Connector, AuthEnvironment] | None:
        """The registry's environment lookup, remembered (it is on every call's path)."""
        found = self._environments.get(environment_id)
        if found is None:
            found = self.registry.environment(environment_id)
            if found is not None and len(self._environments) < 10_000:
                self._environments[environment_id] = found
        return found

    def _environment(self, environment_id: str) -> tuple[Connector, AuthEnvironment]:
        found = self._lookup(environment_id)
        if found is None:
            raise NotFound("Service environment not found", "service_environment_not_found")
        return found

    def client_for(self, connector: Connector, env: AuthEnvironment) -> OAuthClient | None:
        """The configured client of an OAuth 2 environment (None: not OAuth 2, or no
        client configured)."""
        if env.oauth2 is None:
            return None
        configured = self.settings.oauth_clients
        conf = configured.get(env.id) or configured.get(connector.service.name)
        if not isinstance(conf, dict) or not conf.get("client_id"):
            return None
        return OAuthClient(
            client_id=str(conf["client_id"]),
            client_secret=str(conf.get("client_secret") or ""),
            authorize_url=str(conf.get("authorize_url") or env.oauth2.authorize_url),
            token_url=str(conf.get("token_url") or env.oauth2.token_url),
            endpoints=env.oauth2,
        )

    def _require_client(self, connector: Connector, env: AuthEnvironment) -> OAuthClient:
        if env.oauth2 is None:
            raise BadRequest(
                f"Service environment {env.id} ({env.title}) does not use OAuth 2",
                "oauth2_not_supported",
            )
        client = self.client_for(connector, env)
        if client is None:
            raise BadRequest(
                f"No OAuth client is configured for {env.title}: add one for "
                f"{connector.service.name!r} (or {env.id}) to PATCHBAY_OAUTH_CLIENTS",
                "oauth_client_not_configured",
            )
        return client

    # -- the authorization-code flow ---------------------------------------------------
    async def start(
        self, p: Principal, body: dict[str, Any], *, workspace_id: str | None = None
    ) -> dict[str, Any]:
        """Begin an authorization for ``p``: the provider URL to send the browser to. A new
        authentication goes to ``workspace_id`` (else the caller's); a re-authorization
        stays in its authentication's workspace."""
        connector, env = self._environment(body["serviceEnvironmentId"])
        client = self._require_client(connector, env)
        user_data = body.get("userData") or {}
        check_schema(env.user_data_schema, user_data, "userData")
        redirect_url = body.get("redirectUrl")
        if redirect_url is not None:
            parts = urlsplit(redirect_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
                raise BadRequest(
                    "redirectUrl must be an absolute http(s) URL without a fragment",
                    "invalid_redirect_url",
                )
        auth_id = body.get("authenticationId")
        if auth_id is not None:
            row = await self.authentications.owned_row(p, auth_id)
            workspace = row.workspace_id
            if row.service_environment_id != env.id:
                raise BadRequest(
                    f"Authentication {auth_id} is for another service environment",
                    "authentication_environment_mismatch",
                )
        else:
            workspace = p.target_workspace(workspace_id)
        scopes = body.get("scopes")
        if scopes is None:
            scopes = [s.scope for s in env.scopes]
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64) if client.endpoints.pkce else None
        now = utcnow()
        expires_at = now + STATE_TTL
        async with self.db.session() as s:
            await s.execute(delete(OAuthState).where(OAuthState.expires_at < now - STATE_RETENTION))
            s.add(
                OAuthState(
                    state_hash=hash_state(state),
                    org_id=p.org_id,
                    user_id=p.user_id,
                    workspace_id=workspace,
                    service_environment_id=env.id,
                    name=body["name"],
                    scopes=list(scopes),
                    user_data=user_data,
                    redirect_url=redirect_url,
                    authentication_id=auth_id,
                    code_verifier=self.keyring.encrypt(verifier) if verifier else None,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await s.commit()
        params: list[tuple[str, str]] = [
            ("response_type", "code"),
            ("client_id", client.client_id),
            ("redirect_uri", self.redirect_uri),
        ]
        if scopes:
            params.append(("scope", client.endpoints.scope_separator.join(scopes)))
        params.append(("state", state))
        if verifier:
            params += [
                ("code_challenge", code_challenge(verifier)),
                ("code_challenge_method", "S256"),
            ]
        params += list(client.endpoints.extra_authorize_params)
        return {
            "authorizeUrl": add_query(client.authorize_url, params),
            "state": state,
            "expiresAt": expires_at.isoformat(),
        }

    async def callback(self, params: dict[str, str]) -> tuple[str, str | None]:
        """Finish an authorization: the stored authentication's id, and where to send the
        browser (the ``redirectUrl`` given at the start, if any)."""
        state = params.get("state")
        if not state:
            raise BadRequest("The callback has no state", "invalid_state")
        now = utcnow()
        async with self.db.session() as s:
            row = await s.scalar(
                select(OAuthState).where(OAuthState.state_hash == hash_state(state))
            )
            if row is None:
                raise BadRequest(
                    "Unknown OAuth state: start the authorization again", "invalid_state"
                )
            if row.used_at is not None:
                raise BadRequest(
                    "This OAuth state was already used: start the authorization again",
                    "state_already_used",
                )
            if row.expires_at <= now:
                raise BadRequest(
                    "This OAuth state has expired: start the authorization again", "state_expired"
                )
            claimed = await s.execute(
                update(OAuthState)
                .where(OAuthState.seq == row.seq, OAuthState.used_at.is_(None))
                .values(used_at=now)
            )
            await s.commit()
        if claimed.rowcount != 1:  # a concurrent callback took it
            raise BadRequest(
                "This OAuth state was already used: start the authorization again",
                "state_already_used",
            )
        connector, env = self._environment(row.service_environment_id)
        title = connector.title
        error = params.get("error")
        if error:
            description = params.get("error_description")
            detail = f" ({description})" if description else ""
            if error == "access_denied":
                raise BadRequest(
                    f"Access to {title} was denied at the provider (access_denied){detail}: "
                    "no authentication was stored",
                    "access_denied",
                )
            raise BadRequest(
                f"{title} refused the authorization: {error}{detail}", "oauth_provider_error"
            )
        code = params.get("code")
        if not code:
            raise BadRequest("The callback has neither code nor error", "invalid_request")
        client = self._require_client(connector, env)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if row.code_verifier:
            try:
                form["code_verifier"] = self.keyring.decrypt(row.code_verifier)
            except KeyRingError as exc:
                raise BadRequest(
                    "This OAuth state can no longer be read: start the authorization again",
                    "invalid_state",
                ) from exc
        try:
            token = await self._token_request(client, form)
        except TokenError as exc:
            raise BadRequest(
                f"{title} did not accept the authorization code: {exc.describe()}",
                "oauth_provider_error",
            ) from exc
        except ProviderUnavailable as exc:
            raise BadGateway(f"{title}'s token endpoint failed: {exc.message}") from exc
        credentials = self._credentials(token, None)
        granted = _split_scopes(token.get("scope")) or list(row.scopes or [])
        auth_id = await self._store(row, connector, env, credentials, granted)
        return auth_id, row.redirect_url

    async def _store(
        self,
        state: OAuthState,
        connector: Connector,
        env: AuthEnvironment,
        credentials: dict[str, Any],
        scopes: list[str],
    ) -> str:
        encrypted = self.keyring.encrypt(credentials)
        async with self.db.session() as s:
            if state.authentication_id is not None:
                row = await s.scalar(
                    select(Authentication).where(
                        Authentication.id == state.authentication_id,
                        Authentication.org_id == state.org_id,
                    )
                )
                if row is None or row.user_id != state.user_id:
                    raise NotFound("Authentication not found", "authentication_not_found")
                row.credentials = encrypted
                row.scopes = scopes
                row.status = "active"
                if state.user_data:
                    row.user_data = state.user_data
            else:
                row = Authentication(
                    org_id=state.org_id,
                    workspace_id=state.workspace_id,
                    user_id=state.user_id,
                    name=state.name,
                    service_name=connector.service.name,
                    service_version=connector.service.version,
                    service_environment_id=env.id,
                    scopes=scopes,
                    user_data=state.user_data or {},
                    credentials=encrypted,
                )
                s.add(row)
            await s.commit()
            auth_id = row.id
        self.authentications.invalidate(auth_id)
        return auth_id

    # -- the token endpoint ------------------------------------------------------------
    async def _token_request(self, client: OAuthClient, form: dict[str, str]) -> dict[str, Any]:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if client.endpoints.client_auth == "body":
            form = {**form, "client_id": client.client_id, "client_secret": client.client_secret}
        else:  # RFC 6749 2.3.1: both form-encoded, then HTTP Basic
            pair = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            response = await self.clients.transport.request(
                "POST",
                client.token_url,
                headers=headers,
                body=urlencode(form).encode(),
                timeout=TOKEN_TIMEOUT,
            )
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable("the request timed out", timed_out=True) from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(str(exc) or exc.__class__.__name__) from exc
        try:
            body = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            body = None
        status = response.status_code
        if isinstance(body, dict):
            error = body.get("error")
            # Errors come as 400 (RFC 6749), or as HTTP 200 (Slack's ok: false; GitHub).
            if body.get("ok") is False or (error and not body.get("access_token")):
                description = body.get("error_description")
                self._refused(
                    str(error or "unknown_error"),
                    description if isinstance(description, str) else None,
                    status,
                )
        if status == 429 or status >= 500:
            raise ProviderUnavailable(f"HTTP {status}")
        if not response.is_success:
            raise TokenError(f"http_{status}", None, status)
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"HTTP {status} without a JSON token response")
        if not body.get("access_token"):
            user = body.get("authed_user")  # Slack: a user-token-only installation
            if isinstance(user, dict) and user.get("access_token"):
                return user
            raise TokenError("invalid_response", "no access_token in the answer", status)
        return body

    @staticmethod
    def _refused(error: str, description: str | None, status: int) -> NoReturn:
        transient = status >= 500 or status == 429 or error == "temporarily_unavailable"
        if transient and error not in REAUTHORIZE_ERRORS:
            raise ProviderUnavailable(f"HTTP {status} {error}")
        raise TokenError(error, description, status)

    @staticmethod
    def _credentials(token: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        """What to store from a token answer; a refresh keeps the refresh token (and
        scope) it is not given again."""
        previous = previous or {}
        credentials: dict[str, Any] = {"access_token": token["access_token"]}
        refresh_token = token.get("refresh_token") or previous.get("refresh_token")
        if refresh_token:
            credentials["refresh_token"] = refresh_token
        token_type = token.get("token_type") or previous.get("token_type") or "Bearer"
        credentials["token_type"] = token_type
        scope = token.get("scope") or previous.get("scope")
        if scope:
            credentials["scope"] = scope
        expires_in = token.get("expires_in")
        try:
            seconds = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            seconds = None
        if seconds is not None:
            credentials["expires_at"] = int(time.time() + seconds)
        return credentials

    # -- refresh -----------------------------------------------------------------------
    def refreshable(self, environment_id: str, credentials: dict[str, Any]) -> bool:
        """Whether these credentials can be refreshed (OAuth 2 environment with a configured
        client, and a refresh token)."""
        if not credentials.get("refresh_token"):
            return False
        found = self._lookup(environment_id)
        return found is not None and self.client_for(*found) is not None

    async def refresh(self, auth_id: str, seen: dict[str, Any] | None = None) -> dict[str, Any]:
        """Refresh an authentication's access token; its new credentials.

        One refresh at a time per authentication: a caller that waited for another's
        refresh (the stored credentials differ from ``seen``, what it had) gets that result
        instead of refreshing again. The refresh runs to completion even if the caller is
        cancelled (a rotated refresh token must not be lost). Raises
        :class:`ConnectorError`: ``auth_error`` when the grant is gone (the authentication
        is then marked ``needs_reauthorization``) or the provider refused,
        ``connector_error`` / ``timeout`` when it could not be reached."""
        task = asyncio.ensure_future(self._refresh(auth_id, seen))
        task.add_done_callback(_consume)
        return await asyncio.shield(task)

    def _lock(self, auth_id: str) -> asyncio.Lock:
        lock = self._locks.get(auth_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[auth_id] = lock
        return lock

    async def _read(self, auth_id: str) -> Authentication | None:
        async with self.db.session() as s:
            return await s.scalar(select(Authentication).where(Authentication.id == auth_id))

    async def _refresh(self, auth_id: str, seen: dict[str, Any] | None) -> dict[str, Any]:
        async with self._lock(auth_id):
            row = await self._read(auth_id)
            if row is None:
                raise ConnectorError("The authentication no longer exists", "auth_error")
            credentials = self.keyring.decrypt(row.credentials)
            found = self._lookup(row.service_environment_id)
            title = found[0].title if found else row.service_name
            if row.status == NEEDS_REAUTHORIZATION:
                raise self._reauthorize_error(title, None)
            if seen is not None and _moved(seen, credentials):
                return credentials  # refreshed by another caller meanwhile
            client = self.client_for(*found) if found else None
            refresh_token = credentials.get("refresh_token")
            if client is None or not refresh_token:
                raise ConnectorError(
                    f"The {title} authentication cannot be refreshed "
                    + ("(no refresh token)" if client else "(no OAuth client configured)"),
                    "auth_error",
                )
            form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
            try:
                token = await self._token_request(client, form)
            except TokenError as exc:
                if exc.error not in REAUTHORIZE_ERRORS:
                    raise ConnectorError(
                        f"{title} did not refresh the access token: {exc.describe()}",
                        "auth_error",
                        status_code=exc.status,
                        body=exc.body(),
                        code=exc.error,
                    ) from exc
                # Another process may have rotated the refresh token meanwhile.
                current = await self._read(auth_id)
                if current is not None:
                    now_stored = self.keyring.decrypt(current.credentials)
                    if now_stored.get("refresh_token") != refresh_token:
                        return now_stored
                await self._set_status(auth_id, NEEDS_REAUTHORIZATION)
                log.warning(
                    "authentication %s needs re-authorization: %s refused the refresh (%s)",
                    auth_id,
                    title,
                    exc.error,
                )
                raise self._reauthorize_error(title, exc) from exc
            except ProviderUnavailable as exc:
                raise ConnectorError(
                    f"Could not refresh the {title} access token: {exc.message}",
                    "timeout" if exc.timed_out else "connector_error",
                ) from exc
            fresh = self._credentials(token, credentials)
            async with self.db.session() as s:
                await s.execute(
                    update(Authentication)
                    .where(Authentication.id == auth_id)
                    .values(
                        credentials=self.keyring.encrypt(fresh),
                        status="active",
                        updated_at=utcnow(),
                    )
                )
                await s.commit()
            self.authentications.invalidate(auth_id)
            return fresh

    async def _set_status(self, auth_id: str, status: str) -> None:
        async with self.db.session() as s:
            await s.execute(
                update(Authentication)
                .where(Authentication.id == auth_id)
                .values(status=status, updated_at=utcnow())
            )
            await s.commit()
        self.authentications.invalidate(auth_id)

    @staticmethod
    def _reauthorize_error(title: str, exc: TokenError | None) -> ConnectorError:
        why = (
            f"{title} refused to refresh the access token ({exc.error})"
            if exc
            else (f"its {title} refresh token was refused earlier")
        )
        message = (
            f"The {title} authentication needs to be authorized again: {why}. Re-authorize it "
            "(POST /core/v1/oauth/authorize with its authenticationId)"
        )
        if exc is None:
            return ConnectorError(message, "auth_error", code=NEEDS_REAUTHORIZATION)
        return ConnectorError(
            message, "auth_error", status_code=exc.status, body=exc.body(), code=exc.error
        )

    # -- for calls ---------------------------------------------------------------------
    async def prepare(self, auth: LoadedAuth) -> LoadedAuth:
        """The authentication ready for a call: refused (``auth_error``) when it needs
        re-authorization, refreshed first when its access token expires within 60 s."""
        if auth.status == NEEDS_REAUTHORIZATION:
            found = self._lookup(auth.environment_id)
            raise self._reauthorize_error(found[0].title if found else auth.service_name, None)
        expires_at = expires_at_of(auth.credentials)
        if expires_at is None or expires_at - time.time() > REFRESH_AHEAD_SECONDS:
            return auth
        if not self.refreshable(auth.environment_id, auth.credentials):
            return auth
        try:
            fresh = await self.refresh(auth.id, auth.credentials)
        except ConnectorError as exc:
            if exc.kind == "auth_error" or expires_at <= time.time():
                raise
            # The provider is unavailable but the token still works for a moment.
            log.warning("proactive refresh of %s failed: %s", auth.id, exc.message)
            return auth
        return replace(auth, credentials=fresh)

    def refresher(self, auth: LoadedAuth) -> Refresher | None:
        """The reactive refresh handed to the operation (a 401, Slack's token_expired)."""
        if not self.refreshable(auth.environment_id, auth.credentials):
            return None
        current = auth.credentials

        async def refresh() -> dict[str, Any] | None:
            nonlocal current
            current = await self.refresh(auth.id, current)
            return current

        return refresh

    async def force_refresh(self, row: Authentication) -> bool:
        """``/full?forceRefresh=true``: refresh ``row``'s credentials now when it is an OAuth 2
        authentication with a refresh token (whether it was refreshed); errors as API
        errors, 400 when such an authentication has no configured client."""
        credentials = self.keyring.decrypt(row.credentials)
        if not credentials.get("refresh_token"):
            return False
        found = self._lookup(row.service_environment_id)
        if found is None or found[1].oauth2 is None:
            return False
        self._require_client(*found)
        try:
            await self.refresh(row.id, credentials)
        except ConnectorError as exc:
            if exc.code == NEEDS_REAUTHORIZATION or exc.code in REAUTHORIZE_ERRORS:
                raise BadRequest(exc.message, NEEDS_REAUTHORIZATION) from exc
            if exc.kind == "auth_error":
                raise BadRequest(exc.message, "oauth_refresh_failed") from exc
            raise BadGateway(exc.message) from exc
        return True
