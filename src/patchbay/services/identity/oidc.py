"""The OpenID Connect provider as Patchbay's single sign-on sees it: its discovery document
and signing keys (cached), the authorization URL, the code exchange, ID token validation
and the userinfo endpoint.

The protocol parts come from well-kept libraries: authlib builds the authorization request
(state, nonce, PKCE S256), joserfc checks the ID token's signature against the provider's
JWKS and its claims. The provider is configured by the operator, so it is reached with a
plain HTTP client (timeouts, no redirects, bounded answers), not the connectors' outbound
policy. Nothing here logs or answers with the client secret or a token."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
import orjson
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet

from ..errors import ServiceError, Unauthorized

log = logging.getLogger("patchbay.sso")

DISCOVERY_PATH = "/.well-known/openid-configuration"
# The discovery document and the keys are fetched again after this; keys also when a token
# names a key id the cached set lacks (a rotation), at most once per JWKS_REFETCH_SECONDS.
DISCOVERY_TTL_SECONDS = 3600.0
JWKS_REFETCH_SECONDS = 5.0
LEEWAY_SECONDS = 60  # clock skew allowed on exp / iat / nbf
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ANSWER_BYTES = 1_048_576
# Asymmetric algorithms only: "none" and HMAC (keyed with the client secret) are refused.
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
_PROVIDER_TEXT_LIMIT = 200  # of a provider's error description quoted in a message


class ProviderUnavailable(ServiceError):
    """The provider could not be reached, timed out, or failed (5xx, not JSON)."""

    status = 502
    default_code = "sso_provider_unavailable"


class ProviderInvalid(ServiceError):
    """The provider answered something single sign-on cannot use (or its configuration
    is wrong: an issuer mismatch, a client it refuses)."""

    status = 502
    default_code = "sso_provider_invalid"


def invalid_id_token(reason: str) -> Unauthorized:
    return Unauthorized(
        f"The identity provider's ID token was refused: {reason}", "sso_invalid_id_token"
    )


def provider_text(value: Any) -> str:
    """A provider's error code or description, safe to quote in a message."""
    text = value if isinstance(value, str) else ""
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:_PROVIDER_TEXT_LIMIT]


@dataclass(frozen=True)
class Discovery:
    """What single sign-on uses of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_auth_method: str  # client_secret_basic | client_secret_post
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class Authorization:
    """A started sign-in: where to send the browser, and what the callback must check."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str | None


class OidcProvider:
    def __init__(
        self, issuer: str, client_id: str, client_secret: str, scopes: str, redirect_uri: str
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self.scopes = " ".join(scopes.split()) or "openid"
        if "openid" not in self.scopes.split():
            self.scopes = "openid " + self.scopes
        self.redirect_uri = redirect_uri
        self._http = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        self._discovery: tuple[Discovery, float] | None = None
        self._keys: tuple[list[Key], float] | None = None
        self._lock = asyncio.Lock()
        self.jwks_refetch_seconds = JWKS_REFETCH_SECONDS

    def __repr__(self) -> str:  # never the secret
        return f"OidcProvider(issuer={self.issuer!r}, client_id={self.client_id!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- discovery and keys ------------------------------------------------------------
    async def discovery(self) -> Discovery:
        """The provider's discovery document (cached for DISCOVERY_TTL_SECONDS)."""
        cached = self._discovery
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self._lock:
            cached = self._discovery
            if cached and cached[1] > time.monotonic():
                return cached[0]
            url = self.issuer.rstrip("/") + DISCOVERY_PATH
            found = self._parse_discovery(await self._get_json(url, "discovery document"))
            self._discovery = (found, time.monotonic() + DISCOVERY_TTL_SECONDS)
            return found

    def _parse_discovery(self, doc: Any) -> Discovery:
        if not isinstance(doc, dict):
            raise ProviderInvalid("The identity provider's discovery document is not an object")
        issuer = doc.get("issuer")
        # OpenID Connect Discovery 4.3: the document names the issuer it was asked for.
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer.rstrip("/"):
            raise ProviderInvalid(
                "The identity provider's discovery document names another issuer "
                f"({provider_text(issuer)!r}, configured: {self.issuer!r})"
            )
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = doc.get(name)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise ProviderInvalid(f"The identity provider's discovery document lacks {name}")
            endpoints[name] = value
        userinfo = doc.get("userinfo_endpoint")
        methods = doc.get("token_endpoint_auth_methods_supported")
        if not isinstance(methods, list) or not methods:
            methods = ["client_secret_basic"]  # the default, by OpenID Connect Discovery 3
        if "client_secret_basic" in methods:
            auth_method = "client_secret_basic"
        elif "client_secret_post" in methods:
            auth_method = "client_secret_post"
        else:
            raise ProviderInvalid(
                "The identity provider supports neither client_secret_basic nor "
                "client_secret_post at its token endpoint"
            )
        advertised = doc.get("id_token_signing_alg_values_supported")
        if not isinstance(advertised, list):
            advertised = ["RS256"]
        algorithms = tuple(a for a in SIGNING_ALGORITHMS if a in advertised)
        if not algorithms:
            raise ProviderInvalid(
                "The identity provider signs ID tokens with no algorithm Patchbay accepts "
                f"({', '.join(SIGNING_ALGORITHMS)})"
            )
        return Discovery(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            userinfo_endpoint=userinfo if isinstance(userinfo, str) and userinfo else None,
            token_auth_method=auth_method,
            algorithms=algorithms,
        )

    async def _key_set(self, discovery: Discovery, *, fresh: bool = False) -> list[Key]:
        """The provider's signing keys; ``fresh``: fetch again unless just fetched."""
        now = time.monotonic()
        cached = self._keys
        if cached:
            keys, fetched = cached
            if now - fetched < (self.jwks_refetch_seconds if fresh else DISCOVERY_TTL_SECONDS):
                return keys
        doc = await self._get_json(discovery.jwks_uri, "signing keys (JWKS)")
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise ProviderInvalid("The identity provider's JWKS is not a key set")
        # Keys for signatures only; a key of a type this library cannot read is skipped.
        keys = []
        for entry in doc["keys"]:
            if isinstance(entry, dict) and entry.get("use", "sig") == "sig":
                try:
                    keys.extend(KeySet.import_key_set({"keys": [entry]}))
                except (JoseError, ValueError, TypeError):
                    continue
        if not keys:
            raise ProviderInvalid("The identity provider's JWKS holds no usable signing key")
        self._keys = (keys, now)
        return keys

    # -- the authorization request -----------------------------------------------------
    async def authorization(self) -> Authorization:
        found = await self.discovery()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = prepare_grant_uri(
            found.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=self.scopes,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Authorization(url, state, nonce, verifier)

    # -- the token endpoint ------------------------------------------------------------
    async def exchange(self, code: str, code_verifier: str) -> Tokens:
        """Trade the authorization code (with the PKCE verifier) for the ID token."""
        found = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        if found.token_auth_method == "client_secret_post":
            form.update(client_id=self.client_id, client_secret=self._client_secret)
        else:  # RFC 6749 2.3.1: both form-encoded, then HTTP Basic
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        response = await self._send("POST", found.token_endpoint, "token endpoint", headers, form)
        body = _json_or_none(response.content)
        if isinstance(body, dict) and body.get("error"):
            error = provider_text(body.get("error"))
            description = provider_text(body.get("error_description"))
            said = error + (f" ({description})" if description else "")
            if response.status_code >= 500 or error == "temporarily_unavailable":
                raise ProviderUnavailable(f"The identity provider's token endpoint failed: {said}")
            if error in ("invalid_client", "unauthorized_client"):
                raise ProviderInvalid(
                    f"The identity provider refused Patchbay's client credentials: {said}; "
                    "check PATCHBAY_OIDC_CLIENT_ID and PATCHBAY_OIDC_CLIENT_SECRET",
                    "sso_client_rejected",
                )
            raise Unauthorized(
                f"The identity provider refused the authorization code: {said}",
                "sso_code_rejected",
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailable(
                f"The identity provider's token endpoint answered HTTP {response.status_code}"
            )
        if not response.is_success or not isinstance(body, dict):
            raise ProviderInvalid(
                f"The identity provider's token endpoint answered HTTP {response.status_code} "
                "without a JSON token response"
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise ProviderInvalid("The identity provider's token response has no id_token")
        access = body.get("access_token")
        return Tokens(id_token, access if isinstance(access, str) and access else None)

    # -- the ID token ------------------------------------------------------------------
    async def validate_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature (the provider's JWKS), issuer,
        audience, azp, times (with LEEWAY_SECONDS) and nonce check out; else 401
        ``sso_invalid_id_token`` saying which check failed."""
        found = await self.discovery()
        try:
            header = jws.extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError, TypeError):
            raise invalid_id_token("it is not a signed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in found.algorithms:
            raise invalid_id_token(
                f"it is signed with {provider_text(algorithm)!r}, not one of "
                f"{', '.join(found.algorithms)}"
            )
        kid = header.get("kid")
        keys = await self._key_set(found)
        if kid is not None and not any(key.kid == kid for key in keys):
            keys = await self._key_set(found, fresh=True)  # the provider rotated its keys
        token = self._verify_signature(id_token, keys, kid, found.algorithms)
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": found.issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise invalid_id_token("it has expired") from None
        except MissingClaimError as exc:
            raise invalid_id_token(f"it lacks the claim(s) {exc.claim}") from None
        except InvalidClaimError as exc:
            raise invalid_id_token(
                _CLAIM_REASONS.get(exc.claim, f"its {exc.claim} is invalid")
            ) from None
        audience = claims.get("aud")
        azp = claims.get("azp")
        # OpenID Connect Core 3.1.3.7: with other audiences, azp must name this client.
        if (isinstance(audience, list) and len(audience) > 1 or azp is not None) and (
            azp != self.client_id
        ):
            raise invalid_id_token("its authorized party (azp) is another client")
        return claims

    @staticmethod
    def _verify_signature(
        id_token: str, keys: list[Key], kid: str | None, algorithms: tuple[str, ...]
    ) -> jwt.Token:
        if kid is not None:
            candidates = [key for key in keys if key.kid == kid]
            if not candidates:
                raise invalid_id_token("it is signed by a key the provider does not publish")
        else:
            candidates = list(keys)
        for key in candidates:
            try:
                return jwt.decode(id_token, key, algorithms=list(algorithms))
            except BadSignatureError:
                continue
            except (JoseError, ValueError, TypeError):
                raise invalid_id_token("it cannot be read") from None
        raise invalid_id_token("its signature does not verify with the provider's keys")

    # -- userinfo ------------------------------------------------------------------
    async def userinfo(self, access_token: str) -> dict[str, Any]:
        found = await self.discovery()
        if found.userinfo_endpoint is None:
            return {}
        response = await self._send(
            "GET",
            found.userinfo_endpoint,
            "userinfo endpoint",
            {"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailable(
                f"The identity provider's userinfo endpoint answered HTTP {response.status_code}"
            )
        body = _json_or_none(response.content)
        if not response.is_success or not isinstance(body, dict):
            raise ProviderInvalid(
                f"The identity provider's userinfo endpoint answered HTTP {response.status_code} "
                "without a JSON object"
            )
        return body

    # -- HTTP ------------------------------------------------------------------------
    async def _get_json(self, url: str, what: str) -> Any:
        response = await self._send("GET", url, what, {"Accept": "application/json"})
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailable(
                f"The identity provider's {what} answered HTTP {response.status_code}"
            )
        if not response.is_success:  # a wrong issuer URL, most likely
            raise ProviderInvalid(
                f"The identity provider's {what} answered HTTP {response.status_code}"
            )
        body = _json_or_none(response.content)
        if body is None:
            raise ProviderInvalid(f"The identity provider's {what} is not JSON")
        return body

    async def _send(
        self,
        method: str,
        url: str,
        what: str,
        headers: dict[str, str],
        form: dict[str, str] | None = None,
    ) -> Answer:
        """One request, its answer read up to MAX_ANSWER_BYTES (502 past it)."""
        try:
            request = self._http.build_request(method, url, headers=headers, data=form)
            response = await self._http.send(request, stream=True)
            try:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise ProviderInvalid(f"The identity provider's {what} answer is too large")
                    chunks.append(chunk)
            finally:
                await response.aclose()
        except httpx.InvalidURL:
            raise ProviderInvalid(f"The identity provider's {what} URL is not valid") from None
        except httpx.TimeoutException:
            raise ProviderUnavailable(
                f"The identity provider's {what} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            log.warning(
                "sso: the identity provider's %s is unreachable: %s", what, type(exc).__name__
            )
            raise ProviderUnavailable(f"The identity provider's {what} cannot be reached") from None
        return Answer(response.status_code, b"".join(chunks))


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


_CLAIM_REASONS = {
    "iss": "its issuer (iss) is not the configured issuer",
    "aud": "its audience (aud) is not this client",
    "nonce": "its nonce does not match this sign-in",
    "iat": "it was issued in the future",
    "nbf": "it is not valid yet",
    "exp": "it has expired",
    "sub": "its subject (sub) is invalid",
}


def _json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None
