"""What the browser tests share: Debian's Chromium and how it is started, a page that
records what must never happen and saves screenshots, and a running Patchbay with the SMTP
server its emails go to (the fixtures are in conftest.py)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from patchbay.connectors.email.fake import FakeSMTPServer, ReceivedMessage
from patchbay.testing.process import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LINK = re.compile(r"(https?://\S+?/[a-z-]+#token=pbl_[A-Za-z0-9_-]+)")
PASSWORD = "correct horse battery staple"


class Browser:
    """A page in a fresh Chromium profile; records what should never happen (script
    errors, Content-Security-Policy violations, dialogs) and saves screenshots."""

    def __init__(self, context, folder: Path, test_name: str) -> None:
        self.context = context
        self.page = context.pages[0] if context.pages else context.new_page()
        self.page.set_default_timeout(10_000)
        self.folder = folder
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name).strip("-")
        self.count = 0
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def shot(self, name: str) -> Path:
        """Save the page as it is now (the whole page)."""
        self.count += 1
        path = self.folder / f"{self.prefix}-{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@dataclass
class Patchbay:
    """A running ``patchbay serve`` and the SMTP server its emails go to."""

    server: ServerProcess
    smtp: FakeSMTPServer
    lines: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = self.server.lines

    @property
    def url(self) -> str:
        return self.server.url

    def setup_link(self, timeout: float = 10) -> str:
        """The first owner's setup link, as the server printed it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            links = [line.strip() for line in self.lines if "/setup#token=" in line]
            if links:
                return links[-1]
            time.sleep(0.05)
        raise AssertionError("no setup link printed:\n" + "\n".join(self.lines))

    def master_token(self) -> str:
        [token] = self.server.tokens()  # printed once, at the first start
        return token

    def email(self, count: int = 1, timeout: float = 15) -> ReceivedMessage:
        """The ``count``-th email the SMTP server received (waiting for it)."""
        deadline = time.monotonic() + timeout
        while len(self.smtp.state.messages) < count:
            assert time.monotonic() < deadline, "no email arrived"
            time.sleep(0.05)
        return self.smtp.state.messages[count - 1]

    @staticmethod
    def link_in(message: ReceivedMessage) -> str:
        body = message.message.get_content()
        found = LINK.findall(body)
        assert len(found) == 1, body
        return found[0]

    def setup_owner(self, email: str, name: str, password: str = PASSWORD) -> dict:
        """Create the first owner through the API (for tests about signing in later)."""
        token = self.setup_link().split("#token=")[1]
        body = {"token": token, "email": email, "name": name, "password": password}
        r = httpx.post(f"{self.url}/core/v1/setup", json=body)
        assert r.status_code == 200, r.text
        return r.json()["member"]
