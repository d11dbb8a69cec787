"""Delay from an event to its e-mail reaching the SMTP server: the serving process's sender.

An in-process aiosmtpd server on 127.0.0.1 takes the mail. The background sender runs as in
`birthreg serve` (woken by the commit that queued the message). Each event is queued and
committed on its own, as the registry's transactions do, when the sender is idle, and the time
from that commit to the server's DATA is measured (p50, p99); then a burst of events committed
at once, timed until the last is delivered (messages per second). SMS go to the development
sink meanwhile (a row each).
SQLite by default, PostgreSQL with BIRTHREG_BENCH_DATABASE_URL (an empty database).

    python bench/notify.py [--n 200] [--burst 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session

from birthreg.config import Settings
from birthreg.db import make_engine, migrate
from birthreg.models import EventKind, RegistryOffice, Submission, now
from birthreg.notify import outbox
from birthreg.notify.sender import BackgroundSender, Sender
from birthreg.packed import plain

DOSSIER = {
    "medical_record": {"document": {"mother": {"surname": "Әбілқасымова", "given_name": "Гүлнұр"}}},
    "application": {
        "document": {
            "child": {"surname": "Әбілқасымова", "given_name": "Айару"},
            "contact": {"email": "mother@example.kz", "phone": "+7 701 234 5678"},
            "language": "kk",
        }
    },
}


class Arrivals:
    """An aiosmtpd handler that notes when each Message-ID arrived (perf_counter)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.perf_counter()
        content = envelope.content.decode("utf-8", "replace")
        message_id = next(
            line.split(":", 1)[1].strip() for line in content.splitlines()
            if line.lower().startswith("message-id:")
        )
        with self.changed:
            self.at[message_id] = arrived
            self.changed.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.at) >= count, timeout):
                raise RuntimeError(f"only {len(self.at)} of {count} messages arrived")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _submission(engine: Any) -> str:
    with Session(engine) as session:
        office = RegistryOffice(code="B", bin="990140000017", name="bench", seal_serial="1",
                                created_at=now())
        session.add(office)
        session.flush()
        assert office.id is not None
        submission = Submission(
            id=str(uuid.uuid4()), registry_office_id=office.id, dossier=plain(json.dumps(DOSSIER)),
            dossier_sha256="0" * 64, medical_record_id="bench", medical_record_sha256="0" * 64,
            application_id="bench", facility_bin="050140000011", mother_iin="940315400014",
            child_born_at=now(), child_sex="F", birth_order=1, report=plain("{}"),
            receipt=plain("{}"), received_at=now(),
        )
        session.add(submission)
        session.commit()
        return submission.id


def _queue(engine: Any, submission_id: str, count: int, prefix: str) -> tuple[list[str], float]:
    """Queue `count` events in one transaction; their Message-IDs and the commit's time."""
    with Session(engine) as session:
        ids = [
            outbox.record(session, EventKind.COPY_ISSUED, submission_id, moment=now(),
                          object_id=f"{prefix}-{index}", certificate_id="bench-certificate")
            for index in range(count)
        ]
        session.commit()
        committed = time.perf_counter()
    return [f"<{event}@birthreg.test>" for event in ids], committed


_PENDING = text("SELECT count(*) FROM notify_outbox WHERE state = 'pending'")


def _wait_until_idle(engine: Any) -> None:
    """Until the sender has written the last outcome (the SMS, the state): each event is then
    measured alone, not behind the tail of the one before."""
    while True:
        with engine.connect() as connection:
            if connection.execute(_PENDING).scalar_one() == 0:
                return
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    arrivals = Arrivals()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="birthreg-bench-") as tmp:
        database_url = os.environ.get("BIRTHREG_BENCH_DATABASE_URL") or (
            f"sqlite:///{tmp}/bench.sqlite3"
        )
        settings = Settings(
            data_dir=Path(tmp) / "data", database_url=database_url,
            base_url="http://bench.test", smtp_url=SecretStr(f"smtp://127.0.0.1:{port}"),
            _env_file=None,  # type: ignore[call-arg]
        )
        engine = make_engine(database_url)
        migrate(engine)
        submission_id = _submission(engine)
        server = Controller(arrivals, hostname="127.0.0.1", port=port)
        server.start()
        sender = BackgroundSender(Sender(engine, settings))
        sender.start()
        try:
            delays = []
            for index in range(args.n):
                [message_id], committed = _queue(engine, submission_id, 1, f"one-{index}")
                arrivals.wait_for(index + 1)
                delays.append(arrivals.at[message_id] - committed)
                _wait_until_idle(engine)
            ids, committed = _queue(engine, submission_id, args.burst, "burst")
            arrivals.wait_for(args.n + args.burst)
            burst = max(arrivals.at[i] for i in ids) - committed
        finally:
            sender.stop()
            server.stop()
            engine.dispose()

    delays.sort()
    p50 = delays[len(delays) // 2]
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"bench/notify.py  n={args.n} burst={args.burst}  "
        f"db={'postgresql' if 'postgresql' in database_url else 'sqlite'}  "
        f"python {platform.python_version()}  {datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"event commit → SMTP DATA  p50 / p99   {p50 * 1e3:7.2f} / {p99 * 1e3:7.2f} ms")
    print(f"burst of {args.burst} committed at once  {args.burst / burst:7.0f} messages/s")
    print(json.dumps({
        "p50_ms": round(p50 * 1e3, 2),
        "p99_ms": round(p99 * 1e3, 2),
        "burst_per_s": round(args.burst / burst, 1),
    }))


if __name__ == "__main__":
    main()
