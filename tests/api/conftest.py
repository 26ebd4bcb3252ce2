"""Fixtures of the API tests that send email: a real SMTP server on loopback (aiosmtpd,
through the email connector's fake) and a Patchbay sending through it."""

from __future__ import annotations

import pytest
from mail_links import smtp_settings

from patchbay.connectors.email.fake import start_smtp_server


@pytest.fixture
def smtp():
    with start_smtp_server() as server:
        yield server


@pytest.fixture
async def mail_api(settings, smtp, make_api):
    async with make_api(smtp_settings(settings, smtp, public_url="https://pb.example")) as api:
        yield api
