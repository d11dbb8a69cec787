"""Server time per registration: act record number, child IIN, certificate seal, audit.

Receives N dossiers (a new mother each) into a fresh service, then times `register_submission`
for each in its own transaction (what the clerk's POST …/register runs, without HTTP), and, in
the same run, one raw ECDSA P-256 signature (the certificate's QR seal needs one) for scale.
Where the time goes is measured in the same run: the statements (from sending each to having
its answer), the COMMIT, and the rest (our Python and SQLAlchemy's around the statements), with
this process's CPU time (on a busy machine the wall time also counts waiting for a core); and
two floors: one append and fsync of 4 KiB in the same directory (a SQLite COMMIT's), and one
`SELECT 1` through the driver alone (each statement's).
Goal (issue 4): p50 under 5 ms. SQLite by default; PostgreSQL with BIRTHREG_BENCH_DATABASE_URL,
in a schema of its own that is dropped at the end (the database's other contents stay as they
are).

    python bench/registration.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _database import bench_database  # noqa: E402
from registry import factories  # noqa: E402  (the tests' dossier factories)

from birthreg.bootstrap import initialise  # noqa: E402
from birthreg.config import Settings  # noqa: E402
from birthreg.main import create_app  # noqa: E402
from birthreg.registry.intake import receive_dossier  # noqa: E402
from birthreg.registry.registration import register_submission  # noqa: E402
from birthreg.registry.service import registry_for  # noqa: E402
from birthreg.services import app_services  # noqa: E402


def received(app: Any, n: int) -> list[str]:
    """N dossiers of distinct mothers, received and stored; their submission ids."""
    registry = registry_for(app_services(app))
    ids = []
    for index in range(n):
        mother = factories.issue_person(app, factories.person(2000 + index * 3))
        body = json.dumps(factories.good_dossier(app, mother)).encode()
        with Session(app_services(app).engine) as session:
            ids.append(receive_dossier(session, registry, body).submission_id)
            session.commit()
    return ids


def raw_sign_seconds(rounds: int = 2000) -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    start = time.perf_counter()
    for _ in range(rounds):
        key.sign(b"x" * 300, ec.ECDSA(hashes.SHA256()))
    return (time.perf_counter() - start) / rounds


def raw_fsync_seconds(directory: str, rounds: int = 200) -> float:
    """One 4 KiB append and fsync in `directory`: the floor of a SQLite COMMIT there (WAL,
    synchronous=FULL: each commit appends to the log and waits for the disk)."""
    path = Path(directory) / "fsync.probe"
    with path.open("ab") as probe:
        start = time.perf_counter()
        for _ in range(rounds):
            probe.write(b"x" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
        elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed / rounds


def raw_round_trip_seconds(engine: Any, rounds: int = 300) -> float:
    """One `SELECT 1` through the driver alone (no SQLAlchemy): the floor of each statement."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        start = time.perf_counter()
        for _ in range(rounds):
            cursor.execute("SELECT 1")
            cursor.fetchall()
        elapsed = time.perf_counter() - start
        cursor.close()
    finally:
        connection.close()
    return elapsed / rounds


class StatementClock:
    """Counts the statements an engine sends and the time from sending each to its answer.
    COMMIT is not counted, nor PostgreSQL's BEGIN (psycopg sends it itself); SQLite's BEGIN
    IMMEDIATE is."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.count = 0
        self.seconds = 0.0
        self._started = 0.0

    def _before(self, *_: object) -> None:
        self.count += 1
        self._started = time.perf_counter()

    def _after(self, *_: object) -> None:
        self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> StatementClock:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def registrations(app: Any, ids: list[str]) -> dict[str, list[float]]:
    """Register each submission in its own transaction: per registration, the total, this
    process's CPU time in it, the statements' time, the COMMIT's, and their count."""
    registry = registry_for(app_services(app))
    measured: dict[str, list[float]] = {
        "total": [], "cpu": [], "statements": [], "commit": [], "count": []
    }
    with StatementClock(app_services(app).engine) as clock:
        for submission_id in ids:
            count, statement_seconds = clock.count, clock.seconds
            cpu = time.process_time()
            started = time.perf_counter()
            with Session(app_services(app).engine) as session:
                register_submission(
                    session, registry, submission_id, actor="system", role="system", staff_id=None
                )
                committing = time.perf_counter()
                session.commit()
                committed = time.perf_counter()
            measured["total"].append(time.perf_counter() - started)
            measured["cpu"].append(time.process_time() - cpu)
            measured["statements"].append(clock.seconds - statement_seconds)
            measured["commit"].append(committed - committing)
            measured["count"].append(clock.count - count)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="birthreg-bench-") as tmp, bench_database(
        tmp
    ) as database_url:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=database_url,
            base_url="http://bench.test",
            _env_file=None,  # type: ignore[call-arg]
        )
        initialise(settings)
        app = create_app(settings)
        ids = received(app, args.n)
        raw_sign = raw_sign_seconds()
        measured = registrations(app, ids)
        floors = {
            "sign": raw_sign,
            "fsync": raw_fsync_seconds(tmp),
            "round_trip": raw_round_trip_seconds(app_services(app).engine),
        }
        app_services(app).engine.dispose()
    report(measured, floors, make_url(database_url).get_backend_name(), args.n)


def report(
    measured: dict[str, list[float]], floors: dict[str, float], backend: str, n: int
) -> None:
    raw_sign, raw_fsync, round_trip = floors["sign"], floors["fsync"], floors["round_trip"]
    totals = sorted(measured["total"])
    p50 = totals[len(totals) // 2]
    p99 = totals[min(len(totals) - 1, int(len(totals) * 0.99))]
    statements = statistics.median(measured["statements"])
    commit = statistics.median(measured["commit"])
    rest = statistics.median(
        t - s - c
        for t, s, c in zip(
            measured["total"], measured["statements"], measured["commit"], strict=True
        )
    )
    cpu = statistics.median(measured["cpu"])
    count = sum(measured["count"]) / len(measured["count"])
    print(
        f"bench/registration.py  n={n}  db={backend}  "
        f"python {platform.python_version()}  {datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"registration p50 / p99   {p50 * 1e3:6.2f} / {p99 * 1e3:6.2f} ms  (goal p50 < 5)")
    print(
        f"  of which (medians)     statements {statements * 1e3:.2f} ms, COMMIT "
        f"{commit * 1e3:.2f} ms, the rest (Python) {rest * 1e3:.2f} ms; this process's CPU "
        f"{cpu * 1e3:.2f} ms"
    )
    print(f"raw ECDSA P-256 sign     {raw_sign * 1e3:6.3f} ms  (p50 = {p50 / raw_sign:.0f}× it)")
    print(f"raw 4 KiB append + fsync {raw_fsync * 1e3:6.3f} ms  (here; SQLite's COMMIT floor)")
    print(f"raw SELECT 1 round trip  {round_trip * 1e3:6.3f} ms  (the driver alone)")
    print(f"statements / registration {count:5.1f}  (+ COMMIT, + BEGIN on PG)")
    print(
        json.dumps(
            {
                "p50_ms": round(p50 * 1e3, 2),
                "p99_ms": round(p99 * 1e3, 2),
                "statements_ms": round(statements * 1e3, 2),
                "commit_ms": round(commit * 1e3, 2),
                "rest_ms": round(rest * 1e3, 2),
                "cpu_ms": round(cpu * 1e3, 2),
                "raw_sign_ms": round(raw_sign * 1e3, 3),
                "raw_fsync_ms": round(raw_fsync * 1e3, 3),
                "raw_round_trip_ms": round(round_trip * 1e3, 3),
                "statements": round(count, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
