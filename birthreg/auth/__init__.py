"""Staff accounts and who may do what: passwords, tokens and sessions, CSRF, throttled logins,
role checks.

- `passwords`  the password policy (staff and key-file passwords), Argon2id hashing
- `accounts`   add, list, disable, change role, reset password (audited; the last admin stays)
- `sessions`   the staff bearer token, the session cookie and the CSRF tokens (itsdangerous)
- `login`      checking a login, throttled per account+address and per address
- `guard`      the request's staff user, the CSRF check, role dependencies, the route table
- `routes`     /login, /logout, /api/v1/auth/token, /api/v1/auth/me; `install`

Roles: `ward`, `clerk`, `registrar` (a senior clerk: whatever a clerk may do), `admin` (accounts
only). The names below are what the other domains use.
"""

from birthreg.auth.accounts import (
    actor_of,
    change_role,
    create_staff_user,
    normalise_username,
    reset_password,
    set_disabled,
)
from birthreg.auth.guard import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    AdminStaff,
    ClerkStaff,
    CurrentStaff,
    NotAuthenticated,
    RegistrarStaff,
    RoleCheck,
    WardStaff,
    current_staff,
    require_role,
    route_roles,
    route_table,
)
from birthreg.auth.login import LoginRefused, authenticate
from birthreg.auth.passwords import hash_password, verify_password
from birthreg.auth.routes import LOGIN_CSRF_COOKIE, ROLE_HOMES, install, role_home
from birthreg.auth.sessions import TokenClaims, issue_token, read_token

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "ROLE_HOMES",
    "SESSION_COOKIE",
    "AdminStaff",
    "ClerkStaff",
    "CurrentStaff",
    "LoginRefused",
    "NotAuthenticated",
    "RegistrarStaff",
    "RoleCheck",
    "TokenClaims",
    "WardStaff",
    "actor_of",
    "authenticate",
    "change_role",
    "create_staff_user",
    "current_staff",
    "hash_password",
    "install",
    "issue_token",
    "normalise_username",
    "read_token",
    "require_role",
    "reset_password",
    "role_home",
    "route_roles",
    "route_table",
    "set_disabled",
    "verify_password",
]
