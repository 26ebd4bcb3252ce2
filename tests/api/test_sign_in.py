"""Members sign in with email and password: the session cookie and its CSRF token, sign
out, expiry, lockout and the per-address limit, password changes, personal API tokens, and
the "SSO only" setting. On SQLite and PostgreSQL, through the real endpoints."""

from __future__ import annotations

import time
from datetime import timedelta
from http.cookies import SimpleCookie
from statistics import median

import pytest
from sqlalchemy import select, update

from patchbay.services.identity import roles
from patchbay.services.identity.passwords import hash_password
from patchbay.services.identity.sessions import COOKIE
from patchbay.storage.models import Member, MemberSession, utcnow

PASSWORD = "correct horse battery"
SESSION = "/core/v1/session"
TOKENS = "/core/v1/session/tokens"
WORKFLOW = {
    "title": "signed in",
    "steps_structure": [{"name": "trigger", "type": "normal", "content": {}}],
    "steps": {
        "trigger": {
            "title": "trigger",
            "connector": {"name": "webhook", "version": "2.0"},
            "operation": "webhook",
            "properties": {},
            "error_handling": {},
        }
    },
}


async def add_member(
    api, email="ada@example.com", role="owner", password=PASSWORD, org_id=None
) -> Member:
    return await api.platform.members.create(
        org_id or api.platform.default_org_id,
        email=email,
        name=email.split("@")[0].title(),
        org_role=role,
        password_hash=hash_password(password) if password else None,
    )


def session_cookie(r) -> SimpleCookie:
    jar = SimpleCookie()
    for header in r.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


async def post_sign_in(api, email="ada@example.com", password=PASSWORD, url=SESSION, **extra):
    r = await api.client.post(url, json={"email": email, "password": password, **extra})
    api.client.cookies.clear()  # each test says which cookie it sends
    return r


async def sign_in(api, email="ada@example.com", password=PASSWORD) -> tuple[str, str]:
    """(session token, CSRF token) of a new session."""
    r = await post_sign_in(api, email, password)
    assert r.status_code == 200, r.text
    return session_cookie(r)[COOKIE].value, r.json()["csrfToken"]


def cookie(token: str, csrf: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"{COOKIE}={token}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


async def set_member(api, member_id: str, **values) -> None:
    async with api.platform.db.session() as s:
        await s.execute(update(Member).where(Member.id == member_id).values(**values))
        await s.commit()
    api.platform.identity.forget()


async def member_row(api, member_id: str) -> Member:
    async with api.platform.db.session() as s:
        return await s.scalar(select(Member).where(Member.id == member_id))


# -- signing in ---------------------------------------------------------------------------


async def test_sign_in_sets_the_session_cookie(api):
    member = await add_member(api, email="Ada@Example.com")
    r = await post_sign_in(api, email="  ADA@example.com ")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["member"] == {
        "id": member.id,
        "email": "ada@example.com",
        "name": "Ada",
        "accountType": "Regular",
        "role": {"id": roles.org_role("owner").id, "name": "Owner"},
    }
    assert body["csrfToken"] and body["expiresAt"]
    morsel = session_cookie(r)[COOKIE]
    assert morsel.value.startswith("pbs_")
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "lax"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == str(api.platform.settings.session_ttl_seconds)
    assert not morsel["secure"]  # plain http, cookie_secure=auto
    assert PASSWORD not in r.text

    r = await api.client.get(SESSION, headers=cookie(morsel.value))
    assert r.status_code == 200, r.text
    assert r.json() == body
    row = await member_row(api, member.id)
    assert row.last_sign_in_at is not None and row.failed_sign_ins == 0


async def test_secure_cookie_over_https_or_when_told(make_api, settings):
    https = "https://patchbay.test" + SESSION
    async with make_api(settings) as auto:
        await add_member(auto)
        r = await post_sign_in(auto, url=https)
        assert r.status_code == 200, r.text
        assert session_cookie(r)[COOKIE]["secure"] is True
    async with make_api(settings.model_copy(update={"cookie_secure": "always"})) as always:
        r = await post_sign_in(always)
        assert session_cookie(r)[COOKIE]["secure"] is True
    async with make_api(settings.model_copy(update={"cookie_secure": "never"})) as never:
        r = await post_sign_in(never, url=https)
        assert r.status_code == 200, r.text
        assert not session_cookie(r)[COOKIE]["secure"]


async def test_wrong_password_and_unknown_email_answer_alike(api):
    await add_member(api)
    wrong = api.expect_error(await post_sign_in(api, password="not the password"), 401)
    unknown = api.expect_error(await post_sign_in(api, email="nobody@example.com"), 401)
    assert wrong == unknown == {"message": wrong["message"], "code": "invalid_credentials"}
    no_password = await add_member(api, email="sso@example.com", password=None)
    r = await post_sign_in(api, email=no_password.email, password="")
    api.expect_error(r, 400, "invalid_request")
    r = await post_sign_in(api, email=no_password.email)
    assert api.expect_error(r, 401, "invalid_credentials") == wrong


async def test_an_unknown_email_costs_the_same_work(api):
    await add_member(api)

    async def timed(email: str) -> float:
        started = time.perf_counter()
        r = await post_sign_in(api, email=email, password="not the password")
        assert r.status_code == 401
        return time.perf_counter() - started

    known = median([await timed("ada@example.com") for _ in range(3)])
    unknown = median([await timed(f"nobody{i}@example.com") for i in range(3)])
    assert unknown > known / 3, (known, unknown)  # an argon2 verification either way


async def test_sign_in_to_another_organisation(api):
    org_id, _ = await api.other_org("acme")
    await add_member(api, email="cy@example.com", org_id=org_id)
    api.expect_error(await post_sign_in(api, email="cy@example.com"), 401, "invalid_credentials")
    r = await post_sign_in(api, email="cy@example.com", org="acme")
    assert r.status_code == 200, r.text
    r = await post_sign_in(api, email="cy@example.com", org="nope")
    api.expect_error(r, 401, "invalid_credentials")


async def test_bad_sign_in_bodies(api):
    for body in ({}, {"email": "a@b.c"}, {"email": 1, "password": "x"}, {"x": 1}):
        r = await api.client.post(SESSION, json=body)
        api.expect_error(r, 400, "invalid_request")


async def test_no_session(api):
    api.expect_error(await api.client.get(SESSION), 401, "not_signed_in")
    # A bearer token is no session.
    api.expect_error(await api.client.get(SESSION, headers=api.master), 401, "not_signed_in")
    r = await api.client.get(SESSION, headers=cookie("pbs_nope"))
    api.expect_error(r, 401, "session_ended")


# -- sign out, expiry, CSRF -----------------------------------------------------------------


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(api):
    await add_member(api)
    token, csrf = await sign_in(api)
    api.expect_error(await api.client.delete(SESSION, headers=cookie(token)), 403, "csrf_missing")
    r = await api.client.delete(SESSION, headers=cookie(token, "0" * 64))
    api.expect_error(r, 403, "csrf_invalid")
    assert (await api.client.get(SESSION, headers=cookie(token))).status_code == 200

    r = await api.client.delete(SESSION, headers=cookie(token, csrf))
    assert r.status_code == 204, r.text
    cleared = session_cookie(r)[COOKIE]
    assert cleared.value == "" and cleared["max-age"] == "0"
    api.client.cookies.clear()
    api.expect_error(await api.client.get(SESSION, headers=cookie(token)), 401, "session_ended")
    r = await api.client.get("/core/v1/workflows", headers=cookie(token))
    api.expect_error(r, 401, "session_ended")


async def test_a_session_expires(api):
    member = await add_member(api)
    token, _ = await sign_in(api)
    async with api.platform.db.session() as s:
        await s.execute(
            update(MemberSession)
            .where(MemberSession.member_id == member.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    api.platform.identity.forget()
    api.expect_error(await api.client.get(SESSION, headers=cookie(token)), 401, "session_expired")


async def test_signing_in_again_ends_the_browsers_previous_session(api):
    await add_member(api)
    old, _ = await sign_in(api)
    r = await api.client.post(
        SESSION, json={"email": "ada@example.com", "password": PASSWORD}, headers=cookie(old)
    )
    api.client.cookies.clear()
    assert r.status_code == 200, r.text
    new = session_cookie(r)[COOKIE].value
    assert new != old
    api.expect_error(await api.client.get(SESSION, headers=cookie(old)), 401, "session_ended")
    assert (await api.client.get(SESSION, headers=cookie(new))).status_code == 200


async def test_cookie_writes_need_the_csrf_token(api):
    await add_member(api)
    token, csrf = await sign_in(api)
    url = "/core/v1/workflows"
    r = await api.client.post(url, json=WORKFLOW, headers=cookie(token))
    api.expect_error(r, 403, "csrf_missing")
    r = await api.client.post(url, json=WORKFLOW, headers=cookie(token, csrf[::-1]))
    api.expect_error(r, 403, "csrf_invalid")
    other, other_csrf = await sign_in(api)
    r = await api.client.post(url, json=WORKFLOW, headers=cookie(token, other_csrf))
    api.expect_error(r, 403, "csrf_invalid")  # another session's token is no good either
    r = await api.client.post(url, json=WORKFLOW, headers=cookie(token, csrf))
    assert r.status_code == 201, r.text
    assert (await api.client.get(url, headers=cookie(token))).status_code == 200  # reads: none

    # A personal token is a bearer token: no CSRF token needed.
    r = await api.client.post(TOKENS, json={"name": "ci"}, headers=cookie(other, other_csrf))
    assert r.status_code == 201, r.text
    bearer = api.auth(r.json()["token"])
    r = await api.client.post(url, json=WORKFLOW, headers=bearer)
    assert r.status_code == 201, r.text


# -- lockout and the per-address limit --------------------------------------------------------


async def test_lockout_after_five_failures_doubling(api):
    member = await add_member(api)
    for _ in range(5):
        r = await post_sign_in(api, password="not the password")
        api.expect_error(r, 401, "invalid_credentials")
    r = await post_sign_in(api)  # the right password, while locked
    api.expect_error(r, 429, "too_many_attempts")
    assert 55 <= int(r.headers["retry-after"]) <= 60
    row = await member_row(api, member.id)
    assert row.failed_sign_ins == 5

    # The lock passes; one more failure locks for twice as long.
    await set_member(api, member.id, locked_until=utcnow() - timedelta(seconds=1))
    api.expect_error(await post_sign_in(api, password="nope nope"), 401, "invalid_credentials")
    r = await post_sign_in(api)
    api.expect_error(r, 429, "too_many_attempts")
    assert 115 <= int(r.headers["retry-after"]) <= 120

    # Never more than an hour.
    await set_member(
        api, member.id, failed_sign_ins=40, locked_until=utcnow() - timedelta(seconds=1)
    )
    api.expect_error(await post_sign_in(api, password="nope nope"), 401, "invalid_credentials")
    r = await post_sign_in(api)
    api.expect_error(r, 429, "too_many_attempts")
    assert 3590 <= int(r.headers["retry-after"]) <= 3600

    # Once unlocked, the right password works and the count starts again.
    await set_member(api, member.id, locked_until=utcnow() - timedelta(seconds=1))
    assert (await post_sign_in(api)).status_code == 200
    row = await member_row(api, member.id)
    assert row.failed_sign_ins == 0 and row.locked_until is None
    for _ in range(4):
        api.expect_error(await post_sign_in(api, password="nope nope"), 401)
    assert (await post_sign_in(api)).status_code == 200


async def test_unknown_emails_lock_alike(api):
    for _ in range(5):
        r = await post_sign_in(api, email="ghost@example.com")
        api.expect_error(r, 401, "invalid_credentials")
    r = await post_sign_in(api, email="ghost@example.com")
    api.expect_error(r, 429, "too_many_attempts")
    assert 55 <= int(r.headers["retry-after"]) <= 60


async def test_attempts_per_address_are_limited(make_api, settings):
    limited = settings.model_copy(update={"sign_in_rate_per_minute": 6, "sign_in_rate_burst": 3})
    async with make_api(limited) as small:
        await add_member(small)
        for i in range(3):
            r = await post_sign_in(small, email=f"guess{i}@example.com")
            small.expect_error(r, 401, "invalid_credentials")
        r = await post_sign_in(small)  # even a member with the right password
        small.expect_error(r, 429, "too_many_attempts")
        assert 1 <= int(r.headers["retry-after"]) <= 10


# -- passwords ------------------------------------------------------------------------------


async def test_change_password(api):
    member = await add_member(api)
    token, csrf = await sign_in(api)
    elsewhere, _ = await sign_in(api)
    url = SESSION + "/password"
    new = "a brand new passphrase"

    r = await api.client.put(
        url, json={"currentPassword": PASSWORD, "newPassword": new}, headers=cookie(token)
    )
    api.expect_error(r, 403, "csrf_missing")
    r = await api.client.put(
        url,
        json={"currentPassword": "not it at all", "newPassword": new},
        headers=cookie(token, csrf),
    )
    api.expect_error(r, 400, "wrong_password")
    assert (await member_row(api, member.id)).failed_sign_ins == 1  # counts as a failure
    r = await api.client.put(
        url, json={"currentPassword": PASSWORD, "newPassword": "short"}, headers=cookie(token, csrf)
    )
    assert "12 characters" in api.expect_error(r, 400, "weak_password")["message"]
    r = await api.client.put(
        url,
        json={"currentPassword": PASSWORD, "newPassword": "abababababababab"},
        headers=cookie(token, csrf),
    )
    assert "different characters" in api.expect_error(r, 400, "weak_password")["message"]
    r = await api.client.put(url, json={"newPassword": new}, headers=cookie(token, csrf))
    api.expect_error(r, 400, "invalid_request")

    r = await api.client.put(
        url, json={"currentPassword": PASSWORD, "newPassword": new}, headers=cookie(token, csrf)
    )
    assert r.status_code == 204, r.text
    fresh = session_cookie(r)[COOKIE].value
    api.client.cookies.clear()
    assert PASSWORD not in r.text and new not in r.text
    # Every session ended, this browser's replaced by a new one.
    for old in (token, elsewhere):
        api.expect_error(await api.client.get(SESSION, headers=cookie(old)), 401, "session_ended")
    r = await api.client.get(SESSION, headers=cookie(fresh))
    assert r.status_code == 200 and r.json()["member"]["id"] == member.id
    api.expect_error(await post_sign_in(api), 401, "invalid_credentials")
    assert (await post_sign_in(api, password=new)).status_code == 200
    assert (await member_row(api, member.id)).failed_sign_ins == 0


async def test_change_password_with_a_personal_token(api):
    await add_member(api)
    token, csrf = await sign_in(api)
    r = await api.client.post(TOKENS, json={"name": "laptop"}, headers=cookie(token, csrf))
    bearer = api.auth(r.json()["token"])
    new = "another fine passphrase"
    body = {"currentPassword": PASSWORD, "newPassword": new}
    r = await api.client.put(SESSION + "/password", json=body, headers=bearer)
    assert r.status_code == 204, r.text
    assert not r.headers.get_list("set-cookie")
    api.expect_error(await api.client.get(SESSION, headers=cookie(token)), 401, "session_ended")
    assert (await api.client.get(TOKENS, headers=bearer)).status_code == 200  # tokens stay
    r = await api.client.put(
        SESSION + "/password", json={"currentPassword": new, "newPassword": new}, headers=bearer
    )
    api.expect_error(r, 400, "same_password")
    r = await api.client.put(
        SESSION + "/password",
        json={"currentPassword": new, "newPassword": "x" * 20},
        headers=api.master,
    )
    api.expect_error(r, 403, "member_required")


async def test_sso_only_turns_passwords_off(make_api, settings):
    async with make_api(settings.model_copy(update={"sso_only": True})) as sso:
        await add_member(sso)
        r = await post_sign_in(sso)
        assert "single sign-on" in sso.expect_error(r, 403, "sso_only")["message"]
        # A member signed in by other means cannot set a password either.
        member = await sso.platform.members.by_email(sso.platform.default_org_id, "ada@example.com")
        issued = await sso.platform.identity.create_personal_token(member.org_id, member.id)
        r = await sso.client.put(
            SESSION + "/password",
            json={"currentPassword": PASSWORD, "newPassword": "x1y2z3 w4v5u6"},
            headers=sso.auth(issued.token),
        )
        sso.expect_error(r, 403, "sso_only")


# -- personal API tokens --------------------------------------------------------------------


async def test_personal_tokens(api):
    ada = await add_member(api)
    await add_member(api, email="bo@example.com", role="member")
    token, csrf = await sign_in(api)
    session = cookie(token, csrf)

    r = await api.client.post(TOKENS, json={"name": "ci", "expiresIn": 3600}, headers=session)
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"id", "name", "token", "expiresAt"}
    assert created["name"] == "ci" and created["token"].startswith("pbp_")
    assert created["expiresAt"] is not None
    r = await api.client.post(TOKENS, json={"name": "forever"}, headers=session)
    forever = r.json()
    assert forever["expiresAt"] is None

    listed = (await api.client.get(TOKENS, headers=cookie(token))).json()["elements"]
    assert [t["id"] for t in listed] == [created["id"], forever["id"]]
    assert set(listed[0]) == {"id", "name", "prefix", "createdAt", "expiresAt"}
    assert created["token"].startswith(listed[0]["prefix"])
    assert created["token"] not in str(listed)

    # The token acts as Ada, with her roles.
    bearer = api.auth(created["token"])
    r = await api.client.get(TOKENS, headers=bearer)
    assert [t["id"] for t in r.json()["elements"]] == [created["id"], forever["id"]]
    assert (await api.client.post("/core/v1/workflows", json=WORKFLOW, headers=bearer)).is_success

    # Another member sees none of Ada's, and cannot revoke them.
    bo_token, bo_csrf = await sign_in(api, email="bo@example.com")
    bo = cookie(bo_token, bo_csrf)
    assert (await api.client.get(TOKENS, headers=bo)).json() == {"elements": []}
    r = await api.client.delete(f"{TOKENS}/{created['id']}", headers=bo)
    api.expect_error(r, 404, "token_not_found")

    r = await api.client.delete(f"{TOKENS}/{created['id']}", headers=cookie(token))
    api.expect_error(r, 403, "csrf_missing")
    r = await api.client.delete(f"{TOKENS}/{created['id']}", headers=api.auth(forever["token"]))
    assert r.status_code == 204, r.text
    api.expect_error(await api.client.get(TOKENS, headers=bearer), 401, "invalid_token")
    listed = (await api.client.get(TOKENS, headers=session)).json()["elements"]
    assert [t["id"] for t in listed] == [forever["id"]]
    r = await api.client.delete(f"{TOKENS}/{created['id']}", headers=session)
    api.expect_error(r, 404, "token_not_found")
    assert ada.id


async def test_personal_tokens_are_a_members_only(api):
    _, as_user = await api.new_user()
    for headers in (api.master, as_user):
        api.expect_error(await api.client.get(TOKENS, headers=headers), 403, "member_required")
        r = await api.client.post(TOKENS, json={"name": "x"}, headers=headers)
        api.expect_error(r, 403, "member_required")
        r = await api.client.delete(f"{TOKENS}/nope", headers=headers)
        api.expect_error(r, 403, "member_required")
    api.expect_error(await api.client.get(TOKENS), 401, "missing_token")


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "x", "expiresIn": 5}, {"name": "x", "extra": 1}],
)
async def test_bad_personal_token_bodies(api, body):
    await add_member(api)
    token, csrf = await sign_in(api)
    r = await api.client.post(TOKENS, json=body, headers=cookie(token, csrf))
    api.expect_error(r, 400, "invalid_request")


# -- the OpenAPI document tells the truth --------------------------------------------------


async def test_session_answers_match_the_document(api, tmp_path):
    from openapi_contract import Contract, document

    contract = Contract(document(tmp_path / "openapi"))
    problems: list[str] = []

    async def check(response):
        await response.aread()
        problems.extend(contract.problems(response))

    api.client.event_hooks["response"].append(check)
    await add_member(api)
    c = api.client
    await post_sign_in(api, password="not the password")
    await c.post(SESSION, json={})
    token, csrf = await sign_in(api)
    session = cookie(token, csrf)
    await c.get(SESSION, headers=session)
    await c.get(SESSION)
    r = await c.post(TOKENS, json={"name": "ci", "expiresIn": 600}, headers=session)
    await c.post(TOKENS, json={"name": "x"}, headers=api.master)
    await c.get(TOKENS, headers=session)
    await c.delete(f"{TOKENS}/{r.json()['id']}", headers=session)
    await c.delete(f"{TOKENS}/nope", headers=session)
    url = SESSION + "/password"
    await c.put(url, json={"currentPassword": PASSWORD, "newPassword": "x"}, headers=session)
    await c.put(url, json={"currentPassword": "wrong one", "newPassword": "y"}, headers=session)
    await c.delete(SESSION, headers=cookie(token))
    await c.delete(SESSION, headers=session)
    for _ in range(5):
        await post_sign_in(api, password="not the password")
    await post_sign_in(api)
    assert not problems, "\n".join(problems)
    statuses = {(m, p, s) for (m, p, s) in contract.checked if p.startswith(SESSION)}
    assert {s for (_, _, s) in statuses} >= {"200", "201", "204", "400", "401", "403", "404", "429"}
