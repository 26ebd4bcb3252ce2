"""Browser tests: people's sign-in paths in a real Chromium against a real ``patchbay serve``.

Debian's Chromium (``/usr/bin/chromium``, ``apt-get install chromium``) is driven by
Playwright for Python; no browser is downloaded. Without it the tests skip, saying so,
unless ``PATCHBAY_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.

Each test gets its own server (a child process on a free port, a temporary data directory,
its printed lines read: the setup link, the first master token), an SMTP server on loopback
(aiosmtpd) that receives its emails, and a fresh browser profile. Every page state a test
reaches is saved as a screenshot under ``PATCHBAY_SCREENSHOTS`` (default: ``screenshots/``
in pytest's temporary directory; the path is printed at the end of the run)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, Browser, Patchbay

from patchbay.connectors.email.fake import FakeSMTPServer, start_smtp_server
from patchbay.testing.process import ServerProcess

REQUIRE_BROWSER = os.environ.get("PATCHBAY_REQUIRE_BROWSER") == "1"


def _screenshots_dir(config: pytest.Config) -> Path:
    configured = os.environ.get("PATCHBAY_SCREENSHOTS")
    if configured:
        return Path(configured)
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker's is popen-gwN under the run's
        base = base.parent
    return base / "screenshots"


def pytest_terminal_summary(terminalreporter, config) -> None:
    folder = _screenshots_dir(config)
    if folder.is_dir() and any(folder.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {folder}")


@pytest.fixture(scope="session")
def screenshots(pytestconfig) -> Path:
    folder = _screenshots_dir(pytestconfig)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"browser screenshots: {folder}")  # noqa: T201 - where to look
    return folder


@pytest.fixture
def playwright_api():
    """Playwright's sync API, per test: while it runs, this thread has an event loop, and
    the async tests of the same worker could not start theirs."""
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message + " and PATCHBAY_REQUIRE_BROWSER=1")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "Playwright for Python is not installed (pip install -e '.[test]')"
        if REQUIRE_BROWSER:
            pytest.fail(message + " and PATCHBAY_REQUIRE_BROWSER=1")
        pytest.skip(message)
    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright_api, screenshots, tmp_path, request) -> Iterator[Browser]:
    profile = tmp_path / "chromium-profile"  # fresh: no cookie, no cache
    context = playwright_api.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 800, "height": 640},
        locale="en-GB",
    )
    b = Browser(context, screenshots, request.node.name)
    try:
        yield b
        assert b.problems == [], b.problems
    finally:
        context.close()


@pytest.fixture
def start_patchbay(tmp_path) -> Iterator:
    """Start a server (extra ``PATCHBAY_*`` variables as keywords), with an SMTP server."""
    started: list[tuple[ServerProcess, FakeSMTPServer]] = []

    def start(**env: str) -> Patchbay:
        smtp = start_smtp_server()
        server = ServerProcess(
            tmp_path / f"data{len(started)}",
            env={
                "PATCHBAY_SMTP_HOST": smtp.host,
                "PATCHBAY_SMTP_PORT": str(smtp.port),
                "PATCHBAY_SMTP_STARTTLS": "false",
                "PATCHBAY_SMTP_FROM": "Patchbay <patchbay@example.test>",
                **env,
            },
        )
        started.append((server, smtp))
        server.wait_healthy()
        return Patchbay(server, smtp)

    yield start
    for server, smtp in started:
        server.stop()
        smtp.stop()


@pytest.fixture
def patchbay(start_patchbay) -> Patchbay:
    return start_patchbay()
