"""Staff accounts: passwords, tokens, sessions, CSRF, login throttling and role checks.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106) and rehashed on a successful
login when those parameters change. Nobody is told whether a username exists: an unknown name
costs the same hash as a known one and gives the same answer.

Tokens are compact and signed with HMAC-SHA256: `base64url(claims JSON).base64url(tag)`. Each kind
has its own key, derived from the service's secret key, so an API token is never accepted as a
session cookie, nor a session cookie as an API token. API tokens live 15 minutes; page sessions 8
hours (a ward shift). Every request reads the staff user again: a disabled account, or one whose
role changed since the token was issued, is refused at once. Sessions are stateless: logging out
clears the cookie in this browser; a copied cookie stays valid until it expires (at most a shift)
unless the account is disabled or its role changes.

CSRF. A session carries a random `csrf` value. Every POST/PUT/PATCH/DELETE authenticated by the
session cookie must send it back, as the form field `csrf_token` or the `X-CSRF-Token` header
(`csrf_protect`, which `CurrentStaff` runs by itself). Requests with `Authorization: Bearer` send
no cookie and are not checked. Templates get the value as the variable `csrf_token` (a context
processor, installed by `install`), also kept in `request.state.csrf_token`:

    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">

Before a session exists, the login form uses a signed double-submit token: the `birthreg_csrf`
cookie holds a random nonce, and the form's token is an HMAC of that nonce under its own key.

Throttling works across workers through the `login_throttle` table, keyed by the SHA-256 of the
username and of the client address (never the raw values): five failures for a username within 15
minutes lock it for 15 minutes; an address gets more (`ADDRESS_MAX_FAILURES`), since a ward's
desktops often share one. A successful login clears the username's count.

Roles: `require_role(*roles)` makes a dependency (a `RoleCheck`) that lets those roles through and
answers 403 `forbidden_role` to the others; `route_roles(route)` reads back who may call a route,
so that a test can list every route with its roles.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from birthreg import audit
from birthreg.config import Settings
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.i18n import gettext, safe_next
from birthreg.models import LoginThrottle, Role, StaffUser, now

logger = logging.getLogger("birthreg.auth")

TokenKind = Literal["api", "session"]

API_TOKEN_LIFETIME: Final = timedelta(minutes=15)
SESSION_LIFETIME: Final = timedelta(hours=8)
TOKEN_LIFETIMES: Final[dict[str, timedelta]] = {
    "api": API_TOKEN_LIFETIME,
    "session": SESSION_LIFETIME,
}

SESSION_COOKIE: Final = "birthreg_session"
LOGIN_CSRF_COOKIE: Final = "birthreg_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

MIN_PASSWORD_LENGTH: Final = 10
# Longer inputs are refused before hashing: a megabyte "password" is a denial of service.
MAX_PASSWORD_LENGTH: Final = 1024
USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9._-]{3,64}$")

THROTTLE_WINDOW: Final = timedelta(minutes=15)
LOCKOUT: Final = timedelta(minutes=15)
USER_MAX_FAILURES: Final = 5
ADDRESS_MAX_FAILURES: Final = 20

#: Where each role lands after logging in (when the login form names no page).
ROLE_HOMES: Final[dict[Role, str]] = {
    Role.WARD: "/ward",
    Role.CLERK: "/registry",
    Role.ADMIN: "/admin",
}

# Tokens longer than this are not even parsed.
_MAX_TOKEN_LENGTH: Final = 2048
_BASE64URL: Final = re.compile(r"^[A-Za-z0-9_-]+$")


# --- passwords ----------------------------------------------------------------------------------

#: The Argon2id hasher. Tests may swap in cheaper parameters; a later login rehashes.
password_hasher = PasswordHasher()
_dummy: tuple[PasswordHasher, str] | None = None


def check_password_policy(password: str) -> None:
    """Raise DomainError(400, weak_password) unless password is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            "weak_password",
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(
            "weak_password",
            f"a password may have at most {MAX_PASSWORD_LENGTH} characters",
        )


def hash_password(password: str) -> str:
    """The Argon2id hash of password (after the policy check: DomainError weak_password)."""
    check_password_policy(password)
    return password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when password matches the hash; False for a wrong password or an unreadable hash."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _spend_a_hash(password: str) -> None:
    """Verify against a throwaway hash, so that an unknown username takes as long as a known one."""
    global _dummy
    if _dummy is None or _dummy[0] is not password_hasher:
        _dummy = (password_hasher, password_hasher.hash(secrets.token_urlsafe(16)))
    verify_password(_dummy[1], password[:MAX_PASSWORD_LENGTH])


# --- accounts -----------------------------------------------------------------------------------


def actor_of(user: StaffUser) -> str:
    """The audit trail's name for a staff member."""
    return f"staff:{user.id}"


def normalise_username(username: str) -> str:
    """Usernames are compared in lower case, without surrounding spaces."""
    return username.strip().lower()


def create_staff_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
    facility_id: int | None = None,
    by: StaffUser | None = None,
) -> StaffUser:
    """Add a staff account (audited as `staff.created`, by `by` or by "system").

    Raises DomainError: 400 invalid_username or weak_password, 409 username_taken.
    """
    name = normalise_username(username)
    if not USERNAME_PATTERN.match(name):
        raise DomainError(
            "invalid_username",
            "a username has 3 to 64 characters: lower-case Latin letters, digits, '.', '_', '-'",
        )
    role = Role(role)
    display_name = display_name.strip()
    if len(display_name) > 128:
        raise DomainError("invalid_display_name", "a display name has at most 128 characters")
    password_hash = hash_password(password)
    taken = session.exec(select(StaffUser.id).where(StaffUser.username == name)).first()
    if taken is not None:
        raise DomainError("username_taken", "this username is taken", 409)
    user = StaffUser(
        username=name,
        password_hash=password_hash,
        role=role.value,
        display_name=display_name,
        facility_id=facility_id,
        created_at=now(),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # Another transaction took the name between the check and the insert.
        raise DomainError("username_taken", "this username is taken", 409) from None
    audit.record(
        session,
        actor=actor_of(by) if by else "system",
        role=by.role if by else "system",
        action="staff.created",
        object_type="staff_user",
        object_id=str(user.id),
        details={"role": role.value, "facility_id": facility_id},
    )
    logger.info("staff account %s created (role %s)", user.id, role.value)
    return user


def change_role(session: Session, user: StaffUser, role: Role, *, by: StaffUser | None) -> None:
    """Give user another role (audited); tokens issued for the old role stop working."""
    role = Role(role)
    previous = user.role
    user.role = role.value
    session.add(user)
    audit.record(
        session,
        actor=actor_of(by) if by else "system",
        role=by.role if by else "system",
        action="staff.role_changed",
        object_type="staff_user",
        object_id=str(user.id),
        details={"from": previous, "to": role.value},
    )
    session.flush()


def set_disabled(
    session: Session, user: StaffUser, disabled: bool, *, by: StaffUser | None
) -> None:
    """Disable or enable an account (audited); a disabled account's tokens stop working."""
    user.disabled = disabled
    session.add(user)
    audit.record(
        session,
        actor=actor_of(by) if by else "system",
        role=by.role if by else "system",
        action="staff.disabled" if disabled else "staff.enabled",
        object_type="staff_user",
        object_id=str(user.id),
    )
    session.flush()


# --- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenClaims:
    sub: str  # the staff user's id
    role: str
    kind: str
    iat: int
    exp: int
    jti: str
    csrf: str | None = None  # sessions only

    @property
    def user_id(self) -> int:
        return int(self.sub)


def _key(settings: Settings, purpose: str) -> bytes:
    """A key per purpose, so that one kind of token can never stand in for another."""
    return _derive_key(settings.secret_key_value(), purpose)


_derived_keys: dict[tuple[str, str], bytes] = {}


def _derive_key(secret: str, purpose: str) -> bytes:
    cached = _derived_keys.get((secret, purpose))
    if cached is None:
        cached = hmac.new(
            secret.encode("utf-8"), b"birthreg " + purpose.encode("ascii") + b" v1", "sha256"
        ).digest()
        _derived_keys[(secret, purpose)] = cached
    return cached


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _BASE64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    settings: Settings,
    user: StaffUser,
    *,
    kind: TokenKind,
    lifetime: timedelta | None = None,
    issued_at: datetime | None = None,
) -> str:
    """A signed token for user: an API bearer token or a page session (with a CSRF value)."""
    if kind not in TOKEN_LIFETIMES:
        raise ValueError(f"unknown token kind: {kind!r}")
    if user.id is None:
        raise ValueError("the user has no id yet (flush it first)")
    issued_at = issued_at or now()
    lifetime = TOKEN_LIFETIMES[kind] if lifetime is None else lifetime
    claims: dict[str, Any] = {
        "sub": str(user.id),
        "role": user.role,
        "kind": kind,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + lifetime).timestamp()),
        "jti": secrets.token_urlsafe(12),
    }
    if kind == "session":
        claims["csrf"] = secrets.token_urlsafe(32)
    payload = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    tag = hmac.new(_key(settings, kind), payload.encode("ascii"), "sha256").digest()
    return f"{payload}.{_b64encode(tag)}"


def read_token(
    settings: Settings, token: str, *, kind: TokenKind, moment: datetime | None = None
) -> TokenClaims | None:
    """The claims of a genuine, unexpired token of this kind, else None."""
    if kind not in TOKEN_LIFETIMES or not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    payload, dot, tag_text = token.partition(".")
    if not dot or "." in tag_text:
        return None
    try:
        tag = _b64decode(tag_text)
        expected = hmac.new(_key(settings, kind), payload.encode("ascii"), "sha256").digest()
        if not hmac.compare_digest(tag, expected):
            return None
        claims = json.loads(_b64decode(payload))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(claims, dict) or claims.get("kind") != kind:
        return None
    try:
        parsed = TokenClaims(
            sub=_string(claims, "sub"),
            role=_string(claims, "role"),
            kind=kind,
            iat=_integer(claims, "iat"),
            exp=_integer(claims, "exp"),
            jti=_string(claims, "jti"),
            csrf=_string(claims, "csrf") if kind == "session" else None,
        )
        parsed.user_id  # noqa: B018 (a sub that is not a number is refused here)
    except (KeyError, TypeError, ValueError):
        return None
    if parsed.exp <= (moment or now()).timestamp():
        return None
    return parsed


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise TypeError(name)
    return value


def _integer(claims: dict[str, Any], name: str) -> int:
    value = claims[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(name)
    return value


def staff_for_token(session: Session, claims: TokenClaims) -> StaffUser | None:
    """The staff user a token names, if it still exists, is enabled and has the same role."""
    user = session.get(StaffUser, claims.user_id)
    if user is None or user.disabled or user.role != claims.role:
        return None
    return user


# --- login and throttling -----------------------------------------------------------------------


class LoginRefused(DomainError):
    """A refused login: 401 invalid_credentials, or 429 too_many_attempts with retry_after.

    The failure was counted in the session it was raised from; the caller commits it (routes
    return the error response rather than raise it, so the request session commits).
    """

    def __init__(self, code: str, detail: str, status: int, retry_after: int | None = None):
        super().__init__(code, detail, status)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after is not None:
            return {"Retry-After": str(self.retry_after)}
        return {"WWW-Authenticate": "Bearer"}


def throttle_key(kind: Literal["user", "ip"], value: str) -> str:
    """The `login_throttle` key for a username or a client address (a digest, never the value)."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    client_address: str,
    via: Literal["api", "page"],
    moment: datetime | None = None,
) -> StaffUser:
    """The staff user with these credentials; raises LoginRefused (see there) otherwise.

    Success and failure are audited (`staff.login`, `staff.login_failed`) and logged by user id.
    """
    moment = moment or now()
    name = normalise_username(username)
    limits = {
        throttle_key("user", name): USER_MAX_FAILURES,
        throttle_key("ip", client_address): ADDRESS_MAX_FAILURES,
    }
    # A plain read: holding row locks through the password hash would serialise every login
    # from one address. Counting a failure locks its rows (below).
    rows = session.exec(
        select(LoginThrottle).where(col(LoginThrottle.key).in_(list(limits)))
    ).all()
    locks = [row.locked_until for row in rows if row.locked_until and row.locked_until > moment]
    if locks:
        retry_after = max(1, math.ceil((max(locks) - moment).total_seconds()))
        logger.info("login refused: throttled")
        raise LoginRefused(
            "too_many_attempts",
            "too many failed logins; try again later",
            429,
            retry_after=retry_after,
        )

    user: StaffUser | None = None
    if USERNAME_PATTERN.match(name):
        user = session.exec(select(StaffUser).where(StaffUser.username == name)).first()
    if user is None:
        _spend_a_hash(password)
        reason = "unknown_user"
    elif not verify_password(user.password_hash, password):
        reason = "wrong_password"
    elif user.disabled:
        reason = "disabled"
    else:
        reason = ""

    if reason or user is None:
        locked = _count_failure(session, limits, moment)
        object_id = str(user.id) if user else "unknown"
        audit.record(
            session,
            actor="anonymous",
            role="none",
            action="staff.login_failed",
            object_type="staff_user",
            object_id=object_id,
            details={"via": via, "reason": reason, "locked": locked},
            at=moment,
        )
        logger.info("login failed for staff %s (%s)", object_id, reason)
        raise LoginRefused("invalid_credentials", "wrong username or password", 401)

    user_row = session.get(LoginThrottle, throttle_key("user", name))
    if user_row is not None:
        session.delete(user_row)
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = password_hasher.hash(password)
        session.add(user)
    audit.record(
        session,
        actor=actor_of(user),
        role=user.role,
        action="staff.login",
        object_type="staff_user",
        object_id=str(user.id),
        details={"via": via},
        at=moment,
    )
    session.flush()
    logger.info("login: staff %s (%s)", user.id, via)
    return user


def _count_failure(session: Session, limits: dict[str, int], moment: datetime) -> bool:
    """Count a failure against each key; True when that locked one of them."""
    insert = (
        postgresql_insert
        if session.get_bind().dialect.name == "postgresql"
        else sqlite_insert
    )
    locked = False
    for key, limit in limits.items():
        # Two workers may count the first failure of a key at once: insert-or-nothing, then lock.
        session.execute(
            insert(LoginThrottle)
            .values(key=key, failures=0, window_started_at=moment, locked_until=None)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        row = session.get(
            LoginThrottle, key, with_for_update=True, populate_existing=True
        )
        assert row is not None
        if row.window_started_at + THROTTLE_WINDOW <= moment or (
            row.locked_until is not None and row.locked_until <= moment
        ):
            row.failures = 0
            row.window_started_at = moment
            row.locked_until = None
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = moment + LOCKOUT
            locked = True
        session.add(row)
    session.flush()
    return locked


# --- request authentication ---------------------------------------------------------------------


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


def _session_claims(request: Request) -> TokenClaims | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    settings: Settings = request.app.state.settings
    return read_token(settings, cookie, kind="session")


async def csrf_protect(request: Request) -> None:
    """Refuse (403 csrf_failed) a state-changing request riding on the session cookie without
    the session's CSRF value in the `csrf_token` field or the X-CSRF-Token header."""
    if request.method not in UNSAFE_METHODS or request.headers.get("authorization"):
        return
    claims = _session_claims(request)
    if claims is None or claims.csrf is None:
        # No session: nothing for a forged request to ride on (authentication refuses it).
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), claims.csrf.encode()):
        logger.info("CSRF check failed for staff %s", claims.sub)
        raise DomainError("csrf_failed", "the form's CSRF token is missing or wrong", 403)


def current_staff(
    request: Request,
    session: SessionDep,
    _bearer_header: Annotated[str | None, Depends(_bearer)],
    _csrf: Annotated[None, Depends(csrf_protect)],
) -> StaffUser:
    """The logged-in staff user (Bearer token or session cookie), read again from the database."""
    settings: Settings = request.app.state.settings
    bearer = _bearer_token(request)
    if request.headers.get("authorization") is not None:
        # A request that brings an Authorization header is judged by it alone.
        claims = read_token(settings, bearer, kind="api") if bearer else None
    else:
        claims = _session_claims(request)
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


WardStaff = Annotated[StaffUser, Depends(require_role(Role.WARD))]
ClerkStaff = Annotated[StaffUser, Depends(require_role(Role.CLERK))]
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


# --- the pre-session CSRF token (the login form) ------------------------------------------------


def login_csrf_nonce(request: Request) -> tuple[str, bool]:
    """The request's `birthreg_csrf` nonce, or a new one (then True: set it with
    `set_login_csrf_cookie`)."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if _BASE64URL.match(nonce) and len(nonce) <= 64:
        return nonce, False
    return secrets.token_urlsafe(32), True


def login_csrf_token(settings: Settings, nonce: str) -> str:
    """The login form's CSRF token for a `birthreg_csrf` nonce."""
    return _b64encode(hmac.new(_key(settings, "login csrf"), nonce.encode(), "sha256").digest())


def check_login_csrf(request: Request, sent: str | None) -> None:
    """Raise 403 csrf_failed unless sent is the token for the request's `birthreg_csrf`."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    settings: Settings = request.app.state.settings
    if not (sent and nonce and _BASE64URL.match(nonce) and len(nonce) <= 64) or (
        not hmac.compare_digest(sent.encode(), login_csrf_token(settings, nonce).encode())
    ):
        raise DomainError("csrf_failed", "the form's CSRF token is missing or wrong", 403)


def _set_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=settings.base_url.lower().startswith("https://"),
        httponly=True,
        samesite="lax",
    )


def _delete_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name,
        path="/",
        secure=settings.base_url.lower().startswith("https://"),
        httponly=True,
        samesite="lax",
    )


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- routes -------------------------------------------------------------------------------------

router = APIRouter()


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int


@router.post(
    "/api/v1/auth/token",
    tags=["auth"],
    response_model=AccessToken,
    responses={
        401: {"description": "invalid_credentials"},
        429: {"description": "too_many_attempts"},
    },
)
def token(
    request: Request,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> JSONResponse:
    """Exchange a staff username and password for a bearer token (OAuth2 password flow)."""
    settings: Settings = request.app.state.settings
    try:
        user = authenticate(
            session,
            username=form.username,
            password=form.password,
            client_address=_client_address(request),
            via="api",
        )
    except LoginRefused as refusal:
        # Returned, not raised: the request session commits the counted failure.
        return JSONResponse(
            {"error": refusal.code, "detail": refusal.detail},
            refusal.status,
            headers={**refusal.headers, "Cache-Control": "no-store"},
        )
    access_token = issue_token(settings, user, kind="api")
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": int(API_TOKEN_LIFETIME.total_seconds()),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get("/api/v1/auth/me", tags=["auth"])
def me(user: CurrentStaff) -> dict[str, Any]:
    """The logged-in staff member."""
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
        "facility_id": user.facility_id,
    }


def role_home(user: StaffUser) -> str:
    return ROLE_HOMES.get(Role(user.role), "/")


def _next_path(next_url: str | None) -> str | None:
    """A local path to go to after login, or None (then the role's home)."""
    path = safe_next(next_url)
    if path == "/" or path.startswith("/login") or path.startswith("/logout"):
        return None
    return path


def _login_page(
    request: Request,
    *,
    next_url: str | None,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "next_path": _next_path(next_url) or "",
            "username": username,
            "flashes": [("error", error)] if error else [],
        },
        status_code=status_code,
        headers={**(headers or {}), "Cache-Control": "no-store"},
    )
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, session: SessionDep, next: str | None = None) -> Response:
    """The staff login page."""
    claims = _session_claims(request)
    user = staff_for_token(session, claims) if claims else None
    if user is not None:
        return RedirectResponse(_next_path(next) or role_home(user), status_code=303)
    settings: Settings = request.app.state.settings
    nonce, new = login_csrf_nonce(request)
    request.state.csrf_token = login_csrf_token(settings, nonce)
    response = _login_page(request, next_url=next)
    if new:
        _set_cookie(response, settings, LOGIN_CSRF_COOKIE, nonce, max_age=None)
    return response


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH + 1)] = "",
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Log in with a username and password; sets the session cookie."""
    check_login_csrf(request, csrf_token)
    settings: Settings = request.app.state.settings
    try:
        user = authenticate(
            session,
            username=username,
            password=password,
            client_address=_client_address(request),
            via="page",
        )
    except LoginRefused as refusal:
        request.state.csrf_token = csrf_token
        message = (
            gettext("Too many attempts. Please wait a little and try again.")
            if refusal.status == 429
            else gettext("Wrong username or password.")
        )
        # Returned, not raised: the request session commits the counted failure.
        headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else {}
        return _login_page(
            request,
            next_url=next,
            username=username[:64],
            error=message,
            status_code=refusal.status,
            headers=headers,
        )
    response = RedirectResponse(_next_path(next) or role_home(user), status_code=303)
    session_token = issue_token(settings, user, kind="session")
    _set_cookie(
        response,
        settings,
        SESSION_COOKIE,
        session_token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )
    # The pre-session token has done its work; a new one is made for the next login.
    _delete_cookie(response, settings, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(
    request: Request, _csrf: Annotated[None, Depends(csrf_protect)]
) -> RedirectResponse:
    """Log out: clears the session cookie (the form must carry the session's CSRF token)."""
    settings: Settings = request.app.state.settings
    claims = _session_claims(request)
    if claims is not None:
        logger.info("logout: staff %s", claims.sub)
    response = RedirectResponse("/login", status_code=303)
    _delete_cookie(response, settings, SESSION_COOKIE)
    return response


# --- installing into the app --------------------------------------------------------------------


def csrf_context(request: Request) -> dict[str, Any]:
    """Template variables: `csrf_token` (the value for forms) and `current_staff` (or None)."""
    token = getattr(request.state, "csrf_token", None)
    if token is None:
        claims = _session_claims(request)
        token = claims.csrf if claims else None
    return {
        "csrf_token": token or "",
        "current_staff": getattr(request.state, "staff", None),
    }


async def _not_authenticated(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotAuthenticated)
    path = request.url.path
    if not path.startswith("/api/") and "text/html" in request.headers.get("accept", ""):
        target = path + ("?" + request.url.query if request.url.query else "")
        response = RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        if SESSION_COOKIE in request.cookies:
            # Expired, or its account disabled or changed: the browser may forget it.
            _delete_cookie(response, request.app.state.settings, SESSION_COOKIE)
        return response
    return JSONResponse(
        {"error": exc.code, "detail": exc.detail},
        401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def install(app: FastAPI) -> None:
    """Add the login routes, the login redirect for pages and the templates' `csrf_token`."""
    app.include_router(router)
    handler: Callable[[Request, Exception], Awaitable[Response]] = _not_authenticated
    app.add_exception_handler(NotAuthenticated, handler)
    templates: Jinja2Templates = app.state.templates
    if csrf_context not in templates.context_processors:
        templates.context_processors.append(csrf_context)
