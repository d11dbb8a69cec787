"""birthreg.throttle: policies, reserving before judging, checking and counting refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from birthreg import throttle
from birthreg.models import LoginThrottle, now

POLICY = throttle.Policy(
    "test:key", free=3, window=timedelta(minutes=10), delay=timedelta(seconds=10),
    max_delay=timedelta(seconds=60),
)


def test_keys_are_digests_per_policy() -> None:
    key = POLICY.key("nurse", "10.0.0.1")
    assert len(key) == 64 and "nurse" not in key and "10.0.0.1" not in key
    assert key != POLICY.key("nurse10.0.0.1") != POLICY.key("10.0.0.1", "nurse")
    other = throttle.Policy("test:other", 3, POLICY.window, POLICY.delay, POLICY.max_delay)
    assert other.key("nurse", "10.0.0.1") != key


def test_waits_double_up_to_the_maximum() -> None:
    assert [POLICY.wait_after(n) for n in range(1, 3)] == [None, None]
    assert [POLICY.wait_after(n) for n in range(3, 8)] == [
        timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40),
        timedelta(seconds=60), timedelta(seconds=60),
    ]


def _reserve(app: Any, moment: Any, key: str = "k") -> throttle.Reservation:
    with Session(app.state.services.engine) as session:
        return throttle.reserve(
            session, [(POLICY, POLICY.key(key))], moment=moment, code="slow_down", detail="wait"
        )


def test_reserve_counts_and_refuses_while_waiting(client: Any, app: Any, db: Session) -> None:
    moment = now()
    for _ in range(POLICY.free):
        _reserve(app, moment)
    with pytest.raises(throttle.Throttled) as waiting:
        _reserve(app, moment)
    assert (waiting.value.status, waiting.value.code, waiting.value.retry_after) == (
        429, "slow_down", 10,
    )
    assert waiting.value.headers == {"Retry-After": "10"}
    row = db.get(LoginThrottle, POLICY.key("k"))
    assert row is not None and row.failures == POLICY.free  # the refused one is not counted
    # Other keys are not held up.
    _reserve(app, moment, key="other")
    # After the wait, one more attempt, then a wait twice as long.
    _reserve(app, moment + timedelta(seconds=10))
    with pytest.raises(throttle.Throttled) as longer:
        _reserve(app, moment + timedelta(seconds=11))
    assert longer.value.retry_after == 19


def test_counts_are_forgotten_after_the_window(client: Any, app: Any) -> None:
    moment = now()
    for _ in range(POLICY.free - 1):
        _reserve(app, moment)
    later = moment + POLICY.window
    for _ in range(POLICY.free - 1):
        _reserve(app, later)
    _reserve(app, later)  # the third within the new window: a wait starts
    with pytest.raises(throttle.Throttled):
        _reserve(app, later)


def test_a_success_gives_its_count_back(client: Any, app: Any, db: Session) -> None:
    moment = now()
    for _ in range(POLICY.free - 1):
        _reserve(app, moment)
    last = _reserve(app, moment)  # this one started a wait...
    with Session(app.state.services.engine) as session:
        last.succeeded(session)  # ...and succeeded: the wait is lifted, the count given back
    db.expire_all()
    row = db.get(LoginThrottle, POLICY.key("k"))
    assert row is not None and row.failures == POLICY.free - 1 and row.locked_until is None
    reservation = _reserve(app, moment)
    with Session(app.state.services.engine) as session:
        session.exec(select(LoginThrottle)).all()  # an open transaction: counted in it
        reservation.succeeded(session, forget=[POLICY.key("k")])
        session.commit()
    db.expire_all()
    assert db.get(LoginThrottle, POLICY.key("k")) is None


def test_check_reads_and_count_counts_in_the_callers_transaction(
    client: Any, app: Any, db: Session
) -> None:
    keys = [(POLICY, POLICY.key("address"))]
    moment = now()
    for _ in range(POLICY.free):
        throttle.check(app.state.services.engine, keys, moment=moment, code="c", detail="d")
        with Session(app.state.services.engine) as session:
            throttle.count(session, keys, moment=moment)
            session.commit()
    with pytest.raises(throttle.Throttled):
        throttle.check(app.state.services.engine, keys, moment=moment, code="c", detail="d")
    # A count in a transaction that is rolled back is not kept.
    with Session(app.state.services.engine) as session:
        throttle.count(session, [(POLICY, POLICY.key("other"))], moment=moment)
        session.rollback()
    assert db.get(LoginThrottle, POLICY.key("other")) is None
