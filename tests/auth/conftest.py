"""Fixtures of the staff-account tests: cheap Argon2id, and a clean environment for the CLI."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from birthreg.auth import passwords


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with tiny parameters: the tests exercise the flow, not the work factor."""
    monkeypatch.setattr(
        passwords, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


