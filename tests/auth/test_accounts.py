"""Staff accounts: adding, disabling, role changes, new passwords, and the last admin."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from birthreg.auth import accounts, actor_of, change_role, create_staff_user, set_disabled
from birthreg.errors import DomainError
from birthreg.models import AuditEntry, Role, StaffUser

from .helpers import PASSWORD, add_staff, audit_actions, bearer, get_token, page_login


@pytest.mark.parametrize(
    ("username", "password", "code", "status"),
    [
        ("ab", PASSWORD, "invalid_username", 400),
        ("a" * 65, PASSWORD, "invalid_username", 400),
        ("nurse aigerim", PASSWORD, "invalid_username", 400),
        ("медсестра", PASSWORD, "invalid_username", 400),
        ("nurse", "nine char", "weak_password", 400),
        ("nurse", "\x00" * 12, "weak_password", 400),
        ("taken", PASSWORD, "username_taken", 409),
        ("TAKEN", PASSWORD, "username_taken", 409),
    ],
)
def test_create_staff_user_refuses_bad_input(
    client: TestClient, app: FastAPI, db: Session, username: str, password: str, code: str,
    status: int,
) -> None:
    add_staff(app, "taken", Role.WARD)
    before = db.exec(select(StaffUser)).all()
    with Session(app.state.services.engine) as session, pytest.raises(DomainError) as refused:
        create_staff_user(session, username=username, password=password, role=Role.CLERK)
    assert (refused.value.code, refused.value.status) == (code, status)
    assert len(db.exec(select(StaffUser)).all()) == len(before)


def test_create_staff_user_refuses_an_unknown_facility(client: TestClient, app: FastAPI) -> None:
    with Session(app.state.services.engine) as session, pytest.raises(DomainError) as refused:
        create_staff_user(
            session, username="nurse", password=PASSWORD, role=Role.WARD, facility_id=999
        )
    assert refused.value.code == "invalid_facility"


def test_create_staff_user_is_audited(client: TestClient, app: FastAPI, db: Session) -> None:
    user = add_staff(app, "Nurse.Aigerim", Role.WARD, display_name="Aigerim S.")
    assert user.username == "nurse.aigerim"
    assert user.password_hash.startswith("$argon2id$")
    assert ("staff.created", str(user.id)) in audit_actions(db)
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "staff.created")).one()
    assert (entry.actor, entry.role) == ("system", "system")
    assert actor_of(user) == f"staff:{user.id}"


def _change(app: FastAPI, username: str, change: Any) -> None:
    with Session(app.state.services.engine) as session:
        change(session, accounts.get_user(session, username, for_update=True))
        session.commit()


def test_a_disabled_account_stops_at_once(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    api_token = get_token(client, "ward1").json()["access_token"]
    assert page_login(client, "ward1").status_code == 303
    assert client.get("/api/v1/auth/me").status_code == 200  # the session cookie
    assert client.get("/api/v1/auth/me", headers=bearer(api_token)).status_code == 200

    _change(app, "ward1", lambda session, user: set_disabled(session, user, True, by=None))
    for headers in ({}, bearer(api_token)):
        refused = client.get("/api/v1/auth/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "not_authenticated"
    page = client.get("/ward", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    # Nor can it log in again, and the answer does not say why.
    client.cookies.clear()
    again = get_token(client, "ward1")
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_credentials"
    # Enabled again, it logs in again (its old tokens were never stored: they are simply valid
    # again, being unexpired; the password and role are unchanged).
    _change(app, "ward1", lambda session, user: set_disabled(session, user, False, by=None))
    assert get_token(client, "ward1").status_code == 200


def test_role_changed_refuses_the_old_token(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    token = get_token(client, "ward1").json()["access_token"]
    _change(app, "ward1", lambda session, user: change_role(session, user, Role.CLERK, by=None))
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    new_token = get_token(client, "ward1").json()["access_token"]
    me = client.get("/api/v1/auth/me", headers=bearer(new_token))
    assert me.json()["role"] == "clerk"


def test_a_new_password_ends_the_old_sessions(
    client: TestClient, app: FastAPI, db: Session
) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    token = get_token(client, "ward1").json()["access_token"]
    _change(
        app,
        "ward1",
        lambda session, user: accounts.reset_password(
            session, user, "another long password", by=None
        ),
    )
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    assert get_token(client, "ward1").status_code == 401
    assert get_token(client, "ward1", "another long password").status_code == 200
    assert ("staff.password_reset", str(user.id)) in audit_actions(db)
    with Session(app.state.services.engine) as session, pytest.raises(DomainError) as refused:
        accounts.reset_password(session, accounts.get_user(session, "ward1"), "short", by=None)
    assert refused.value.code == "weak_password"


def test_the_last_admin_cannot_be_disabled_or_demoted(
    client: TestClient, app: FastAPI, db: Session
) -> None:
    add_staff(app, "admin1", Role.ADMIN)
    for change in (
        lambda session, user: set_disabled(session, user, True, by=user),
        lambda session, user: change_role(session, user, Role.CLERK, by=user),
    ):
        with pytest.raises(DomainError) as refused:
            _change(app, "admin1", change)
        assert (refused.value.code, refused.value.status) == ("last_admin", 409)
    user = db.exec(select(StaffUser).where(StaffUser.username == "admin1")).one()
    assert (user.role, user.disabled) == ("admin", False)
    # A disabled second admin does not count; an enabled one does.
    add_staff(app, "admin2", Role.ADMIN)
    _change(app, "admin2", lambda session, user: set_disabled(session, user, True, by=None))
    with pytest.raises(DomainError):
        _change(app, "admin1", lambda session, user: set_disabled(session, user, True, by=None))
    _change(app, "admin2", lambda session, user: set_disabled(session, user, False, by=None))
    _change(app, "admin1", lambda session, user: change_role(session, user, Role.CLERK, by=None))
    with pytest.raises(DomainError):
        _change(app, "admin2", lambda session, user: set_disabled(session, user, True, by=None))


def test_two_admins_demoting_each_other_at_once_leave_one(
    client: TestClient, app: FastAPI, db: Session
) -> None:
    add_staff(app, "admin1", Role.ADMIN)
    add_staff(app, "admin2", Role.ADMIN)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(username: str) -> None:
        barrier.wait()
        try:
            _change(
                app, username, lambda session, user: change_role(session, user, Role.WARD, by=None)
            )
            outcomes.append("changed")
        except DomainError as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=demote, args=(name,)) for name in ("admin1", "admin2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["changed", "last_admin"]
    admins = db.exec(select(StaffUser).where(StaffUser.role == "admin")).all()
    assert len(admins) == 1


def test_changes_that_change_nothing_are_not_audited(
    client: TestClient, app: FastAPI, db: Session
) -> None:
    add_staff(app, "ward1", Role.WARD)
    before = audit_actions(db)
    _change(app, "ward1", lambda session, user: set_disabled(session, user, False, by=None))
    _change(app, "ward1", lambda session, user: change_role(session, user, Role.WARD, by=None))
    assert audit_actions(db) == before


def test_get_user(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    with Session(app.state.services.engine) as session:
        assert accounts.get_user(session, " WARD1 ").username == "ward1"
        for name in ("nobody", "a b", "x" * 300):
            with pytest.raises(DomainError) as refused:
                accounts.get_user(session, name)
            assert (refused.value.code, refused.value.status) == ("user_not_found", 404)
