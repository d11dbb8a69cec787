"""Who may call what: role dependencies, every route's roles, CSRF on session forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from birthreg import auth
from birthreg.auth import (
    AdminStaff,
    ClerkStaff,
    RegistrarStaff,
    WardStaff,
    issue_token,
    passwords,
    require_role,
    route_table,
)
from birthreg.models import Role, StaffUser

from .helpers import (
    ALL_STAFF,
    add_staff,
    bearer,
    get_token,
    login_form_token,
    page_login,
    session_csrf,
    set_cookies,
)

# --- role checks and CSRF on protected routes ---------------------------------------------------


def probe_router() -> APIRouter:
    """Routes of each kind, to exercise the dependencies that domains will use."""
    router = APIRouter()

    @router.get("/ward/probe")
    def ward_page(user: WardStaff) -> dict[str, Any]:
        return {"id": user.id}

    @router.post("/ward/probe")
    def ward_form(user: WardStaff, note: str = Form("")) -> dict[str, Any]:
        return {"id": user.id, "note": note}

    @router.post("/api/v1/registry/probe")
    def clerk_api(user: ClerkStaff) -> dict[str, Any]:
        return {"id": user.id}

    @router.get("/admin/probe")
    def admin_page(user: AdminStaff) -> dict[str, Any]:
        return {"id": user.id}

    @router.get("/registry/approvals-probe")
    def registrar_page(user: RegistrarStaff) -> dict[str, Any]:
        return {"id": user.id}

    @router.get("/ward/either")
    def ward_or_clerk(
        user: Annotated[StaffUser, Depends(require_role(Role.WARD, Role.CLERK))],
    ) -> dict[str, Any]:
        return {"id": user.id}

    return router


PROBE_ROLES = {
    ("GET", "/ward/probe"): frozenset({Role.WARD}),
    ("POST", "/ward/probe"): frozenset({Role.WARD}),
    # A registrar is a senior clerk: whatever a clerk may call, a registrar may too.
    ("POST", "/api/v1/registry/probe"): frozenset({Role.CLERK, Role.REGISTRAR}),
    ("GET", "/registry/approvals-probe"): frozenset({Role.REGISTRAR}),
    ("GET", "/admin/probe"): frozenset({Role.ADMIN}),
    ("GET", "/ward/either"): frozenset({Role.WARD, Role.CLERK}),
}


@pytest.fixture
def probe_client(app: FastAPI) -> Iterator[TestClient]:
    app.include_router(probe_router())
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_role_dependencies_are_declared_on_routes(app: FastAPI) -> None:
    app.include_router(probe_router())
    # A router's own dependencies count for its routes.
    admin_router = APIRouter(dependencies=[Depends(require_role(Role.ADMIN))])

    @admin_router.get("/probe")
    def admin_only() -> None:
        return None

    app.include_router(admin_router, prefix="/admin/router")
    declared = {(method, path): roles for method, path, roles in route_table(app)}
    for key, roles in PROBE_ROLES.items():
        assert declared[key] == roles
    assert declared[("GET", "/admin/router/probe")] == frozenset({Role.ADMIN})
    assert declared[("*", "/static")] is None
    assert declared[("GET", "/api/v1/auth/me")] == ALL_STAFF
    assert declared[("POST", "/api/v1/auth/token")] is None
    assert repr(require_role(Role.CLERK, Role.WARD)) == "require_role(clerk, ward)"


def tokens_by_role(app: FastAPI) -> dict[Role, str]:
    return {
        role: issue_token(
            app.state.services.settings, add_staff(app, f"probe-{role.value}", role), kind="api"
        )
        for role in Role
    }


def test_roles_are_enforced(probe_client: TestClient, app: FastAPI) -> None:
    tokens = tokens_by_role(app)
    for (method, path), allowed in PROBE_ROLES.items():
        assert probe_client.request(method, path).status_code == 401
        for role, token in tokens.items():
            response = probe_client.request(method, path, headers=bearer(token))
            if role in allowed:
                assert response.status_code == 200, (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role)
                assert response.json()["error"] == "forbidden_role"


def test_pages_redirect_to_login(probe_client: TestClient) -> None:
    page = probe_client.get(
        "/ward/probe?day=today", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/ward/probe%3Fday%3Dtoday"
    assert auth.SESSION_COOKIE not in set_cookies(page)
    # A stale session cookie is cleared on the way to the login page.
    probe_client.cookies.set(auth.SESSION_COOKIE, "stale.cookie")
    stale = probe_client.get("/ward/probe", headers={"Accept": "text/html"},
                             follow_redirects=False)
    assert stale.status_code == 303
    assert set_cookies(stale)[auth.SESSION_COOKIE][auth.SESSION_COOKIE]["max-age"] == "0"
    probe_client.cookies.clear()
    api = probe_client.post("/api/v1/registry/probe", headers={"Accept": "text/html"})
    assert api.status_code == 401
    assert api.json()["error"] == "not_authenticated"
    assert api.headers["www-authenticate"] == "Bearer"


def test_wrong_role_on_a_page_is_an_error_page(probe_client: TestClient, app: FastAPI) -> None:
    add_staff(app, "clerk1", Role.CLERK)
    page_login(probe_client, "clerk1")
    page = probe_client.get("/ward/probe", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert "forbidden_role" in page.text


def test_forms_on_a_session_need_the_csrf_token(probe_client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    # Another session's token (the same account, another browser), and a login form's token.
    other = TestClient(app, base_url="http://testserver")
    page_login(other, "ward1")
    others_token = session_csrf(other)
    login_token = login_form_token(TestClient(app, base_url="http://testserver"))
    page_login(probe_client, "ward1")
    token = session_csrf(probe_client)
    assert token != others_token
    assert probe_client.get("/ward/probe").status_code == 200  # reading needs no token
    for data, headers in [
        ({"note": "x"}, {}),
        ({"note": "x", "csrf_token": "wrong"}, {}),
        ({"note": "x", "csrf_token": token + "x"}, {}),
        ({"note": "x", "csrf_token": others_token}, {}),
        ({"note": "x", "csrf_token": login_token}, {}),
        ({"note": "x"}, {"X-CSRF-Token": "wrong"}),
        ({"note": "x"}, {"X-CSRF-Token": others_token}),
    ]:
        refused = probe_client.post("/ward/probe", data=data, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_failed"
    accepted = probe_client.post("/ward/probe", data={"note": "x", "csrf_token": token})
    assert accepted.status_code == 200
    assert accepted.json()["note"] == "x"
    by_header = probe_client.post(
        "/ward/probe", data={"note": "y"}, headers={"X-CSRF-Token": token}
    )
    assert by_header.status_code == 200
    # API clients send no cookie and no CSRF token.
    probe_client.cookies.clear()
    api_token = get_token(probe_client, "ward1").json()["access_token"]
    assert probe_client.post(
        "/ward/probe", data={"note": "z"}, headers=bearer(api_token)
    ).status_code == 200


def test_templates_get_the_session_csrf_token(app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/ward/form-probe")
    def form_page(request: Request, user: WardStaff) -> Response:
        return app.state.services.templates.TemplateResponse(request, "login.html", {})

    app.include_router(router)
    with TestClient(app, base_url="http://testserver") as client:
        add_staff(app, "ward1", Role.WARD)
        page_login(client, "ward1")
        page = client.get("/ward/form-probe", headers={"Accept": "text/html"})
        assert f'name="csrf_token" value="{session_csrf(client)}"' in page.text


# --- every route and who may call it ------------------------------------------------------------

#: Route prefixes where every route must say who may call it (an entry in ROUTE_ROLES).
PROTECTED_PREFIXES = (
    "/api/v1/ward", "/api/v1/registry", "/api/v1/admin", "/ward", "/registry", "/admin",
)
#: Public by design: anyone may call these (no login).
PUBLIC_PREFIXES = (
    "/pki",
    "/api/v1/enroll",
    # The parents' pages: no staff login. What needs more is guarded by the key holder's own
    # session (a signature of her enrolled key; tests/parents), which staff tokens never open.
    "/enroll",
    "/parents",
    "/api/v1/parents",
    "/api/v1/verify",
    "/api/v1/auth/token",
    "/verify",
    "/static",
    "/login",
    "/logout",
    "/language",
    "/healthz",
    "/readyz",
    "/docs",
    "/redoc",
    "/openapi.json",
)
PUBLIC_PATHS = {"/"}
#: (method, path) → the roles that may call it; None: anyone (public by design, e.g. a
#: registry route the design opens to all). Later domains add their routes here.
WARD = frozenset({Role.WARD})
CLERK = frozenset({Role.CLERK, Role.REGISTRAR})
ADMIN = frozenset({Role.ADMIN})
REGISTRAR = frozenset({Role.REGISTRAR})
ROUTE_ROLES: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/api/v1/auth/me"): ALL_STAFF,
    # The ward (DESIGN.md, "HTTP endpoints").
    ("POST", "/api/v1/ward/births"): WARD,
    ("GET", "/api/v1/ward/births"): WARD,
    ("GET", "/api/v1/ward/births/{birth_id}"): WARD,
    ("POST", "/api/v1/ward/births/{birth_id}/enrollments"): WARD,
    ("POST", "/api/v1/ward/enrollments/{enrollment_id}/pkcs12"): WARD,
    ("POST", "/api/v1/ward/certificates/{serial}/revoke"): WARD,
    # The ward's pages (birthreg/ward/pages.py).
    ("GET", "/ward"): WARD,
    ("GET", "/ward/births/new"): WARD,
    ("POST", "/ward/births/new"): WARD,
    ("GET", "/ward/births/{birth_id}"): WARD,
    ("POST", "/ward/births/{birth_id}/enrollments"): WARD,
    ("POST", "/ward/enrollments/{enrollment_id}/pkcs12"): WARD,
    ("GET", "/ward/enrollments/{enrollment_id}"): WARD,
    ("POST", "/ward/enrollments/{enrollment_id}/renew"): WARD,
    ("POST", "/ward/births/{birth_id}/certificate.pdf"): WARD,
    ("POST", "/ward/certificates/{serial}/revoke"): WARD,
    # A key holder revokes their own certificate with a signature of that key: no login.
    ("POST", "/api/v1/certificates/{serial}/revoke"): None,
    # The registry: anyone submits a signed dossier; clerks work the queue.
    ("POST", "/api/v1/registry/submissions"): None,
    ("GET", "/api/v1/registry/submissions/{submission_id}/status"): None,  # the submitter's view
    ("GET", "/api/v1/registry/submissions"): CLERK,
    ("GET", "/api/v1/registry/submissions/{submission_id}"): CLERK,
    ("POST", "/api/v1/registry/submissions/{submission_id}/register"): CLERK,
    ("POST", "/api/v1/registry/submissions/{submission_id}/reject"): CLERK,
    ("POST", "/api/v1/registry/submissions/{submission_id}/duplicate-decision"): CLERK,
    ("POST", "/api/v1/registry/submissions/{submission_id}/approve-late"): REGISTRAR,
    # The certificate: whoever holds its unguessable id (the mother's status page gives it).
    ("GET", "/api/v1/registry/certificates/{certificate_id}"): None,
    ("GET", "/api/v1/registry/certificates/{certificate_id}.pdf"): None,
    ("GET", "/registry/certificates/{certificate_id}/print"): None,
    # The clerk's pages.
    ("GET", "/registry"): CLERK,
    ("GET", "/registry/submissions/{submission_id}"): CLERK,
    ("POST", "/registry/submissions/{submission_id}/register"): CLERK,
    ("POST", "/registry/submissions/{submission_id}/reject"): CLERK,
    ("GET", "/registry/check"): CLERK,
    ("POST", "/registry/check"): CLERK,
    # Statistics (birthreg/registry/statistics_api.py, statistics_pages.py).
    ("GET", "/api/v1/registry/statistics"): CLERK,
    ("GET", "/registry/statistics"): CLERK,
    ("GET", "/registry/statistics.csv"): CLERK,
    # Decisions before registration (birthreg/registry/decisions_pages.py).
    ("POST", "/registry/submissions/{submission_id}/approve-late"): REGISTRAR,
    ("POST", "/registry/submissions/{submission_id}/duplicate-decision"): CLERK,
    # A record's life (birthreg/registry/record_api.py, record_pages.py): search, corrections
    # (a parent's signed request needs her signature, not a login), copies, issuances.
    ("GET", "/api/v1/registry/search"): CLERK,
    ("POST", "/api/v1/registry/certificates/{certificate_id}/corrections"): CLERK,
    ("POST", "/api/v1/registry/certificates/{certificate_id}/corrections/signed"): None,
    # The ward's print claim: no staff login; the facility's seal over the claim is checked.
    ("POST", "/api/v1/registry/certificates/{certificate_id}/ward-print"): None,
    ("POST", "/api/v1/registry/corrections/{correction_id}/approve"): frozenset({Role.REGISTRAR}),
    ("POST", "/api/v1/registry/corrections/{correction_id}/reject"): frozenset({Role.REGISTRAR}),
    ("POST", "/api/v1/registry/certificates/{certificate_id}/copies"): CLERK,
    ("GET", "/api/v1/registry/certificates/{certificate_id}/issuances"): CLERK,
    ("GET", "/registry/search"): CLERK,
    ("GET", "/registry/corrections"): CLERK,
    ("POST", "/registry/certificates/{certificate_id}/corrections"): CLERK,
    ("POST", "/registry/corrections/{correction_id}/approve"): frozenset({Role.REGISTRAR}),
    ("POST", "/registry/corrections/{correction_id}/reject"): frozenset({Role.REGISTRAR}),
    ("POST", "/registry/certificates/{certificate_id}/copies"): CLERK,
    # Messages to parents and their delivery (birthreg/notify/pages.py).
    ("GET", "/notify/outbox"): frozenset({Role.CLERK, Role.REGISTRAR, Role.ADMIN}),
    # The audit trail's newest signed checkpoint: anyone may keep a copy.
    ("GET", "/api/v1/audit/checkpoints/latest"): None,
    # The admin: staff accounts, from the API and from pages.
    ("GET", "/api/v1/admin/users"): ADMIN,
    ("POST", "/api/v1/admin/users"): ADMIN,
    ("PATCH", "/api/v1/admin/users/{username}"): ADMIN,
    ("GET", "/admin"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("GET", "/admin/users/{username}"): ADMIN,
    ("POST", "/admin/users/{username}/role"): ADMIN,
    ("POST", "/admin/users/{username}/disabled"): ADMIN,
    ("POST", "/admin/users/{username}/password"): ADMIN,
}


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def test_every_route_declares_who_may_call_it(app: FastAPI) -> None:
    problems = []
    for method, path, declared in route_table(app):
        if (method, path) in ROUTE_ROLES:
            expected = ROUTE_ROLES[(method, path)]
            if declared != expected:
                problems.append(f"{method} {path}: declares {declared}, the table says {expected}")
        elif _under(path, PROTECTED_PREFIXES):
            problems.append(
                f"{method} {path}: a protected route missing from ROUTE_ROLES "
                f"(it declares {declared})"
            )
        elif path in PUBLIC_PATHS or _under(path, PUBLIC_PREFIXES):
            if declared is not None:
                problems.append(f"{method} {path}: public by design but declares {declared}")
        else:
            problems.append(f"{method} {path}: not classified (add it to ROUTE_ROLES)")
    assert not problems, "\n".join(problems)
    listed = {(method, path) for method, path, _ in route_table(app)}
    assert not set(ROUTE_ROLES) - listed, "ROUTE_ROLES names routes the app lacks"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0", path)


def test_every_route_answers_by_role(client: TestClient, app: FastAPI) -> None:
    tokens = tokens_by_role(app)
    for (method, path), allowed in ROUTE_ROLES.items():
        url = _concrete(path)
        if allowed is None:
            response = client.request(method, url)
            assert response.status_code not in (401, 403), (method, path)
            continue
        assert client.request(method, url).status_code == 401, (method, path)
        for role, token in tokens.items():
            response = client.request(method, url, headers=bearer(token))
            if role in allowed:
                assert response.status_code not in (401, 403), (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role)
                assert response.json()["error"] == "forbidden_role"


# --- rehashing ----------------------------------------------------------------------------------


def test_login_rehashes_when_parameters_change(
    client: TestClient, app: FastAPI, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_staff(app, "ward1", Role.WARD)
    old_hash = db.exec(select(StaffUser.password_hash)).one()
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(passwords, "password_hasher", stronger)
    assert get_token(client, "ward1").status_code == 200
    new_hash = db.exec(select(StaffUser.password_hash)).one()
    assert new_hash != old_hash
    assert not stronger.check_needs_rehash(new_hash)
    assert get_token(client, "ward1").status_code == 200
    assert db.exec(select(StaffUser.password_hash)).one() == new_hash


