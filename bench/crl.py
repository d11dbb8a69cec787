"""The issuing CA's CRL at national scale: N revoked certificates (100,000 by default).

Two timings, each the median of a few rounds: `build`, the TEST CA making and signing the CRL from
N revocations (`CertificationAuthority.build_crl`: the entries, the whole list handed to
cryptography's builder at once, the ECDSA signature, the DER), and `service`, what the first
GET /pki/crl after a revocation does (`birthreg.pki.service.current_crl`: the revoked rows read
through their index, the CRL built, stored). Goal (issue 15): under 2 s for 100,000. Then the
cost of serving the stored CRL to later requests. SQLite by default, PostgreSQL with
BIRTHREG_BENCH_DATABASE_URL (an empty database).

    python bench/crl.py [--n 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import insert
from sqlmodel import Session

from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import IssuedCertificate
from birthreg.pki.service import current_crl, load_certification_authority
from signing.ca import RevokedCertificate

REASONS = (x509.ReasonFlags.key_compromise, x509.ReasonFlags.unspecified)


def _rows(n: int, moment: datetime) -> list[dict[str, object]]:
    return [
        {
            "serial": format(serial, "x"),
            "profile": "individual",
            "der": b"\x30\x00",  # never read to build a CRL
            "not_before": moment - timedelta(days=200),
            "not_after": moment + timedelta(days=165),
            "issued_at": moment - timedelta(days=200),
            "revoked_at": moment - timedelta(seconds=serial),
            "revocation_reason": REASONS[serial % 2].name,
        }
        for serial in range(1, n + 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    moment = datetime.now(UTC)
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
        ca = load_certification_authority(settings)
        rows = _rows(args.n, moment)
        revoked = [
            RevokedCertificate(
                serial,
                moment - timedelta(seconds=serial),
                REASONS[serial % 2],
                moment + timedelta(days=165),
            )
            for serial in range(1, args.n + 1)
        ]
        builds = []
        for round_ in range(args.rounds):
            start = time.perf_counter()
            crl = ca.build_crl(revoked, number=round_ + 1, moment=moment)
            der = crl.public_bytes(Encoding.DER)
            builds.append(time.perf_counter() - start)
        engine = make_engine(settings.database_url)
        with Session(engine) as session:
            session.execute(insert(IssuedCertificate), rows)
            session.commit()
        services, served = [], []
        for round_ in range(args.rounds):
            with Session(engine) as session:
                # A revocation has happened since the last CRL: the next request issues one.
                start = time.perf_counter()
                issued = current_crl(session, ca, moment + timedelta(minutes=round_ * 40))
                session.commit()
                services.append(time.perf_counter() - start)
                assert len(x509.load_der_x509_crl(issued.der)) == args.n
            with Session(engine) as session:
                start = time.perf_counter()
                current_crl(session, ca, moment + timedelta(minutes=round_ * 40, seconds=1))
                served.append(time.perf_counter() - start)
        engine.dispose()
    results = {
        "n": args.n,
        "build_s": round(statistics.median(builds), 3),
        "service_s": round(statistics.median(services), 3),
        "served_ms": round(statistics.median(served) * 1000, 2),
        "der_bytes": len(der),
    }
    print(
        f"bench/crl.py  n={args.n} rounds={args.rounds}  python {platform.python_version()}  "
        f"{platform.machine()}  {datetime.now(UTC):%Y-%m-%d}  "
        f"{'PostgreSQL' if database_url.startswith('postgresql') else 'SQLite'}"
    )
    print(f"build (CA, {args.n} entries, signed, DER)   {results['build_s']:.3f} s")
    print(f"first GET after a change (read, build, store)  {results['service_s']:.3f} s")
    print(f"later GETs (the stored CRL)                    {results['served_ms']:.2f} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
