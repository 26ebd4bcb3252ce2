"""People's ways in, as a person takes them in Chromium: the first start's setup link,
signing in and out, an invitation and a password reset by email, single sign-on through a
loopback OpenID Connect provider, the server's refusals shown at the form, and a member's
name shown as text, never as HTML."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from browser_support import PASSWORD, Browser, Patchbay

from patchbay.testing.fakeserver import serve_in_thread
from patchbay.testing.oidc_provider import OidcProvider
from patchbay.testing.oidc_provider import create_app as create_oidc_app

NO_PLAYWRIGHT = "Playwright for Python is not installed (pip install -e '.[test]')"
expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect

OWNER_EMAIL = "olive@example.test"
WRONG = "The email or the password is wrong"


def fill_account_form(page, *, email: str | None = None, name: str | None = None, password):
    """The setup, invitation and reset pages' fields, by their labels."""
    if email is not None:
        page.get_by_label("Email", exact=True).fill(email)
    if name is not None:
        page.get_by_label("Your name", exact=True).fill(name)
    labels = ("Password", "Password again")
    if page.get_by_label("New password", exact=True).count():
        labels = ("New password", "New password again")
    page.get_by_label(labels[0], exact=True).fill(password)
    page.get_by_label(labels[1], exact=True).fill(password)


def sign_in(page, email: str, password: str) -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def expect_home(b: Browser, pb: Patchbay, text: str) -> None:
    expect(b.page).to_have_url(f"{pb.url}/")
    expect(b.page.locator("#who")).to_have_text(text)
    expect(b.page.get_by_text("The web console is coming.")).to_be_visible()
    expect(b.page.get_by_role("link", name="API documentation")).to_have_attribute("href", "/docs")


def sign_out(b: Browser, pb: Patchbay) -> None:
    b.page.get_by_role("button", name="Sign out").click()
    expect(b.page).to_have_url(f"{pb.url}/sign-in")
    expect(b.page.get_by_role("heading", name="Sign in to Patchbay")).to_be_visible()


def form_message(page):
    return page.locator("form:visible .message")


def test_setup_link_creates_the_owner_then_sign_out(browser: Browser, patchbay: Patchbay):
    b, pb = browser, patchbay
    link = pb.setup_link()  # read from the server's output, as a person reads it
    assert link.startswith(f"{pb.url}/setup#token=pbl_")
    b.page.goto(link)
    expect(b.page.get_by_role("heading", name="Set up Patchbay")).to_be_visible()
    b.shot("setup")
    fill_account_form(b.page, email="Olive@Example.test", name="Olive Owner", password=PASSWORD)
    b.shot("setup-filled")
    b.page.get_by_role("button", name="Create the owner").click()
    expect_home(b, pb, f"Signed in as Olive Owner ({OWNER_EMAIL}), Owner")
    b.shot("home")

    sign_out(b, pb)
    b.shot("signed-out")
    # Signed out for real: home sends this browser to sign in again.
    b.page.goto(f"{pb.url}/")
    expect(b.page).to_have_url(f"{pb.url}/sign-in")


def test_wrong_password_then_the_right_one(browser: Browser, patchbay: Patchbay):
    b, pb = browser, patchbay
    pb.setup_owner(OWNER_EMAIL, "Olive Owner")
    b.page.goto(f"{pb.url}/sign-in")
    expect(b.page.get_by_role("link", name="Forgot your password?")).to_have_attribute(
        "href", "/reset-password"
    )
    # Single sign-on is not set up: no button for it.
    expect(b.page.get_by_role("link", name="Sign in with single sign-on")).to_be_hidden()
    b.shot("sign-in")
    sign_in(b.page, OWNER_EMAIL, "not the password at all")
    expect(form_message(b.page)).to_have_text(WRONG)
    expect(b.page).to_have_url(f"{pb.url}/sign-in")
    b.shot("wrong-password")

    b.page.get_by_label("Password", exact=True).fill(PASSWORD)
    b.page.get_by_role("button", name="Sign in", exact=True).click()
    expect_home(b, pb, f"Signed in as Olive Owner ({OWNER_EMAIL}), Owner")
    b.shot("home")


def test_sign_in_goes_to_next_when_it_is_a_path_of_this_site(browser, patchbay):
    b, pb = browser, patchbay
    pb.setup_owner(OWNER_EMAIL, "Olive Owner")
    b.page.goto(f"{pb.url}/sign-in?next=/health?from=sign-in")
    sign_in(b.page, OWNER_EMAIL, PASSWORD)
    expect(b.page).to_have_url(f"{pb.url}/health?from=sign-in")
    b.page.context.clear_cookies()
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        b.page.goto(f"{pb.url}/sign-in?next={elsewhere}")
        sign_in(b.page, OWNER_EMAIL, PASSWORD)
        expect(b.page).to_have_url(f"{pb.url}/")
        b.page.context.clear_cookies()


def test_lockout_says_when_to_try_again(browser: Browser, start_patchbay):
    b = browser
    pb = start_patchbay(PATCHBAY_SIGN_IN_LOCKOUT_AFTER="1", PATCHBAY_SIGN_IN_LOCKOUT_SECONDS="90")
    pb.setup_owner(OWNER_EMAIL, "Olive Owner")
    b.page.goto(f"{pb.url}/sign-in")
    sign_in(b.page, OWNER_EMAIL, "not the password at all")
    expect(form_message(b.page)).to_have_text(WRONG)
    b.page.get_by_role("button", name="Sign in", exact=True).click()  # locked now
    expect(form_message(b.page)).to_have_text(
        re.compile(r"^Too many failed sign-ins: try again in (89|90) seconds\.$")
    )
    b.shot("locked")


def test_sso_only_without_a_provider_shows_the_servers_message(browser, start_patchbay):
    b = browser
    pb = start_patchbay(PATCHBAY_SSO_ONLY="true")
    b.page.goto(f"{pb.url}/sign-in")
    sign_in(b.page, OWNER_EMAIL, PASSWORD)
    expect(form_message(b.page)).to_have_text(
        "Passwords are turned off here: sign in with single sign-on"
    )
    b.shot("sso-only")


def test_invitation_by_email(browser: Browser, patchbay: Patchbay):
    b, pb = browser, patchbay
    r = httpx.post(
        f"{pb.url}/core/v1/invites",
        json={"email": "grace@example.test", "organizationRoleId": "member"},
        headers={"Authorization": f"Bearer {pb.master_token()}"},
    )
    assert r.status_code == 200, r.text
    message = pb.email()
    assert message.rcpt_tos == ["grace@example.test"]
    link = pb.link_in(message)
    assert link.startswith(f"{pb.url}/accept-invite#token=pbl_")

    b.page.goto(link)
    expect(b.page.get_by_role("heading", name="Join Patchbay")).to_be_visible()
    b.shot("accept-invite")
    fill_account_form(b.page, name="Grace Hopper", password=PASSWORD)
    b.page.get_by_role("button", name="Join").click()
    expect_home(b, pb, "Signed in as Grace Hopper (grace@example.test), Member")
    b.shot("home")


def test_forgotten_password(browser: Browser, patchbay: Patchbay):
    b, pb = browser, patchbay
    pb.setup_owner(OWNER_EMAIL, "Olive Owner")
    b.page.goto(f"{pb.url}/sign-in")
    b.page.get_by_role("link", name="Forgot your password?").click()
    expect(b.page).to_have_url(f"{pb.url}/reset-password")
    b.shot("ask-for-link")
    b.page.get_by_label("Email", exact=True).fill(OWNER_EMAIL)
    b.page.get_by_role("button", name="Send the link").click()
    expect(form_message(b.page)).to_contain_text("an email with a link is on its way")
    b.shot("link-sent")

    link = pb.link_in(pb.email())
    assert link.startswith(f"{pb.url}/reset-password#token=pbl_")
    b.page.goto(link)  # in the tab still showing the reset page: only the fragment changes
    expect(b.page.get_by_label("New password", exact=True)).to_be_visible()
    b.shot("new-password")
    new_password = "a brand new passphrase here"
    fill_account_form(b.page, password=new_password)
    b.page.get_by_role("button", name="Set the password").click()
    expect_home(b, pb, f"Signed in as Olive Owner ({OWNER_EMAIL}), Owner")
    b.shot("home")

    sign_out(b, pb)
    sign_in(b.page, OWNER_EMAIL, PASSWORD)  # the old one
    expect(form_message(b.page)).to_have_text(WRONG)
    b.shot("old-password-refused")
    b.page.get_by_label("Password", exact=True).fill(new_password)
    b.page.get_by_role("button", name="Sign in", exact=True).click()
    expect_home(b, pb, f"Signed in as Olive Owner ({OWNER_EMAIL}), Owner")


def test_weak_password_on_setup_then_the_link_still_works(browser: Browser, patchbay: Patchbay):
    b, pb = browser, patchbay
    b.page.goto(pb.setup_link())
    fill_account_form(b.page, email=OWNER_EMAIL, name="Olive Owner", password="aaaaaaaaaaaa")
    b.page.get_by_role("button", name="Create the owner").click()
    expect(form_message(b.page)).to_have_text("A password needs at least 5 different characters")
    expect(b.page.get_by_role("button", name="Create the owner")).to_be_enabled()
    b.shot("weak-password")

    fill_account_form(b.page, password=PASSWORD)
    b.page.get_by_role("button", name="Create the owner").click()
    expect_home(b, pb, f"Signed in as Olive Owner ({OWNER_EMAIL}), Owner")


def test_a_members_name_is_shown_as_text(browser: Browser, patchbay: Patchbay):
    b, pb = browser, patchbay
    name = "<img src=x onerror=alert(1)>"
    pb.setup_owner(OWNER_EMAIL, name)
    b.page.goto(f"{pb.url}/sign-in")
    sign_in(b.page, OWNER_EMAIL, PASSWORD)
    expect_home(b, pb, f"Signed in as {name} ({OWNER_EMAIL}), Owner")
    expect(b.page.get_by_text(name, exact=False)).to_be_visible()
    assert b.page.locator("main img").count() == 0
    b.shot("name-as-text")
    b.page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert b.dialogs == []


@pytest.fixture
def oidc_provider() -> Iterator[OidcProvider]:
    """A loopback OpenID Connect provider (a real HTTP server in a thread)."""
    state = OidcProvider(clients={"patchbay": "sso-client-secret"})
    with serve_in_thread(create_oidc_app(state)) as url:
        state.issuer = url
        yield state


def sso_env(provider: OidcProvider, **extra: str) -> dict[str, str]:
    return {
        "PATCHBAY_OIDC_ISSUER": provider.issuer,
        "PATCHBAY_OIDC_CLIENT_ID": "patchbay",
        "PATCHBAY_OIDC_CLIENT_SECRET": "sso-client-secret",
        **extra,
    }


def test_single_sign_on_button(browser: Browser, start_patchbay, oidc_provider):
    b = browser
    pb = start_patchbay(**sso_env(oidc_provider))
    pb.setup_owner(OWNER_EMAIL, "Olive Owner")
    oidc_provider.sign_in(email=OWNER_EMAIL)  # who the provider says signs in
    b.page.goto(f"{pb.url}/sign-in?next=/health")
    button = b.page.get_by_role("link", name="Sign in with single sign-on")
    expect(button).to_have_attribute("href", "/core/v1/sso/start?next=%2Fhealth")
    expect(b.page.get_by_text("or with your email and password")).to_be_visible()
    expect(b.page.get_by_label("Password", exact=True)).to_be_visible()
    b.shot("sso-and-password")
    button.click()  # to the provider, which approves at once, and back
    expect(b.page).to_have_url(f"{pb.url}/health")
    b.page.goto(f"{pb.url}/")
    expect_home(b, pb, f"Signed in as Olive Owner ({OWNER_EMAIL}), Owner")


def test_single_sign_on_only_hides_the_password_form(
    browser: Browser, start_patchbay, oidc_provider
):
    b = browser
    pb = start_patchbay(**sso_env(oidc_provider, PATCHBAY_SSO_ONLY="true"))
    b.page.goto(f"{pb.url}/sign-in")
    expect(b.page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    expect(b.page.get_by_label("Password", exact=True)).to_be_hidden()
    expect(b.page.get_by_text("or with your email and password")).to_be_hidden()
    b.shot("sso-only")
