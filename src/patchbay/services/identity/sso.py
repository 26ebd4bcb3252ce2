"""Single sign-on with OpenID Connect: a member signs in at the organisation's identity
provider and comes back with a session.

The start keeps what the callback must check (state, nonce, PKCE verifier, where to go
next) in the browser, in a short-lived cookie encrypted with the platform key ring: no row
is written for a sign-in that is never finished. The callback takes a member only by a
verified email that a member of the default organisation already has: members come by
invitation or the Platform API, never by signing in."""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import update

from ...config import Settings
from ...crypto import KeyRing, KeyRingError
from ...storage.db import Database
from ...storage.models import Member, utcnow
from ..errors import BadRequest, Forbidden, NotFound, Unauthorized
from .members import Members
from .sessions import Sessions, StartedSession

if TYPE_CHECKING:  # authlib and joserfc load only where single sign-on is configured
    from .oidc import OidcProvider

log = logging.getLogger("patchbay.sso")

CALLBACK_PATH = "/core/v1/sso/callback"
START_PATH = "/core/v1/sso/start"
COOKIE = "patchbay_sso"
COOKIE_PATH = "/core/v1/sso"
STATE_TTL_SECONDS = 600
MAX_NEXT_LENGTH = 2048


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this site ("/console/x?y"), else "/": no scheme, no
    host, no "//" or backslash (which browsers read as another host), no control
    characters."""
    if not value or len(value) > MAX_NEXT_LENGTH or not value.startswith("/"):
        return "/"
    if value.startswith("//") or "\\" in value or not value.isprintable():
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


@dataclass(frozen=True)
class SignedIn:
    member: Member
    session: StartedSession
    next: str


class SingleSignOn:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        keyring: KeyRing,
        members: Members,
        sessions: Sessions,
    ) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self.members = members
        self.sessions = sessions
        self.provider: OidcProvider | None = None
        if settings.sso_configured:
            from .oidc import OidcProvider

            self.provider = OidcProvider(
                issuer=settings.oidc_issuer or "",
                client_id=settings.oidc_client_id or "",
                client_secret=settings.oidc_secret(),
                scopes=settings.oidc_scopes,
                redirect_uri=settings.effective_public_url + CALLBACK_PATH,
            )
        elif any((settings.oidc_issuer, settings.oidc_client_id, settings.oidc_secret())):
            missing = [
                name
                for name, value in (
                    ("PATCHBAY_OIDC_ISSUER", settings.oidc_issuer),
                    ("PATCHBAY_OIDC_CLIENT_ID", settings.oidc_client_id),
                    ("PATCHBAY_OIDC_CLIENT_SECRET", settings.oidc_secret()),
                )
                if not value
            ]
            log.warning("Single sign-on is off: %s not set", ", ".join(missing))
        if self.provider is None and settings.sso_only:
            log.warning(
                "PATCHBAY_SSO_ONLY is set but single sign-on is not configured "
                "(PATCHBAY_OIDC_ISSUER, PATCHBAY_OIDC_CLIENT_ID, PATCHBAY_OIDC_CLIENT_SECRET)"
            )

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "ssoOnly": self.settings.sso_only, "startUrl": START_PATH}

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()

    def _require(self) -> OidcProvider:
        if self.provider is None:
            raise NotFound("Single sign-on is not configured", "sso_not_configured")
        return self.provider

    # -- start ---------------------------------------------------------------------------
    async def start(self, next_path: str | None) -> tuple[str, str]:
        """The provider URL to send the browser to, and the value of the cookie that
        carries this sign-in's state to the callback."""
        provider = self._require()
        authorization = await provider.authorization()
        cookie = self.keyring.encrypt(
            {
                "state": authorization.state,
                "nonce": authorization.nonce,
                "verifier": authorization.code_verifier,
                "next": safe_next(next_path),
                "exp": int(time.time()) + STATE_TTL_SECONDS,
            }
        )
        return authorization.url, cookie

    # -- callback ------------------------------------------------------------------------
    async def callback(
        self,
        params: dict[str, str],
        cookie: str | None,
        *,
        org_id: str,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> SignedIn:
        """Check the provider's answer against this browser's sign-in, take the code to
        the provider, validate the ID token, and start a session for the member of
        ``org_id`` with the verified email."""
        provider = self._require()
        pending = self._pending(cookie)
        state = params.get("state") or ""
        if not hmac.compare_digest(state.encode(), str(pending.get("state", "")).encode()):
            raise BadRequest(
                "This sign-in answer does not belong to the sign-in this browser started; "
                "start again",
                "sso_state_mismatch",
            )
        if params.get("error"):
            from .oidc import provider_text

            error = provider_text(params["error"])
            description = provider_text(params.get("error_description"))
            raise Unauthorized(
                f"The identity provider refused the sign-in: {error}"
                + (f" ({description})" if description else ""),
                "sso_denied",
            )
        code = params.get("code")
        if not code:
            raise BadRequest("The identity provider's answer has no code", "invalid_request")
        tokens = await provider.exchange(code, str(pending.get("verifier", "")))
        claims = await provider.validate_id_token(tokens.id_token, str(pending.get("nonce", "")))
        email, verified = claims.get("email"), claims.get("email_verified")
        if (not email or verified is None) and tokens.access_token:
            info = await provider.userinfo(tokens.access_token)
            # OpenID Connect Core 5.3.2: userinfo speaks of the ID token's subject or of no one.
            if info.get("sub") == claims.get("sub"):
                email = email or info.get("email")
                if verified is None:
                    verified = info.get("email_verified")
        if not isinstance(email, str) or not email.strip():
            raise Forbidden(
                "The identity provider did not give an email address (ask for the 'email' scope)",
                "sso_email_not_verified",
            )
        # Some providers send the boolean as a string.
        if verified is not True and verified != "true":
            raise Forbidden(
                "The identity provider has not verified this email address",
                "sso_email_not_verified",
            )
        member = await self.members.by_email(org_id, email)
        if member is None:
            raise Forbidden(
                "No member of this organisation has the email the identity provider gave; "
                "ask an administrator for an invitation",
                "not_a_member",
            )
        session = await self.sessions.start(
            org_id, member.id, method="sso", ip=ip, user_agent=user_agent
        )
        async with self.db.session() as s:
            await s.execute(
                update(Member).where(Member.id == member.id).values(last_sign_in_at=utcnow())
            )
            await s.commit()
        return SignedIn(member, session, str(pending.get("next") or "/"))

    def _pending(self, cookie: str | None) -> dict[str, Any]:
        missing = BadRequest(
            "No single sign-on in progress in this browser (it expired after "
            f"{STATE_TTL_SECONDS // 60} minutes, or cookies are blocked); start again",
            "sso_state_missing",
        )
        if not cookie:
            raise missing
        try:
            pending = self.keyring.decrypt(cookie)
        except (KeyRingError, ValueError, TypeError):
            raise missing from None
        if not isinstance(pending, dict) or not isinstance(pending.get("exp"), int):
            raise missing
        if pending["exp"] <= time.time():
            raise missing
        return pending
