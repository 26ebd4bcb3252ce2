"""Members' passwords: argon2id hashes (argon2-cffi, its recommended parameters) and the
rules a new password must meet (400 ``weak_password`` naming the rule broken)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import BadRequest

MIN_LENGTH = 12
MAX_LENGTH = 256
# Passwords people pick first; anything on this list (case-insensitive) is refused.
COMMON = frozenset(
    {
        "password1234",
        "passwordpassword",
        "123456789012",
        "qwertyuiopas",
        "letmeinletmein",
        "administrator",
        "iloveyou1234",
        "welcome12345",
        "changeme1234",
        "patchbay1234",
    }
)

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Verified when no member has the email given, so that a sign-in takes as long either way.
_DUMMY = _hasher.hash("patchbay: no such member")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash costs the same time and is False."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_strength(password: str, *, email: str | None = None) -> None:
    """400 ``weak_password`` naming the first rule ``password`` breaks."""
    if len(password) < MIN_LENGTH:
        _weak(f"A password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        _weak(f"A password may have at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        _weak("A password needs at least 5 different characters")
    if password.lower() in COMMON:
        _weak("That password is too common")
    local = (email or "").split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        _weak("A password may not contain your email address")


def _weak(message: str) -> None:
    raise BadRequest(message, "weak_password")
