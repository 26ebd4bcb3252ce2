"""The instance's outgoing email (invitations, password resets) through an SMTP server
(``PATCHBAY_SMTP_*``), with aiosmtplib.

Sending never fails a request: without a configured host, or when the server refuses or
cannot be reached, :meth:`Mailer.send` answers False (the API then says the email was not
sent) and logs why, never the message (it carries a one-time link)."""

from __future__ import annotations

import email.utils
import logging
from email.message import EmailMessage
from urllib.parse import urlsplit

import aiosmtplib

from ...config import Settings

log = logging.getLogger("patchbay.mail")

TIMEOUT = 30.0  # seconds, for the connection and each SMTP command
IMPLICIT_TLS_PORT = 465


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    @property
    def sender(self) -> str:
        """``PATCHBAY_SMTP_FROM``, or patchbay@ the public URL's host."""
        if self.settings.smtp_from:
            return self.settings.smtp_from
        host = urlsplit(self.settings.effective_public_url).hostname or "localhost"
        return email.utils.formataddr(("Patchbay", f"patchbay@{host}"))

    def message(self, to: str, subject: str, text: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        msg["Message-ID"] = email.utils.make_msgid(domain=_domain(self.sender))
        msg.set_content(text)
        return msg

    async def send(self, to: str, subject: str, text: str) -> bool:
        """Send a plain-text message to ``to``; True when the server accepted it."""
        s = self.settings
        if not s.smtp_host:
            return False
        implicit_tls = s.smtp_port == IMPLICIT_TLS_PORT
        try:
            await aiosmtplib.send(
                self.message(to, subject, text),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=implicit_tls,
                start_tls=False if implicit_tls or not s.smtp_starttls else True,
                timeout=TIMEOUT,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning(
                "Could not send %r to %s through %s:%s: %s",
                subject,
                to,
                s.smtp_host,
                s.smtp_port,
                _reason(exc),
            )
            return False
        return True


def _domain(address: str) -> str:
    return email.utils.parseaddr(address)[1].rpartition("@")[2] or "localhost"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
