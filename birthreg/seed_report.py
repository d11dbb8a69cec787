"""What `birthreg seed` stores beside a dossier: its verification report and its signed receipt.

The first dossier of a run is verified for real (`signing.dossier.verify_dossier`, the TEST CA
answering OCSP from the seed's own records in memory); its report is the template for the
others, with each dossier's own identifiers written in where the first one's stood (documents,
digests, the mother's certificate, IIN and names, the times). Verifying each of a million
dossiers would take hours here; the template keeps the report's shape and size, which is what a
seeded database is for. Receipts are signed for each submission, as the registry signs them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from birthreg.notify import tracking
from birthreg.registry.intake import RECEIPT_TYPE, receipt_payload
from signing import jws, ocsp
from signing.ca import CertificationAuthority, InMemoryCertificateStatus
from signing.dossier import verify_dossier
from signing.trust import TrustAnchors, Validator


class _InMemoryFetcher:
    """The TEST CA's OCSP answers and root CRL for the seed's certificates, without a network."""

    def __init__(self, ca: CertificationAuthority, moment: datetime) -> None:
        self.ca = ca
        self.moment = moment
        self.statuses = InMemoryCertificateStatus()

    def fetch_crl(self, url: str) -> bytes:
        if url != self.ca.arl_url:
            raise OSError(f"the seed answers OCSP, not the CRL at {url}")
        arl = self.ca.build_arl(number=1, moment=self.moment, next_update=timedelta(days=1))
        return arl.public_bytes(serialization.Encoding.DER)

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        return ocsp.respond(request_der, ca=self.ca, statuses=self.statuses, moment=self.moment,
                            validity=timedelta(hours=1))


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _identifiers(dossier: dict[str, Any], mother: x509.Certificate, mother_der: bytes,
                 digest: str, signed_at: datetime) -> list[str]:
    """The values a report repeats from its dossier, in a fixed order (`digest`: the
    application's SHA-256, and `signed_at` the time her JWS was made, which its maker knows:
    the report gives the signature's sigT, that time to the second, in UTC)."""
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    return [
        record["id"], application["id"],
        application["medical_record_sha256"], digest,
        format(mother.serial_number, "x"), hashlib.sha256(mother_der).hexdigest(),
        mother.not_valid_before_utc.isoformat(), mother.not_valid_after_utc.isoformat(),
        record["mother"]["iin"], record["mother"]["surname"], record["mother"]["given_name"],
        str(record["mother"].get("patronymic")),
        signed_at.astimezone(UTC).replace(microsecond=0).isoformat(),
    ]


class ReportTemplate:
    """`report(dossier, mother's certificate, moment, application's SHA-256)`: the report's
    JSON text (see above)."""

    def __init__(
        self, ca: CertificationAuthority, seals: list[x509.Certificate], moment: datetime
    ) -> None:
        self.ca = ca
        self.moment = moment
        self.seals = seals
        self.holder_key = ec.generate_private_key(ec.SECP256R1())
        #: A certificate's DER (the seed gives its issuer's, which keeps what it issued).
        self.encoded: Callable[[x509.Certificate], bytes] = _der
        #: The first report's text cut where its moment and identifiers stood: the text
        #: between them, and which value goes in each cut (0 the moment, then `_identifiers`).
        self._literals: list[str] = []
        self._slots: list[int] = []

    def report(
        self, dossier: dict[str, Any], mother: x509.Certificate, moment: datetime, digest: str,
        signed_at: datetime,
    ) -> str:
        values = [moment.isoformat(),
                  *_identifiers(dossier, mother, self.encoded(mother), digest, signed_at)]
        if not self._literals:
            # An hour after the seed's moment (`seed_rows.prime_report` makes this first
            # dossier): the TEST CA made by `birthreg init` may be minutes old, and a signature
            # is dated at least ten minutes after its certificate begins.
            verified_at = self.moment + timedelta(hours=1)
            fetcher = _InMemoryFetcher(self.ca, verified_at)
            for certificate in (mother, *self.seals):
                fetcher.statuses.add(certificate)
            validator = Validator(
                TrustAnchors([self.ca.root_certificate], [self.ca.issuing_certificate]), fetcher
            )
            report = verify_dossier(dossier, validator=validator, moment=verified_at)
            if not report.passed:
                failed = [c for c in _checks(report.to_json()) if not c["passed"]]
                raise RuntimeError(f"the seed's first dossier does not verify: {failed}")
            self._cut(json.dumps(report.to_json(), ensure_ascii=False),
                      [verified_at.isoformat(), *values[1:]])
        parts = [self._literals[0]]
        for slot, literal in zip(self._slots, self._literals[1:], strict=True):
            parts += (values[slot], literal)
        return "".join(parts)

    def _cut(self, text: str, values: list[str]) -> None:
        """Cut `text` at every occurrence of `values` (the longest first where they overlap; a
        value repeated is the first of its kind)."""
        first: dict[str, int] = {}
        for index, value in enumerate(values):
            if value:
                first.setdefault(value, index)
        found = re.compile("|".join(map(re.escape, sorted(first, key=len, reverse=True))))
        pieces = re.split(f"({found.pattern})", text)
        self._literals = pieces[0::2]
        self._slots = [first[value] for value in pieces[1::2]]


def _checks(tree: Any) -> list[dict[str, Any]]:
    if isinstance(tree, dict):
        found = [tree] if "passed" in tree and "name" in tree else []
        return found + [c for value in tree.values() for c in _checks(value)]
    if isinstance(tree, list):
        return [c for value in tree for c in _checks(value)]
    return []


def receipt_maker(office: Any) -> Callable[[str, str, datetime, str], str]:
    """Signed receipts as the registry office signs them (`registry.intake.receipt_payload`),
    by one signer for the run (`jws.DetachedSigner`: the header's constant part written once)."""
    signer = jws.DetachedSigner(office.seal.certificate, office.seal.key, chain=office.seal.chain)

    def make(submission_id: str, sha: str, moment: datetime, tracking_number: str) -> str:
        receipt: dict[str, Any] = {
            "type": RECEIPT_TYPE,
            "submission_id": submission_id,
            "tracking_number": tracking.format_tracking_number(tracking_number),
            "dossier_sha256": sha,
            "received_at": moment.isoformat(),
            "registry_office": {"bin": office.bin, "name": office.name},
        }
        receipt["signature"] = signer.sign(receipt_payload(receipt), signing_time=moment)
        return json.dumps(receipt, ensure_ascii=False)

    return make
