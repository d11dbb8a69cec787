"""`birthreg demo`: idempotent, the same logins every run, and they work; never in production."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select
from typer.testing import CliRunner

from birthreg.audit import verify_chain
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.demo import LOGINS_FILE
from birthreg.main import create_app
from birthreg.models import Birth, StaffUser
from signing.identity import validate_iin

_LOGIN = re.compile(r"^  (ward|clerk|admin)\s+(\S+)$", re.MULTILINE)
HTML = {"Accept": "text/html"}


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
        "BIRTHREG_BASE_URL": "http://127.0.0.1:8000",
        "BIRTHREG_ENV": "development",
    }


def run_demo(env: dict[str, str]) -> tuple[str, dict[str, str]]:
    result = CliRunner().invoke(cli, ["demo"], env=env)
    assert result.exit_code == 0, result.output
    return result.output, dict(_LOGIN.findall(result.output))


def table_counts(url: str) -> tuple[int, int, list[str]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            births = session.exec(select(func.count()).select_from(Birth)).one()
            users = session.exec(select(func.count()).select_from(StaffUser)).one()
            progress = sorted(session.exec(select(Birth.progress)).all())
    finally:
        engine.dispose()
    return births, users, progress


def test_demo_twice_gives_the_same_logins_and_data(
    cli_env: dict[str, str], service_settings: Settings
) -> None:
    first_output, first = run_demo(cli_env)
    assert set(first) == {"ward", "clerk", "admin"}
    assert all(len(password) >= 20 for password in first.values())
    assert "http://127.0.0.1:8000/login" in first_output
    logins_file = service_settings.data_dir / LOGINS_FILE
    assert stat.S_IMODE(logins_file.stat().st_mode) == 0o600
    after_first = table_counts(service_settings.database_url)
    births, users, progress = after_first
    assert births == 5 and users == 3
    # Every state of the births list is there (the registry seeded the last two).
    assert set(progress) == {"recorded", "key_issued", "application_signed", "registered"}

    second_output, second = run_demo(cli_env)
    assert second == first
    assert "nothing was changed" in second_output
    assert table_counts(service_settings.database_url) == after_first


def test_the_printed_logins_work(cli_env: dict[str, str], service_settings: Settings) -> None:
    _output, logins = run_demo(cli_env)
    app: Any = create_app(service_settings)
    with TestClient(app, base_url="http://testserver") as client:
        form = client.get("/login", headers=HTML)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        response = client.post(
            "/login",
            data={"username": "ward", "password": logins["ward"], "csrf_token": token.group(1)},
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/ward"
        listing = client.get("/ward", headers=HTML)
        assert listing.status_code == 200
        assert listing.text.count('data-testid="birth-row"') == 5
        for progress in ("recorded", "key_issued", "application_signed", "registered"):
            assert f'class="badge {progress}"' in listing.text
        token_response = client.post(
            "/api/v1/auth/token", data={"username": "clerk", "password": logins["clerk"]}
        )
        assert token_response.status_code == 200
    engine = make_engine(service_settings.database_url)
    try:
        with Session(engine) as session:
            assert verify_chain(session).intact
    finally:
        engine.dispose()


def test_demo_iins_are_valid() -> None:
    from birthreg.demo import MOTHERS

    for mother in MOTHERS:
        validate_iin(mother.iin)


def test_demo_refuses_production(
    cli_env: dict[str, str], service_settings: Settings
) -> None:
    result = CliRunner().invoke(cli, ["demo"], env={**cli_env, "BIRTHREG_ENV": "production"})
    assert result.exit_code == 2
    assert "never in production" in result.output
    assert not (service_settings.data_dir / LOGINS_FILE).exists()
