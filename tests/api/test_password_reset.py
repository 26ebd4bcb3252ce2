"""Password reset by emailed one-time link, through a real SMTP server on loopback: the
request never tells whether the address is a member's; the link sets a new password,
clears a lock and ends every session; requests are rate limited."""

from __future__ import annotations

import logging
from datetime import timedelta

from mail_links import PASSWORD, link_in, received, signed_in
from sqlalchemy import update

from patchbay.services.identity import passwords
from patchbay.storage.models import Member, OneTimeLink, utcnow

RESETS = "/core/v1/password-resets"
COMPLETE = "/core/v1/password-resets/complete"
NEW_PASSWORD = "a brand new passphrase"


async def member_of(api, email):
    return await api.platform.members.by_email(api.platform.default_org_id, email)


async def test_reset_by_email_link(mail_api, smtp):
    api = mail_api
    member, session = await signed_in(api, "admin")
    async with api.platform.db.session() as s:  # locked after failed sign-ins
        await s.execute(
            update(Member)
            .where(Member.id == member.id)
            .values(failed_sign_ins=7, locked_until=utcnow() + timedelta(hours=1))
        )
        await s.commit()
    assert (await api.client.get("/core/v1/workflows", headers=session)).status_code == 200

    r = await api.client.post(RESETS, json={"email": member.email.upper()})
    assert r.status_code == 202, r.text
    assert "message" in r.json()
    message = await received(smtp)
    assert message.rcpt_tos == [member.email]
    assert message.message["Subject"] == "Reset your Patchbay password"
    base, page, token = link_in(message)
    assert (base, page) == ("https://pb.example", "reset-password")

    r = await api.client.post(COMPLETE, json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["member"]["id"] == member.id and body["csrfToken"]
    assert r.headers["set-cookie"].startswith("patchbay_session=pbs_")

    changed = await member_of(api, member.email)
    assert passwords.verify_password(changed.password_hash, NEW_PASSWORD)
    assert not passwords.verify_password(changed.password_hash, PASSWORD)
    assert changed.failed_sign_ins == 0 and changed.locked_until is None
    # Every earlier session has ended; the new one works.
    api.expect_error(
        await api.client.get("/core/v1/workflows", headers=session), 401, "session_ended"
    )
    assert (await api.client.get("/core/v1/workflows")).status_code == 200
    # Once only.
    api.client.cookies.clear()
    r = await api.client.post(COMPLETE, json={"token": token, "password": NEW_PASSWORD + "!"})
    api.expect_error(r, 410, "link_used")


async def test_an_unknown_address_gets_the_same_answer_and_no_email(mail_api, smtp):
    api = mail_api
    member, _ = await signed_in(api, "member")
    unknown = await api.client.post(RESETS, json={"email": "stranger@example.test"})
    await api.platform.password_resets.settle()
    assert len(smtp.state.messages) == 0
    known = await api.client.post(RESETS, json={"email": member.email})
    await received(smtp)
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    # Not even a malformed address is told apart.
    r = await api.client.post(RESETS, json={"email": "not an address"})
    assert r.status_code == 202


async def test_a_new_link_replaces_the_older_one(mail_api, smtp):
    api = mail_api
    member, _ = await signed_in(api, "member")
    await api.client.post(RESETS, json={"email": member.email})
    _, _, first = link_in(await received(smtp, 1))
    await api.client.post(RESETS, json={"email": member.email})
    _, _, second = link_in(await received(smtp, 2))
    r = await api.client.post(COMPLETE, json={"token": first, "password": NEW_PASSWORD})
    api.expect_error(r, 410, "link_expired")
    r = await api.client.post(COMPLETE, json={"token": second, "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text


async def test_without_smtp_nothing_secret_is_logged(api, caplog):
    caplog.set_level(logging.DEBUG)
    member, _ = await signed_in(api, "member")
    r = await api.client.post(RESETS, json={"email": member.email})
    assert r.status_code == 202
    await api.platform.password_resets.settle()
    assert "no email could be sent" in caplog.text
    assert "#token=" not in caplog.text and "pbl_" not in caplog.text


async def test_complete_refusals(api):
    member, _ = await signed_in(api, "member")
    issued = await api.platform.links.issue(
        api.platform.default_org_id,
        "reset",
        ttl_seconds=600,
        email=member.email,
        member_id=member.id,
    )
    r = await api.client.post(COMPLETE, json={"token": "pbl_unknown", "password": NEW_PASSWORD})
    api.expect_error(r, 404, "link_not_found")
    # A weak password names the rule and leaves the link usable.
    r = await api.client.post(COMPLETE, json={"token": issued.token, "password": "aaaaaaaaaaaaaa"})
    body = api.expect_error(r, 400, "weak_password")
    assert "different characters" in body["message"]
    for bad in ({"token": issued.token}, {"password": NEW_PASSWORD}, {"token": 1, "password": "x"}):
        api.expect_error(await api.client.post(COMPLETE, json=bad), 400, "invalid_request")
    api.expect_error(await api.client.post(RESETS, json={}), 400, "invalid_request")

    async with api.platform.db.session() as s:
        await s.execute(
            update(OneTimeLink)
            .where(OneTimeLink.id == issued.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    r = await api.client.post(COMPLETE, json={"token": issued.token, "password": NEW_PASSWORD})
    api.expect_error(r, 410, "link_expired")


async def test_requests_are_rate_limited_per_address_and_per_client(api):
    for _ in range(3):
        assert (await api.client.post(RESETS, json={"email": "a@example.test"})).status_code == 202
    r = await api.client.post(RESETS, json={"email": "A@example.test"})
    api.expect_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) > 0
    # Other addresses from the same client: ten requests in all, then refused too.
    for n in range(6):
        r = await api.client.post(RESETS, json={"email": f"b{n}@example.test"})
        assert r.status_code == 202, (n, r.text)
    r = await api.client.post(RESETS, json={"email": "c@example.test"})
    api.expect_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) > 0
