"""Single sign-on with OpenID Connect (on SQLite and PostgreSQL) against a loopback
provider served over real HTTP: the whole sign-in (start, the provider's redirect, the
callback, the session cookie at work), matching members by verified email, and every
answer that must be refused (state, nonce, audience, issuer, expiry, signature, PKCE, an
unverified or unknown email, a provider that is down or answers garbage, open redirects)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from patchbay.services.identity.sso import COOKIE as SSO_COOKIE
from patchbay.services.identity.sso import safe_next
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.oidc_provider import OidcProvider, create_app, rsa_key

CLIENT_ID = "patchbay-console"
CLIENT_SECRET = "sso-client-secret-do-not-echo"
PUBLIC_URL = "http://patchbay.test"  # the API client's base URL
START = "/core/v1/sso/start"
CALLBACK = "/core/v1/sso/callback"
EMAIL = "ada@example.com"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    state = OidcProvider(clients={CLIENT_ID: CLIENT_SECRET})
    with serve_in_thread(create_app(state)) as url:
        state.issuer = url
        yield state


def sso_settings(settings, issuer: str, **extra):
    return settings.model_copy(
        update={
            "public_url": PUBLIC_URL,
            "oidc_issuer": issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
            **extra,
        }
    )


@dataclass
class Sso:
    api: object  # conftest.Api
    provider: OidcProvider
    browser: httpx.AsyncClient  # talks to the provider

    async def start(self, next_path: str | None = "/console/flows") -> httpx.Response:
        params = {"next": next_path} if next_path is not None else {}
        r = await self.api.client.get(START, params=params)
        assert r.status_code == 302, r.text
        return r

    async def authorize(self, start: httpx.Response) -> str:
        """Follow the start's redirect to the provider; the callback URL it sends back."""
        r = await self.browser.get(start.headers["location"])
        assert r.status_code == 302, r.text
        location = r.headers["location"]
        assert location.startswith(PUBLIC_URL + CALLBACK), location
        return location[len(PUBLIC_URL) :]

    async def sign_in(self, next_path: str | None = "/console/flows") -> httpx.Response:
        """Start, the provider, and the callback's answer."""
        callback = await self.authorize(await self.start(next_path))
        return await self.api.client.get(callback)

    async def member(self, email: str = EMAIL, **extra) -> str:
        pf = self.api.platform
        workspace = await pf.identity.default_workspace(pf.default_org_id)
        member = await pf.members.create(
            pf.default_org_id,
            email=email,
            name="Ada",
            org_role="member",
            workspaces={workspace: "admin"},  # the workflow routes need it today
            **extra,
        )
        return member.id


@pytest.fixture
async def sso(settings, make_api, provider) -> AsyncIterator[Sso]:
    async with make_api(sso_settings(settings, provider.issuer)) as api:
        async with httpx.AsyncClient(timeout=10) as browser:
            yield Sso(api, provider, browser)


def assert_no_secrets(response: httpx.Response, provider: OidcProvider) -> None:
    text = response.text + str(response.headers)
    assert CLIENT_SECRET not in text
    for token in provider.issued_id_tokens:
        assert token not in text
    for token in provider.access_tokens:
        assert token not in text


def cleared_sso_cookie(response: httpx.Response) -> bool:
    return any(
        v.startswith(f"{SSO_COOKIE}=") and "Max-Age=0" in v
        for v in response.headers.get_list("set-cookie")
    )


# -- the whole sign-in ----------------------------------------------------------------------


async def test_sign_in_end_to_end(sso: Sso):
    member_id = await sso.member()
    api = sso.api

    r = await api.client.get("/core/v1/sso")
    assert r.status_code == 200
    assert r.json() == {"enabled": True, "ssoOnly": False, "startUrl": START}

    start = await sso.start("/console/flows?tab=1")
    location = urlsplit(start.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == sso.provider.issuer + (
        "/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == PUBLIC_URL + CALLBACK
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == "S256"
    assert query["state"] and query["nonce"] and query["code_challenge"]
    assert CLIENT_SECRET not in start.headers["location"]
    [cookie] = [c for c in start.headers.get_list("set-cookie") if c.startswith(SSO_COOKIE)]
    attributes = cookie.lower()
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "path=/core/v1/sso" in attributes and "max-age=600" in attributes
    assert "secure" not in attributes  # plain http, cookie_secure=auto
    # The state travels encrypted: none of it can be read from the cookie.
    value = cookie.split(";")[0].split("=", 1)[1]
    assert query["state"] not in value and query["nonce"] not in value

    callback = await sso.authorize(start)
    r = await api.client.get(callback)
    assert r.status_code == 302, r.text
    assert r.headers["location"] == "/console/flows?tab=1"
    assert r.headers["cache-control"] == "no-store"
    session = [c for c in r.headers.get_list("set-cookie") if c.startswith("patchbay_session=")]
    assert len(session) == 1
    attributes = session[0].lower()
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/;" in attributes
    assert cleared_sso_cookie(r)
    assert_no_secrets(r, sso.provider)

    # The code went with the PKCE verifier and HTTP Basic client authentication.
    exchange = sso.provider.token_requests[-1]
    assert exchange.status == 200 and exchange.client_auth == "basic"
    assert exchange.form["code_verifier"]

    # The session cookie (now in the client's jar) works on an authenticated read.
    r = await api.client.get("/core/v1/workflows")
    assert r.status_code == 200, r.text

    sessions = await session_rows(api, member_id)
    assert [s.method for s in sessions] == ["sso"]


async def session_rows(api, member_id: str):
    from sqlalchemy import select

    from patchbay.storage.models import MemberSession

    async with api.platform.db.session() as s:
        return list(
            (
                await s.scalars(select(MemberSession).where(MemberSession.member_id == member_id))
            ).all()
        )


async def test_member_matched_by_email_in_another_case(sso: Sso):
    await sso.member("grace.hopper@example.com")
    sso.provider.sign_in(email="Grace.Hopper@EXAMPLE.com")
    r = await sso.sign_in("/")
    assert r.status_code == 302, r.text
    assert r.headers["location"] == "/"
    assert (await sso.api.client.get("/core/v1/workflows")).status_code == 200


async def test_client_secret_post_when_the_provider_only_takes_that(settings, make_api):
    state = OidcProvider(clients={CLIENT_ID: CLIENT_SECRET})
    state.token_auth_methods = ["client_secret_post"]
    with serve_in_thread(create_app(state)) as url:
        state.issuer = url
        async with make_api(sso_settings(settings, url)) as api:
            async with httpx.AsyncClient(timeout=10) as browser:
                flow = Sso(api, state, browser)
                await flow.member()
                r = await flow.sign_in()
                assert r.status_code == 302, r.text
    exchange = state.token_requests[-1]
    assert exchange.client_auth == "body" and exchange.form["client_id"] == CLIENT_ID


async def test_email_verified_from_userinfo(sso: Sso):
    """A provider that keeps email and email_verified out of the ID token."""
    await sso.member()
    sso.provider.userinfo_only = {"email", "email_verified"}
    r = await sso.sign_in()
    assert r.status_code == 302, r.text


# -- who may not sign in -------------------------------------------------------------------


async def test_unknown_email_is_not_a_member(sso: Sso):
    await sso.member("someone.else@example.com")
    r = await sso.sign_in()
    sso.api.expect_error(r, 403, "not_a_member")
    assert cleared_sso_cookie(r)
    assert "patchbay_session" not in r.headers.get("set-cookie", "")
    assert_no_secrets(r, sso.provider)


@pytest.mark.parametrize("verified", [False, "false", None])
async def test_unverified_email_is_refused(sso: Sso, verified):
    await sso.member()
    sso.provider.sign_in(email=EMAIL, email_verified=verified)
    if verified is None:
        sso.provider.id_token_claims = {"email_verified": None}
    r = await sso.sign_in()
    sso.api.expect_error(r, 403, "sso_email_not_verified")


async def test_no_email_at_all_is_refused(sso: Sso):
    await sso.member()
    sso.provider.id_token_claims = {"email": None}
    sso.provider.userinfo_only = {"email"}
    sso.provider.user.pop("email")
    r = await sso.sign_in()
    sso.api.expect_error(r, 403, "sso_email_not_verified")


# -- ID tokens that must be refused --------------------------------------------------------


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"nonce": "another-sign-in"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"aud": "another-client"}, "audience"),
        ({"aud": ["another-client", "a-third"]}, "audience"),
        ({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}, "azp"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"iat": int(time.time()) + 3600}, "future"),
        ({"sub": None}, "sub"),
    ],
    ids=[
        "wrong-nonce",
        "no-nonce",
        "wrong-audience",
        "other-audiences",
        "other-azp",
        "wrong-issuer",
        "expired",
        "issued-in-future",
        "no-subject",
    ],
)
async def test_invalid_id_token_is_refused(sso: Sso, claims, reason):
    await sso.member()
    sso.provider.id_token_claims = claims
    r = await sso.sign_in()
    body = sso.api.expect_error(r, 401, "sso_invalid_id_token")
    assert reason in body["message"], body
    assert cleared_sso_cookie(r)
    assert_no_secrets(r, sso.provider)
    assert (await sso.api.client.get("/core/v1/workflows")).status_code == 401


async def test_signature_by_another_key_is_refused(sso: Sso):
    await sso.member()
    sso.provider.sign_with = rsa_key("attacker")
    r = await sso.sign_in()
    body = sso.api.expect_error(r, 401, "sso_invalid_id_token")
    assert "key" in body["message"]


async def test_forged_signature_with_the_providers_key_id_is_refused(sso: Sso):
    """Another key that claims the provider's key id: the signature itself fails."""
    from joserfc.jwk import RSAKey

    await sso.member()
    sso.provider.sign_with = RSAKey.generate_key(
        2048, parameters={"kid": sso.provider.key.kid, "use": "sig", "alg": "RS256"}
    )
    r = await sso.sign_in()
    body = sso.api.expect_error(r, 401, "sso_invalid_id_token")
    assert "signature" in body["message"]


async def test_provider_key_rotation(sso: Sso):
    """A token signed by a key the cached JWKS lacks: the keys are fetched again."""
    await sso.member()
    assert (await sso.sign_in()).status_code == 302  # the keys are now cached
    sso.api.platform.sso.provider.jwks_refetch_seconds = 0
    sso.provider.key = rsa_key("rotated")
    r = await sso.sign_in()
    assert r.status_code == 302, r.text


# -- the browser's side of the exchange ---------------------------------------------------


async def test_state_mismatch(sso: Sso):
    await sso.member()
    callback = await sso.authorize(await sso.start())
    tampered = callback.replace("state=", "state=x", 1)
    r = await sso.api.client.get(tampered)
    sso.api.expect_error(r, 400, "sso_state_mismatch")
    assert cleared_sso_cookie(r)
    assert sso.provider.code_exchange_count == 0  # the code never went to the provider


async def test_callback_without_the_cookie(sso: Sso):
    await sso.member()
    callback = await sso.authorize(await sso.start())
    sso.api.client.cookies.clear()
    r = await sso.api.client.get(callback)
    sso.api.expect_error(r, 400, "sso_state_missing")


async def test_a_state_is_used_once(sso: Sso):
    await sso.member()
    callback = await sso.authorize(await sso.start())
    assert (await sso.api.client.get(callback)).status_code == 302
    r = await sso.api.client.get(callback)
    sso.api.expect_error(r, 400, "sso_state_missing")


async def test_cookie_of_another_instance_is_refused(sso: Sso):
    await sso.member()
    callback = await sso.authorize(await sso.start())
    sso.api.client.cookies.set(SSO_COOKIE, "gAAAAA-not-ours", domain="patchbay.test")
    r = await sso.api.client.get(callback)
    sso.api.expect_error(r, 400, "sso_state_missing")


async def test_provider_error_parameter(sso: Sso):
    await sso.member()
    sso.provider.deny_next()
    r = await sso.sign_in()
    body = sso.api.expect_error(r, 401, "sso_denied")
    assert "access_denied" in body["message"]


async def test_code_without_state_or_code(sso: Sso):
    await sso.member()
    start = await sso.start()
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    r = await sso.api.client.get(CALLBACK, params={"state": state})
    sso.api.expect_error(r, 400, "invalid_request")


async def test_pkce_verifier_rejected_by_the_provider(sso: Sso):
    """The code comes back to a browser whose sign-in state is another one: the verifier
    Patchbay sends is not the one the code was issued for."""
    await sso.member()
    first = await sso.start()
    callback = await sso.authorize(first)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    second = await sso.start()  # a new sign-in in this browser: new state and verifier
    state = parse_qs(urlsplit(second.headers["location"]).query)["state"][0]
    r = await sso.api.client.get(CALLBACK, params={"code": code, "state": state})
    body = sso.api.expect_error(r, 401, "sso_code_rejected")
    assert "invalid_grant" in body["message"]
    assert sso.provider.token_requests[-1].error == "invalid_grant"
    assert_no_secrets(r, sso.provider)


async def test_wrong_client_secret(settings, make_api, provider, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_api(
        sso_settings(settings, provider.issuer, oidc_client_secret=SecretStr("wrong-secret"))
    ) as api:
        async with httpx.AsyncClient(timeout=10) as browser:
            flow = Sso(api, provider, browser)
            await flow.member()
            r = await flow.sign_in()
            body = api.expect_error(r, 502, "sso_client_rejected")
            assert "wrong-secret" not in r.text and "wrong-secret" not in body["message"]
    assert "wrong-secret" not in caplog.text


# -- the provider down or answering garbage -----------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_provider_down(settings, make_api, caplog):
    caplog.set_level(logging.DEBUG)
    issuer = f"http://127.0.0.1:{free_port()}"
    async with make_api(sso_settings(settings, issuer)) as api:
        r = await api.client.get(START)
        body = api.expect_error(r, 502, "sso_provider_unavailable")
        assert CLIENT_SECRET not in r.text
        assert "cannot be reached" in body["message"]
    assert CLIENT_SECRET not in caplog.text


async def test_token_endpoint_failing(sso: Sso):
    await sso.member()
    sso.provider.fail_next_token(status=503)
    r = await sso.sign_in()
    sso.api.expect_error(r, 502, "sso_provider_unavailable")


async def test_provider_gone_between_start_and_callback(settings, make_api):
    state = OidcProvider(clients={CLIENT_ID: CLIENT_SECRET})
    with ExitStack() as server:
        url = state.issuer = server.enter_context(serve_in_thread(create_app(state)))
        async with make_api(sso_settings(settings, url)) as api:
            async with httpx.AsyncClient(timeout=10) as browser:
                flow = Sso(api, state, browser)
                await flow.member()
                callback = await flow.authorize(await flow.start())
                server.close()  # the provider stops
                r = await api.client.get(callback)
                body = api.expect_error(r, 502, "sso_provider_unavailable")
                assert "token endpoint" in body["message"]
                assert cleared_sso_cookie(r)


async def test_discovery_not_found(settings, make_api, provider):
    async with make_api(sso_settings(settings, provider.issuer + "/no-such-realm")) as api:
        r = await api.client.get(START)
        body = api.expect_error(r, 502, "sso_provider_invalid")
        assert "HTTP 404" in body["message"]


async def test_provider_answering_garbage(sso: Sso):
    sso.provider.discovery_answer = b"<html>Gateway says hello</html>"
    r = await sso.api.client.get(START)
    sso.api.expect_error(r, 502, "sso_provider_invalid")


async def test_discovery_naming_another_issuer(settings, make_api, provider):
    real = provider.issuer
    provider.issuer = "https://someone-else.example"
    async with make_api(sso_settings(settings, real)) as api:
        r = await api.client.get(START)
        body = api.expect_error(r, 502, "sso_provider_invalid")
        assert "another issuer" in body["message"]


# -- where the browser lands ----------------------------------------------------------------


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example",
        "//evil.example/path",
        "https://evil.example",
        "https://evil.example/console",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "console",
        "",
        None,
    ],
)
async def test_next_open_redirects_land_on_root(sso: Sso, next_path):
    await sso.member()
    r = await sso.sign_in(next_path)
    assert r.status_code == 302, r.text
    assert r.headers["location"] == "/"


def test_safe_next():
    assert safe_next("/console/flows?x=1#top") == "/console/flows?x=1#top"
    assert safe_next("/") == "/"
    assert safe_next("/a\nb") == "/"
    assert safe_next("/" + "a" * 5000) == "/"


# -- not configured, SSO only ---------------------------------------------------------------


async def test_not_configured(api):
    r = await api.client.get("/core/v1/sso")
    assert r.json() == {"enabled": False, "ssoOnly": False, "startUrl": START}
    api.expect_error(await api.client.get(START), 404, "sso_not_configured")
    api.expect_error(
        await api.client.get(CALLBACK, params={"code": "x", "state": "y"}),
        404,
        "sso_not_configured",
    )


async def test_sso_only_is_reported(settings, make_api, provider):
    async with make_api(sso_settings(settings, provider.issuer, sso_only=True)) as api:
        assert api.platform.settings.sso_only is True
        r = await api.client.get("/core/v1/sso")
        assert r.json() == {"enabled": True, "ssoOnly": True, "startUrl": START}


async def test_secure_cookies_behind_https(settings, make_api, provider):
    async with make_api(sso_settings(settings, provider.issuer, cookie_secure="always")) as api:
        r = await api.client.get(START)
        assert r.status_code == 302
        [cookie] = r.headers.get_list("set-cookie")
        assert "secure" in cookie.lower()


def test_the_secret_is_never_shown(settings):
    configured = sso_settings(settings, "https://id.example")
    assert CLIENT_SECRET not in repr(configured)
    assert CLIENT_SECRET not in str(configured.model_dump())
