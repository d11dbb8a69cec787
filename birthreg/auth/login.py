"""Checking a staff login, throttled so that guessing is slow and nobody else can lock you out.

Nobody is told whether a username exists: an unknown name costs the same hash as a known one and
gives the same answer, and is counted the same way.

Every attempt is counted (`birthreg.throttle.reserve`) before its password is checked, against
two keys, both digests:

- the account *and* the client address together (`LOGIN_PAIR`): five attempts are free, then
  each further one waits, 30 seconds after the fifth and twice as long after each one after it
  (up to an hour). A stranger hammering an account from elsewhere only slows himself down: the
  account's owner, from her own address, has a count of her own and logs in as usual.
- the client address alone (`LOGIN_ADDRESS`): twenty attempts within 15 minutes, then 15
  minutes' wait, whatever the usernames (a ward's desktops often share one address).

A successful login clears the account's count from that address and gives the address its
attempt back. Counting before checking holds under concurrency: of 100 wrong passwords sent at
once for one account no more than five are ever checked.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlmodel import Session, select

from birthreg import audit, throttle
from birthreg.auth import passwords
from birthreg.auth.accounts import USERNAME_PATTERN, actor_of, normalise_username
from birthreg.errors import DomainError
from birthreg.models import StaffUser, now

logger = logging.getLogger("birthreg.auth")

LOGIN_PAIR: Final = throttle.Policy(
    "staff-login:account+address",
    free=5,
    window=timedelta(hours=24),
    delay=timedelta(seconds=30),
    max_delay=timedelta(hours=1),
)
LOGIN_ADDRESS: Final = throttle.Policy(
    "staff-login:address",
    free=20,
    window=timedelta(minutes=15),
    delay=timedelta(minutes=15),
    max_delay=timedelta(minutes=15),
)


class LoginRefused(DomainError):
    """A refused login: 401 invalid_credentials, or 429 too_many_attempts with retry_after.

    The failure is audited in the session it was raised from; the caller commits it (routes
    return the error response rather than raise it, so the request session commits).
    """

    def __init__(self, code: str, detail: str, status: int, retry_after: int | None = None):
        headers = (
            {"WWW-Authenticate": "Bearer"}
            if retry_after is None
            else {"Retry-After": str(retry_after)}
        )
        super().__init__(code, detail, status, headers=headers)
        self.retry_after = retry_after


def throttle_keys(username: str, client_address: str) -> list[tuple[throttle.Policy, str]]:
    """The throttle keys a login attempt counts against (account+address, address)."""
    name = normalise_username(username)
    return [
        (LOGIN_PAIR, LOGIN_PAIR.key(name, client_address)),
        (LOGIN_ADDRESS, LOGIN_ADDRESS.key(client_address)),
    ]


def _judge(session: Session, name: str, password: str) -> tuple[StaffUser | None, str]:
    """The account and why the login fails ("" when it does not)."""
    user: StaffUser | None = None
    if USERNAME_PATTERN.match(name):
        user = session.exec(select(StaffUser).where(StaffUser.username == name)).first()
    if user is None:
        passwords.spend_a_hash(password)
        return None, "unknown_user"
    if not passwords.verify_password(user.password_hash, password):
        return user, "wrong_password"
    if user.disabled:
        return user, "disabled"
    return user, ""


def _audit_failure(
    session: Session,
    user: StaffUser | None,
    reason: str,
    *,
    via: str,
    waiting: bool,
    moment: datetime,
) -> None:
    object_id = str(user.id) if user else "unknown"
    audit.record(
        session,
        actor="anonymous",
        role="none",
        action="staff.login_failed",
        object_type="staff_user",
        object_id=object_id,
        details={"via": via, "reason": reason, "waiting": waiting},
        at=moment,
    )
    logger.info("login failed for staff %s (%s)", object_id, reason)


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

    The attempt is counted first, in a transaction of its own when `session` has none open yet
    (as in the routes: see `birthreg.throttle.reserve`). Success and failure are audited
    (`staff.login`, `staff.login_failed`) and logged by user id.
    """
    moment = moment or now()
    name = normalise_username(username)
    keys = throttle_keys(name, client_address)
    try:
        reservation = throttle.reserve(
            session,
            keys,
            moment=moment,
            code="too_many_attempts",
            detail="too many failed logins; try again later",
        )
    except throttle.Throttled as waiting:
        logger.info("login refused: throttled")
        raise LoginRefused(waiting.code, waiting.detail, 429, waiting.retry_after) from None

    user, reason = _judge(session, name, password)
    if reason or user is None:
        started_a_wait = any(until is not None for until in reservation.started.values())
        _audit_failure(session, user, reason, via=via, waiting=started_a_wait, moment=moment)
        raise LoginRefused("invalid_credentials", "wrong username or password", 401)

    reservation.succeeded(session, forget=[keys[0][1]])
    if passwords.needs_rehash(user.password_hash):
        # The fingerprint in this user's other tokens changes with the hash: they end too.
        user.password_hash = passwords.password_hasher.hash(password)
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
