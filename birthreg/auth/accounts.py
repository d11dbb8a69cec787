"""Staff accounts: add, list, disable and enable, change role, reset password.

The admin's pages and API and `birthreg users ...` all come here. Every change is audited
(`staff.created`, `staff.disabled`, `staff.enabled`, `staff.role_changed`,
`staff.password_reset`) by the admin who made it (or "system" from the command line), naming the
account by its id and username and nothing more personal.

A change takes effect on the next request: every request reads the account again, so a disabled
account's tokens and sessions stop at once, a role change refuses tokens of the old role, and a
new password ends every session made with the old one (tokens carry a fingerprint of the
password hash, `credential_fingerprint`).

The last admin stays: disabling or demoting the only enabled admin is refused (409 last_admin),
so that no one can lock the service out of its own accounts. The check holds the admins' rows
(PostgreSQL row locks; SQLite serialises writers), so two admins demoting each other at once
cannot both succeed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from birthreg import audit
from birthreg.auth.passwords import hash_password
from birthreg.errors import DomainError, NotFound
from birthreg.models import Facility, Role, StaffUser, now

logger = logging.getLogger("birthreg.auth")

USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9._-]{3,64}$")
MAX_DISPLAY_NAME: Final = 128


def actor_of(user: StaffUser) -> str:
    """The audit trail's name for a staff member."""
    return f"staff:{user.id}"


def normalise_username(username: str) -> str:
    """Usernames are compared in lower case, without surrounding spaces."""
    return username.strip().lower()


def credential_fingerprint(user: StaffUser) -> str:
    """A short digest of the account's password hash: tokens carry it, so that a new password
    ends the sessions made with the old one. (The hash is itself one-way; this reveals less.)"""
    return hashlib.sha256(user.password_hash.encode("ascii")).hexdigest()[:16]


def _audit(
    session: Session,
    user: StaffUser,
    action: str,
    by: StaffUser | None,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record(
        session,
        actor=actor_of(by) if by else "system",
        role=by.role if by else "system",
        action=action,
        object_type="staff_user",
        object_id=str(user.id),
        details={"username": user.username, **(details or {})},
    )


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

    Raises DomainError: 400 invalid_username, invalid_display_name, weak_password,
    invalid_facility; 409 username_taken.
    """
    name = normalise_username(username)
    if not USERNAME_PATTERN.match(name):
        raise DomainError(
            "invalid_username",
            "a username has 3 to 64 characters: lower-case Latin letters, digits, '.', '_', '-'",
        )
    role = Role(role)
    display_name = display_name.strip()
    if len(display_name) > MAX_DISPLAY_NAME or any(not c.isprintable() for c in display_name):
        raise DomainError(
            "invalid_display_name", "a display name has at most 128 printable characters"
        )
    if facility_id is not None and session.get(Facility, facility_id) is None:
        raise DomainError("invalid_facility", "there is no facility with that id")
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
    _audit(session, user, "staff.created", by, {"role": role.value, "facility_id": facility_id})
    logger.info("staff account %s created (role %s)", user.id, role.value)
    return user


def list_users(session: Session) -> list[StaffUser]:
    """Every staff account, by username."""
    return list(session.exec(select(StaffUser).order_by(col(StaffUser.username))).all())


def get_user(session: Session, username: str, *, for_update: bool = False) -> StaffUser:
    """The account with this username; 404 user_not_found."""
    name = normalise_username(username)
    user = None
    if USERNAME_PATTERN.match(name):
        statement = select(StaffUser).where(StaffUser.username == name)
        if for_update:
            _one_change_at_a_time(session)
            statement = statement.with_for_update()
        user = session.exec(statement).first()
    if user is None:
        raise NotFound("user_not_found", "there is no staff account with that username")
    return user


def _one_change_at_a_time(session: Session) -> None:
    """Account changes take turns (PostgreSQL: a transaction-scoped advisory lock; SQLite's
    BEGIN IMMEDIATE does so already). Two admins demoting each other at once each locked their
    own row and then waited for the other's (_keep_an_admin locks every admin): a deadlock, one
    of them a 500. They are rare; one at a time, the second sees the first's change."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(727275)"))


def _keep_an_admin(session: Session, user: StaffUser) -> None:
    """Refuse (409 last_admin) to take the admin role away from the last enabled admin."""
    if user.role != Role.ADMIN.value or user.disabled:
        return
    admins = session.exec(
        select(StaffUser.id)
        .where(StaffUser.role == Role.ADMIN.value)
        .where(col(StaffUser.disabled).is_(False))
        .order_by(col(StaffUser.id))
        .with_for_update()
    ).all()
    if not [admin for admin in admins if admin != user.id]:
        raise DomainError(
            "last_admin",
            "this is the last enabled admin account: add or enable another admin first",
            409,
        )


def change_role(session: Session, user: StaffUser, role: Role, *, by: StaffUser | None) -> None:
    """Give user another role (audited); tokens issued for the old role stop working."""
    role = Role(role)
    previous = user.role
    if previous == role.value:
        return
    if role is not Role.ADMIN:
        _keep_an_admin(session, user)
    user.role = role.value
    session.add(user)
    _audit(session, user, "staff.role_changed", by, {"from": previous, "to": role.value})
    session.flush()


def set_disabled(
    session: Session, user: StaffUser, disabled: bool, *, by: StaffUser | None
) -> None:
    """Disable or enable an account (audited); a disabled account's tokens stop working."""
    if user.disabled == disabled:
        return
    if disabled:
        _keep_an_admin(session, user)
    user.disabled = disabled
    session.add(user)
    _audit(session, user, "staff.disabled" if disabled else "staff.enabled", by)
    session.flush()


def reset_password(
    session: Session, user: StaffUser, password: str, *, by: StaffUser | None
) -> None:
    """Set a new password (audited; 400 weak_password); the account's sessions end."""
    user.password_hash = hash_password(password)
    session.add(user)
    _audit(session, user, "staff.password_reset", by)
    session.flush()


def facility_choices(session: Session) -> list[Facility]:
    """The facilities a ward account may be attached to."""
    return list(session.exec(select(Facility).order_by(col(Facility.name))).all())


def facility_of(session: Session, user: StaffUser) -> Facility | None:
    return session.get(Facility, user.facility_id) if user.facility_id is not None else None
