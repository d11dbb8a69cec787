"""The issuing CA's CRLs at national scale: N revoked (100,000 by default) of ISSUED certificates
(1,000,000), in partitions of `PARTITION_SIZE` issued certificates (issue 15).

What is timed, each the median of a few rounds:

- `single`: the CA building and signing one CRL of all N (what there was before partitions), at
  N/4, N/2 and N, to show it linear; its size with real 159-bit serials.
- `partitions`: the CA building every partition's CRL (the same N entries, split); each one's size.
- `publish_all`: the service issuing every partition's CRL from the database (what the publisher
  does once at start: the rows read through their index, built, signed, stored).
- `after_revocation`: a revocation, then the publisher: which partitions are due (the check it
  makes every 5 s), and the one partition rebuilt.
- `get`: GET /pki/crl/<n> through the app (served as stored, as where the publisher runs).
- `ocsp`: the responder's answer for random revoked serials.

SQLite by default, PostgreSQL with BIRTHREG_BENCH_DATABASE_URL (an empty database).

    python bench/crl.py [--n 100000] [--issued 1000000] [--rounds 3]
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
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from sqlalchemy import delete, insert
from sqlmodel import Session, func, select

from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import CRLPartition, IssuedCertificate, IssuedCRL
from birthreg.pki.partitions import due_partitions
from birthreg.pki.service import (
    CRL_REFRESH,
    current_crl,
    load_certification_authority,
    ocsp_answer,
    revoke,
)
from signing.ca import PARTITION_SIZE, CertificationAuthority, RevokedCertificate, random_serial

REASONS = (x509.ReasonFlags.key_compromise, x509.ReasonFlags.unspecified)
FIRST = 2  # partition 1 holds the seals `birthreg init` issued


def _revocations(n: int, issued: int, moment: datetime) -> dict[int, list[RevokedCertificate]]:
    """N revocations with random serials, spread evenly over the partitions of ISSUED."""
    partitions = max(1, -(-issued // PARTITION_SIZE))
    by_partition: dict[int, list[RevokedCertificate]] = {}
    for i in range(n):
        revoked = RevokedCertificate(
            random_serial(), moment - timedelta(seconds=i), REASONS[i // partitions % 2],
            moment + timedelta(days=165),
        )
        by_partition.setdefault(FIRST + i % partitions, []).append(revoked)
    return by_partition


def _rows(
    by_partition: dict[int, list[RevokedCertificate]], moment: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "serial": format(r.serial, "x"),
            "profile": "individual",
            "der": b"\x30\x00",  # never read to build a CRL
            "not_before": moment - timedelta(days=200),
            "not_after": r.not_after,
            "issued_at": moment - timedelta(days=200),
            "revoked_at": r.revoked_at,
            "revocation_reason": r.reason.name,
            "crl_partition": partition,
        }
        for partition, revocations in by_partition.items()
        for r in revocations
    ]


def _median(rounds: int, run: Callable[[int], object]) -> float:
    times = []
    for round_ in range(rounds):
        start = time.perf_counter()
        run(round_)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _ocsp_times(engine: Any, ca: Any, serials: list[int], moment: datetime) -> list[float]:
    """The responder's answer (the status read by serial, the answer signed) for random
    serials among the revoked."""
    issuer = ca.issuing_certificate
    name_hash = hashlib.sha256(issuer.subject.public_bytes()).digest()
    key = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    key_hash = hashlib.sha256(_subject_public_key(key)).digest()
    times = []
    for serial in random.sample(serials, min(200, len(serials))):
        request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            name_hash, key_hash, serial, hashes.SHA256()
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


def _ca_builds(
    ca: CertificationAuthority, by_partition: dict[int, list[RevokedCertificate]],
    moment: datetime, rounds: int,
) -> dict[str, Any]:
    everything = [r for revocations in by_partition.values() for r in revocations]
    single = {}
    for share in (4, 2, 1):
        part = everything[: len(everything) // share]
        single[len(part)] = _median(rounds, lambda r, p=part: ca.build_crl(  # type: ignore[misc]
            p, number=r + 1, moment=moment).public_bytes(Encoding.DER))
    single_der = len(ca.build_crl(everything, number=1, moment=moment).public_bytes(Encoding.DER))
    sizes = sorted(
        len(ca.build_crl(revocations, number=1, moment=moment, partition=partition)
            .public_bytes(Encoding.DER))
        for partition, revocations in by_partition.items()
    )
    total = _median(rounds, lambda r: [
        ca.build_crl(revocations, number=r + 1, moment=moment, partition=partition)
        .public_bytes(Encoding.DER) for partition, revocations in by_partition.items()
    ])
    return {
        "single_build_s": {str(k): round(v, 4) for k, v in single.items()},
        "single_der_bytes": single_der,
        "partitions": len(sizes),
        "partition_der_bytes": {"min": sizes[0], "median": sizes[len(sizes) // 2],
                                "max": sizes[-1]},
        "partitions_build_s": round(total, 4),
        "partition_build_ms": round(total / len(sizes) * 1000, 2),
    }


def _service(
    engine: Any, ca: CertificationAuthority, settings: Settings,
    by_partition: dict[int, list[RevokedCertificate]], moment: datetime, rounds: int,
) -> dict[str, Any]:
    partitions = sorted(by_partition)

    def publish_all(round_: int) -> None:
        with Session(engine) as session:  # none issued yet: every partition is built
            session.execute(delete(IssuedCRL))
            session.commit()
        for partition in [0, 1, *partitions]:
            with Session(engine) as session:
                current_crl(session, ca, moment, partition)
                session.commit()

    publish_all_s = _median(rounds, publish_all)
    later = moment  # the last issued; GET below serves these, at the clock's now
    checks, rebuilds = [], []
    good = [random_serial() for _ in range(rounds)]  # to be revoked, one a round
    with Session(engine) as session:
        session.execute(insert(IssuedCertificate), [
            {"serial": format(serial, "x"), "profile": "individual", "der": b"\x30\x00",
             "not_before": moment, "not_after": moment + timedelta(days=365),
             "issued_at": moment, "crl_partition": partitions[0]}
            for serial in good
        ])
        session.commit()
    for round_, serial in enumerate(good):
        at = later + timedelta(seconds=round_ + 1)
        with Session(engine) as session:
            revoke(session, serial, x509.ReasonFlags.key_compromise, at, actor="bench",
                   role="ward")
            session.commit()
        with Session(engine) as session:
            start = time.perf_counter()
            due = due_partitions(session, at, CRL_REFRESH)
            checks.append(time.perf_counter() - start)
        assert due == [partitions[0]], due
        with Session(engine) as session:
            start = time.perf_counter()
            current_crl(session, ca, at, due[0])
            session.commit()
            rebuilds.append(time.perf_counter() - start)
    return {
        "publish_all_s": round(publish_all_s, 4),
        "due_check_ms": round(statistics.median(checks) * 1000, 2),
        "rebuild_one_ms": round(statistics.median(rebuilds) * 1000, 2),
        "get_ms": _get_times(settings, partitions, later),
    }


def _get_times(settings: Settings, partitions: list[int], moment: datetime) -> float:
    """GET /pki/crl/<n> through the app, where the publisher keeps the CRLs: served as stored."""
    from fastapi.testclient import TestClient

    from birthreg.main import create_app

    app = create_app(settings)  # no publisher thread: the CRLs were issued above
    times = []
    with Session(app.state.services.engine) as session:
        issued = session.exec(select(func.count()).select_from(IssuedCRL)).one()
    with TestClient(app, base_url="http://bench.test") as client:
        stored = settings.model_copy(update={"crl_publisher": True})  # serve them as stored
        app.state.services = replace(app.state.services, settings=stored)
        for partition in random.choices(partitions, k=50):
            start = time.perf_counter()
            response = client.get(f"/pki/crl/{partition}")
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
    with Session(app.state.services.engine) as session:
        assert session.exec(select(func.count()).select_from(IssuedCRL)).one() == issued
    return round(statistics.median(times) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--issued", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # In the past a little: the GETs come at the clock's now, after every CRL issued here.
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
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
        by_partition = _revocations(args.n, args.issued, moment)
        results: dict[str, Any] = {"n": args.n, "issued": args.issued,
                                   "partition_size": PARTITION_SIZE}
        results |= _ca_builds(ca, by_partition, moment, args.rounds)
        engine = make_engine(settings.database_url)
        with Session(engine) as session:
            session.execute(insert(IssuedCertificate), _rows(by_partition, moment))
            session.execute(insert(CRLPartition), [
                {"number": p, "issued": PARTITION_SIZE, "revoked": len(r),
                 "not_after": moment + timedelta(days=165)}
                for p, r in by_partition.items()
            ])
            session.commit()
        results |= _service(engine, ca, settings, by_partition, moment, args.rounds)
        serials = [r.serial for revocations in by_partition.values() for r in revocations]
        ocsp_times = _ocsp_times(engine, ca, serials, moment)
        engine.dispose()
    results["ocsp_ms"] = round(statistics.median(ocsp_times) * 1000, 2)
    results["ocsp_p95_ms"] = round(sorted(ocsp_times)[int(len(ocsp_times) * 0.95)] * 1000, 2)
    _print(results, database_url)


def _print(results: dict[str, Any], database_url: str) -> None:
    n, sizes = results["n"], results["partition_der_bytes"]
    print(
        f"bench/crl.py  n={n} issued={results['issued']}  python {platform.python_version()}  "
        f"{platform.machine()}  load {os.getloadavg()[0]:.1f}  {datetime.now(UTC):%Y-%m-%d}  "
        f"{'PostgreSQL' if database_url.startswith('postgresql') else 'SQLite'}"
    )
    single = ", ".join(f"{k}: {v:.3f} s" for k, v in results["single_build_s"].items())
    print(f"one CRL of all (before partitions): {single}; "
          f"{results['single_der_bytes'] / 1e6:.2f} MB")
    print(f"{results['partitions']} partitions of {results['partition_size']} issued: CRL sizes "
          f"{sizes['min']} / {sizes['median']} / {sizes['max']} bytes (min / median / max)")
    print(f"the CA builds every partition's CRL       {results['partitions_build_s']:.3f} s "
          f"({results['partition_build_ms']:.2f} ms each)")
    print(f"the service issues them all (read, build, store)  {results['publish_all_s']:.3f} s")
    print(f"after a revocation: due check {results['due_check_ms']:.2f} ms, "
          f"its partition rebuilt {results['rebuild_one_ms']:.2f} ms")
    print(f"GET /pki/crl/<n> (stored)                 {results['get_ms']:.2f} ms")
    print(f"OCSP answer, {n} revoked (p50 / p95)     {results['ocsp_ms']:.2f} / "
          f"{results['ocsp_p95_ms']:.2f} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
