"""Who is calling: the staff user of a request (bearer token or session cookie), the CSRF check
on session forms, and role checks.

`require_role(*roles)` makes a dependency (a `RoleCheck`) that lets those roles through and
answers 403 `forbidden_role` to the others; `route_roles(route)` reads back who may call a route,
so that a test can list every route with its roles. A registrar is a senior clerk: every route a
clerk may call lets a registrar through too (`ClerkStaff`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordBearer

from birthreg.auth.sessions import TokenClaims, page_csrf_matches, read_token, staff_for_token
from birthreg.config import Settings
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.models import Role, StaffUser
from birthreg.services import services

logger = logging.getLogger("birthreg.auth")

SESSION_COOKIE: Final = "birthreg_session"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NotAuthenticated(DomainError):
    """No valid token or session: 401 for the API, a redirect to the login page for pages."""

    def __init__(self, detail: str = "log in first") -> None:
        super().__init__("not_authenticated", detail, 401)


_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _bearer_token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return None


def session_claims(request: Request) -> TokenClaims | None:
    """The claims of the request's session cookie, when it is a valid one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    settings: Settings = services(request).settings
    return read_token(settings, cookie, kind="session")


async def csrf_protect(request: Request) -> None:
    """Refuse (403 csrf_failed) a state-changing request riding on the session cookie without
    the session's CSRF token in the `csrf_token` field or the X-CSRF-Token header."""
    if request.method not in UNSAFE_METHODS or request.headers.get("authorization"):
        return
    claims = session_claims(request)
    if claims is None:
        # No session: nothing for a forged request to ride on (authentication refuses it).
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not page_csrf_matches(services(request).settings, claims, sent):
        logger.info("CSRF check failed for staff %s", claims.sub)
        raise DomainError("csrf_failed", "the form's CSRF token is missing or wrong", 403)


def current_staff(
    request: Request,
    session: SessionDep,
    _bearer_header: Annotated[str | None, Depends(_bearer)],
    _csrf: Annotated[None, Depends(csrf_protect)],
) -> StaffUser:
    """The logged-in staff user (Bearer token or session cookie), read again from the database."""
    settings: Settings = services(request).settings
    if request.headers.get("authorization") is not None:
        # A request that brings an Authorization header is judged by it alone.
        bearer = _bearer_token(request)
        claims = read_token(settings, bearer, kind="api") if bearer else None
    else:
        claims = session_claims(request)
    user = staff_for_token(session, claims) if claims else None
    if user is None or claims is None:
        raise NotAuthenticated()
    request.state.staff = user
    if claims.csrf:
        request.state.csrf_token = claims.csrf
    return user


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]


class RoleCheck:
    """A dependency that lets the staff of some roles through (403 forbidden_role for others).

    `allowed_roles` is read by `route_roles`, so the roles of every route can be listed.
    """

    def __init__(self, roles: Iterable[Role]) -> None:
        self.allowed_roles = frozenset(Role(role) for role in roles)
        if not self.allowed_roles:
            raise ValueError("name at least one role")

    def __call__(self, user: CurrentStaff) -> StaffUser:
        if user.role not in self.allowed_roles:
            raise DomainError("forbidden_role", "your role may not do this", 403)
        return user

    def __repr__(self) -> str:
        return f"require_role({', '.join(sorted(self.allowed_roles))})"


def require_role(*roles: Role) -> RoleCheck:
    """A dependency for routes that only these roles may call; it yields the StaffUser."""
    return RoleCheck(roles)


#: The roles that do a clerk's work: clerks, and registrars (senior clerks).
CLERK_ROLES: Final = (Role.CLERK, Role.REGISTRAR)

WardStaff = Annotated[StaffUser, Depends(require_role(Role.WARD))]
ClerkStaff = Annotated[StaffUser, Depends(require_role(*CLERK_ROLES))]
RegistrarStaff = Annotated[StaffUser, Depends(require_role(Role.REGISTRAR))]
AdminStaff = Annotated[StaffUser, Depends(require_role(Role.ADMIN))]


def route_roles(route: Any) -> frozenset[Role] | None:
    """Who may call a route (an APIRoute, or a RouteContext of `iter_route_contexts`): None
    when it needs no login, else the roles let through."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    allowed: frozenset[Role] | None = None
    pending = list(dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, RoleCheck):
            roles = dependant.call.allowed_roles
            allowed = roles if allowed is None else allowed & roles
        elif dependant.call is current_staff and allowed is None:
            allowed = frozenset(Role)
        pending.extend(dependant.dependencies)
    return allowed


def route_table(app: FastAPI) -> list[tuple[str, str, frozenset[Role] | None]]:
    """(method, path, who may call it) for every route of app, included routers too (their
    own dependencies count); mounts (static files) are listed with the method "*"."""
    table: list[tuple[str, str, frozenset[Role] | None]] = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        methods = sorted(route.methods or {"*"})
        roles = route_roles(route) if isinstance(route.original_route, APIRoute) else None
        table.extend((method, path, roles) for method in methods)
    return table
