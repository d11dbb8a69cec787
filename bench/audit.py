"""`birthreg audit verify`'s walk: entries per second, and what a national decade would take.

Builds a chain of N entries (default 200,000) after what `birthreg init` wrote, with a checkpoint
signed by the registry seal every 1,000, then walks it the whole way and since the newest
checkpoint, as `audit verify` and `audit verify --since-checkpoint` do, and reads how much the
process's peak memory grew meanwhile (the walk streams: it should not grow with N). A decade of
a country of Kazakhstan's size is taken as 40 million entries (about 400,000 births a year and
ten entries each: the birth, enrollment, key, application, intake, review, registration, copies).
SQLite by default, PostgreSQL with BIRTHREG_BENCH_DATABASE_URL (in a schema of its own).

    python bench/audit.py [--n 200000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _database import bench_database
from sqlalchemy import insert, update
from sqlalchemy.engine import make_url
from sqlmodel import Session

from birthreg import audit
from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import AuditCheckpoint, AuditEntry, AuditHead
from birthreg.pki.seals import Seal
from birthreg.registry.service import load_office
from signing.canonical import canonicalize

DECADE = 40_000_000
BATCH = 10_000


def build_chain(engine: Any, seal: Seal, n: int) -> None:
    """N more entries on the chain (the published format: SHA-256 of the RFC 8785 array of the
    fields), a signed checkpoint at every multiple of CHECKPOINT_INTERVAL, the head moved."""
    with Session(engine) as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        seq, prev_hash = head.seq, head.entry_hash
    at = datetime(2026, 1, 1, tzinfo=UTC)
    while n > 0:
        entries, checkpoints = [], []
        for _ in range(min(BATCH, n)):
            seq += 1
            at += timedelta(seconds=7)
            entry = {
                "seq": seq, "at": at, "actor": f"staff:{seq % 97}", "role": "clerk",
                "action": "submission.opened", "object_type": "submission",
                "object_id": f"{seq:036d}", "details_sha256": "0" * 64, "prev_hash": prev_hash,
            }
            fields = [*entry.values()]
            fields[1] = at.isoformat(timespec="microseconds")
            entry["entry_hash"] = prev_hash = hashlib.sha256(canonicalize(fields)).hexdigest()
            entries.append(entry)
            if seq % audit.CHECKPOINT_INTERVAL == 0:
                checkpoints.append(asdict(audit.sign_checkpoint(seal, seq, prev_hash, at)))
        n -= len(entries)
        with engine.begin() as connection:
            connection.execute(insert(AuditEntry.__table__), entries)  # type: ignore[attr-defined]
            if checkpoints:
                connection.execute(
                    insert(AuditCheckpoint.__table__), checkpoints  # type: ignore[attr-defined]
                )
            connection.execute(
                update(AuditHead.__table__),  # type: ignore[attr-defined]
                {"seq": seq, "entry_hash": prev_hash},
            )


def timed_walk(engine: Any, seal: Seal, *, since_checkpoint: bool) -> tuple[float, Any, int]:
    """Seconds, the ChainCheck, and how much the peak resident memory grew (KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    check = audit.verify_chain(
        engine, seal_certificate=seal.certificate, since_checkpoint=since_checkpoint
    )
    elapsed = time.perf_counter() - started
    assert check.intact, check.problems
    return elapsed, check, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
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
        engine = make_engine(database_url)
        with Session(engine) as session:
            seal = load_office(session, settings).seal
        build_chain(engine, seal, args.n)
        full, full_check, full_growth = timed_walk(engine, seal, since_checkpoint=False)
        since, since_check, _ = timed_walk(engine, seal, since_checkpoint=True)
        engine.dispose()

    rate = full_check.entries / full
    # Since the newest checkpoint: that one checkpoint checked (signature, its entry), whatever
    # the trail's length, and at most one interval of entries walked at the full walk's rate.
    decade_since = since + audit.CHECKPOINT_INTERVAL / rate
    print(
        f"bench/audit.py  n={full_check.entries}  db={make_url(database_url).get_backend_name()}"
        f"  python {platform.python_version()}  {datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"full walk                {rate:,.0f} entries/s, peak memory +{full_growth:,} KiB")
    print(
        f"since the newest checkpoint  {since * 1e3:.0f} ms "
        f"({since_check.checkpoints} checkpoints checked, {since_check.entries} entries walked)"
    )
    print(
        f"a decade ({DECADE:,} entries): full walk {DECADE / rate / 60:.0f} min, "
        f"since the newest checkpoint {decade_since * 1e3:.0f} ms"
    )
    print(
        json.dumps(
            {
                "entries_per_s": round(rate),
                "full_walk_peak_kib": full_growth,
                "since_ms": round(since * 1e3),
                "decade_full_min": round(DECADE / rate / 60, 1),
                "decade_since_ms": round(decade_since * 1e3),
            }
        )
    )


if __name__ == "__main__":
    main()
