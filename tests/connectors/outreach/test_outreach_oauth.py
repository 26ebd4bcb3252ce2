"""Outreach through Patchbay's OAuth 2 (on SQLite and PostgreSQL): the authorization-code
dance on Outreach's OAuth environment against a loopback provider, the stored
authentication then used by the connector against the Outreach fake (which accepts the
provider's tokens through its ``token_validator``), and refresh: proactive on an expired
token with rotation, reactive on Outreach's 401, re-authorization after a revoked refresh
token, and 20 concurrent calls on an expired token causing exactly one refresh.

Outreach's environment declares ``pkce=False`` and ``client_auth="body"`` (Outreach
documents neither PKCE nor HTTP Basic), so the dance is protected by ``state`` alone and
the provider fake is told not to require PKCE; the tests check that no PKCE parameter is
sent and that the client authenticates in the form body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from patchbay.config import Settings
from patchbay.connectors.outreach.connector import ENVIRONMENTS, SCOPES
from patchbay.connectors.outreach.fake import FakeOutreach, Token
from patchbay.connectors.outreach.fake import create_app as create_outreach_app
from patchbay.storage.models import Authentication
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.oauth_provider import OAuthProvider
from patchbay.testing.oauth_provider import create_app as create_provider_app

OUTREACH_ENV = ENVIRONMENTS[0].id
CLIENT_ID = "patchbay-outreach-client"
CLIENT_SECRET = "patchbay-outreach-secret"
PUBLIC_URL = "http://patchbay.test"  # the API client's base URL
REDIRECT_URI = PUBLIC_URL + "/core/v1/oauth/callback"
AUTHORIZE = "/core/v1/oauth/authorize"
AUTHS = "/core/v1/authentications"
CALL = "/core/v1/connectors/outreach/versions/1.0/call"
ALL_SCOPES = [s.scope for s in SCOPES]


# -- fixtures -------------------------------------------------------------------------------


class Swappable:
    """An ASGI app standing for another, swapped per test: the loopback servers start
    once per module, each test gets fresh fakes behind them."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@dataclass
class World:
    api: Any
    provider: OAuthProvider
    provider_url: str
    outreach: FakeOutreach
    outreach_url: str  # for userData.base_url (ends in /api/v2)

    def seen(self) -> list[str]:
        """The bearer tokens Outreach was shown, in order."""
        return [r.headers.get("authorization", "")[7:] for r in self.outreach.requests]

    async def start(self, headers: dict[str, str], **body: Any) -> dict[str, Any]:
        body = {
            "serviceEnvironmentId": OUTREACH_ENV,
            "name": "my outreach",
            "userData": {"base_url": self.outreach_url},
            **body,
        }
        r = await self.api.client.post(AUTHORIZE, json=body, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def follow(self, authorize_url: str) -> str:
        """Visit the provider's authorize URL as a browser; the callback path it redirects
        to (relative to Patchbay)."""
        async with httpx.AsyncClient() as browser:
            r = await browser.get(authorize_url)
        assert r.status_code == 302, r.text
        location = r.headers["location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        return location[len(PUBLIC_URL) :]

    async def authorize(self, headers: dict[str, str], **body: Any) -> str:
        """The whole dance; the new authentication's id."""
        started = await self.start(headers, **body)
        r = await self.api.client.get(await self.follow(started["authorizeUrl"]))
        assert r.status_code == 200, r.text
        return r.json()["authenticationId"]

    async def credentials(self, headers: dict[str, str], auth_id: str) -> dict[str, Any]:
        r = await self.api.client.get(f"{AUTHS}/{auth_id}/full", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["credentials"]

    async def status(self, headers: dict[str, str], auth_id: str) -> str:
        r = await self.api.client.get(f"{AUTHS}/{auth_id}", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["status"]

    async def call(
        self, headers: dict[str, str], auth_id: str, operation: str, input: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"operation": operation, "input": input, "authId": auth_id}
        r = await self.api.client.post(CALL, json=body, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def list_prospects(self, headers: dict[str, str], auth_id: str) -> dict[str, Any]:
        return await self.call(headers, auth_id, "list_prospects", {"max_results": 10})


def outreach_validator(provider: OAuthProvider):
    """Outreach accepts the provider's active access tokens, with the scopes granted."""

    def check(token: str) -> Token | str | None:
        status = provider.check(token)
        if status == "active":
            found = provider.token(token)
            assert found is not None
            return Token(frozenset(found.scope.split()))
        return None if status == "unknown" else status

    return check


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[tuple[Swappable, str], tuple[Swappable, str]]]:
    provider_app, outreach_app = Swappable(), Swappable()
    with (
        serve_in_thread(provider_app) as provider_url,
        serve_in_thread(outreach_app) as outreach_url,
    ):
        yield (provider_app, provider_url), (outreach_app, outreach_url)


def oauth_settings(settings: Settings, provider_url: str) -> Settings:
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_url": provider_url + "/oauth/authorize",
        "token_url": provider_url + "/oauth/token",
    }
    # Keyed by service name: the client of every Outreach environment.
    return settings.model_copy(
        update={"public_url": PUBLIC_URL + "/", "oauth_clients": {"outreach": client}}
    )


@pytest.fixture
async def world(settings, make_api, servers):
    (provider_app, provider_url), (outreach_app, outreach_url) = servers
    provider = OAuthProvider(
        clients={CLIENT_ID: CLIENT_SECRET},
        redirect_uris={CLIENT_ID: [REDIRECT_URI]},
        require_pkce=False,  # Outreach's environment does not use PKCE
    )
    provider_app.app = create_provider_app(provider)
    outreach = FakeOutreach()
    outreach.token_validator = outreach_validator(provider)
    outreach_app.app = create_outreach_app(outreach)
    async with make_api(oauth_settings(settings, provider_url)) as api:
        yield World(api, provider, provider_url, outreach, outreach_url + "/api/v2")


def success(body: dict[str, Any]) -> Any:
    assert body["outcome"] == "success", body
    return body["output"]


def auth_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["outcome"] == "error", body
    assert body["output"]["kind"] == "auth_error", body
    return body["output"]


# -- (1) the dance, then the connector ------------------------------------------------------


async def test_full_dance_then_list_and_create_prospects(world: World):
    api, provider = world.api, world.provider
    user, alice = await api.new_user()
    started = await world.start(alice)
    assert set(started) == {"authorizeUrl", "state", "expiresAt"}
    url = urlsplit(started["authorizeUrl"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == world.provider_url + "/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": " ".join(ALL_SCOPES),  # Outreach's separator
        "state": started["state"],
    }  # no code_challenge: Outreach's environment declares pkce=False
    assert CLIENT_SECRET not in started["authorizeUrl"]

    callback = await world.follow(started["authorizeUrl"])
    assert parse_qs(urlsplit(callback).query)["state"] == [started["state"]]
    r = await api.client.get(callback)
    assert r.status_code == 200, r.text
    auth_id = r.json()["authenticationId"]

    # The code was exchanged with the client in the form body (Outreach's way), the same
    # redirect URI, and no PKCE verifier.
    (exchange,) = provider.token_requests
    assert exchange.grant_type == "authorization_code" and exchange.status == 200
    assert exchange.client_auth == "body"
    assert exchange.form["client_id"] == CLIENT_ID
    assert exchange.form["client_secret"] == CLIENT_SECRET
    assert exchange.form["redirect_uri"] == REDIRECT_URI
    assert "code_verifier" not in exchange.form

    r = await api.client.get(f"{AUTHS}/{auth_id}/full", headers=alice)
    assert r.status_code == 200, r.text
    full = r.json()
    credentials = full["credentials"]
    assert provider.check(credentials["access_token"]) == "active"
    assert provider.active_refresh_tokens() == [credentials["refresh_token"]]
    assert credentials["token_type"] == "Bearer"
    assert credentials["scope"] == " ".join(ALL_SCOPES)
    assert abs(credentials["expires_at"] - (time.time() + 3600)) < 30
    assert full["serviceEnvironmentId"] == OUTREACH_ENV
    assert full["status"] == "active"
    assert full["scopes"] == ALL_SCOPES
    assert full["userData"] == {"base_url": world.outreach_url}

    # Encrypted at rest, owned by the end user who started the flow.
    async with api.platform.db.session() as s:
        row = await s.scalar(select(Authentication).where(Authentication.id == auth_id))
    assert row.user_id == user["id"]
    assert row.service_name == "outreach"
    assert credentials["access_token"] not in row.credentials
    assert credentials["refresh_token"] not in row.credentials
    _, bob = await api.new_user()
    r = await api.client.get(f"{AUTHS}/{auth_id}/full", headers=bob)
    api.expect_error(r, 404, "authentication_not_found")

    # The stored authentication works against Outreach.
    listed = success(await world.list_prospects(alice, auth_id))
    assert [p["attributes"]["firstName"] for p in listed["data"]] == [
        "Sally",
        "Amy",
        "Rory",
        "Clara",
        "Martha",
    ]
    created = success(
        await world.call(
            alice,
            auth_id,
            "create_prospect",
            {"first_name": "Donna", "last_name": "Noble", "emails": ["donna@example.com"]},
        )
    )
    new_id = created["data"]["id"]
    assert world.outreach.prospects[new_id].attributes["emails"] == ["donna@example.com"]
    assert world.seen() == [credentials["access_token"]] * 2
    (post,) = world.outreach.requests_to("POST", "/api/v2/prospects")
    assert post.headers["authorization"] == f"Bearer {credentials['access_token']}"
    assert post.headers["content-type"] == "application/vnd.api+json"
    assert provider.refresh_count == 0

    # Another user cannot use it.
    r = await api.client.post(
        CALL, json={"operation": "list_prospects", "input": {}, "authId": auth_id}, headers=bob
    )
    assert r.status_code == 404, r.text


async def test_scopes_granted_are_enforced_by_outreach(world: World):
    """A read-only grant: listing works, creating is Outreach's 403 (no refresh)."""
    _, alice = await world.api.new_user()
    auth_id = await world.authorize(alice, scopes=["prospects.read"])
    assert success(await world.list_prospects(alice, auth_id))["meta"]["count"] == 5
    output = auth_error(await world.call(alice, auth_id, "create_prospect", {"first_name": "Nope"}))
    assert output["code"] == "unauthorizedOauthScope"
    assert world.provider.refresh_count == 0


# -- (2) proactive refresh, with rotation ---------------------------------------------------


async def test_expired_token_is_refreshed_before_the_call_and_rotation_is_stored(world: World):
    provider = world.provider
    _, alice = await world.api.new_user()
    provider.expires_in = 0  # the access token is expired the moment it is stored
    auth_id = await world.authorize(alice)
    before = await world.credentials(alice, auth_id)
    assert before["expires_at"] <= time.time()
    assert provider.check(before["access_token"]) == "expired"
    provider.expires_in = 3600

    success(await world.list_prospects(alice, auth_id))
    assert provider.refresh_count == 1
    (refresh,) = [t for t in provider.token_requests if t.grant_type == "refresh_token"]
    assert refresh.form["refresh_token"] == before["refresh_token"]
    assert refresh.client_auth == "body"
    after = await world.credentials(alice, auth_id)
    assert after["access_token"] != before["access_token"]
    assert world.seen() == [after["access_token"]]  # the expired token never reached Outreach
    assert abs(after["expires_at"] - (time.time() + 3600)) < 30
    # Rotation: the new refresh token is stored, the one used is dead at the provider.
    assert after["refresh_token"] != before["refresh_token"]
    assert provider.active_refresh_tokens() == [after["refresh_token"]]
    assert await world.status(alice, auth_id) == "active"

    # Fresh now: no second refresh.
    success(await world.list_prospects(alice, auth_id))
    assert provider.refresh_count == 1

    # The next expiry is refreshed with the rotated refresh token.
    provider.expire(after["access_token"])
    seen_before = len(world.seen())
    async with world.api.platform.db.session() as s:
        row = await s.scalar(select(Authentication).where(Authentication.id == auth_id))
        stored = world.api.platform.keyring.decrypt(row.credentials)
        row.credentials = world.api.platform.keyring.encrypt(
            {**stored, "expires_at": int(time.time()) - 1}
        )
        await s.commit()
    world.api.platform.authentications.invalidate(auth_id)
    success(await world.list_prospects(alice, auth_id))
    assert provider.refresh_count == 2
    assert provider.token_requests[-1].form["refresh_token"] == after["refresh_token"]
    latest = await world.credentials(alice, auth_id)
    assert world.seen()[seen_before:] == [latest["access_token"]]
    assert provider.active_refresh_tokens() == [latest["refresh_token"]]


# -- (3) reactive refresh on Outreach's 401 -------------------------------------------------


async def test_401_from_outreach_refreshes_once_and_retries(world: World):
    provider, outreach = world.provider, world.outreach
    _, alice = await world.api.new_user()
    auth_id = await world.authorize(alice)
    before = await world.credentials(alice, auth_id)
    # Revoked at the provider while Patchbay still believes it valid for an hour.
    found = provider.token(before["access_token"])
    assert found is not None
    found.revoked = True
    assert before["expires_at"] > time.time() + 3000

    created = success(
        await world.call(
            alice, auth_id, "create_prospect", {"first_name": "Wilf", "emails": ["w@example.com"]}
        )
    )
    assert provider.refresh_count == 1
    after = await world.credentials(alice, auth_id)
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert provider.active_refresh_tokens() == [after["refresh_token"]]
    # One refused POST, one accepted retry with the new token: the prospect exists once.
    posts = outreach.requests_to("POST", "/api/v2/prospects")
    assert [p.headers["authorization"][7:] for p in posts] == [
        before["access_token"],
        after["access_token"],
    ]
    assert [p for p in outreach.prospects.values() if p.attributes["firstName"] == "Wilf"] == [
        outreach.prospects[created["data"]["id"]]
    ]

    # The refreshed token is used from now on, without another refresh.
    success(await world.list_prospects(alice, auth_id))
    assert provider.refresh_count == 1
    assert world.seen()[-1] == after["access_token"]


async def test_a_401_after_the_refresh_is_not_refreshed_again(world: World):
    """One reactive refresh per call: Outreach refusing the new token too ends the call."""
    provider, outreach = world.provider, world.outreach
    _, alice = await world.api.new_user()
    auth_id = await world.authorize(alice)
    provider.expire_all()
    outreach.token_validator = lambda token: "revoked"  # Outreach refuses every token
    output = auth_error(await world.list_prospects(alice, auth_id))
    assert output["code"] == "unauthorized"
    assert output["response"]["statusCode"] == 401
    assert provider.refresh_count == 1
    assert len(outreach.requests) == 2
    assert await world.status(alice, auth_id) == "active"


# -- (4) revoked refresh token -------------------------------------------------------------


async def test_revoked_refresh_token_needs_reauthorization_without_calling_outreach(
    world: World,
):
    api, provider = world.api, world.provider
    _, alice = await api.new_user()
    provider.expires_in = 0
    auth_id = await world.authorize(alice)
    provider.expires_in = 3600
    credentials = await world.credentials(alice, auth_id)
    provider.revoke_refresh_token(credentials["refresh_token"])

    body = await world.call(alice, auth_id, "list_prospects", {})
    output = auth_error(body)
    assert output["code"] == "invalid_grant"
    assert "authorized again" in output["message"]
    assert output["response"]["statusCode"] == 400
    assert output["response"]["body"]["error"] == "invalid_grant"
    assert credentials["refresh_token"] not in str(body)
    assert credentials["access_token"] not in str(body)
    assert await world.status(alice, auth_id) == "needs_reauthorization"
    assert len(world.outreach.requests) == 0  # never reached
    refreshes = [t for t in provider.token_requests if t.grant_type == "refresh_token"]
    assert [(t.status, t.error) for t in refreshes] == [(400, "invalid_grant")]

    # Further calls fail at once, without Outreach or the provider.
    token_calls = len(provider.token_requests)
    output = auth_error(
        await world.call(alice, auth_id, "create_prospect", {"first_name": "Nobody"})
    )
    assert output["code"] == "needs_reauthorization"
    assert output["response"] is None
    assert len(provider.token_requests) == token_calls
    assert len(world.outreach.requests) == 0

    # Re-authorizing in place brings the same authentication back.
    again = await world.authorize(alice, authenticationId=auth_id, userData={})
    assert again == auth_id
    assert await world.status(alice, auth_id) == "active"
    success(await world.list_prospects(alice, auth_id))
    fresh = await world.credentials(alice, auth_id)
    assert world.seen() == [fresh["access_token"]]


async def test_revoked_grant_found_through_outreach_401(world: World):
    """The user removed the app: Outreach answers 401, the refresh is refused, the
    authentication needs re-authorization."""
    api, provider = world.api, world.provider
    _, alice = await api.new_user()
    auth_id = await world.authorize(alice)
    provider.revoke_all()
    output = auth_error(await world.list_prospects(alice, auth_id))
    assert output["code"] == "invalid_grant"
    assert await world.status(alice, auth_id) == "needs_reauthorization"
    assert len(world.outreach.requests) == 1  # the 401, and no retry


# -- (5) a race of 20 calls on an expired token --------------------------------------------


@pytest.mark.parametrize("expiry", ["proactive", "reactive"])
async def test_twenty_concurrent_calls_on_an_expired_token_refresh_once(world: World, expiry):
    api, provider = world.api, world.provider
    _, alice = await api.new_user()
    if expiry == "proactive":
        provider.expires_in = 0  # expired in Patchbay's eyes too
    auth_id = await world.authorize(alice)
    old = (await world.credentials(alice, auth_id))["access_token"]
    provider.expires_in = 3600
    provider.expire_all()  # and Outreach refuses the old token
    provider.token_delay = 0.2  # a slow token endpoint: everyone arrives while it works

    bodies = await asyncio.gather(*(world.list_prospects(alice, auth_id) for _ in range(20)))
    assert [b["outcome"] for b in bodies] == ["success"] * 20, bodies
    assert provider.refresh_count == 1
    refreshes = [t for t in provider.token_requests if t.grant_type == "refresh_token"]
    assert len(refreshes) == 1
    credentials = await world.credentials(alice, auth_id)
    current = credentials["access_token"]
    assert provider.active_refresh_tokens() == [credentials["refresh_token"]]
    seen = world.seen()
    assert set(seen) <= {old, current}
    assert seen.count(current) == 20
    if expiry == "proactive":
        assert old not in seen
    assert await world.status(alice, auth_id) == "active"
