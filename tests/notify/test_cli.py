"""`birthreg notify send-pending`: one pass from the command line, against the settings from the
environment (here a real SMTP server and gateway), and a clear refusal of settings it cannot use."""

from __future__ import annotations

import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from registry import factories as f
from sqlmodel import Session, select
from typer.testing import CliRunner

from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.models import OutboxMessage

from .servers import Gateway, SMTPServer


@pytest.fixture
def environment(
    service_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("BIRTHREG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    return {
        "BIRTHREG_DATA_DIR": str(service_settings.data_dir),
        "BIRTHREG_DATABASE_URL": service_settings.database_url,
        "BIRTHREG_BASE_URL": service_settings.base_url,
    }


def test_send_pending_delivers_what_is_due(
    app: Any, client: TestClient, db: Session, environment: dict[str, str],
    smtp_server: SMTPServer, gateway: Gateway,
) -> None:
    response = client.post(
        "/api/v1/registry/submissions",
        json=f.good_dossier(app, f.issue_person(app, f.person(10))),
    )
    assert response.status_code == 201
    env = {**environment, "BIRTHREG_SMTP_URL": smtp_server.url(), "BIRTHREG_SMS_URL": gateway.url}
    result = CliRunner().invoke(cli, ["notify", "send-pending"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 due: 1 sent, 0 to retry, 0 failed" in result.output
    assert len(smtp_server.mailbox.messages) == 1 and len(gateway.received) == 1
    assert "mother@example.kz" not in result.output  # no address on the terminal

    again = CliRunner().invoke(cli, ["notify", "send-pending"], env=env)
    assert again.exit_code == 0 and "0 due" in again.output
    db.expire_all()
    assert [row.state for row in db.exec(select(OutboxMessage)).all()] == ["sent"]


def test_unusable_settings_are_refused(app: Any, environment: dict[str, str]) -> None:
    for name, value in (("BIRTHREG_SMTP_URL", "http://mail.example"),
                        ("BIRTHREG_SMS_URL", "ftp://sms.example"),
                        ("BIRTHREG_SMTP_URL", "smtp://mail.example?tls=maybe")):
        result = CliRunner().invoke(cli, ["notify", "send-pending"], env={**environment,
                                                                          name: value})
        assert result.exit_code == 2, result.output
        assert "BIRTHREG_" in result.output
