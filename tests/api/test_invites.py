"""Invitations (Tray's ``POST /core/v1/invites``) and accepting one, through a real SMTP
server on loopback: the email arrives, its link is followed, the member exists and is
signed in. Every refusal with its stable error."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from mail_links import PASSWORD, link_in, received, signed_in, smtp_settings
from sqlalchemy import update

from patchbay.connectors.email.fake import FakeSMTP, start_smtp_server
from patchbay.services.identity import roles
from patchbay.storage.models import OneTimeLink, utcnow

INVITES = "/core/v1/invites"
ACCEPT = "/core/v1/invites/accept"
OWNER, ADMIN, MEMBER = (roles.org_role(k).id for k in ("owner", "admin", "member"))


async def invite(api, email, role_id=ADMIN, headers=None):
    r = await api.client.post(
        INVITES, json={"email": email, "organizationRoleId": role_id}, headers=headers or api.master
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_invite_email_link_member_signed_in(mail_api, smtp):
    api = mail_api
    created = await invite(api, "Grace@Example.test")
    assert set(created) == {"inviteId", "expires", "emailSent"}
    # Tray's InviteCreatedExternalApiModel: a uuid and a date-time (7 days by default).
    assert uuid.UUID(created["inviteId"])
    lifetime = datetime.fromisoformat(created["expires"]) - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)
    assert created["emailSent"] is True

    message = await received(smtp)
    assert message.rcpt_tos == ["grace@example.test"]
    assert message.message["Subject"] == "You are invited to Patchbay"
    assert message.message["From"] == "Patchbay <patchbay@example.test>"
    base, page, token = link_in(message)
    assert (base, page) == ("https://pb.example", "accept-invite")

    r = await api.client.post(ACCEPT, json={"token": token, "name": "Grace", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"member", "csrfToken", "expiresAt"}
    assert body["member"]["email"] == "grace@example.test"
    assert body["member"]["name"] == "Grace"
    assert body["member"]["role"] == {"id": ADMIN, "name": "Admin"}
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("patchbay_session=pbs_")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here (cookie_secure auto)

    # The cookie works: reads, and writes with the CSRF token.
    r = await api.client.get("/core/v1/workflows")
    assert r.status_code == 200, r.text
    r = await api.client.post("/core/v1/end-users", json={"name": "E", "externalUserId": "e1"})
    api.expect_error(r, 403, "csrf_missing")
    r = await api.client.post(
        "/core/v1/end-users",
        json={"name": "E", "externalUserId": "e1"},
        headers={"X-CSRF-Token": body["csrfToken"]},
    )
    assert r.status_code == 201, r.text

    # The link works once.
    api.client.cookies.clear()
    r = await api.client.post(ACCEPT, json={"token": token, "name": "G", "password": PASSWORD})
    api.expect_error(r, 410, "link_used")
    member = await api.platform.members.by_email(api.platform.default_org_id, "grace@example.test")
    assert member.org_role == "admin" and member.name == "Grace"


async def test_an_invited_member_acts_with_the_invited_role(mail_api, smtp):
    api = mail_api
    await invite(api, "m@example.test", MEMBER)
    _, _, token = link_in(await received(smtp))
    r = await api.client.post(ACCEPT, json={"token": token, "name": "M", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["member"]["role"]["name"] == "Member"
    # An organisation member with no workspace role yet: signed in, but may read nothing.
    api.expect_error(await api.client.get("/core/v1/workflows"), 403, "insufficient_role")


async def test_secure_cookie_over_https(mail_api, smtp):
    api = mail_api
    await invite(api, "tls@example.test")
    _, _, token = link_in(await received(smtp))
    r = await api.client.post(
        "https://patchbay.test" + ACCEPT, json={"token": token, "name": "T", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    assert "Secure" in r.headers["set-cookie"]


async def test_without_smtp_the_invitation_stands_and_no_link_is_logged(api, caplog):
    caplog.set_level(logging.DEBUG)
    r = await api.client.post(
        INVITES, json={"email": "x@example.test", "organizationRoleId": MEMBER}, headers=api.master
    )
    assert r.status_code == 200, r.text
    assert r.json()["emailSent"] is False
    # The operator's way (the CLI): the service hands the link back.
    p = await api.platform.identity.authenticate(api.master_token)
    sent = await api.platform.invitations.invite(p, "y@example.test", "member")
    assert sent.email_sent is False and "/accept-invite#token=pbl_" in sent.url
    token = sent.url.split("#token=")[1]
    assert token not in caplog.text
    r = await api.client.post(ACCEPT, json={"token": token, "name": "Y", "password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_a_refusing_smtp_server_is_said_not_the_link(mail_api, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    smtp.state.refuse_recipient("nobody@example.test")
    created = await invite(mail_api, "nobody@example.test")
    assert created["emailSent"] is False
    assert "Could not send" in caplog.text and "550" in caplog.text
    assert "#token=" not in caplog.text and "pbl_" not in caplog.text


async def test_invite_refusals(api):
    r = await api.client.post(
        INVITES, json={"email": "a@example.test", "organizationRoleId": "boss"}, headers=api.master
    )
    body = api.expect_error(r, 400, "unknown_role")
    assert OWNER in body["message"]
    for bad in (
        {"email": "not-an-email", "organizationRoleId": ADMIN},
        {"email": "a@example.test"},
        {"email": "a@example.test", "organizationRoleId": ADMIN, "extra": 1},
        {"email": 5, "organizationRoleId": ADMIN},
    ):
        r = await api.client.post(INVITES, json=bad, headers=api.master)
        api.expect_error(r, 400, "invalid_request")

    member, _ = await signed_in(api, "member")
    r = await api.client.post(
        INVITES,
        json={"email": member.email.upper(), "organizationRoleId": ADMIN},
        headers=api.master,
    )
    api.expect_error(r, 409, "email_taken")

    r = await api.client.post(
        INVITES, json={"email": "a@example.test", "organizationRoleId": ADMIN}
    )
    api.expect_error(r, 401, "missing_token")


async def test_who_may_invite(api):
    body = {"email": "new@example.test", "organizationRoleId": OWNER}
    _, admin = await signed_in(api, "admin")
    api.expect_error(
        await api.client.post(INVITES, json=body, headers=admin), 403, "insufficient_role"
    )
    r = await api.client.post(INVITES, json={**body, "organizationRoleId": ADMIN}, headers=admin)
    assert r.status_code == 200, r.text
    _, owner = await signed_in(api, "owner")
    assert (await api.client.post(INVITES, json=body, headers=owner)).status_code == 200

    workspace = await api.platform.identity.default_workspace(api.platform.default_org_id)
    _, contributor = await signed_in(api, "member", {workspace: "admin"})
    api.expect_error(
        await api.client.post(INVITES, json=body, headers=contributor), 403, "insufficient_role"
    )
    # A cookie write without the CSRF token is refused before anything else.
    no_csrf = {"Cookie": owner["Cookie"]}
    api.expect_error(
        await api.client.post(INVITES, json=body, headers=no_csrf), 403, "csrf_missing"
    )
    scoped = await api.platform.identity.create_master_token(
        api.platform.default_org_id, "ws", workspace
    )
    api.expect_error(
        await api.client.post(INVITES, json=body, headers=api.auth(scoped.token)),
        403,
        "org_scope_required",
    )
    _, end_user = await api.new_user()
    api.expect_error(
        await api.client.post(INVITES, json=body, headers=end_user), 403, "master_token_required"
    )


async def test_accept_refusals(api):
    p = await api.platform.identity.authenticate(api.master_token)
    sent = await api.platform.invitations.invite(p, "zelda@example.test", "admin")
    token = sent.url.split("#token=")[1]

    r = await api.client.post(ACCEPT, json={"token": "pbl_nope", "name": "Z", "password": PASSWORD})
    api.expect_error(r, 404, "link_not_found")
    r = await api.client.post(ACCEPT, json={"token": "nope", "name": "Z", "password": PASSWORD})
    api.expect_error(r, 404, "link_not_found")
    # A weak password names the rule, and leaves the link usable.
    r = await api.client.post(ACCEPT, json={"token": token, "name": "Z", "password": "short"})
    body = api.expect_error(r, 400, "weak_password")
    assert "12 characters" in body["message"]
    r = await api.client.post(
        ACCEPT, json={"token": token, "name": "Z", "password": "my-name-is-zelda!"}
    )
    api.expect_error(r, 400, "weak_password")
    for bad in (
        {"token": token, "name": " ", "password": PASSWORD},
        {"token": token, "name": "Z"},
        {"token": token, "name": "Z", "password": PASSWORD, "role": "owner"},
    ):
        api.expect_error(await api.client.post(ACCEPT, json=bad), 400, "invalid_request")
    # Someone made the member meanwhile: 409, and the link is not used up.
    await api.platform.members.create(
        api.platform.default_org_id, email="zelda@example.test", name="Z", org_role="member"
    )
    r = await api.client.post(ACCEPT, json={"token": token, "name": "Z", "password": PASSWORD})
    api.expect_error(r, 409, "email_taken")
    # A reset or setup token is not an invitation.
    reset = await api.platform.links.issue(api.platform.default_org_id, "reset", ttl_seconds=60)
    r = await api.client.post(
        ACCEPT, json={"token": reset.token, "name": "Z", "password": PASSWORD}
    )
    api.expect_error(r, 404, "link_not_found")


async def test_an_expired_invitation_is_gone(api):
    p = await api.platform.identity.authenticate(api.master_token)
    sent = await api.platform.invitations.invite(p, "late@example.test", "member")
    async with api.platform.db.session() as s:
        await s.execute(
            update(OneTimeLink)
            .where(OneTimeLink.id == sent.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    token = sent.url.split("#token=")[1]
    r = await api.client.post(ACCEPT, json={"token": token, "name": "L", "password": PASSWORD})
    api.expect_error(r, 410, "link_expired")


async def test_inviting_again_replaces_the_earlier_invitation(api):
    p = await api.platform.identity.authenticate(api.master_token)
    first = await api.platform.invitations.invite(p, "twice@example.test", "member")
    second = await api.platform.invitations.invite(p, "twice@example.test", "admin")
    old, new = (x.url.split("#token=")[1] for x in (first, second))
    r = await api.client.post(ACCEPT, json={"token": old, "name": "T", "password": PASSWORD})
    api.expect_error(r, 410, "link_expired")
    r = await api.client.post(ACCEPT, json={"token": new, "name": "T", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["member"]["role"]["name"] == "Admin"


async def test_an_invitation_is_used_once_under_concurrency(api):
    p = await api.platform.identity.authenticate(api.master_token)
    sent = await api.platform.invitations.invite(p, "race@example.test", "member")
    token = sent.url.split("#token=")[1]
    body = {"token": token, "name": "R", "password": PASSWORD}
    answers = await asyncio.gather(*(api.client.post(ACCEPT, json=body) for _ in range(4)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 410, 410, 410], [r.text for r in answers]
    for r in answers:
        if r.status_code == 410:
            api.expect_error(r, 410, "link_used")
    assert await api.platform.members.count(api.platform.default_org_id) == 1


async def test_the_mailer_authenticates_when_told(settings, make_api):
    state = FakeSMTP(require_auth=True)
    with start_smtp_server(state) as server:
        wrong = smtp_settings(settings, server, smtp_username="patchbay", smtp_password="nope")
        async with make_api(wrong) as api:
            assert (await invite(api, "a@example.test"))["emailSent"] is False
        right = smtp_settings(
            settings, server, smtp_username=state.username, smtp_password=state.password
        )
        async with make_api(right) as api:  # the same database: its token exists
            issued = await api.platform.identity.create_master_token(api.platform.default_org_id)
            sent = await invite(api, "b@example.test", headers=api.auth(issued.token))
            assert sent["emailSent"] is True
    assert [m.authenticated_as for m in state.messages] == [state.username]
