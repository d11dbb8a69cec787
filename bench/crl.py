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
import hashlib
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from sqlalchemy import insert
from sqlmodel import Session

from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import IssuedCertificate
from birthreg.pki.service import current_crl, load_certification_authority, ocsp_answer
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


def _ocsp_times(engine: Any, ca: Any, n: int, moment: datetime, rounds: int = 200) -> list[float]:
    """The responder's answer (the status read by serial, the answer signed) for random serials
    among the n revoked."""
    issuer = ca.issuing_certificate
    name_hash = hashlib.sha256(issuer.subject.public_bytes()).digest()
    key = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    key_hash = hashlib.sha256(_subject_public_key(key)).digest()
    times = []
    for _ in range(rounds):
        request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            name_hash, key_hash, random.randint(1, n), hashes.SHA256()
        ).build().public_bytes(Encoding.DER)
        with Session(engine) as session:
            start = time.perf_counter()
            answer = ocsp_answer(session, ca, request, moment)
            times.append(time.perf_counter() - start)
        assert ocsp.load_der_ocsp_response(answer).certificate_status is ocsp.OCSPCertStatus.REVOKED
    return times


def _subject_public_key(spki: bytes) -> bytes:
    """The BIT STRING of a SubjectPublicKeyInfo (what an OCSP CertID's key hash covers)."""
    from asn1crypto import keys

    return bytes(keys.PublicKeyInfo.load(spki)["public_key"].contents[1:])


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
        ocsp_times = _ocsp_times(engine, ca, args.n, moment)
        engine.dispose()
    results = {
        "n": args.n,
        "build_s": round(statistics.median(builds), 6),
        "service_s": round(statistics.median(services), 6),
        "served_ms": round(statistics.median(served) * 1000, 2),
        "der_bytes": len(der),
        "ocsp_ms": round(statistics.median(ocsp_times) * 1000, 2),
        "ocsp_p95_ms": round(sorted(ocsp_times)[int(len(ocsp_times) * 0.95)] * 1000, 2),
    }
    print(
        f"bench/crl.py  n={args.n} rounds={args.rounds}  python {platform.python_version()}  "
        f"{platform.machine()}  {datetime.now(UTC):%Y-%m-%d}  "
        f"{'PostgreSQL' if database_url.startswith('postgresql') else 'SQLite'}"
    )
    print(f"build (CA, {args.n} entries, signed, DER)   {results['build_s']:.3f} s")
    print(f"first GET after a change (read, build, store)  {results['service_s']:.3f} s")
    print(f"later GETs (the stored CRL)                    {results['served_ms']:.2f} ms")
    print(f"OCSP answer, {args.n} revoked (p50 / p95)     {results['ocsp_ms']:.2f} / "
          f"{results['ocsp_p95_ms']:.2f} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
