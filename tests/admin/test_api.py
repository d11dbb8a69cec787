"""The admin's JSON API: GET/POST /api/v1/admin/users, PATCH /api/v1/admin/users/{name}."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.auth import issue_token
from birthreg.models import AuditEntry, Facility, Role, StaffUser

from .helpers import PASSWORD, add_staff, token_status

USERS = "/api/v1/admin/users"


def test_list_and_add(app: Any, client: Any, db: Session, admin: dict[str, str]) -> None:
    facility_id = db.exec(select(Facility.id)).first()
    added = client.post(
        USERS,
        json={"username": "Nurse.A", "password": PASSWORD, "role": "ward",
              "display_name": "Aigerim S.", "facility_id": facility_id},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    assert added.json() == {
        "username": "nurse.a", "role": "ward", "display_name": "Aigerim S.",
        "facility_id": facility_id, "disabled": False, "created_at": added.json()["created_at"],
    }
    assert token_status(client, "nurse.a") == 200
    listed = client.get(USERS, headers=admin)
    assert listed.status_code == 200
    assert [u["username"] for u in listed.json()["users"]] == ["admin1", "nurse.a"]
    assert "password_hash" not in listed.text and "$argon2" not in listed.text
    entry = db.exec(
        select(AuditEntry).where(AuditEntry.action == "staff.created").order_by(
            col(AuditEntry.seq).desc()
        )
    ).first()
    assert entry is not None and entry.actor.startswith("staff:") and entry.role == "admin"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "a b", "password": PASSWORD, "role": "ward"}, 400, "invalid_username"),
        ({"username": "nurse", "password": "short", "role": "ward"}, 400, "weak_password"),
        ({"username": "nurse", "password": "\x00" * 12, "role": "ward"}, 400, "weak_password"),
        ({"username": "admin1", "password": PASSWORD, "role": "ward"}, 409, "username_taken"),
        ({"username": "nurse", "password": PASSWORD, "role": "doctor"}, 422, "invalid_request"),
        ({"username": "nurse", "password": PASSWORD, "role": "ward", "facility_id": 99}, 400,
         "invalid_facility"),
        ({"username": "nurse", "password": PASSWORD, "role": "ward", "is_admin": True}, 422,
         "invalid_request"),
    ],
)
def test_add_refuses_bad_input(
    client: Any, db: Session, admin: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    before = len(db.exec(select(StaffUser)).all())
    response = client.post(USERS, json=body, headers=admin)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert len(db.exec(select(StaffUser)).all()) == before


def test_change_disabled_role_and_password(
    app: Any, client: Any, db: Session, admin: dict[str, str]
) -> None:
    user = add_staff(app, "clerk1", Role.CLERK)
    settings = app.state.services.settings
    token = {"Authorization": f"Bearer {issue_token(settings, user, kind='api')}"}
    assert client.get("/api/v1/registry/submissions", headers=token).status_code == 200

    disabled = client.patch(f"{USERS}/clerk1", json={"disabled": True}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    # Its token stops at once.
    assert client.get("/api/v1/registry/submissions", headers=token).status_code == 401
    assert client.patch(f"{USERS}/clerk1", json={"disabled": False}, headers=admin).json()[
        "disabled"
    ] is False

    promoted = client.patch(f"{USERS}/CLERK1", json={"role": "registrar"}, headers=admin)
    assert promoted.status_code == 200 and promoted.json()["role"] == "registrar"
    assert token_status(client, "clerk1") == 200  # a registrar may do what a clerk does:
    registrar = {
        "Authorization": "Bearer " + client.post(
            "/api/v1/auth/token",
            data={"username": "clerk1", "password": PASSWORD, "grant_type": "password"},
        ).json()["access_token"]
    }
    assert client.get("/api/v1/registry/submissions", headers=registrar).status_code == 200

    reset = client.patch(f"{USERS}/clerk1", json={"password": "a brand new password"},
                         headers=admin)
    assert reset.status_code == 200
    assert client.get("/api/v1/registry/submissions", headers=registrar).status_code == 401
    assert token_status(client, "clerk1") == 401
    assert token_status(client, "clerk1", "a brand new password") == 200

    actions = db.exec(
        select(AuditEntry.action).where(AuditEntry.object_id == str(user.id)).order_by(
            col(AuditEntry.seq)
        )
    ).all()
    assert [a for a in actions if not a.startswith("staff.login")] == [
        "staff.created", "staff.disabled", "staff.enabled", "staff.role_changed",
        "staff.password_reset",
    ]


@pytest.mark.parametrize(
    ("name", "body", "status", "code"),
    [
        ("nobody", {"disabled": True}, 404, "user_not_found"),
        ("clerk1", {}, 400, "nothing_to_change"),
        ("clerk1", {"disabled": "yes"}, 422, "invalid_request"),
        ("clerk1", {"role": "root"}, 422, "invalid_request"),
        ("clerk1", {"password": "short"}, 400, "weak_password"),
        ("clerk1", {"username": "other"}, 422, "invalid_request"),
        ("admin1", {"disabled": True}, 409, "last_admin"),
        ("admin1", {"role": "clerk"}, 409, "last_admin"),
    ],
)
def test_change_refuses(
    app: Any, client: Any, db: Session, admin: dict[str, str],
    name: str, body: dict[str, Any], status: int, code: str,
) -> None:
    add_staff(app, "clerk1", Role.CLERK)
    before = [(u.username, u.role, u.disabled, u.password_hash) for u in
              db.exec(select(StaffUser)).all()]
    response = client.patch(f"{USERS}/{name}", json=body, headers=admin)
    assert (response.status_code, response.json()["error"]) == (status, code)
    db.expire_all()
    after = [(u.username, u.role, u.disabled, u.password_hash) for u in
             db.exec(select(StaffUser)).all()]
    assert after == before


def test_an_admin_may_step_down_when_another_remains(
    app: Any, client: Any, admin: dict[str, str]
) -> None:
    add_staff(app, "admin2", Role.ADMIN)
    response = client.patch(f"{USERS}/admin1", json={"role": "clerk"}, headers=admin)
    assert response.status_code == 200
    # Its own token went with the role.
    assert client.get(USERS, headers=admin).status_code == 401


@pytest.mark.parametrize("role", [Role.WARD, Role.CLERK, Role.REGISTRAR])
def test_only_admins_manage_accounts(app: Any, client: Any, role: Role) -> None:
    user = add_staff(app, "someone", role)
    settings = app.state.services.settings
    headers = {"Authorization": f"Bearer {issue_token(settings, user, kind='api')}"}
    for method, path, body in (
        ("GET", USERS, None),
        ("POST", USERS, {"username": "x-y-z", "password": PASSWORD, "role": "admin"}),
        ("PATCH", f"{USERS}/someone", {"role": "admin"}),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert (response.status_code, response.json()["error"]) == (403, "forbidden_role")
    assert client.get(USERS).status_code == 401
