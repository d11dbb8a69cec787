"""Signature verification throughput against the raw cost of the ECDSA it needs.

Verifies N detached CMS and N detached JWS signatures over a realistic application (full path:
parse, algorithm policy, signature, chain to the root, key usage and policy, validity, revocation
through the in-process fetcher) and, in the same run, N raw ECDSA P-256 verifications with
cryptography. A signature needs two ECDSA verifications at the least (the signer's certificate by
the issuing CA, and the document by the signer), so the ratio printed is

    time per verified signature / (2 × time per raw ECDSA verification)

Two cases: "repeat signer" (new signatures by the same mother, as when one signer signs many
documents; her path and the revocation answer are remembered after the first) and "distinct
signers" (a new mother for each signature, and a fresh validator and empty memos each round, so
no path is known; revocation comes from one CRL or per certificate OCSP). Every signature
verified is a distinct encoding: nothing remembered per encoding is ever reused.

One more row, "floor", is what a new signer costs with no Python of ours at all: loading her
certificate, cryptography's verifier (which the issue asks for) checking it against the issuing
CA, and the document's ECDSA with her key. No verification of a new signer that keeps
cryptography's verifier can cost less; the distance from it to 1.5 is all that Python (the
header or structure, the checks, revocation and the report) may take.

    python bench/verify.py [--n 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store

from signing import cms, jws
from signing._certs import forget
from signing.ca import (
    CertificationAuthority,
    Individual,
    InMemoryCertificateStatus,
    Profile,
)
from signing.canonical import canonicalize
from signing.identity import make_iin
from signing.trust import CA_POLICY, SIGNATURE_POLICY, TrustAnchors, Validator
from signing.verify import verify_signature

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "signing"))
from fetchers import InProcessFetcher  # the tests' in-process CA answers

MOMENT = datetime(2026, 6, 1, 12, tzinfo=UTC)

APPLICATION = {
    "type": "birthreg.application/1",
    "id": "6f1c2b9e-3d4a-4f5b-8c7d-9e0f1a2b3c4d",
    "medical_record_sha256": "ab" * 32,
    "child": {"surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы"},
    "mother": {"iin": "940315400014"},
    "father": None,
    "address": {
        "region": "Шығыс Қазақстан облысы",
        "locality": "Өскемен",
        "street": "Қазақстан көшесі",
        "building": "12",
        "flat": "5",
    },
    "contact": {"phone": "+7 701 234 5678", "email": "mother@example.kz"},
    "language": "kk",
}


def _mothers(
    ca: CertificationAuthority, statuses: InMemoryCertificateStatus, n: int
) -> list[tuple[ec.EllipticCurvePrivateKey, x509.Certificate]]:
    people: list[tuple[ec.EllipticCurvePrivateKey, x509.Certificate]] = []
    serial = 0
    while len(people) < n:
        iin = make_iin(date(1994, 3, 15), "F", serial)
        serial += 1
        if iin is None:
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        cert = ca.issue(
            key.public_key(),
            Individual(iin, "Әбілқасымова", "Гүлнұр", "Серікқызы"),
            profile=Profile.INDIVIDUAL,
            moment=MOMENT - timedelta(days=1),
        )
        statuses.add(cert)
        people.append((key, cert))
    return people


def _batch(run: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - start) / n


def _interleaved(
    raw: Callable[[], object], case: Callable[[int], Callable[[], object]], n: int, rounds: int
) -> tuple[float, float, float]:
    """Median seconds per raw op, per case op, and the median of the per-round ratios.

    Raw and case batches alternate round by round, so a machine that speeds up or slows down
    (this one is shared) moves both sides of each ratio alike. `case(round)` gives the
    operation for that round (so a round can start from empty caches).
    """
    raws, cases, ratios = [], [], []
    for index in range(rounds):
        raw_seconds = _batch(raw, n)
        case_seconds = _batch(case(index), n)
        raws.append(raw_seconds)
        cases.append(case_seconds)
        ratios.append(case_seconds / (2 * raw_seconds))
    return statistics.median(raws), statistics.median(cases), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    n, rounds = args.n, args.rounds

    ca = CertificationAuthority.create(
        base_url="http://bench.test", moment=MOMENT - timedelta(days=30)
    )
    statuses = InMemoryCertificateStatus()
    content = canonicalize(APPLICATION)
    mothers = _mothers(ca, statuses, n)
    chain = ca.chain

    def sign(fmt: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, at: datetime):  # type: ignore[no-untyped-def]
        if fmt == "cms":
            der = cms.sign_detached(content, cert, key, chain=chain, signing_time=at)
            return {"format": "cms", "value": base64.b64encode(der).decode()}
        return {
            "format": "jws",
            "value": jws.sign_detached(content, cert, key, chain=chain, signing_time=at),
        }

    # Every signature verified in a run is a different encoding (each round's are made a
    # second apart), so that nothing remembered per encoding (a JWS header, a CMS structure)
    # is reused: only what is remembered per certificate and per validator may be.
    def signing_time(round_: int, index: int) -> datetime:
        return MOMENT - timedelta(seconds=round_ * n + index)

    signed: dict[str, list[list[dict[str, str]]]] = {}
    repeated: dict[str, list[list[dict[str, str]]]] = {}
    for fmt in ("cms", "jws"):
        signed[fmt] = [
            [sign(fmt, key, cert, signing_time(r, i)) for i, (key, cert) in enumerate(mothers)]
            for r in range(rounds)
        ]
        key, cert = mothers[0]
        repeated[fmt] = [
            [sign(fmt, key, cert, signing_time(r, i)) for i in range(n)] for r in range(rounds)
        ]

    # Raw: N ECDSA P-256 SHA-256 verifications of distinct signatures.
    raw_key = ec.generate_private_key(ec.SECP256R1())
    raw_public = raw_key.public_key()
    messages = [content + i.to_bytes(4, "big") for i in range(n)]
    raw_sigs = [raw_key.sign(m, ec.ECDSA(hashes.SHA256())) for m in messages]
    position = 0

    def raw_verify() -> None:
        nonlocal position
        i = position % n
        position += 1
        raw_public.verify(raw_sigs[i], messages[i], ec.ECDSA(hashes.SHA256()))

    def fresh_validator(prefer: Literal["ocsp", "crl"] = "ocsp") -> Validator:
        return Validator(
            TrustAnchors([ca.root_certificate]),
            InProcessFetcher(ca, statuses, clock=lambda: MOMENT),
            prefer=prefer,
        )

    results: dict[str, tuple[float, float, float]] = {}

    # The floor for a new signer: her certificate loaded from DER, checked by cryptography's
    # verifier with the issuing CA as the anchor (as a validator that knows the CA runs it, with
    # the same extension policies), and a signature over the application by her key.
    leaf_ders = [cert.public_bytes(Encoding.DER) for _, cert in mothers]
    document_sigs = [key.sign(content, ec.ECDSA(hashes.SHA256())) for key, _ in mothers]
    issuing_verifier = (
        PolicyBuilder()
        .store(Store([ca.issuing_certificate]))
        .time(MOMENT)
        .extension_policies(ca_policy=CA_POLICY, ee_policy=SIGNATURE_POLICY)
        .build_client_verifier()
    )

    def floor(_: int) -> Callable[[], object]:
        indices = iter(range(n))

        def run() -> None:
            i = next(indices)
            leaf = x509.load_der_x509_certificate(leaf_ders[i])
            issuing_verifier.verify(leaf, [])
            public = leaf.public_key()
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(document_sigs[i], content, ec.ECDSA(hashes.SHA256()))

        return run

    results["floor: new signer, no Python (see above)"] = _interleaved(raw_verify, floor, n, rounds)

    for fmt in ("cms", "jws"):
        # Repeat signer: the first mother's signatures (each a new one), verified by one
        # validator (her path and the revocation answer are remembered after the first).
        validator = fresh_validator()

        def repeat(round_: int, fmt: str = fmt, validator: Validator = validator):  # type: ignore[no-untyped-def]
            signatures = iter(repeated[fmt][round_])

            def run() -> None:
                report = verify_signature(
                    next(signatures),
                    content,
                    validator=validator,
                    moment=MOMENT,
                    purpose="individual",
                )
                assert report.passed, report.to_json()

            return run

        results[f"{fmt}: repeat signer"] = _interleaved(raw_verify, repeat, n, rounds)

        # Distinct signers: every signature by another mother; a new validator per round so
        # nothing of a path is cached. Revocation by per-certificate OCSP (the default), or by
        # one CRL for them all (prefer="crl", as a registry verifying many signers would).
        prefers: tuple[Literal["ocsp", "crl"], ...] = ("ocsp", "crl")
        for prefer in prefers:

            def distinct(round_: int, prefer: Literal["ocsp", "crl"] = prefer, fmt: str = fmt):  # type: ignore[no-untyped-def]
                validator = fresh_validator(prefer)
                forget()  # nothing remembered about any certificate either
                signatures = iter(signed[fmt][round_])

                def run() -> None:
                    report = verify_signature(
                        next(signatures),
                        content,
                        validator=validator,
                        moment=MOMENT,
                        purpose="individual",
                    )
                    assert report.passed

                return run

            results[f"{fmt}: distinct signers, {prefer} first"] = _interleaved(
                raw_verify, distinct, n, rounds
            )

    print(
        f"bench/verify.py  n={n} rounds={rounds}  python {platform.python_version()}  "
        f"{platform.machine()}  {datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"{'case':42} {'µs/op':>9} {'ops/s':>9} {'raw µs':>8} {'× raw (2 ECDSA)':>16}")
    for name, (raw_s, case_s, ratio) in results.items():
        print(f"{name:42} {case_s * 1e6:9.1f} {1 / case_s:9.0f} {raw_s * 1e6:8.1f} {ratio:16.2f}")
    print(
        json.dumps(
            {k: {"us": round(v[1] * 1e6, 1), "ratio": round(v[2], 2)} for k, v in results.items()}
        )
    )


if __name__ == "__main__":
    main()
