"""Server time per registration: act record number, child IIN, certificate seal, audit.

Receives N dossiers (a new mother each) into a fresh service, then times `register_submission`
for each in its own transaction (what the clerk's POST …/register runs, without HTTP), and, in
the same run, one raw ECDSA P-256 signature (the certificate's QR seal needs one) for scale.
Goal (issue 4): p50 under 5 ms. SQLite by default, PostgreSQL with BIRTHREG_BENCH_DATABASE_URL.

    python bench/registration.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import event
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from registry import factories  # noqa: E402  (the tests' dossier factories)

from birthreg.bootstrap import initialise  # noqa: E402
from birthreg.config import Settings  # noqa: E402
from birthreg.db import engine_from_settings  # noqa: E402
from birthreg.main import create_app  # noqa: E402
from birthreg.registry.service import (  # noqa: E402
    receive_dossier,
    register_submission,
    registry_for,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="birthreg-bench-") as tmp:
        database_url = os.environ.get("BIRTHREG_BENCH_DATABASE_URL") or (
            f"sqlite:///{tmp}/bench.sqlite3"
        )
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=database_url,
            base_url="http://bench.test",
            _env_file=None,  # type: ignore[call-arg]
        )
        initialise(settings)
        app = create_app(settings)
        app.state.engine = engine_from_settings(settings)
        registry = registry_for(app)
        ids = []
        for index in range(args.n):
            mother = factories.issue_person(app, factories.person(2000 + index * 3))
            body = json.dumps(factories.good_dossier(app, mother)).encode()
            with Session(app.state.engine) as session:
                ids.append(receive_dossier(session, registry, body).submission_id)
                session.commit()

        key = ec.generate_private_key(ec.SECP256R1())
        start = time.perf_counter()
        for _ in range(2000):
            key.sign(b"x" * 300, ec.ECDSA(hashes.SHA256()))
        raw_sign = (time.perf_counter() - start) / 2000

        # Statements sent per registration, a machine-independent measure: COMMIT is not counted,
        # nor PostgreSQL's BEGIN (psycopg sends it itself); SQLite's BEGIN IMMEDIATE is.
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(app.state.engine, "before_cursor_execute", count)
        timings = []
        for submission_id in ids:
            started = time.perf_counter()
            with Session(app.state.engine) as session:
                register_submission(
                    session,
                    registry,
                    submission_id,
                    actor="system",
                    role="system",
                    staff_id=None,
                )
                session.commit()
            timings.append(time.perf_counter() - started)
        event.remove(app.state.engine, "before_cursor_execute", count)
        app.state.engine.dispose()

    timings.sort()
    p50 = timings[len(timings) // 2]
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"bench/registration.py  n={args.n}  "
        f"db={'postgresql' if 'postgresql' in database_url else 'sqlite'}  "
        f"python {platform.python_version()}  {datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"registration p50 / p99   {p50 * 1e3:6.2f} / {p99 * 1e3:6.2f} ms  (goal p50 < 5)")
    print(f"raw ECDSA P-256 sign     {raw_sign * 1e3:6.3f} ms  (p50 = {p50 / raw_sign:.0f}× it)")
    print(f"statements / registration {statements / len(ids):5.1f}  (+ COMMIT, + BEGIN on PG)")
    print(
        json.dumps(
            {
                "p50_ms": round(p50 * 1e3, 2),
                "p99_ms": round(p99 * 1e3, 2),
                "raw_sign_ms": round(raw_sign * 1e3, 3),
                "statements": round(statements / len(ids), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
