"""The password policy (staff and key-file passwords) and Argon2id hashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from birthreg.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    hash_password,
    password_problem,
    verify_password,
)
from birthreg.errors import DomainError

from .helpers import PASSWORD


def test_passwords_are_argon2id_and_checked() -> None:
    password_hash = hash_password(PASSWORD)
    assert password_hash.startswith("$argon2id$")
    assert verify_password(password_hash, PASSWORD)
    assert not verify_password(password_hash, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(password_hash, "x" * (MAX_PASSWORD_LENGTH + 1))
    with pytest.raises(DomainError) as refused:
        hash_password("short")
    assert (refused.value.code, refused.value.status) == ("weak_password", 400)


def test_default_hasher_is_argon2id() -> None:
    # The module's own default (the fixture swaps it for tests only).
    assert PasswordHasher().type.name == "ID"


@pytest.mark.parametrize(
    "password",
    [
        "\x00" * 12,  # reaches OpenSSL's PKCS#12 code as the empty password
        "correct horse\x00battery",
        "correct horse battery\n",
        "tab\tseparated words",
        "escape \x1b[31m red",
        "delete \x7f character",
        "next line \x85 (C1)",
        "lone surrogate \ud800 here",
    ],
)
def test_control_characters_are_refused(password: str) -> None:
    assert password_problem(password) == "a password may not contain control characters"
    with pytest.raises(DomainError) as refused:
        hash_password(password)
    assert refused.value.code == "weak_password"


@pytest.mark.parametrize(
    "password",
    [PASSWORD, "Қазақша құпиясөз 2026", "пароль с пробелами", "emoji 🔑 in a password", "a" * 10],
)
def test_printable_passwords_in_any_script_are_accepted(password: str) -> None:
    assert password_problem(password) is None
    assert verify_password(hash_password(password), password)


def test_length_bounds() -> None:
    assert password_problem("a" * 9) == "a password needs at least 10 characters"
    assert password_problem("a" * (MAX_PASSWORD_LENGTH + 1)) is not None
    assert password_problem("a" * MAX_PASSWORD_LENGTH) is None
    assert password_problem("a" * 11, minimum=12, maximum=20) is not None
