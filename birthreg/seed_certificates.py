"""The parents' certificates of `birthreg seed`: one throwaway key, a million people.

Every such certificate of a CRL partition is the same but for its serial number, its validity
and its subject. `IndividualIssuer` has the TEST CA issue the first certificate of each
partition the usual way (`CertificationAuthority.issue`: every check, every extension) and keeps
its encoding, read by asn1crypto; each later one is that TBSCertificate with a new serial,
validity (`CertificationAuthority.validity`, as `issue` computes it) and subject
(`signing.ca.subject_name`, checked as `issue` checks it) put in by asn1crypto's types and
`emit`, then signed by the issuing CA's key as `issue` signs (ECDSA with SHA-256). The bytes are
those `issue` would give for the same serial (tests/test_seed_certificates.py): 0.08 ms a
certificate where `issue` takes 0.13 ms (2026-12-06; the ECDSA signature itself takes 0.02 ms,
the subject's checks another 0.02 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import core, parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signing.ca import CertificationAuthority, Individual, Profile, random_serial, subject_name
from signing.ca.profiles import INDIVIDUAL_VALIDITY

#: TBSCertificate's fields (RFC 5280 section 4.1) around the three that change, in order
#: (absent optional ones dump empty).
_BEFORE_SERIAL = ("version",)
_SERIAL_TO_VALIDITY = ("signature", "issuer")
_AFTER_SUBJECT = ("subject_public_key_info", "issuer_unique_id", "subject_unique_id",
                  "extensions")
#: RFC 5280 section 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
_UTC_TIME_BEFORE = 2050


@dataclass(frozen=True)
class _Template:
    """A certificate's encoding around the values that change: its version; its signature
    algorithm and issuer; its key, unique ids and extensions; the outer signatureAlgorithm."""

    head: bytes
    middle: bytes
    tail: bytes
    signature_algorithm: bytes


def _template(certificate: x509.Certificate) -> _Template:
    loaded = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    tbs = loaded["tbs_certificate"]

    def dumped(names: tuple[str, ...]) -> bytes:
        return b"".join(tbs[name].dump() for name in names)

    template = _Template(dumped(_BEFORE_SERIAL), dumped(_SERIAL_TO_VALIDITY),
                         dumped(_AFTER_SUBJECT), loaded["signature_algorithm"].dump())
    again = (template.head + tbs["serial_number"].dump() + template.middle
             + tbs["validity"].dump() + tbs["subject"].dump() + template.tail)
    if again != tbs.contents:  # every field accounted for, in its own encoding
        raise ValueError("the template certificate has fields this issuer does not know")
    return template


def _time(moment: datetime) -> bytes:
    """A Time (the CHOICE's alternative itself: a CHOICE adds no tag of its own), to the
    second as RFC 5280 wants and as cryptography's builder writes it."""
    moment = moment.replace(microsecond=0)
    kind = core.UTCTime if moment.year < _UTC_TIME_BEFORE else core.GeneralizedTime
    encoded: bytes = kind(moment).dump()
    return encoded


class IndividualIssuer:
    """`issue(subject, moment, crl_partition)`: an INDIVIDUAL certificate of `public_key` by
    `ca`, whose issuing key is `issuing_key` (checked). Security caveats: those of
    `CertificationAuthority.issue`; the key's checks run when the first certificate is issued."""

    def __init__(
        self, ca: CertificationAuthority, public_key: PublicKeyTypes,
        issuing_key: ec.EllipticCurvePrivateKey,
    ) -> None:
        if issuing_key.public_key() != ca.issuing_certificate.public_key():
            raise ValueError("the key is not the issuing CA's")
        self._ca = ca
        self._public_key = public_key
        self._issuing_key = issuing_key
        self._templates: dict[int, _Template] = {}

    def issue(
        self, subject: Individual, *, moment: datetime, crl_partition: int
    ) -> x509.Certificate:
        template = self._templates.get(crl_partition)
        if template is None:
            certificate = self._ca.issue(self._public_key, subject, profile=Profile.INDIVIDUAL,
                                         moment=moment, crl_partition=crl_partition)
            self._templates[crl_partition] = _template(certificate)
            return certificate
        name = subject_name(subject)
        not_before, not_after = self._ca.validity(moment, INDIVIDUAL_VALIDITY)
        validity = parser.emit(0, 1, 16, _time(not_before) + _time(not_after))
        tbs = parser.emit(0, 1, 16, template.head + core.Integer(random_serial()).dump()
                          + template.middle + validity + name.public_bytes() + template.tail)
        signature = self._issuing_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
        der = parser.emit(0, 1, 16, tbs + template.signature_algorithm
                          + core.OctetBitString(signature).dump())
        return x509.load_der_x509_certificate(der)
