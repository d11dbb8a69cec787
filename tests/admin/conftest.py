"""Fixtures of the admin's tests: cheap Argon2id, and an admin with a token."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher

from birthreg.auth import issue_token, passwords
from birthreg.models import Role

from .helpers import add_staff


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def admin(app: Any, client: Any) -> dict[str, str]:
    """The Authorization header of the first admin."""
    user = add_staff(app, "admin1", Role.ADMIN)
    return {"Authorization": f"Bearer {issue_token(app.state.services.settings, user, kind='api')}"}
