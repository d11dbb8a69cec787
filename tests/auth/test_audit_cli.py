"""`birthreg audit verify`: exit 0 on an intact chain, 1 when a row was edited, removed or moved.

The signed checkpoints (`birthreg audit checkpoint`, GET /api/v1/audit/checkpoints/latest) are
tested in tests/test_audit.py."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from birthreg.auth import create_staff_user
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.models import AuditEntry, Role


@pytest.fixture
def chain(client: TestClient, app: FastAPI, db: Session) -> list[AuditEntry]:
    """A chain of at least six entries: init's, three accounts and a login."""
    with Session(app.state.services.engine) as session:
        for number, role in enumerate(Role):
            create_staff_user(
                session, username=f"staff{number}", password="long enough password", role=role
            )
        session.commit()
    response = client.post(
        "/api/v1/auth/token", data={"username": "staff0", "password": "long enough password"}
    )
    assert response.status_code == 200
    entries = list(db.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all())
    assert len(entries) >= 6
    return entries


def verify(cli_env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli, ["audit", "verify"], env=cli_env)


def test_an_intact_chain(chain: list[AuditEntry], cli_env: dict[str, str]) -> None:
    result = verify(cli_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"audit chain intact: {len(chain)} entries",
        "  no signed checkpoint is kept (`birthreg audit checkpoint` signs one)",
    ]
    # How far the walk got goes to stderr, apart from the verdict.
    assert f"audit verify: {len(chain)} entries walked in" in result.stderr


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE audit_entry SET object_id = 'someone else' WHERE seq = 3",
        "UPDATE audit_entry SET action = 'staff.login' WHERE seq = 3",
        "UPDATE audit_entry SET actor = 'staff:99' WHERE seq = 3",
        "UPDATE audit_entry SET details_sha256 = :zeros WHERE seq = 3",
    ],
)
def test_an_edited_row(
    chain: list[AuditEntry], db: Session, cli_env: dict[str, str], change: str
) -> None:
    db.execute(text(change), {"zeros": "0" * 64})
    result = verify(cli_env)
    assert result.exit_code == 1, result.output
    assert "audit chain BROKEN" in result.output
    assert "entry 3 was altered" in result.output


def test_an_edited_time(chain: list[AuditEntry], db: Session, cli_env: dict[str, str]) -> None:
    entry = chain[2]
    earlier = entry.at.replace(tzinfo=None).replace(microsecond=(entry.at.microsecond + 1) % 10**6)
    db.execute(text("UPDATE audit_entry SET at = :at WHERE seq = 3"), {"at": earlier})
    result = verify(cli_env)
    assert result.exit_code == 1
    assert "entry 3 was altered" in result.output


def test_an_edited_row_with_its_hash_recomputed(
    chain: list[AuditEntry], db: Session, cli_env: dict[str, str]
) -> None:
    """Someone who recomputes the edited row's own hash still breaks the link to the next."""
    from birthreg.audit import _entry_hash

    entry = chain[2]
    forged = _entry_hash(
        seq=entry.seq, at=entry.at, actor=entry.actor, role=entry.role, action=entry.action,
        object_type=entry.object_type, object_id="someone else",
        details_sha256=entry.details_sha256, prev_hash=entry.prev_hash,
    )
    db.execute(
        text("UPDATE audit_entry SET object_id = 'someone else', entry_hash = :hash "
             "WHERE seq = 3"),
        {"hash": forged},
    )
    result = verify(cli_env)
    assert result.exit_code == 1
    assert "entry 4 does not follow the entry before it" in result.output


def test_a_deleted_row(chain: list[AuditEntry], db: Session, cli_env: dict[str, str]) -> None:
    db.execute(text("DELETE FROM audit_entry WHERE seq = 3"))
    result = verify(cli_env)
    assert result.exit_code == 1
    assert "entry 3 is missing" in result.output
    assert "entry 4 does not follow the entry before it" in result.output


def test_a_deleted_last_row(chain: list[AuditEntry], db: Session, cli_env: dict[str, str]) -> None:
    db.execute(text("DELETE FROM audit_entry WHERE seq = :seq"), {"seq": chain[-1].seq})
    result = verify(cli_env)
    assert result.exit_code == 1
    assert "entries removed" in result.output


def test_a_swapped_pair_of_rows(
    chain: list[AuditEntry], db: Session, cli_env: dict[str, str]
) -> None:
    # Rows 3 and 4 change places: each keeps its content (and hash) under the other's number.
    db.execute(text("UPDATE audit_entry SET seq = -1 WHERE seq = 3"))
    db.execute(text("UPDATE audit_entry SET seq = 3 WHERE seq = 4"))
    db.execute(text("UPDATE audit_entry SET seq = 4 WHERE seq = -1"))
    result = verify(cli_env)
    assert result.exit_code == 1
    assert "entry 3" in result.output and "entry 4" in result.output


def test_a_swapped_pair_of_row_contents(
    chain: list[AuditEntry], db: Session, cli_env: dict[str, str]
) -> None:
    # The same, done by exchanging every column but the sequence number.
    columns = ["at", "actor", "role", "action", "object_type", "object_id", "details_sha256",
               "prev_hash", "entry_hash"]
    third, fourth = chain[2], chain[3]
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    for target, source in ((3, fourth), (4, third)):
        values = {name: getattr(source, name) for name in columns}
        values["at"] = source.at.replace(tzinfo=None)
        db.execute(
            text(f"UPDATE audit_entry SET {assignments} WHERE seq = :seq"),  # noqa: S608
            {**values, "seq": target},
        )
    result = verify(cli_env)
    assert result.exit_code == 1
    assert "entry 3" in result.output and "entry 4" in result.output


def test_no_schema_is_a_usage_error(
    service_settings: Settings, cli_env: dict[str, str]
) -> None:
    result = verify(cli_env)
    assert result.exit_code == 2
    assert "birthreg init" in result.output
    assert "Traceback" not in result.output
