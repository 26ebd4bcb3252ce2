"""OAuth 2 through the API (on SQLite and PostgreSQL): the authorization-code dance with
state and PKCE against a loopback provider, then refresh (proactive, reactive on Slack's
token_expired and on a 401, rotation, on demand), re-authorization after a revoked refresh
token, and a race of 20 calls on an expired token that must cause exactly one refresh."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from patchbay.config import Settings
from patchbay.connectors.sdk import (
    AuthEnvironment,
    Connector,
    Context,
    OAuth2Endpoints,
    Service,
    operation,
)
from patchbay.connectors.slack.connector import ENVIRONMENTS as SLACK_ENVIRONMENTS
from patchbay.connectors.slack.connector import SCOPES as SLACK_SCOPES
from patchbay.connectors.slack.fake import FakeSlack, Token
from patchbay.connectors.slack.fake import create_app as create_slack_app
from patchbay.storage.models import Authentication, OAuthState, utcnow
from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.oauth_provider import OAuthProvider
from patchbay.testing.oauth_provider import create_app as create_provider_app

SLACK_OAUTH_ENV = SLACK_ENVIRONMENTS[0].id
SLACK_TOKEN_ENV = SLACK_ENVIRONMENTS[1].id
CLIENT_ID = "patchbay-client"
CLIENT_SECRET = "patchbay-client-secret"
PUBLIC_URL = "http://patchbay.test"  # the API client's base URL
REDIRECT_URI = PUBLIC_URL + "/core/v1/oauth/callback"
AUTHORIZE = "/core/v1/oauth/authorize"
AUTHS = "/core/v1/authentications"
SLACK_CALL = "/core/v1/connectors/slack/versions/1.0/call"
MESSAGE = {"operation": "send_message", "input": {"channel": "C0000GENERAL", "text": "hi"}}


# -- a connector whose service answers 401 to an expired token ------------------------------

RESOURCE_ENV = "5d2f0c3a-7b41-4e8e-9a55-0f1e2d3c4b5a"


@operation(
    title="Who Am I",
    description="The protected resource's view of the token",
    input={"type": "object", "properties": {}},
    output={"type": "object", "properties": {"sub": {"type": "string"}}},
)
async def whoami(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    return (await ctx.request("GET", "resource")).json()


RESOURCE_CONNECTOR = Connector(
    name="oauth-resource",
    title="OAuth Resource",
    version="1.0",
    service=Service(id="8c0e6a4b-2d19-4f37-b6a8-1e9d7c5b3a20", name="oauth-resource", version=1),
    environments=[
        AuthEnvironment(
            id=RESOURCE_ENV,
            title="OAuth Resource (OAuth 2)",
            authentication_type="oauth2",
            user_data_schema={
                "type": "object",
                "properties": {"base_url": {"type": "string", "format": "uri"}},
            },
            oauth2=OAuth2Endpoints(
                "https://provider.invalid/authorize",
                "https://provider.invalid/token",
                client_auth="body",
            ),
        )
    ],
    authorize=lambda ctx: {"Authorization": f"Bearer {ctx.credentials['access_token']}"},
    operations=[whoami],
)


# -- fixtures -------------------------------------------------------------------------------


@dataclass
class Provider:
    state: OAuthProvider
    url: str


@dataclass
class Slack:
    state: FakeSlack
    url: str  # for userData.base_url (ends in /api)
    seen: list[str] = field(default_factory=list)  # provider tokens presented, in order


@dataclass
class World:
    api: Any
    provider: OAuthProvider
    provider_url: str
    slack: Slack

    async def start(self, headers: dict[str, str], **body: Any) -> dict[str, Any]:
        body = {
            "serviceEnvironmentId": SLACK_OAUTH_ENV,
            "name": "my slack",
            "userData": {"base_url": self.slack.url},
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

    async def full(self, headers: dict[str, str], auth_id: str, **params: Any) -> dict[str, Any]:
        r = await self.api.client.get(f"{AUTHS}/{auth_id}/full", params=params, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    async def send(self, headers: dict[str, str], auth_id: str) -> dict[str, Any]:
        r = await self.api.client.post(
            SLACK_CALL, json={**MESSAGE, "authId": auth_id}, headers=headers
        )
        assert r.status_code == 200, r.text
        return r.json()


def slack_validator(provider: OAuthProvider, seen: list[str]):
    """Slack accepts the provider's access tokens: valid ones act as user U0ALICE."""

    def check(token: str) -> Token | str | None:
        seen.append(token)
        status = provider.check(token)
        if status == "active":
            return Token("T0PATCHBAY", "U0ALICE", "user")
        return {"expired": "token_expired", "revoked": "token_revoked"}.get(status)

    return check


class Swappable:
    """An ASGI app standing for another, swapped per test: the loopback servers start
    once per module, each test gets fresh fakes behind them."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[tuple[Swappable, str], tuple[Swappable, str]]]:
    provider_app, slack_app = Swappable(), Swappable()
    with serve_in_thread(provider_app) as provider_url, serve_in_thread(slack_app) as slack_url:
        yield (provider_app, provider_url), (slack_app, slack_url)


@pytest.fixture
def provider(servers) -> Provider:
    (app, url), _ = servers
    state = OAuthProvider(clients={CLIENT_ID: CLIENT_SECRET}, token_prefix="xoxe.xoxp-1-")
    app.app = create_provider_app(state)
    return Provider(state, url)


@pytest.fixture
def slack(servers, provider: Provider) -> Slack:
    _, (app, url) = servers
    state = FakeSlack()
    seen: list[str] = []
    state.token_validator = slack_validator(provider.state, seen)
    app.app = create_slack_app(state)
    return Slack(state, url + "/api", seen)


def oauth_settings(settings: Settings, provider_url: str, **client: Any) -> Settings:
    endpoints = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_url": provider_url + "/oauth/authorize",
        "token_url": provider_url + "/oauth/token",
        **client,
    }
    return settings.model_copy(
        update={
            "public_url": PUBLIC_URL + "/",
            "oauth_clients": {"slack": endpoints, RESOURCE_ENV: endpoints},
        }
    )


@pytest.fixture
async def world(settings, make_api, provider: Provider, slack: Slack):
    async with make_api(oauth_settings(settings, provider.url)) as api:
        api.platform.registry.add(RESOURCE_CONNECTOR)
        yield World(api, provider.state, provider.url, slack)


def expect_outcome_error(body: dict[str, Any], kind: str) -> dict[str, Any]:
    assert body["outcome"] == "error", body
    assert body["output"]["kind"] == kind, body
    return body["output"]


# -- the dance ------------------------------------------------------------------------------


async def test_full_dance_stores_an_encrypted_authentication_for_the_user(world: World):
    api, provider = world.api, world.provider
    user, alice = await api.new_user()
    started = await world.start(alice)
    assert set(started) == {"authorizeUrl", "state", "expiresAt"}
    url = urlsplit(started["authorizeUrl"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == world.provider_url + "/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["scope"] == ",".join(s.scope for s in SLACK_SCOPES)  # Slack's separator
    assert query["state"] == started["state"]
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert "client_secret" not in started["authorizeUrl"]

    r = await api.client.get(await world.follow(started["authorizeUrl"]))
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"authenticationId"}
    auth_id = r.json()["authenticationId"]

    # The provider got the code with the PKCE verifier matching the challenge, the same
    # redirect URI, and the client by HTTP Basic.
    exchange = provider.token_requests[-1]
    assert exchange.grant_type == "authorization_code" and exchange.status == 200
    assert exchange.client_auth == "basic"
    assert exchange.form["redirect_uri"] == REDIRECT_URI
    digest = hashlib.sha256(exchange.form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    assert "client_secret" not in exchange.form

    full = await world.full(alice, auth_id)
    credentials = full["credentials"]
    assert set(credentials) == {
        "access_token",
        "refresh_token",
        "token_type",
        "scope",
        "expires_at",
        "accessToken",  # Tray's names beside the stored ones
        "tokenType",
        "expiresIn",
    }
    assert provider.check(credentials["access_token"]) == "active"
    assert credentials["refresh_token"] in provider.active_refresh_tokens()
    assert credentials["token_type"] == "Bearer"
    assert abs(credentials["expires_at"] - (time.time() + 3600)) < 30
    assert full["name"] == "my slack"
    assert full["serviceEnvironmentId"] == SLACK_OAUTH_ENV
    assert full["status"] == "active"
    assert full["scopes"] == [s.scope for s in SLACK_SCOPES]
    assert full["userData"] == {"base_url": world.slack.url}

    # Encrypted at rest, owned by the user who started the flow.
    async with api.platform.db.session() as s:
        row = await s.scalar(select(Authentication).where(Authentication.id == auth_id))
    assert row.user_id == user["id"]
    assert credentials["access_token"] not in row.credentials
    assert credentials["refresh_token"] not in row.credentials
    stored = api.platform.keyring.decrypt(row.credentials)
    assert stored == {k: v for k, v in credentials.items() if k in stored}
    assert "accessToken" not in stored  # Tray's names are added on the way out only

    # Only the owner sees it.
    _, bob = await api.new_user()
    for headers in (bob, api.master):
        r = await api.client.get(f"{AUTHS}/{auth_id}/full", headers=headers)
        api.expect_error(r, 404, "authentication_not_found")

    # And the authentication works against Slack.
    body = await world.send(alice, auth_id)
    assert body["outcome"] == "success", body
    assert world.slack.seen == [credentials["access_token"]]


async def test_callback_redirects_to_the_redirect_url(world: World):
    _, alice = await world.api.new_user()
    started = await world.start(alice, redirectUrl="https://app.example.com/done?step=2")
    r = await world.api.client.get(await world.follow(started["authorizeUrl"]))
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "app.example.com",
        "/done",
    )
    query = parse_qs(location.query)
    assert query["step"] == ["2"]
    (auth_id,) = query["authenticationId"]
    assert (await world.full(alice, auth_id))["status"] == "active"


async def test_master_token_authorizes_for_the_organisation(world: World):
    api = world.api
    auth_id = await world.authorize(api.master, scopes=["chat:write"])
    full = await world.full(api.master, auth_id)
    assert full["scopes"] == ["chat:write"]
    _, alice = await api.new_user()
    r = await api.client.get(f"{AUTHS}/{auth_id}", headers=alice)
    api.expect_error(r, 404, "authentication_not_found")
    assert (await world.send(api.master, auth_id))["outcome"] == "success"


async def test_state_is_single_use_and_must_be_known(world: World):
    api = world.api
    _, alice = await api.new_user()
    started = await world.start(alice)
    callback = await world.follow(started["authorizeUrl"])
    r = await api.client.get(callback)
    assert r.status_code == 200, r.text
    r = await api.client.get(callback)  # replayed
    body = api.expect_error(r, 400, "state_already_used")
    assert "again" in body["message"]
    for query in ("?code=x&state=forged", "?code=x", ""):
        r = await api.client.get("/core/v1/oauth/callback" + query)
        api.expect_error(r, 400, "invalid_state")
    assert world.provider.code_exchange_count == 1


async def test_expired_state_is_rejected(world: World):
    api = world.api
    _, alice = await api.new_user()
    started = await world.start(alice)
    callback = await world.follow(started["authorizeUrl"])
    async with api.platform.db.session() as s:
        await s.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    r = await api.client.get(callback)
    api.expect_error(r, 400, "state_expired")
    assert world.provider.token_requests == []  # the code was never exchanged


async def test_access_denied_stores_nothing(world: World):
    api = world.api
    _, alice = await api.new_user()
    world.provider.deny_next()
    started = await world.start(alice)
    callback = await world.follow(started["authorizeUrl"])
    assert "error=access_denied" in callback
    r = await api.client.get(callback)
    body = api.expect_error(r, 400, "access_denied")
    assert "denied" in body["message"]
    r = await api.client.get(AUTHS, headers=alice)
    assert r.json()["elements"] == []
    # The state is spent: a later code for it is refused.
    state = parse_qs(urlsplit(callback).query)["state"][0]
    r = await api.client.get("/core/v1/oauth/callback", params={"code": "c", "state": state})
    api.expect_error(r, 400, "state_already_used")


async def test_pkce_verifier_is_checked_by_the_provider(world: World):
    """A code obtained in one flow cannot be redeemed with another flow's state: Patchbay
    sends that flow's verifier, which does not match the code's challenge."""
    api = world.api
    _, alice = await api.new_user()
    first = await world.start(alice)
    second = await world.start(alice)
    code = parse_qs(urlsplit(await world.follow(first["authorizeUrl"])).query)["code"][0]
    r = await api.client.get(
        "/core/v1/oauth/callback", params={"code": code, "state": second["state"]}
    )
    body = api.expect_error(r, 400, "oauth_provider_error")
    assert "invalid_grant" in body["message"]
    request = world.provider.token_requests[-1]
    assert request.status == 400 and request.error == "invalid_grant"
    r = await api.client.get(AUTHS, headers=alice)
    assert r.json()["elements"] == []


async def test_start_errors(world: World, settings, make_api):
    api = world.api
    _, alice = await api.new_user()
    base = {"serviceEnvironmentId": SLACK_OAUTH_ENV, "name": "n"}
    cases = [
        ({**base, "serviceEnvironmentId": "nope"}, 404, "service_environment_not_found"),
        ({**base, "serviceEnvironmentId": SLACK_TOKEN_ENV}, 400, "oauth2_not_supported"),
        ({**base, "redirectUrl": "javascript:alert(1)"}, 400, "invalid_redirect_url"),
        ({**base, "userData": {"base_url": "not a url"}}, 400, "invalid_userData"),
        ({"name": "n"}, 400, "invalid_request"),
    ]
    for body, status, code in cases:
        r = await api.client.post(AUTHORIZE, json=body, headers=alice)
        api.expect_error(r, status, code)
    r = await api.client.post(AUTHORIZE, json=base)
    api.expect_error(r, 401, "missing_token")

    async with make_api(settings.model_copy(update={"oauth_clients": {}})) as bare:
        bare.master_token = api.master_token  # the same database
        _, headers = await bare.new_user()
        r = await bare.client.post(AUTHORIZE, json=base, headers=headers)
        body = bare.expect_error(r, 400, "oauth_client_not_configured")
        assert "PATCHBAY_OAUTH_CLIENTS" in body["message"]


async def test_wrong_client_secret_is_a_provider_error(world: World, settings, make_api):
    wrong = oauth_settings(settings, world.provider_url, client_secret="wrong")
    async with make_api(wrong) as api:
        api.master_token = world.api.master_token  # the same database
        _, alice = await api.new_user()
        r = await api.client.post(
            AUTHORIZE,
            json={"serviceEnvironmentId": SLACK_OAUTH_ENV, "name": "n"},
            headers=alice,
        )
        r = await api.client.get(await world.follow(r.json()["authorizeUrl"]))
        body = api.expect_error(r, 400, "oauth_provider_error")
        assert "invalid_client" in body["message"]


# -- refresh --------------------------------------------------------------------------------


async def test_proactive_refresh_before_expiry(world: World):
    provider = world.provider
    _, alice = await world.api.new_user()
    provider.expires_in = 30  # within the 60 s refresh margin
    auth_id = await world.authorize(alice)
    before = (await world.full(alice, auth_id))["credentials"]
    provider.expires_in = 3600

    assert (await world.send(alice, auth_id))["outcome"] == "success"
    assert provider.refresh_count == 1
    after = (await world.full(alice, auth_id))["credentials"]
    assert after["access_token"] != before["access_token"]
    assert world.slack.seen == [after["access_token"]]  # the old token never reached Slack
    assert abs(after["expires_at"] - (time.time() + 3600)) < 30

    assert (await world.send(alice, auth_id))["outcome"] == "success"
    assert provider.refresh_count == 1  # fresh now: no second refresh


async def test_proactive_refresh_failure_keeps_a_still_valid_token(world: World):
    provider = world.provider
    _, alice = await world.api.new_user()
    provider.expires_in = 30
    auth_id = await world.authorize(alice)
    provider.expires_in = 3600
    provider.fail_next_token(status=503)
    assert (await world.send(alice, auth_id))["outcome"] == "success"  # the old token
    assert provider.refresh_count == 0
    assert (await world.send(alice, auth_id))["outcome"] == "success"
    assert provider.refresh_count == 1


async def test_reactive_refresh_on_slack_token_expired_with_rotation(world: World):
    provider = world.provider
    _, alice = await world.api.new_user()
    auth_id = await world.authorize(alice)
    before = (await world.full(alice, auth_id))["credentials"]
    provider.expire(before["access_token"])  # earlier than the stored expires_at says

    assert (await world.send(alice, auth_id))["outcome"] == "success"
    assert provider.refresh_count == 1
    after = (await world.full(alice, auth_id))["credentials"]
    assert world.slack.seen == [before["access_token"], after["access_token"]]
    # Rotation: the new refresh token is stored, the old one is dead at the provider.
    assert after["refresh_token"] != before["refresh_token"]
    assert provider.active_refresh_tokens() == [after["refresh_token"]]
    refresh = provider.token_requests[-1]
    assert refresh.form["refresh_token"] == before["refresh_token"]

    # The stored (rotated) refresh token is the one used next time.
    provider.expire(after["access_token"])
    assert (await world.send(alice, auth_id))["outcome"] == "success"
    assert provider.refresh_count == 2
    assert provider.token_requests[-1].form["refresh_token"] == after["refresh_token"]


async def test_reactive_refresh_on_401(world: World):
    api, provider = world.api, world.provider
    _, alice = await api.new_user()
    auth_id = await world.authorize(
        alice, serviceEnvironmentId=RESOURCE_ENV, userData={"base_url": world.provider_url}
    )
    path = "/core/v1/connectors/oauth-resource/versions/1.0/call"
    call = {"operation": "whoami", "input": {}, "authId": auth_id}
    r = await api.client.post(path, json=call, headers=alice)
    assert r.json()["outcome"] == "success", r.text
    assert provider.token_requests[-1].client_auth == "body"  # this environment's choice

    provider.expire_all()
    r = await api.client.post(path, json=call, headers=alice)
    assert r.json() == {
        "outcome": "success",
        "output": {
            "active": True,
            "sub": "U0ALICE",
            "client_id": CLIENT_ID,
            "scope": "",
            "exp": r.json()["output"]["exp"],
        },
    }
    assert provider.refresh_count == 1

    # Revoked everything: the refresh fails with invalid_grant and the call with auth_error.
    provider.revoke_all()
    r = await api.client.post(path, json=call, headers=alice)
    output = expect_outcome_error(r.json(), "auth_error")
    assert output["code"] == "invalid_grant"
    r = await api.client.get(f"{AUTHS}/{auth_id}", headers=alice)
    assert r.json()["status"] == "needs_reauthorization"


async def test_provider_without_rotation_keeps_the_refresh_token(world: World):
    provider = world.provider
    provider.rotate_refresh_tokens = False
    _, alice = await world.api.new_user()
    auth_id = await world.authorize(alice)
    before = (await world.full(alice, auth_id))["credentials"]
    after = (await world.full(alice, auth_id, forceRefresh="true"))["credentials"]
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] == before["refresh_token"]
    assert after["scope"] == before["scope"]


@pytest.mark.parametrize("flavor", ["rfc6749", "slack"])
async def test_revoked_refresh_token_needs_reauthorization(world: World, flavor: str):
    api, provider = world.api, world.provider
    provider.flavor = flavor  # Slack's oauth.v2.access answers 200 {"ok": false, ...}
    _, alice = await api.new_user()
    auth_id = await world.authorize(alice)
    credentials = (await world.full(alice, auth_id))["credentials"]
    provider.revoke_refresh_token(credentials["refresh_token"])
    provider.expire(credentials["access_token"])

    body = await world.send(alice, auth_id)
    output = expect_outcome_error(body, "auth_error")
    assert "authorized again" in output["message"]
    assert output["code"] == ("invalid_grant" if flavor == "rfc6749" else "invalid_refresh_token")
    assert credentials["refresh_token"] not in str(output)
    r = await api.client.get(f"{AUTHS}/{auth_id}", headers=alice)
    assert r.json()["status"] == "needs_reauthorization"

    # Further calls fail at once, without calling Slack or the provider.
    slack_calls, token_calls = len(world.slack.seen), len(provider.token_requests)
    output = expect_outcome_error(await world.send(alice, auth_id), "auth_error")
    assert output["code"] == "needs_reauthorization"
    assert output["response"] is None
    assert (len(world.slack.seen), len(provider.token_requests)) == (slack_calls, token_calls)

    # Re-authorizing in place brings the same authentication back.
    again = await world.authorize(alice, authenticationId=auth_id, userData={})
    assert again == auth_id
    full = await world.full(alice, auth_id)
    assert full["status"] == "active"
    assert full["userData"] == {"base_url": world.slack.url}  # kept
    assert (await world.send(alice, auth_id))["outcome"] == "success"


@pytest.mark.parametrize("expiry", ["proactive", "reactive"])
async def test_twenty_concurrent_calls_on_an_expired_token_refresh_once(world: World, expiry):
    api, provider = world.api, world.provider
    _, alice = await api.new_user()
    if expiry == "proactive":
        provider.expires_in = 30  # stored expires_at within the refresh margin
    auth_id = await world.authorize(alice)
    old = (await world.full(alice, auth_id))["credentials"]["access_token"]
    provider.expires_in = 3600
    provider.expire_all()  # and Slack refuses the old token
    provider.token_delay = 0.2  # a slow token endpoint: everyone arrives while it works

    bodies = await asyncio.gather(*(world.send(alice, auth_id) for _ in range(20)))
    assert [b["outcome"] for b in bodies] == ["success"] * 20, bodies
    assert provider.refresh_count == 1
    refreshes = [t for t in provider.token_requests if t.grant_type == "refresh_token"]
    assert len(refreshes) == 1
    current = (await world.full(alice, auth_id))["credentials"]["access_token"]
    assert set(world.slack.seen) <= {old, current}
    assert world.slack.seen.count(current) == 20


async def test_force_refresh_on_full(world: World):
    api, provider = world.api, world.provider
    _, alice = await api.new_user()
    auth_id = await world.authorize(alice)
    before = await world.full(alice, auth_id)
    unchanged = await world.full(alice, auth_id, forceRefresh="false")

    def stored(credentials):  # expiresIn counts down between two reads: compare the rest
        return {k: v for k, v in credentials.items() if k != "expiresIn"}

    assert stored(unchanged["credentials"]) == stored(before["credentials"])
    assert provider.refresh_count == 0

    after = await world.full(alice, auth_id, forceRefresh="true")
    assert provider.refresh_count == 1
    assert after["credentials"]["access_token"] != before["credentials"]["access_token"]
    assert after["credentials"]["refresh_token"] != before["credentials"]["refresh_token"]
    assert provider.check(after["credentials"]["access_token"]) == "active"

    # Another user cannot trigger it.
    _, bob = await api.new_user()
    r = await api.client.get(f"{AUTHS}/{auth_id}/full?forceRefresh=true", headers=bob)
    api.expect_error(r, 404, "authentication_not_found")
    assert provider.refresh_count == 1

    # A refused refresh token: 400, and the authentication needs re-authorization.
    provider.revoke_all()
    r = await api.client.get(f"{AUTHS}/{auth_id}/full?forceRefresh=true", headers=alice)
    body = api.expect_error(r, 400, "needs_reauthorization")
    assert "authorized again" in body["message"]
    r = await api.client.get(f"{AUTHS}/{auth_id}", headers=alice)
    assert r.json()["status"] == "needs_reauthorization"


async def test_force_refresh_when_the_provider_is_down(world: World):
    api, provider = world.api, world.provider
    _, alice = await api.new_user()
    auth_id = await world.authorize(alice)
    provider.fail_next_token(status=503)
    r = await api.client.get(f"{AUTHS}/{auth_id}/full?forceRefresh=true", headers=alice)
    api.expect_error(r, 502, "oauth_provider_unavailable")
    r = await api.client.get(f"{AUTHS}/{auth_id}", headers=alice)
    assert r.json()["status"] == "active"  # a provider outage is not a revoked grant


async def test_hand_made_oauth_authentication_without_refresh_token(world: World):
    """An authentication created with only an access token is used as it is."""
    api = world.api
    _, alice = await api.new_user()
    auth_id = await api.create_auth(
        alice,
        SLACK_OAUTH_ENV,
        {"access_token": FakeSlack.user_token},
        userData={"base_url": world.slack.url},
    )
    assert (await world.send(alice, auth_id))["outcome"] == "success"
    full = await world.full(alice, auth_id, forceRefresh="true")
    assert full["credentials"] == {
        "access_token": FakeSlack.user_token,
        "accessToken": FakeSlack.user_token,
        "tokenType": "Bearer",
    }
    assert world.provider.token_requests == []


async def test_full_answers_tray_token_fields_too(api):
    """Tray's /full shows accessToken, tokenType and expiresIn; the stored snake_case
    credentials stay beside them."""
    _, headers = await api.new_user()
    envs = await api.client.get("/core/v1/services/slack/versions/1/environments", headers=headers)
    env_id = next(e["id"] for e in envs.json()["elements"] if e["authenticationType"] == "oauth2")
    expires_at = int(time.time()) + 3600
    auth_id = await api.create_auth(
        headers, env_id, {"access_token": "xoxe-1", "refresh_token": "r", "expires_at": expires_at}
    )
    r = await api.client.get(f"/core/v1/authentications/{auth_id}/full", headers=headers)
    credentials = r.json()["credentials"]
    assert credentials["accessToken"] == "xoxe-1" and credentials["access_token"] == "xoxe-1"
    assert credentials["tokenType"] == "Bearer"
    assert 3500 <= credentials["expiresIn"] <= 3600
