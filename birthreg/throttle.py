"""The one throttle: failed attempts counted per key under a row lock, with growing waits.

Staff logins, enrollment codes and the registry's anonymous intake all count here, in the
`login_throttle` table, keyed by a digest of what is counted (`Policy.key`: never a username or
an address in the clear).

A `Policy` says how many attempts are free (`free`), how long the first wait is (`delay`), that
each further attempt doubles it (up to `max_delay`), and when the count is forgotten (`window`
after the first counted attempt, unless a wait is running). While a key is waiting every attempt
is refused with 429 and Retry-After (`Throttled`) and is not counted.

Two ways to count:

- `reserve` counts the attempt *before* it is judged, in a short transaction of its own that is
  committed before the slow part (a password hash, a code's HMAC) starts: concurrent guesses
  each take their row lock in turn and see the others' counts, so of 100 concurrent wrong
  passwords no more than `free` are ever checked. An attempt that then succeeds gives its count
  back (`Reservation.succeeded`, in the caller's transaction). On PostgreSQL the row lock is
  `SELECT ... FOR UPDATE` after an insert-or-nothing; on SQLite the transaction's BEGIN
  IMMEDIATE (birthreg.db) serialises writers.
- `check` (a plain read) and then `count` (in the caller's transaction, under the row lock):
  for counting what was refused after the fact, where the attempt itself is not a guess and
  what is accepted should cost no write (the registry's intake).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from birthreg.db import reading
from birthreg.errors import DomainError
from birthreg.models import LoginThrottle

_THROTTLE = LoginThrottle.__table__  # type: ignore[attr-defined]
# Built once: `check` runs before every intake, and building a statement costs more than running
# it.
_WAITS = sa_select(_THROTTLE.c.locked_until).where(
    _THROTTLE.c.key.in_(bindparam("keys", expanding=True))
)


@dataclass(frozen=True)
class Policy:
    """How attempts on one kind of key are counted (see the module text)."""

    name: str
    free: int
    window: timedelta
    delay: timedelta
    max_delay: timedelta

    def key(self, *parts: str) -> str:
        """The key for `parts` (a username, an address...): a SHA-256 digest, never the values."""
        text = "\x00".join((self.name, *parts))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def wait_after(self, attempts: int) -> timedelta | None:
        """The wait after the `attempts`-th counted attempt (None while they are free)."""
        if attempts < self.free:
            return None
        doublings = min(attempts - self.free, 40)
        wait: timedelta = self.delay * (2**doublings)
        return min(self.max_delay, wait)


class Throttled(DomainError):
    """429: this key is waiting; `retry_after` seconds until the next attempt is taken."""

    def __init__(self, code: str, detail: str, retry_after: int) -> None:
        super().__init__(code, detail, 429, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


Keys = Sequence[tuple[Policy, str]]


def _retry_after(until: datetime, moment: datetime) -> int:
    return max(1, math.ceil((until - moment).total_seconds()))


def _waiting(rows: Iterable[LoginThrottle], moment: datetime) -> int | None:
    """Seconds until every row lets an attempt through, or None when none is waiting."""
    waits = [row.locked_until for row in rows if row.locked_until and row.locked_until > moment]
    return _retry_after(max(waits), moment) if waits else None


def _locked_rows(session: Session, keys: Keys, moment: datetime) -> dict[str, LoginThrottle]:
    """The keys' rows, made when missing, locked for update (in key order: no deadlock)."""
    insert = (
        postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    names = sorted({key for _policy, key in keys})
    for name in names:
        # Two transactions may count a key's first attempt at once: insert-or-nothing, then lock.
        session.execute(
            insert(LoginThrottle)
            .values(key=name, failures=0, window_started_at=moment, locked_until=None)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    rows = session.exec(
        select(LoginThrottle)
        .where(col(LoginThrottle.key).in_(names))
        .order_by(col(LoginThrottle.key))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.key: row for row in rows}


def _count(policy: Policy, row: LoginThrottle, moment: datetime) -> datetime | None:
    """Count one attempt on row; the wait it starts (None while attempts are free)."""
    waiting = row.locked_until is not None and row.locked_until > moment
    if not waiting and row.window_started_at + policy.window <= moment:
        row.failures = 0
        row.window_started_at = moment
        row.locked_until = None
    row.failures += 1
    wait = policy.wait_after(row.failures)
    if wait is not None:
        row.locked_until = moment + wait
        return row.locked_until
    return None


@dataclass
class Reservation:
    """Attempts counted by `reserve`; `succeeded` gives them back."""

    keys: Keys
    moment: datetime
    #: The wait each key's count started (to lift it again when the attempt succeeds).
    started: dict[str, datetime | None] = field(default_factory=dict)

    def succeeded(self, session: Session, *, forget: Iterable[str] = ()) -> None:
        """The attempt succeeded: the keys in `forget` lose their whole count (a user's own
        successful login clears her account's count from that address), the others get this
        attempt's count back. In the caller's open transaction, else in one of its own (as
        `reserve`)."""
        if session.in_transaction():
            self._give_back(session, set(forget))
            return
        with Session(session.get_bind()) as own:
            self._give_back(own, set(forget))
            own.commit()

    def _give_back(self, session: Session, forgotten: set[str]) -> None:
        rows = _locked_rows(session, self.keys, self.moment)
        for _policy, key in self.keys:
            row = rows[key]
            if key in forgotten:
                session.delete(row)
                continue
            row.failures = max(0, row.failures - 1)
            started = self.started.get(key)
            if started is not None and row.locked_until == started:
                row.locked_until = None
            if row.failures == 0 and row.locked_until is None:
                # Nothing counted any more: no row (successes leave no trace here).
                session.delete(row)
            else:
                session.add(row)
        session.flush()


def reserve(
    session: Session, keys: Keys, *, moment: datetime, code: str, detail: str
) -> Reservation:
    """Count an attempt against every key before it is judged.

    The count is committed in a transaction of its own when `session` has none open (a request
    that has not used its session yet: the routes). Inside an open transaction (a script that
    enrolls as part of its own work) it counts there instead: on SQLite a transaction of its own
    would wait for that very one. Raises Throttled(code, detail) without counting when any key
    is waiting."""
    if session.in_transaction():
        return _reserve(session, keys, moment, code, detail)
    with Session(session.get_bind()) as own:
        try:
            reservation = _reserve(own, keys, moment, code, detail)
        except Throttled:
            own.rollback()
            raise
        own.commit()
    return reservation


def _reserve(
    session: Session, keys: Keys, moment: datetime, code: str, detail: str
) -> Reservation:
    rows = _locked_rows(session, keys, moment)
    retry_after = _waiting(rows.values(), moment)
    if retry_after is not None:
        raise Throttled(code, detail, retry_after)
    reservation = Reservation(keys, moment)
    for policy, key in keys:
        reservation.started[key] = _count(policy, rows[key], moment)
        session.add(rows[key])
    session.flush()
    return reservation


def check(engine: Engine, keys: Keys, *, moment: datetime, code: str, detail: str) -> None:
    """Raise Throttled when any key is waiting (a plain read: no lock, no write)."""
    with reading(engine) as connection:
        rows = connection.execute(_WAITS, {"keys": [key for _policy, key in keys]}).all()
    waits = [until for (until,) in rows if until is not None and until > moment]
    if waits:
        raise Throttled(code, detail, _retry_after(max(waits), moment))


def count(session: Session, keys: Keys, *, moment: datetime) -> None:
    """Count a failed attempt against every key, in the caller's transaction."""
    rows = _locked_rows(session, keys, moment)
    for policy, key in keys:
        _count(policy, rows[key], moment)
        session.add(rows[key])
    session.flush()
