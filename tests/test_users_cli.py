"""`birthreg users add|list|disable|enable|set-role|reset-password`."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from birthreg.auth import create_staff_user, passwords
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.models import AuditEntry, Role, StaffUser

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )




def run(env: dict[str, str], *arguments: str, stdin: str = "") -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(arguments), input=stdin, env=env)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def add(app: FastAPI, username: str, role: Role) -> None:
    with Session(app.state.services.engine) as session:
        create_staff_user(session, username=username, password=PASSWORD, role=role)
        session.commit()


def get_token(client: TestClient, username: str, password: str = PASSWORD) -> int:
    return client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password, "grant_type": "password"},
    ).status_code


def test_users_add(client: TestClient, db: Session, cli_env: dict[str, str]) -> None:
    status, output = run(
        cli_env, "users", "add", "Nurse.Aigerim", "--role", "ward", "--password-stdin",
        "--display-name", "Aigerim S.", stdin=PASSWORD + "\n",
    )
    assert status == 0, output
    assert PASSWORD not in output
    assert "nurse.aigerim" in output
    user = db.exec(select(StaffUser).where(StaffUser.username == "nurse.aigerim")).one()
    assert (user.role, user.display_name) == ("ward", "Aigerim S.")
    assert get_token(client, "nurse.aigerim") == 200


def test_users_add_a_registrar(client: TestClient, db: Session, cli_env: dict[str, str]) -> None:
    status, output = run(
        cli_env, "users", "add", "senior", "--role", "registrar", "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert status == 0, output
    assert db.exec(select(StaffUser.role).where(StaffUser.username == "senior")).one() == (
        "registrar"
    )


def test_users_add_runs_migrations_on_an_empty_database(
    service_settings: Settings, cli_env: dict[str, str]
) -> None:
    status, output = run(
        cli_env, "users", "add", "admin", "--role", "admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert status == 0, output


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (["users", "add", "nurse", "--role", "ward"], PASSWORD + "\n", "--password-stdin"),
        (["users", "add", "nurse", "--role", "ward", "--password-stdin"], "", "no password"),
        (["users", "add", "nurse", "--role", "ward", "--password-stdin"], "short\n",
         "at least 10"),
        (["users", "add", "nurse", "--role", "ward", "--password-stdin"],
         "\x00" * 12 + "\n", "control characters"),
        (["users", "add", "a b", "--role", "ward", "--password-stdin"], PASSWORD + "\n",
         "username"),
        (["users", "add", "taken", "--role", "ward", "--password-stdin"], PASSWORD + "\n",
         "taken"),
        (["users", "add", "nurse", "--role", "doctor", "--password-stdin"], PASSWORD + "\n",
         "doctor"),
        (["users", "disable", "nobody"], "", "no staff account"),
        (["users", "set-role", "taken", "doctor"], "", "doctor"),
        (["users", "reset-password", "taken"], PASSWORD + "\n", "--password-stdin"),
        (["users", "reset-password", "taken", "--password-stdin"], "short\n", "at least 10"),
    ],
)
def test_users_commands_refuse_bad_input(
    client: TestClient, app: FastAPI, cli_env: dict[str, str],
    arguments: list[str], stdin: str, message: str,
) -> None:
    add(app, "taken", Role.CLERK)
    status, output = run(cli_env, *arguments, stdin=stdin)
    assert status == 2, output
    assert message in output
    assert PASSWORD not in output


def test_users_list_disable_enable_set_role_reset_password(
    client: TestClient, app: FastAPI, db: Session, cli_env: dict[str, str]
) -> None:
    add(app, "ward1", Role.WARD)
    add(app, "admin1", Role.ADMIN)
    status, output = run(cli_env, "users", "list")
    assert status == 0
    assert output.splitlines() == ["admin1\tadmin\tenabled\t", "ward1\tward\tenabled\t"]

    assert run(cli_env, "users", "disable", "WARD1")[0] == 0
    assert get_token(client, "ward1") == 401
    assert "ward1\tward\tdisabled" in run(cli_env, "users", "list")[1]
    assert run(cli_env, "users", "enable", "ward1")[0] == 0
    assert get_token(client, "ward1") == 200

    assert run(cli_env, "users", "set-role", "ward1", "registrar")[0] == 0
    assert db.exec(select(StaffUser.role).where(StaffUser.username == "ward1")).one() == (
        "registrar"
    )
    status, output = run(
        cli_env, "users", "reset-password", "ward1", "--password-stdin",
        stdin="a brand new password\n",
    )
    assert status == 0 and "a brand new password" not in output
    assert get_token(client, "ward1") == 401
    assert get_token(client, "ward1", "a brand new password") == 200

    # The last admin stays.
    status, output = run(cli_env, "users", "disable", "admin1")
    assert status == 2 and "last enabled admin" in output
    status, output = run(cli_env, "users", "set-role", "admin1", "clerk")
    assert status == 2 and "last enabled admin" in output

    actions = db.exec(
        select(AuditEntry.action).where(AuditEntry.actor == "system").order_by(col(AuditEntry.seq))
    ).all()
    assert actions[-4:] == [
        "staff.disabled", "staff.enabled", "staff.role_changed", "staff.password_reset",
    ]


def test_users_list_before_init(cli_env: dict[str, str]) -> None:
    status, output = run(cli_env, "users", "list")
    assert status == 2
    assert "birthreg init" in output
