"""What a run's journal and logs keep of values that may hold secrets.

- :func:`credential_secrets`: what of a step's authentication counts as a secret: every
  credential it carries (whether ``$.auth`` maps it or the connector sends it itself), and
  the Basic ``user:password`` pair as sent.
- :func:`redact`: what the API shows: secret-looking keys masked, and any credential of the
  run's steps' authentications masked wherever it shows up inside a string.
- :func:`seal`: what the journal stores of a step output carrying such a credential (a
  service echoing it back): the output encrypted with the platform's keys, which a resumed
  or replayed run decrypts (:func:`unseal`) to go on with the real value, beside a copy
  with the credentials masked, which is all the API ever shows (:func:`shown`). An output
  without one is stored as it is.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from ...crypto import KeyRing, is_sealed

REDACTED = "[redacted]"
SECRET_WORDS = ("authorization", "api_key", "apikey", "api-key", "password", "secret", "token")
MIN_SECRET_LENGTH = 4  # shorter values would mask unrelated text


def credential_secrets(credentials: dict[str, Any] | None) -> frozenset[str]:
    """The secrets an authentication's ``credentials`` put in a run's hands: each value (a
    service may echo any of them back, under any key), and the Basic pair as it is sent."""
    found = {
        v
        for v in (credentials or {}).values()
        if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH
    }
    username, password = (credentials or {}).get("username"), (credentials or {}).get("password")
    if isinstance(username, str) and isinstance(password, str):
        found.add(base64.b64encode(f"{username}:{password}".encode()).decode("ascii"))
    return frozenset(found)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(w in lowered for w in SECRET_WORDS)


def redact(value: Any, secrets: frozenset[str] = frozenset()) -> Any:
    """A copy of ``value`` with secret-looking keys masked, and any of ``secrets`` (the
    credentials of the step's authentication, which ``$.auth`` may have mapped anywhere)
    masked inside strings (for run logs)."""
    if isinstance(value, dict):
        return {
            k: REDACTED if _secret_key(str(k)) and v not in (None, "") else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if secrets and isinstance(value, str):
        return _masked_text(value, secrets)
    return value


def _masked_text(text: str, secrets: frozenset[str]) -> str:
    # longest first: a secret inside another must not leave the rest of it readable
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def mentions(value: Any, secrets: frozenset[str]) -> bool:
    """Whether any string in ``value`` (keys too) contains one of ``secrets``."""
    if isinstance(value, str):
        return any(secret in value for secret in secrets)
    if isinstance(value, dict):
        return any(mentions(k, secrets) or mentions(v, secrets) for k, v in value.items())
    if isinstance(value, list):
        return any(mentions(v, secrets) for v in value)
    return False


def mask(value: Any, secrets: frozenset[str]) -> Any:
    """``value`` with ``secrets`` masked inside its strings only (an error, say, whose
    message echoes a credential); ``value`` itself when it holds none."""
    if not secrets or not mentions(value, secrets):
        return value
    return _masked(value, secrets)


def _masked(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {_masked(k, secrets): _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    return _masked_text(value, secrets) if isinstance(value, str) else value


# A sealed output (crypto.SEALED): {"$sealed": <Fernet token of it>, "shown": <masked copy>}
def seal(value: Any, secrets: frozenset[str], keyring: KeyRing) -> Any:
    """What the journal stores of a step output (see the module's doc)."""
    if not secrets or not mentions(value, secrets):
        return value
    return {**keyring.seal(value), "shown": _masked(value, secrets)}


def unseal(value: Any, keyring: KeyRing) -> Any:
    """The real output, for the run itself."""
    return keyring.unseal(value)


def shown(value: Any) -> Any:
    """What the API shows of a journaled output."""
    return redact(value["shown"] if is_sealed(value) else value)
