"""Plain functions for the admin's tests."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from birthreg.auth import create_staff_user
from birthreg.models import Role, StaffUser

PASSWORD = "correct horse battery"


def add_staff(app: Any, username: str, role: Role, password: str = PASSWORD) -> StaffUser:
    with Session(app.state.services.engine) as session:
        user = create_staff_user(session, username=username, password=password, role=role)
        session.commit()
        session.refresh(user)
        session.expunge(user)
        return user


def token_status(client: Any, username: str, password: str = PASSWORD) -> int:
    return client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password, "grant_type": "password"},
    ).status_code
