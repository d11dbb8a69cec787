"""Fixtures of the staff-account tests: cheap Argon2id, and a clean environment for the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from birthreg.auth import passwords
from birthreg.config import Settings


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with tiny parameters: the tests exercise the flow, not the work factor."""
    monkeypatch.setattr(
        passwords, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def cli_env(
    service_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("BIRTHREG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the project
    return {
        "BIRTHREG_DATA_DIR": str(service_settings.data_dir),
        "BIRTHREG_DATABASE_URL": service_settings.database_url,
        "BIRTHREG_ENV": "development",
    }
