"""Throttled staff logins: per account and address with growing waits, per address, under
concurrency, and with addresses that a client cannot choose."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from birthreg.auth import LoginRefused, authenticate, passwords
from birthreg.auth.login import LOGIN_ADDRESS, LOGIN_PAIR, throttle_keys
from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.main import create_app
from birthreg.models import LoginThrottle, Role, now

from .helpers import PASSWORD, add_staff, get_token, page_login

WRONG = "wrong password!"


def attempt(
    app: FastAPI, moment: datetime, password: str = WRONG,
    *, username: str = "ward1", address: str = "10.0.0.1",
) -> tuple[int, int | None]:
    """(status, Retry-After) of one login at `moment` (200 for a success)."""
    with Session(app.state.services.engine) as session:
        try:
            authenticate(
                session, username=username, password=password, client_address=address,
                via="api", moment=moment,
            )
        except LoginRefused as refused:
            session.commit()
            return refused.status, refused.retry_after
        session.commit()
        return 200, None


def test_five_failures_make_the_account_wait_from_that_address(
    client: TestClient, app: FastAPI, db: Session
) -> None:
    add_staff(app, "ward1", Role.WARD)
    for _ in range(LOGIN_PAIR.free):
        assert get_token(client, "ward1", "wrong password!").status_code == 401
    waiting = get_token(client, "ward1")  # the right password, too soon
    assert waiting.status_code == 429
    assert waiting.json()["error"] == "too_many_attempts"
    assert 25 <= int(waiting.headers["retry-after"]) <= 30

    # The keys are digests: neither the username nor the address is stored.
    pair_key, address_key = (key for _policy, key in throttle_keys("ward1", "testclient"))
    rows = {row.key: row for row in db.exec(select(LoginThrottle)).all()}
    assert set(rows) == {pair_key, address_key}
    assert all(len(key) == 64 and "ward1" not in key for key in rows)
    assert rows[pair_key].failures == LOGIN_PAIR.free

    # When the wait is over, the right password works and clears the account's count here.
    db.execute(text("UPDATE login_throttle SET locked_until = NULL"))
    assert get_token(client, "ward1").status_code == 200
    db.expire_all()
    assert db.get(LoginThrottle, pair_key) is None
    address = db.get(LoginThrottle, address_key)
    assert address is not None and address.failures == LOGIN_PAIR.free  # the success refunded


def test_waits_double_after_each_further_failure(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    start = now()
    assert [attempt(app, start + timedelta(seconds=s))[0] for s in range(5)] == [401] * 5
    # The fifth failure (at start + 4 s) starts a 30-second wait, the sixth one of 60, then 120.
    clock = start + timedelta(seconds=4)
    for wait in (30, 60, 120, 240):
        assert attempt(app, clock + timedelta(seconds=wait - 1)) == (429, 1)
        assert attempt(app, clock + timedelta(seconds=wait - 1), PASSWORD) == (429, 1)
        clock += timedelta(seconds=wait)
        assert attempt(app, clock) == (401, None)
    assert attempt(app, clock + timedelta(seconds=1), PASSWORD) == (429, 479)
    # Past the wait the right password works, and the count starts again.
    assert attempt(app, clock + timedelta(seconds=480), PASSWORD) == (200, None)
    later = clock + timedelta(seconds=481)
    assert [attempt(app, later)[0] for _ in range(5)] == [401] * 5


def test_waits_stop_growing_at_an_hour(client: TestClient, app: FastAPI) -> None:
    assert LOGIN_PAIR.wait_after(4) is None
    assert LOGIN_PAIR.wait_after(5) == timedelta(seconds=30)
    assert LOGIN_PAIR.wait_after(12) == timedelta(hours=1)
    assert LOGIN_PAIR.wait_after(10_000) == timedelta(hours=1)


def test_a_stranger_cannot_lock_the_owner_out(client: TestClient, app: FastAPI) -> None:
    """Hammering an account from elsewhere slows the stranger down, not its owner."""
    add_staff(app, "ward1", Role.WARD)
    stranger = TestClient(app, base_url="http://testserver", client=("203.0.113.66", 40000))
    owner = TestClient(app, base_url="http://testserver", client=("10.1.2.3", 50000))
    answers = [get_token(stranger, "ward1", f"guess {n} password").status_code for n in range(30)]
    assert answers[: LOGIN_PAIR.free] == [401] * LOGIN_PAIR.free
    assert set(answers[LOGIN_PAIR.free :]) == {429}
    # Her right password works, from her own desk, through the API and the login page.
    assert get_token(owner, "ward1").status_code == 200
    assert page_login(owner, "ward1").status_code == 303
    # Even a few typos of her own do not lock her out meanwhile.
    assert get_token(owner, "ward1", "typo password").status_code == 401
    assert get_token(owner, "ward1").status_code == 200


def test_unknown_usernames_are_counted_the_same(client: TestClient) -> None:
    for _ in range(LOGIN_PAIR.free):
        assert get_token(client, "nobody", "wrong password!").status_code == 401
    assert get_token(client, "nobody", "wrong password!").status_code == 429


def test_an_address_is_throttled_across_usernames(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    for number in range(LOGIN_ADDRESS.free):
        assert get_token(client, f"guess{number}", "wrong password!").status_code == 401
    refused = get_token(client, "ward1")
    assert refused.status_code == 429
    assert 14 * 60 <= int(refused.headers["retry-after"]) <= 15 * 60
    # Another address is not affected.
    elsewhere = TestClient(app, base_url="http://testserver", client=("10.1.2.3", 50000))
    assert get_token(elsewhere, "ward1").status_code == 200


def test_successful_logins_do_not_add_up(client: TestClient, app: FastAPI, db: Session) -> None:
    """A ward's desktops share an address: their good logins never count against it."""
    add_staff(app, "ward1", Role.WARD)
    for _ in range(LOGIN_ADDRESS.free + 5):
        assert get_token(client, "ward1").status_code == 200
    assert db.exec(select(LoginThrottle)).all() == []


# --- concurrency: every guess is counted before its password is checked ---------------------


class CountingHasher(PasswordHasher):
    """Cheap Argon2id that counts the passwords it checks."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.checked = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.checked += 1
        return super().verify(hash, password)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingHasher]:
    hasher = CountingHasher()
    monkeypatch.setattr(passwords, "password_hasher", hasher)
    yield hasher


def _all_at_once(app: FastAPI, usernames: list[str]) -> list[int]:
    barrier = threading.Barrier(len(usernames))
    statuses: list[int] = []
    lock = threading.Lock()
    moment = now()

    def guess(username: str) -> None:
        barrier.wait()
        status, _ = attempt(app, moment, username=username, address="198.51.100.7")
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=(name,)) for name in usernames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(statuses) == len(usernames)
    return statuses


def test_concurrent_wrong_passwords_for_one_account(
    client: TestClient, app: FastAPI, counting: CountingHasher
) -> None:
    add_staff(app, "ward1", Role.WARD)
    statuses = _all_at_once(app, ["ward1"] * 100)
    assert counting.checked <= LOGIN_PAIR.free
    assert sorted(statuses) == [401] * LOGIN_PAIR.free + [429] * (100 - LOGIN_PAIR.free)


def test_concurrent_wrong_passwords_from_one_address(
    client: TestClient, app: FastAPI, counting: CountingHasher
) -> None:
    statuses = _all_at_once(app, [f"guess{number}" for number in range(60)])
    assert counting.checked <= LOGIN_ADDRESS.free
    assert statuses.count(401) == LOGIN_ADDRESS.free and statuses.count(429) == 40


# --- the client's address: X-Forwarded-For only from a trusted proxy --------------------------


def test_a_spoofed_forwarded_header_changes_nothing(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    local = TestClient(app, base_url="http://testserver", client=("127.0.0.1", 40000))
    answers = [
        get_token_from(local, f"203.0.113.{number}").status_code
        for number in range(LOGIN_PAIR.free + 3)
    ]
    # Every guess counted under 127.0.0.1, whatever the header said.
    assert answers == [401] * LOGIN_PAIR.free + [429] * 3


def get_token_from(client: TestClient, forwarded_for: str, password: str = WRONG) -> Any:
    return client.post(
        "/api/v1/auth/token",
        data={"username": "ward1", "password": password, "grant_type": "password"},
        headers={"X-Forwarded-For": forwarded_for},
    )


def test_a_trusted_proxy_is_believed(service_settings: Settings) -> None:
    settings = service_settings.model_copy(update={"trusted_proxies": ("10.0.0.0/24",)})
    initialise(settings)
    proxied = create_app(settings)
    with TestClient(proxied, base_url="http://testserver", client=("10.0.0.2", 40000)) as proxy:
        add_staff(proxied, "ward1", Role.WARD)
        # Guesses from many clients behind the proxy: each its own count.
        answers = [get_token_from(proxy, f"203.0.113.{n}").status_code for n in range(8)]
        assert answers == [401] * 8
        for _ in range(LOGIN_PAIR.free - 1):
            assert get_token_from(proxy, "203.0.113.200").status_code == 401
        assert get_token_from(proxy, "203.0.113.200", PASSWORD).status_code == 200
        # One client hammering behind it waits, the others do not.
        for _ in range(LOGIN_PAIR.free):
            get_token_from(proxy, "203.0.113.99")
        assert get_token_from(proxy, "203.0.113.99", PASSWORD).status_code == 429
        assert get_token_from(proxy, "203.0.113.98", PASSWORD).status_code == 200
