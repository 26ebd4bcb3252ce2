"""A loopback OpenID Connect provider, for tests and demos: the OAuth 2 provider of
:mod:`patchbay.testing.oauth_provider` (authorization code, PKCE, client authentication)
plus discovery, a JWKS, ID tokens signed RS256 and a userinfo endpoint.

    provider = OidcProvider(clients={"patchbay": "s3cret"})
    with serve_in_thread(create_app(provider)) as url:
        provider.issuer = url          # before the first request
        provider.sign_in(email="ada@example.com")

- ``GET /.well-known/openid-configuration``: the discovery document (issuer, endpoints,
  ``token_endpoint_auth_methods_supported`` as :attr:`OidcProvider.token_auth_methods`).
- ``GET /jwks``: the public half of the signing key (one RSA key per process).
- ``GET /authorize``: approves at once as the user set by :meth:`OidcProvider.sign_in`,
  remembering the request's ``nonce`` and PKCE challenge with the code.
- ``POST /token``: the code exchange (client authentication, code, redirect URI, PKCE
  verifier checked) answers an access token and an ``id_token``.
- ``GET /userinfo``: the user's claims for a valid access token.

Knobs for the failures a relying party must refuse: :attr:`OidcProvider.id_token_claims`
(override or drop claims: ``{"aud": "other", "email_verified": None}``),
:attr:`OidcProvider.sign_with` (another key), :attr:`OidcProvider.discovery_answer` (a raw
body instead of the document)."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .oauth_provider import OAuthProvider
from .oauth_provider import create_app as create_oauth_app

ID_TOKEN_TTL_SECONDS = 300
_KEYS: dict[str, RSAKey] = {}


def rsa_key(name: str = "main") -> RSAKey:
    """An RSA signing key, generated once per process and name (``kid`` = the name)."""
    if name not in _KEYS:
        _KEYS[name] = RSAKey.generate_key(
            2048, parameters={"kid": f"{name}-key", "use": "sig", "alg": "RS256"}
        )
    return _KEYS[name]


class OidcProvider(OAuthProvider):
    def __init__(self, clients: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(clients, **kwargs)
        self.issuer = ""  # set once the server's URL is known
        self.key = rsa_key()
        self.sign_with: RSAKey | None = None  # sign ID tokens with this key instead
        self.token_auth_methods = ["client_secret_basic", "client_secret_post"]
        # Claims overriding (or, with None, removing) the computed ID token claims.
        self.id_token_claims: dict[str, Any] = {}
        # Userinfo-only claims: these are left out of the ID token, served by /userinfo.
        self.userinfo_only: set[str] = set()
        self.discovery_answer: bytes | None = None  # a raw body for the discovery document
        self.user: dict[str, Any] = {}
        self.nonces: dict[str, str | None] = {}  # code -> the authorization's nonce
        self.issued_id_tokens: list[str] = []
        self.sign_in(email="ada@example.com")

    def sign_in(self, *, email: str, email_verified: Any = True, **claims: Any) -> None:
        """The user the next authorizations approve as."""
        with self._lock:
            self.subject = "sub-" + secrets.token_hex(6)
            self.user = {
                "sub": self.subject,
                "email": email,
                "email_verified": email_verified,
                "name": claims.pop("name", "Ada Lovelace"),
                **claims,
            }

    # -- discovery ----------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": list(self.token_auth_methods),
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    # -- authorize: remember the nonce with the code ------------------------------------
    def authorize(self, params: dict[str, str]) -> tuple[int, str | dict[str, str]]:
        status, answer = super().authorize(params)
        if status == 302 and isinstance(answer, str):
            code = parse_qs(urlsplit(answer).query).get("code")
            if code:
                with self._lock:
                    self.nonces[code[0]] = params.get("nonce")
        return status, answer

    # -- token: the OAuth 2 answer plus an ID token --------------------------------------
    def _exchange_code(self, client, form: dict[str, str]) -> dict[str, Any]:
        answer = super()._exchange_code(client, form)
        nonce = self.nonces.pop(form.get("code", ""), None)
        answer["id_token"] = self.id_token(client.client_id, nonce)
        return answer

    def id_token(self, client_id: str, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": client_id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL_SECONDS,
            "auth_time": now,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(
            {k: v for k, v in self.user.items() if k != "sub" and k not in self.userinfo_only}
        )
        for name, value in self.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self.sign_with or self.key
        token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        self.issued_id_tokens.append(token)
        return token

    # -- userinfo -----------------------------------------------------------------------
    def userinfo(self, authorization: str | None) -> tuple[int, dict[str, Any]]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or self.check(token.strip()) != "active":
            return 401, {"error": "invalid_token"}
        found = self.token(token.strip())
        with self._lock:
            if found is None or found.subject != self.user.get("sub"):
                return 401, {"error": "invalid_token"}
            return 200, dict(self.user)


def create_app(state: OidcProvider | None = None) -> Starlette:
    """The provider as an ASGI app; ``app.state.provider`` is its :class:`OidcProvider`."""
    provider = state if state is not None else OidcProvider()
    oauth = create_oauth_app(provider)
    authorize, token = (
        next(r.endpoint for r in oauth.routes if r.path == path)  # type: ignore[attr-defined]
        for path in ("/oauth/authorize", "/oauth/token")
    )

    async def discovery(request: Request) -> Response:
        if provider.discovery_answer is not None:
            return Response(provider.discovery_answer, media_type="text/html")
        if not provider.issuer:
            provider.issuer = str(request.base_url).rstrip("/")
        return JSONResponse(provider.discovery())

    async def jwks(_: Request) -> Response:
        return JSONResponse(provider.jwks())

    async def userinfo(request: Request) -> Response:
        status, answer = provider.userinfo(request.headers.get("authorization"))
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else {}
        return JSONResponse(answer, status_code=status, headers=headers)

    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/jwks", jwks, methods=["GET"]),
            Route("/authorize", authorize, methods=["GET"]),
            Route("/token", token, methods=["POST"]),
            Route("/userinfo", userinfo, methods=["GET"]),
        ]
    )
    app.state.provider = provider
    return app


__all__ = ["OidcProvider", "create_app", "rsa_key"]
