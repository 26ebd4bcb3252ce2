"""The first owner's setup link: printed at start while the organisation has no member
(a new one each start, the older ones stop working), it creates the first owner and signs
them in; afterwards every setup link is 410. And the small pages the links open: strict
headers, their script and style sheet load."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from mail_links import PASSWORD
from sqlalchemy import select, update

from patchbay.api.app import create_app
from patchbay.api.routes.account_pages import CSP
from patchbay.services.platform import Platform, bootstrap
from patchbay.storage.models import OneTimeLink, WorkspaceMember, utcnow

SETUP = "/core/v1/setup"
SETUP_LINK = re.compile(r"^(http://127\.0\.0\.1:8080)/setup#token=(pbl_[A-Za-z0-9_-]+)$", re.M)


def token_of(url: str) -> str:
    return url.split("#token=")[1]


async def test_setup_link_creates_the_first_owner(api):
    pf = api.platform
    older = await pf.setup_link()
    link = await pf.setup_link()  # another start: the older link stops working
    assert link.startswith("http://127.0.0.1:8080/setup#token=pbl_")
    body = {"email": "Owner@Example.test", "name": "Olive", "password": PASSWORD}
    r = await api.client.post(SETUP, json={**body, "token": token_of(older)})
    api.expect_error(r, 410, "link_expired")

    r = await api.client.post(SETUP, json={**body, "token": token_of(link)})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["member"]["email"] == "owner@example.test"
    assert answer["member"]["role"]["name"] == "Owner"
    assert "HttpOnly" in r.headers["set-cookie"]
    member = await pf.members.by_email(pf.default_org_id, "owner@example.test")
    assert member.org_role == "owner"
    async with pf.db.session() as s:
        roles = (
            await s.execute(
                select(WorkspaceMember.workspace_id, WorkspaceMember.role).where(
                    WorkspaceMember.member_id == member.id
                )
            )
        ).all()
    assert roles == [(await pf.identity.default_workspace(pf.default_org_id), "admin")]
    # Signed in: the cookie reads, and writes with the CSRF token.
    assert (await api.client.get("/core/v1/workflows")).status_code == 200
    r = await api.client.post(
        "/core/v1/invites",
        json={"email": "next@example.test", "organizationRoleId": "owner"},
        headers={"X-CSRF-Token": answer["csrfToken"]},
    )
    assert r.status_code == 200, r.text

    # Done: no new link, and the used one is gone.
    assert await pf.setup_link() is None
    api.client.cookies.clear()
    r = await api.client.post(SETUP, json={**body, "token": token_of(link)})
    api.expect_error(r, 410, "link_used")


async def test_setup_refusals(api):
    pf = api.platform
    link = token_of(await pf.setup_link())
    body = {"token": link, "email": "first@example.test", "name": "F", "password": PASSWORD}
    api.expect_error(
        await api.client.post(SETUP, json={**body, "token": "pbl_x"}), 404, "link_not_found"
    )
    r = await api.client.post(SETUP, json={**body, "password": "first-is-my-name"})
    message = api.expect_error(r, 400, "weak_password")["message"]
    assert "email" in message
    for bad in (
        {**body, "email": "nope"},
        {**body, "name": ""},
        {k: v for k, v in body.items() if k != "email"},
        {**body, "role": "owner"},
    ):
        api.expect_error(await api.client.post(SETUP, json=bad), 400, "invalid_request")
    # A member made another way (the CLI) while the link was live: it cannot make another.
    await pf.members.create(pf.default_org_id, email="cli@example.test", name="C", org_role="owner")
    api.expect_error(await api.client.post(SETUP, json=body), 410, "setup_complete")


async def test_an_expired_setup_link_is_gone(api):
    pf = api.platform
    link = token_of(await pf.setup_link())
    async with pf.db.session() as s:
        await s.execute(
            update(OneTimeLink)
            .where(OneTimeLink.kind == "setup")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    body = {"token": link, "email": "f@example.test", "name": "F", "password": PASSWORD}
    api.expect_error(await api.client.post(SETUP, json=body), 410, "link_expired")


async def test_the_server_prints_one_setup_link_at_each_start(settings, capsys):
    async def start(setup_link: bool = True) -> str:
        platform = Platform(settings)
        app = create_app(settings, platform, setup_link=setup_link)
        async with app.router.lifespan_context(app):
            pass
        return capsys.readouterr().out

    first = SETUP_LINK.findall(await start())
    assert len(first) == 1
    assert SETUP_LINK.findall(await start(setup_link=False)) == []
    # ``patchbay serve`` prints it before its workers start.
    started = await bootstrap(settings)
    assert started.master_token is None  # the first start made it
    assert token_of(started.setup_link) != first[0][1]

    platform = Platform(settings)
    app = create_app(settings, platform)
    async with app.router.lifespan_context(app):
        (current,) = SETUP_LINK.findall(capsys.readouterr().out)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pb.test") as client:
            body = {"email": "o@example.test", "name": "O", "password": PASSWORD}
            for older in (first[0][1], token_of(started.setup_link)):
                r = await client.post(SETUP, json={**body, "token": older})
                assert r.status_code == 410 and r.json()["code"] == "link_expired"
            r = await client.post(SETUP, json={**body, "token": current[1]})
            assert r.status_code == 200, r.text
    # Once there is an owner, a start prints none.
    capsys.readouterr()
    assert SETUP_LINK.findall(await start()) == []
    assert (await bootstrap(settings)).setup_link is None


# -- the pages -------------------------------------------------------------------------------

PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def assert_strict(r: httpx.Response, media_type: str) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(media_type), r.headers
    for name, value in PAGE_HEADERS.items():
        assert r.headers[name] == value, (name, r.headers)


@pytest.mark.parametrize("page", ["/accept-invite", "/reset-password", "/setup", "/sign-in", "/"])
async def test_the_pages_and_their_assets(api, page):
    r = await api.client.get(page)
    assert_strict(r, "text/html")
    html = r.text
    assert "default-src 'none'" in CSP and "frame-ancestors 'none'" in CSP
    # No inline script or style: the policy would block them.
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all('src="' in s for s in scripts), scripts
    assert "style=" not in html and "<style" not in html and "javascript:" not in html
    assets = re.findall(r'<(?:script src|link rel="stylesheet" href)="(/[^"]+)"', html)
    assert {a.rsplit(".", 1)[1] for a in assets} == {"js", "css"}, assets
    for asset in assets:
        r = await api.client.get(asset)
        assert_strict(r, "text/javascript" if asset.endswith(".js") else "text/css")
        if asset.endswith(".js"):
            assert "innerHTML" not in r.text and "location.hash" in r.text
    # Every form posts to an API path that exists, every API path called does too.
    paths = api.client._transport.app.openapi()["paths"]  # type: ignore[attr-defined]
    for endpoint in re.findall(r'data-endpoint="([^"]+)"', html):
        assert "post" in paths[endpoint], endpoint
    for link in re.findall(r'<a [^>]*href="(/[^"?]+)', html):
        r = await api.client.get(link, follow_redirects=False)
        expected = 404 if link == "/core/v1/sso/start" else 200  # no single sign-on here
        assert r.status_code == expected, link


async def test_the_home_page_shadows_nothing(api):
    """``/`` is the home page, and only ``/``: the API's own paths answer as before."""
    pages = api.client._transport.app.openapi()["paths"]  # type: ignore[attr-defined]
    assert "/" not in pages and "/sign-in" not in pages
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    assert (await api.client.get("/openapi.json")).json()["paths"] == pages
    r = await api.client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    assert (await api.client.get("/nothing-here")).status_code == 404
    r = await api.client.post("/", json={})
    assert r.status_code == 405


def test_the_pages_are_package_data():
    from importlib.resources import files

    pages = files("patchbay.api").joinpath("pages")
    names = {p.name for p in pages.iterdir()}
    assert {"accept-invite.html", "reset-password.html", "setup.html"} <= names
    assert {"sign-in.html", "home.html"} <= names
    assert {"account.js", "account.css"} <= names
