"""The email connector: send email through the user's own SMTP server."""

from __future__ import annotations

from typing import Any

from ..sdk import AuthEnvironment, Connector, Service
from .operations import DEFAULT_TIMEOUT, OPERATIONS

SERVICE = Service(id="c2e4a6b8-3d5f-4b7a-9e1c-2f3a4b5c6d77", name="email", version=1)
ENVIRONMENT_ID = "7487ed64-d519-4c74-b6de-d751c09b0f02"

CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {
            "type": "string",
            "title": "Username",
            "description": "The SMTP login (leave empty for an unauthenticated relay)",
        },
        "password": {
            "type": "string",
            "title": "Password",
            "description": "The SMTP password or app password",
        },
    },
}

USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "host": {
            "type": "string",
            "title": "SMTP host",
            "description": "The SMTP server's host name, e.g. smtp.example.com",
            "minLength": 1,
        },
        "port": {
            "type": "integer",
            "title": "Port",
            "description": "587 for STARTTLS (submission), 465 for TLS, 25 for a relay",
            "minimum": 1,
            "maximum": 65535,
            "default": 587,
        },
        "security": {
            "type": "string",
            "title": "Security",
            "enum": ["starttls", "tls", "none"],
            "enumLabels": [
                "STARTTLS (upgrade a plain connection, usually port 587)",
                "TLS (encrypted from the start, usually port 465)",
                "None (unencrypted: credentials and mail travel in clear)",
            ],
            "default": "starttls",
        },
        "from_address": {
            "type": "string",
            "title": "Default sender",
            "description": 'Used when an email gives no "from": name@example.com or '
            '"Name <name@example.com>"',
        },
        "timeout_seconds": {
            "type": "number",
            "title": "Timeout (seconds)",
            "description": "How long to wait for the connection and for each SMTP reply",
            "minimum": 1,
            "maximum": 100,
            "default": DEFAULT_TIMEOUT,
        },
        "ca_cert_pem": {
            "type": "string",
            "title": "Trusted CA certificate (PEM)",
            "description": "For a self-hosted server whose certificate is issued by a private "
            "CA: that CA's certificate(s), trusted in addition to the system's",
            "format": "text",
        },
        "verify_tls": {
            "type": "boolean",
            "title": "Verify the TLS certificate",
            "description": "Turning this off accepts any certificate (and so any server "
            "impersonating yours); prefer a trusted CA certificate",
            "default": True,
        },
        "ehlo_hostname": {
            "type": "string",
            "title": "EHLO host name",
            "description": "The name this client gives in EHLO (default: this machine's)",
            "pattern": r"^[A-Za-z0-9.\-\[\]:]+$",
        },
    },
    "required": ["host"],
    "advanced": ["timeout_seconds", "ca_cert_pem", "verify_tls", "ehlo_hostname"],
}

ENVIRONMENTS = [
    AuthEnvironment(
        id=ENVIRONMENT_ID,
        title="SMTP server",
        authentication_type="basic",
        credentials_schema=CREDENTIALS_SCHEMA,
        user_data_schema=USER_DATA_SCHEMA,
    )
]

EMAIL = Connector(
    name="email",
    title="Email (SMTP)",
    version="1.0",
    description="Send email through your own SMTP server: text and HTML bodies, attachments "
    "and custom headers.",
    service=SERVICE,
    operations=OPERATIONS,
    environments=ENVIRONMENTS,
    # Not HTTP: no base URL and no HTTP authorizer (attachment URLs are fetched without the
    # SMTP credentials).
    base_url=None,
    authorize=None,
)

CONNECTORS = [EMAIL]
