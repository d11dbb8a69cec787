"""Plain functions for the staff-account tests: accounts, tokens, logins, cookies."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from birthreg import auth
from birthreg.auth import create_staff_user
from birthreg.models import AuditEntry, Role, StaffUser

PASSWORD = "correct horse battery"
ALL_STAFF = frozenset(Role)


def add_staff(
    app: FastAPI, username: str, role: Role, password: str = PASSWORD, **changes: Any
) -> StaffUser:
    with Session(app.state.services.engine) as session:
        user = create_staff_user(
            session, username=username, password=password, role=role, **changes
        )
        session.commit()
        session.refresh(user)
        session.expunge(user)
        return user


def get_token(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password, "grant_type": "password"},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(db: Session) -> list[tuple[str, str]]:
    rows = db.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
    return [(row.action, row.object_id) for row in rows]


def set_cookies(response: Any) -> dict[str, SimpleCookie]:
    """The response's Set-Cookie headers, by cookie name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


def login_form_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the login form carries a CSRF token"
    return match.group(1)


def page_login(
    client: TestClient, username: str, password: str = PASSWORD, **fields: str
) -> Any:
    token = login_form_token(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, **fields},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )


def session_csrf(client: TestClient) -> str:
    """The forms' CSRF token of the client's staff session."""
    cookie = client.cookies.get(auth.SESSION_COOKIE)
    assert cookie
    app: Any = client.app
    claims = auth.read_token(app.state.services.settings, cookie, kind="session")
    assert claims is not None and claims.csrf
    return claims.csrf
