"""Staff tokens: the bearer token, the session cookie and the CSRF tokens (itsdangerous)."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from birthreg import auth, tokens
from birthreg.auth import issue_token, read_token
from birthreg.auth.sessions import login_csrf_token, page_csrf_token
from birthreg.config import Settings
from birthreg.models import Role, now
from birthreg.parents import sessions

from .helpers import add_staff, audit_actions, bearer, get_token, page_login


def test_token_flow(client: TestClient, app: FastAPI, db: Any) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    response = get_token(client, "ward1")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert response.headers["cache-control"] == "no-store"
    claims = read_token(app.state.services.settings, body["access_token"], kind="api")
    assert claims is not None
    assert (claims.user_id, claims.role, claims.kind) == (user.id, "ward", "api")
    assert claims.exp - claims.iat == 15 * 60
    assert claims.csrf is None

    me = client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "ward1"
    assert ("staff.login", str(user.id)) in audit_actions(db)


def test_grant_type_must_be_password(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    response = client.post(
        "/api/v1/auth/token",
        data={"username": "ward1", "password": "x" * 12, "grant_type": "client_credentials"},
    )
    assert response.status_code == 422


def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient, app: FastAPI, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    caplog.set_level(logging.DEBUG)
    wrong = get_token(client, "ward1", "wrong password!")
    unknown = get_token(client, "nobody", "wrong password!")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_credentials",
            "detail": "wrong username or password",
        }
        assert response.headers["www-authenticate"] == "Bearer"
    failed = [item for item in audit_actions(db) if item[0] == "staff.login_failed"]
    assert failed == [("staff.login_failed", str(user.id)), ("staff.login_failed", "unknown")]
    # No username, password or address in the log: only staff ids.
    for secret in ("ward1", "nobody", "wrong password!", "testclient"):
        assert secret not in caplog.text


def test_api_token_and_session_cookie_are_not_interchangeable(
    client: TestClient, app: FastAPI
) -> None:
    add_staff(app, "ward1", Role.WARD)
    api_token = get_token(client, "ward1").json()["access_token"]
    assert page_login(client, "ward1").status_code == 303
    session_token = client.cookies.get(auth.SESSION_COOKIE)
    assert session_token
    assert client.get("/api/v1/auth/me").status_code == 200  # the cookie itself works

    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers=bearer(session_token)).status_code == 401
    client.cookies.set(auth.SESSION_COOKIE, api_token)
    assert client.get("/api/v1/auth/me").status_code == 401
    settings = app.state.services.settings
    assert read_token(settings, api_token, kind="session") is None
    assert read_token(settings, session_token, kind="api") is None


def test_tokens_of_other_purposes_open_no_staff_session(client: TestClient, app: FastAPI) -> None:
    """Every token the service makes, offered where a staff token is read: none passes."""
    user = add_staff(app, "ward1", Role.WARD)
    settings: Settings = app.state.services.settings
    moment = now()
    session_token = issue_token(settings, user, kind="session")
    claims = read_token(settings, session_token, kind="session")
    assert claims is not None and claims.sid
    parent_session, _ = sessions.issue_session_token(settings, "0a1b2c", moment)
    others = {
        "page csrf": page_csrf_token(settings, claims.sid),
        "login csrf": login_csrf_token(settings, "n" * 32),
        "parent session": parent_session,
        "parent challenge": sessions.new_challenge(settings, moment)["nonce"],
        # The same payload as a staff token, under the parents' purposes.
        "same payload": tokens.sign(
            settings, tokens.Purpose.PARENT_SESSION,
            {"sub": str(user.id), "role": "ward", "cred": claims.credential, "sid": claims.sid},
        ),
    }
    for name, other in others.items():
        assert read_token(settings, other, kind="api") is None, name
        assert read_token(settings, other, kind="session") is None, name
        assert client.get("/api/v1/auth/me", headers=bearer(other)).status_code == 401, name
    # Nor does a staff token open a parent's session.
    for staff_token in (session_token, issue_token(settings, user, kind="api")):
        assert sessions.read_session_token(settings, staff_token, moment) is None


def _reencode(token: str, **changes: Any) -> str:
    payload, timestamp, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{forged}.{timestamp}.{signature}"


def test_tampered_and_expired_tokens_are_refused(client: TestClient, app: FastAPI) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    add_staff(app, "admin1", Role.ADMIN)
    settings: Settings = app.state.services.settings
    token = issue_token(settings, user, kind="api")
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200

    payload, timestamp, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    other_secret = settings.model_copy(
        update={"secret_key": SecretStr("another secret key 0123456789")}
    )
    forgeries = [
        _reencode(token, role="admin"),
        _reencode(token, sub="2"),
        f"{payload}.{timestamp}.{flipped}",
        f"{payload}.{timestamp}.",
        f"{payload}.{timestamp}.{signature}.{signature}",
        f"{payload}.{signature}",
        payload,
        issue_token(other_secret, user, kind="api"),
        issue_token(settings, user, kind="api", issued_at=now() - timedelta(minutes=16)),
        # Signed "in the future" (by a clock ahead, or a forger): refused too.
        issue_token(settings, user, kind="api", issued_at=now() + timedelta(hours=1)),
        "",
        "not a token",
        "A" * 5000,
    ]
    for forged in forgeries:
        response = client.get("/api/v1/auth/me", headers=bearer(forged))
        assert response.status_code == 401, forged
        assert read_token(settings, forged, kind="api") is None
    for garbage in ["é.é.é", "e30..", ".", "..", "e30.e30.e30", "bnVsbA.AAAA.AAAA", "W10.AAAA.A"]:
        assert read_token(settings, garbage, kind="api") is None
    # A genuine token whose payload is not a staff token's.
    odd = tokens.sign(settings, tokens.Purpose.STAFF_API, {"sub": "x", "role": "ward"})
    assert read_token(settings, odd, kind="api") is None
    # Fourteen minutes old is still fine.
    fresh = issue_token(settings, user, kind="api", issued_at=now() - timedelta(minutes=14))
    assert client.get("/api/v1/auth/me", headers=bearer(fresh)).status_code == 200
    # A non-Bearer Authorization header is no login.
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_a_session_lasts_a_shift(client: TestClient, app: FastAPI) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    settings: Settings = app.state.services.settings
    started = now() - timedelta(hours=7, minutes=59)
    session_token = issue_token(settings, user, kind="session", issued_at=started)
    assert read_token(settings, session_token, kind="session") is not None
    ended = now() - timedelta(hours=8, minutes=1)
    late = issue_token(settings, user, kind="session", issued_at=ended)
    assert read_token(settings, late, kind="session") is None
    client.cookies.set(auth.SESSION_COOKIE, late)
    assert client.get("/api/v1/auth/me").status_code == 401
