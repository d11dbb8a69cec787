"""Signature verification: ours beside the peer (pyHanko), with raw ECDSA for orientation.

Verifies N detached CMS and N detached JWS signatures over a realistic application the whole
way (parse, algorithm policy, signature, path to the root with cryptography's verifier, key
usage and policy, validity, revocation through the in-process fetcher). The cases:

- "repeat signer": new signatures by one mother, one validator for them all;
- "cold signer": a new mother for each signature and a fresh validator each round, warmed with
  one signature by someone else first, so that its CRL is known (warm) but no path is;
  revocation from that one CRL ("crl"), or by OCSP per certificate ("ocsp", cold);
- "peer": the same cold CMS signatures verified by pyHanko's `async_validate_detached_cms` with
  a fresh `ValidationContext(trust_roots=[root], crls=[the same CRL], allow_fetching=False)`
  for each, the library others would use for this.

Printed: µs per signature, and for the cold CMS and JWS signatures with a warm CRL how many
times faster ours is than the peer (the goal: at least 2×). Raw ECDSA P-256 verifications and
a "floor" (a new signer's certificate loaded, cryptography's verifier against the issuing CA,
the document's ECDSA: no Python of ours) are measured in the same run for orientation only.

    python bench/verify.py [--n 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext

from signing import cms, jws
from signing.ca import CertificationAuthority, Individual, InMemoryCertificateStatus, Profile
from signing.canonical import canonicalize
from signing.dossier import verify_signature
from signing.identity import make_iin
from signing.trust import CA_POLICY, SIGNATURE_POLICY, TrustAnchors, Validator

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

Signer = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
Signature = dict[str, str]


def _mothers(
    ca: CertificationAuthority, statuses: InMemoryCertificateStatus, n: int
) -> list[Signer]:
    people: list[Signer] = []
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


def _seconds_per_op(case: Callable[[], Callable[[], object]], n: int, rounds: int) -> float:
    """The median over rounds of the CPU seconds per operation; `case()` sets up each round
    (not timed) and gives its operation."""
    per_round = []
    for _ in range(rounds):
        run = case()
        # CPU time of this process: the machine is shared, and what others run at the same
        # time must not count against either side.
        start = time.process_time()
        for _ in range(n):
            run()
        per_round.append((time.process_time() - start) / n)
    return statistics.median(per_round)


class Bench:
    """The PKI, the signatures and the cases of one run."""

    def __init__(self, n: int, rounds: int) -> None:
        self.n, self.rounds = n, rounds
        self.ca = CertificationAuthority.create(
            base_url="http://bench.test", moment=MOMENT - timedelta(days=30)
        )
        self.statuses = InMemoryCertificateStatus()
        self.content = canonicalize(APPLICATION)
        # A new mother for every cold signature of every case and round (so that nothing
        # known about a certificate in one case helps another), and one more to warm with.
        self.mothers = _mothers(self.ca, self.statuses, 4 * n * rounds + 1)
        self.signed = {fmt: self._sign_all(fmt, index) for index, fmt in enumerate(("cms", "jws"))}
        self.loop = asyncio.new_event_loop()
        crl = self.ca.build_crl(self.statuses.revoked(), number=1, moment=MOMENT)
        self.peer_crl = asn1_crl.CertificateList.load(crl.public_bytes(Encoding.DER))
        self.peer_root = asn1_x509.Certificate.load(
            self.ca.root_certificate.public_bytes(Encoding.DER)
        )

    def _sign(self, fmt: str, signer: Signer, at: datetime) -> Signature:
        key, cert = signer
        if fmt == "cms":
            der = cms.sign_detached(self.content, cert, key, chain=self.ca.chain, signing_time=at)
            return {"format": "cms", "value": base64.b64encode(der).decode()}
        value = jws.sign_detached(self.content, cert, key, chain=self.ca.chain, signing_time=at)
        return {"format": "jws", "value": value}

    def _sign_all(self, fmt: str, index: int) -> dict[str, list[Signature]]:
        at = MOMENT - timedelta(minutes=1)
        first, count = self.mothers[0], self.n * self.rounds
        cold = self.mothers[1 + 2 * index * count : 1 + (2 * index + 2) * count]
        return {
            "crl": [self._sign(fmt, signer, at) for signer in cold[:count]],
            "ocsp": [self._sign(fmt, signer, at) for signer in cold[count:]],
            "repeat": [
                self._sign(fmt, first, at - timedelta(seconds=i))
                for i in range(self.n * self.rounds)
            ],
            "warm-up": [self._sign(fmt, first, at)],
        }

    def validator(self, prefer: Literal["ocsp", "crl"]) -> Validator:
        return Validator(
            TrustAnchors([self.ca.root_certificate]),
            InProcessFetcher(self.ca, self.statuses, clock=lambda: MOMENT),
            prefer=prefer,
        )

    def ours(self, fmt: str, prefer: Literal["ocsp", "crl"], *, repeat: bool = False) -> float:
        signatures = iter(self.signed[fmt]["repeat" if repeat else prefer])
        shared = self.validator(prefer)

        def case() -> Callable[[], object]:
            validator = shared if repeat else self.validator(prefer)
            self._verify(self.signed[fmt]["warm-up"][0], validator)
            return lambda: self._verify(next(signatures), validator)

        return _seconds_per_op(case, self.n, self.rounds)

    def _verify(self, signature: Signature, validator: Validator) -> None:
        report = verify_signature(
            signature, self.content, validator=validator, moment=MOMENT, purpose="individual"
        )
        assert report.passed, report.to_json()

    def peer(self) -> float:
        signatures = iter(self.signed["cms"]["crl"])

        async def validate(signature: Signature) -> None:
            context = ValidationContext(
                trust_roots=[self.peer_root],
                crls=[self.peer_crl],
                allow_fetching=False,
                moment=MOMENT,
            )
            signed_data = asn1_cms.ContentInfo.load(base64.b64decode(signature["value"]))
            status = await async_validate_detached_cms(
                self.content, signed_data["content"], signer_validation_context=context
            )
            assert status.bottom_line, status.summary()

        def case() -> Callable[[], object]:
            return lambda: self.loop.run_until_complete(validate(next(signatures)))

        return _seconds_per_op(case, self.n, self.rounds)

    def raw(self) -> float:
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        messages = [self.content + i.to_bytes(4, "big") for i in range(self.n)]
        pairs = [(key.sign(m, ec.ECDSA(hashes.SHA256())), m) for m in messages]

        def case() -> Callable[[], object]:
            items: Iterator[tuple[bytes, bytes]] = iter(pairs)
            return lambda: public.verify(*next(items), ec.ECDSA(hashes.SHA256()))

        return _seconds_per_op(case, self.n, self.rounds)

    def floor(self) -> float:
        """A new signer with no Python of ours: her certificate loaded from DER, checked by
        cryptography's verifier with the issuing CA as the anchor, and the document's ECDSA."""
        verifier = (
            PolicyBuilder()
            .store(Store([self.ca.issuing_certificate]))
            .time(MOMENT)
            .extension_policies(
                ca_policy=CA_POLICY,
                ee_policy=SIGNATURE_POLICY,
            )
            .build_client_verifier()
        )
        work = [
            (cert.public_bytes(Encoding.DER), key.sign(self.content, ec.ECDSA(hashes.SHA256())))
            for key, cert in self.mothers[1 : self.n + 1]
        ]

        def case() -> Callable[[], object]:
            items = iter(work)

            def run() -> None:
                der, signature = next(items)
                leaf = x509.load_der_x509_certificate(der)
                verifier.verify(leaf, [])
                public = leaf.public_key()
                assert isinstance(public, ec.EllipticCurvePublicKey)
                public.verify(signature, self.content, ec.ECDSA(hashes.SHA256()))

            return run

        return _seconds_per_op(case, self.n, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bench = Bench(args.n, args.rounds)

    results = {
        "raw ECDSA P-256 verify (orientation)": bench.raw(),
        "floor: new signer, no Python of ours": bench.floor(),
        "peer: pyHanko, cms cold signer, crl": bench.peer(),
    }
    for fmt in ("cms", "jws"):
        results[f"{fmt}: repeat signer"] = bench.ours(fmt, "crl", repeat=True)
        results[f"{fmt}: cold signer, crl warm"] = bench.ours(fmt, "crl")
        results[f"{fmt}: cold signer, ocsp"] = bench.ours(fmt, "ocsp")
    peer = results["peer: pyHanko, cms cold signer, crl"]
    faster = {fmt: peer / results[f"{fmt}: cold signer, crl warm"] for fmt in ("cms", "jws")}

    print(
        f"bench/verify.py  n={args.n} rounds={args.rounds}  python {platform.python_version()}"
        f"  {platform.machine()}  {datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"{'case':40} {'µs/op':>9} {'ops/s':>9}")
    for name, seconds in results.items():
        print(f"{name:40} {seconds * 1e6:9.1f} {1 / seconds:9.0f}")
    for fmt, ratio in faster.items():
        verdict = "at least 2x: goal met" if ratio >= 2 else "under 2x: GOAL MISSED"
        print(f"ours ({fmt}, cold signer, crl warm): {ratio:.2f}x faster than the peer, {verdict}")
    print(
        json.dumps(
            {
                "us": {name: round(seconds * 1e6, 1) for name, seconds in results.items()},
                "faster_than_peer": {fmt: round(ratio, 2) for fmt, ratio in faster.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
