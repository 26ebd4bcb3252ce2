"""Encryption of stored credentials: Fernet keys in a MultiFernet ring.

The newest key encrypts; every key decrypts, so a rotation can re-encrypt row by row while
the server keeps serving. Keys come from ``PATCHBAY_SECRET_KEYS`` / ``PATCHBAY_SECRET_KEY``
or, by default, from ``<data dir>/secret.key`` (generated on first start, mode 0600).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_FILE_NAME = "secret.key"
# A JSON value stored encrypted in a JSON column: {"$sealed": <Fernet token of the value>}
# (beside other keys its owner may add). Key rotation re-encrypts every such column.
SEALED = "$sealed"


class KeyRingError(Exception):
    pass


def read_key_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(keys) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class KeyRing:
    def __init__(self, keys: list[str], key_file: Path | None = None) -> None:
        if not keys:
            raise KeyRingError("no encryption key configured")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except (ValueError, TypeError) as exc:
            raise KeyRingError(
                "an encryption key is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc
        self.keys = list(keys)
        self.key_file = key_file
        self._key_file_mtime = _mtime(key_file)

    @classmethod
    def load(cls, configured: list[str], data_dir: Path, *, create: bool = True) -> KeyRing:
        if configured:
            return cls(configured)
        path = data_dir / KEY_FILE_NAME
        if not path.exists():
            if not create:
                raise KeyRingError(f"no key file at {path}")
            write_key_file(path, [Fernet.generate_key().decode()])
        return cls(read_key_file(path), key_file=path)

    def encrypt(self, data: Any) -> str:
        # A rotation in another process may have put a new key in front (and may soon drop
        # the one this ring encrypts with): always encrypt under the key file's newest key.
        self._reload()
        return self._fernet.encrypt(orjson.dumps(data)).decode()

    def decrypt(self, token: str) -> Any:
        try:
            return orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            # A rotation in another process may have added a key to the file.
            if not self._reload():
                raise KeyRingError(
                    "stored credentials cannot be decrypted with the configured keys"
                ) from None
        try:
            return orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise KeyRingError(
                "stored credentials cannot be decrypted with the configured keys"
            ) from None

    def seal(self, value: Any) -> dict[str, str]:
        """``value`` encrypted, for a JSON column (see :data:`SEALED`)."""
        return {SEALED: self.encrypt(value)}

    def unseal(self, value: Any) -> Any:
        """The value :meth:`seal` encrypted; any other value as it is."""
        return self.decrypt(value[SEALED]) if is_sealed(value) else value

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key."""
        return self._fernet.rotate(token.encode()).decode()

    def is_current(self, token: str) -> bool:
        try:
            Fernet(self.keys[0].encode()).decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def _reload(self) -> bool:
        if self.key_file is None or _mtime(self.key_file) == self._key_file_mtime:
            return False
        fresh = KeyRing(read_key_file(self.key_file), self.key_file)
        self._fernet, self.keys, self._key_file_mtime = (
            fresh._fernet,
            fresh.keys,
            fresh._key_file_mtime,
        )
        return True


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(SEALED), str)


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime_ns if path else None
    except FileNotFoundError:
        return None
