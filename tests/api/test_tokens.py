"""Bearer tokens: user tokens (issue, lifetime, expiry, revocation) and master tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from patchbay.services.errors import Unauthorized
from patchbay.services.identity.tokens import Identity
from patchbay.storage.models import ApiToken

USERS = "/core/v1/end-users"
AUTHS = "/core/v1/authentications"


def _expires_at(body: dict) -> datetime:
    value = datetime.fromisoformat(body["expiresAt"])
    assert value.tzinfo is not None, body
    return value


async def test_user_token_defaults_to_two_days(api):
    user = await api.create_user()
    before = datetime.now(UTC)
    for body in (None, {}):
        r = await api.client.post(f"{USERS}/{user['id']}/tokens", json=body, headers=api.master)
        assert r.status_code == 201, r.text
        issued = r.json()
        assert set(issued) == {"accessToken", "expiresAt"}
        assert issued["accessToken"].startswith("pbu_")
        delta = _expires_at(issued) - before
        assert timedelta(days=2) - timedelta(seconds=5) <= delta <= timedelta(days=2, seconds=60)
        r = await api.client.get(AUTHS, headers=api.auth(issued["accessToken"]))
        assert r.status_code == 200, r.text


async def test_user_token_with_custom_lifetime(api):
    user = await api.create_user()
    before = datetime.now(UTC)
    r = await api.client.post(
        f"{USERS}/{user['id']}/tokens", json={"expiresIn": 3600}, headers=api.master
    )
    assert r.status_code == 201, r.text
    delta = _expires_at(r.json()) - before
    assert timedelta(minutes=59) <= delta <= timedelta(minutes=61)
    r = await api.client.get(AUTHS, headers=api.auth(r.json()["accessToken"]))
    assert r.status_code == 200


async def test_user_token_rejects_invalid_lifetimes(api):
    user = await api.create_user()
    url = f"{USERS}/{user['id']}/tokens"
    for body in (
        {"expiresIn": 0},
        {"expiresIn": -5},
        {"expiresIn": 59},
        {"expiresIn": 30 * 24 * 3600 + 1},
        {"expiresIn": "soon"},
        {"expiresIn": 90.5},
        {"lifetime": 3600},
        [3600],
    ):
        r = await api.client.post(url, json=body, headers=api.master)
        api.expect_error(r, 400, "invalid_request")
    r = await api.client.post(
        url, content=b"{bad", headers={**api.master, "Content-Type": "application/json"}
    )
    api.expect_error(r, 400, "malformed_json")


async def test_user_token_for_unknown_or_foreign_user_is_404(api):
    _, other = await api.other_org()
    r = await api.client.post(USERS, json={"name": "T", "externalUserId": "t"}, headers=other)
    theirs = r.json()["id"]
    for user_id in (str(uuid.uuid4()), theirs):
        r = await api.client.post(f"{USERS}/{user_id}/tokens", headers=api.master)
        api.expect_error(r, 404, "user_not_found")
    async with api.platform.db.session() as s:
        count = await s.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.kind == "user")
        )
    assert count == 0


async def test_expired_user_token_is_401_token_expired(api):
    user = await api.create_user()
    identity = api.platform.identity
    issued = await identity.issue_user_token(api.platform.default_org_id, user["id"], 3600)
    live = await identity.issue_user_token(api.platform.default_org_id, user["id"], 3600)
    async with api.platform.db.session() as s:
        await s.execute(
            update(ApiToken)
            .where(ApiToken.id == issued.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    for _ in range(2):  # from the database, then from the verification cache
        r = await api.client.get(AUTHS, headers=api.auth(issued.token))
        api.expect_error(r, 401, "token_expired")
    r = await api.client.get(AUTHS, headers=api.auth(live.token))
    assert r.status_code == 200


async def test_user_token_expires_while_cached(api):
    user = await api.create_user()
    issued = await api.platform.identity.issue_user_token(
        api.platform.default_org_id, user["id"], 1
    )
    r = await api.client.get(AUTHS, headers=api.auth(issued.token))
    assert r.status_code == 200  # now cached (for auth_cache_seconds = 2)
    wait = (issued.expires_at - datetime.now(UTC)).total_seconds() + 0.05
    if wait > 0:
        await asyncio.sleep(wait)
    r = await api.client.get(AUTHS, headers=api.auth(issued.token))
    api.expect_error(r, 401, "token_expired")


async def test_revoking_user_tokens(api):
    user = await api.create_user()
    other_user, other_headers = await api.new_user()
    first = api.auth(await api.user_token(user["id"]))
    second = api.auth(await api.user_token(user["id"]))
    for headers in (first, second):
        assert (await api.client.get(AUTHS, headers=headers)).status_code == 200

    r = await api.client.delete(f"{USERS}/{user['id']}/tokens", headers=api.master)
    assert r.status_code == 204
    assert r.content == b""
    for headers in (first, second):
        r = await api.client.get(AUTHS, headers=headers)
        api.expect_error(r, 401, "invalid_token")
    # other users keep their tokens; the user can be given a new one
    assert (await api.client.get(AUTHS, headers=other_headers)).status_code == 200
    fresh = api.auth(await api.user_token(user["id"]))
    assert (await api.client.get(AUTHS, headers=fresh)).status_code == 200
    # revoking again (nothing left but the fresh token) still answers 204
    r = await api.client.delete(f"{USERS}/{user['id']}/tokens", headers=api.master)
    assert r.status_code == 204
    api.expect_error(await api.client.get(AUTHS, headers=fresh), 401, "invalid_token")
    assert other_user["id"] != user["id"]


async def test_revoked_master_token_is_401(api):
    identity = api.platform.identity
    second = await identity.create_master_token(api.platform.default_org_id, "second")
    headers = api.auth(second.token)
    assert second.token.startswith("pbm_")
    r = await api.client.get(USERS, headers=headers)
    assert r.status_code == 200  # verified and cached

    await identity.revoke_token(second.id)
    for _ in range(2):
        r = await api.client.get(USERS, headers=headers)
        api.expect_error(r, 401, "invalid_token")
    r = await api.client.get(USERS, headers=api.master)
    assert r.status_code == 200


async def test_tokens_are_stored_hashed(api):
    user = await api.create_user()
    token = await api.user_token(user["id"])
    async with api.platform.db.session() as s:
        rows = (await s.scalars(select(ApiToken))).all()
    stored = " ".join(f"{r.token_hash} {r.prefix}" for r in rows)
    assert token not in stored and api.master_token not in stored


async def test_token_revoked_by_another_process_stops_within_the_cache_ttl(api):
    """Another server process (its own verification cache, the same database) keeps a
    revoked token for at most its cache time, then refuses it."""
    identity = api.platform.identity
    issued = await identity.create_master_token(api.platform.default_org_id, "elsewhere")
    other = Identity(api.platform.db, cache_seconds=0.3)
    assert (await other.authenticate(issued.token)).token_id == issued.id  # now cached there

    await identity.revoke_token(issued.id)
    revoked_at = time.monotonic()
    api.expect_error(await api.client.get(USERS, headers=api.auth(issued.token)), 401)
    while True:
        try:
            await other.authenticate(issued.token)
        except Unauthorized as exc:
            assert exc.code == "invalid_token"
            break
        assert time.monotonic() - revoked_at < 0.3 + 0.2, "still accepted after the cache time"
        await asyncio.sleep(0.02)


async def test_verification_cache_evicts_the_least_recently_used(api):
    """A full cache drops its least recently used token, not every token: a recently used
    one stays verified from memory (even once revoked behind the cache's back)."""
    org = api.platform.default_org_id
    identity = Identity(api.platform.db, cache_seconds=60, cache_size=2)
    a, b, c = [await api.platform.identity.create_master_token(org, n) for n in "abc"]
    for issued in (a, b, a, c):  # b is the least recently used when c comes in
        await identity.authenticate(issued.token)
    async with api.platform.db.session() as s:
        await s.execute(update(ApiToken).values(revoked_at=datetime.now(UTC)))
        await s.commit()
    assert (await identity.authenticate(a.token)).token_id == a.id  # kept in memory
    assert (await identity.authenticate(c.token)).token_id == c.id
    with pytest.raises(Unauthorized):  # evicted: read again, and found revoked
        await identity.authenticate(b.token)
