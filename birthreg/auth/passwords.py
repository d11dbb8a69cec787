"""Passwords: the policy every password of the service meets, and staff password hashing.

The policy (`password_problem`) holds for staff passwords and for the ward desk's key-file
passwords alike: a length within bounds, and no control characters. A control character is
refused rather than kept because the libraries underneath do not all agree on where a string
ends: a key-file password of twelve NUL characters reaches OpenSSL's PKCS#12 code as a C string,
that is as the empty password, and the file then opens without any. Longer inputs are refused
before hashing: a megabyte "password" is a denial of service.

Staff passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106) and rehashed on a
successful login when those parameters change. An unknown username costs the same hash as a
known one (`spend_a_hash`).
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from birthreg.errors import DomainError

MIN_PASSWORD_LENGTH: Final = 10
MAX_PASSWORD_LENGTH: Final = 1024

#: The Argon2id hasher. Tests may swap in cheaper parameters; a later login rehashes.
password_hasher = PasswordHasher()
_dummy: tuple[PasswordHasher, str] | None = None


def password_problem(
    password: str,
    *,
    minimum: int = MIN_PASSWORD_LENGTH,
    maximum: int = MAX_PASSWORD_LENGTH,
) -> str | None:
    """Why password is refused (a sentence), or None when it is acceptable."""
    if len(password) < minimum:
        return f"a password needs at least {minimum} characters"
    if len(password) > maximum:
        return f"a password may have at most {maximum} characters"
    # Cc: C0 and C1 controls, NUL, DEL; Cs: lone surrogates, which are no text at all.
    if any(unicodedata.category(character) in ("Cc", "Cs") for character in password):
        return "a password may not contain control characters"
    return None


def check_password_policy(password: str) -> None:
    """Raise DomainError(400, weak_password) unless password is acceptable."""
    problem = password_problem(password)
    if problem is not None:
        raise DomainError("weak_password", problem)


def hash_password(password: str) -> str:
    """The Argon2id hash of password (after the policy check: DomainError weak_password)."""
    check_password_policy(password)
    return password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when password matches the hash; False for a wrong password or an unreadable hash."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return password_hasher.check_needs_rehash(password_hash)


def spend_a_hash(password: str) -> None:
    """Verify against a throwaway hash, so that an unknown username takes as long as a known one."""
    global _dummy
    if _dummy is None or _dummy[0] is not password_hasher:
        _dummy = (password_hasher, password_hasher.hash(secrets.token_urlsafe(16)))
    verify_password(_dummy[1], password[:MAX_PASSWORD_LENGTH])
