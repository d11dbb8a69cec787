"""The parents' certificates of `birthreg seed`: one throwaway key, a million people.

Every such certificate of a CRL partition is the same but for its serial number, its validity
and its subject. `IndividualIssuer` has the TEST CA issue the first certificate of each
partition the usual way (`CertificationAuthority.issue`: every check, every extension) and keeps
its encoding, read by asn1crypto; each later one is that TBSCertificate with a new serial,
validity (`CertificationAuthority.validity`, as `issue` computes it) and subject (`_Subjects`:
`signing.ca.subject_name`'s encodings of its parts, checked as `issue` checks them) put in
their DER values by asn1crypto's `emit` and types, then signed by the issuing CA's key as
`issue` signs (ECDSA with SHA-256). The bytes are those `issue` would give for the same serial
(tests/test_seed_certificates.py): 0.05 ms a certificate where `issue` takes 0.13 ms
(2026-12-06; the ECDSA signature itself takes 0.025 ms). The DER of the last few issued is kept
(`encoded`): the seed stores it and the mother's JWS carries it, without encoding it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signing.ca import CertificationAuthority, Individual, Profile, random_serial, subject_name
from signing.ca.profiles import INDIVIDUAL_VALIDITY
from signing.cms import der_time, der_value
from signing.identity import validate_iin
from signing.names import validate_person_name

#: TBSCertificate's fields (RFC 5280 section 4.1) around the three that change, in order
#: (absent optional ones dump empty).
_BEFORE_SERIAL = ("version",)
_SERIAL_TO_VALIDITY = ("signature", "issuer")
_AFTER_SUBJECT = ("subject_public_key_info", "issuer_unique_id", "subject_unique_id",
                  "extensions")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
#: How many of the last certificates issued keep their DER (a birth's mother's and father's).
_KEPT = 4
_MAX_NAMES = 100_000
#: commonName (2.5.4.3), and the most UTF-8 bytes cryptography puts in one (X.520's 64).
_COMMON_NAME = b"\x06\x03\x55\x04\x03"
_MAX_COMMON_NAME = 64


@dataclass(frozen=True)
class _Template:
    """A certificate's encoding around the values that change: its version; its signature
    algorithm and issuer; its key, unique ids and extensions; the outer signatureAlgorithm."""

    head: bytes
    middle: bytes
    tail: bytes
    signature_algorithm: bytes


def _template(der: bytes) -> _Template:
    loaded = asn1_x509.Certificate.load(der)
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


class _Subjects:
    """Subject names (`signing.ca.subject_name`) from the encodings of their parts: the CN RDN
    (UTF8String, at most 64 bytes) of a surname and a given name as checked, the SN RDN of a
    surname, the GIVENNAME RDN of a patronymic (none without one), the SERIALNUMBER RDN around
    the 12 digits of an IIN, the OU and C RDNs. A part not seen yet comes from `subject_name`
    (which checks it) and is kept, the whole compared with that name's encoding; the IIN is
    checked each time (`validate_iin`). A few hundred names make the seed's 112,000."""

    def __init__(self) -> None:
        #: Each surname as checked, and its SN RDN; each given name as checked.
        self._surnames: dict[str, tuple[str, bytes]] = {}
        self._given_names: dict[str, str] = {}
        self._patronymics: dict[str, bytes] = {}
        self._serial = self._tail = b""

    def encode(self, subject: Individual) -> bytes:
        validate_iin(subject.iin)
        surname = self._surnames.get(subject.surname)
        given_name = self._given_names.get(subject.given_name)
        patronymic = self._patronymics.get(subject.patronymic or "")
        if surname is None or given_name is None or patronymic is None or not self._serial:
            return self._learn(subject)
        common_name = f"{surname[0]} {given_name}".encode()
        if len(common_name) > _MAX_COMMON_NAME:  # subject_name refuses it
            return self._learn(subject)
        return self._join(subject, common_name, surname[1], patronymic)

    def _join(self, subject: Individual, common_name: bytes, surname: bytes,
              patronymic: bytes) -> bytes:
        common = der_value(0x31, der_value(0x30, _COMMON_NAME + der_value(0x0C, common_name)))
        serial = self._serial + subject.iin.encode("ascii")
        return der_value(0x30, common + surname + patronymic + serial + self._tail)

    def _learn(self, subject: Individual) -> bytes:
        encoded = subject_name(subject).public_bytes()
        rdns = [rdn.dump() for rdn in asn1_x509.Name.load(encoded).chosen]
        iin = subject.iin.encode("ascii")
        if len(rdns) not in (5, 6) or not rdns[-3].endswith(iin):
            raise ValueError("a subject name this issuer does not know how to put together")
        # The seed's names are a few hundred: a bound for others.
        if len(self._surnames) + len(self._given_names) + len(self._patronymics) > _MAX_NAMES:
            self._surnames, self._given_names, self._patronymics = {}, {}, {}
        surname = validate_person_name(subject.surname, field="surname")
        given_name = validate_person_name(subject.given_name, field="given_name")
        self._serial, self._tail = rdns[-3][: -len(iin)], rdns[-2] + rdns[-1]
        patronymic = rdns[2] if len(rdns) == 6 else b""
        common_name = f"{surname} {given_name}".encode()
        if self._join(subject, common_name, rdns[1], patronymic) != encoded:
            raise ValueError("a subject name this issuer does not know how to put together")
        self._surnames[subject.surname] = (surname, rdns[1])
        self._given_names[subject.given_name] = given_name
        self._patronymics[subject.patronymic or ""] = patronymic
        return encoded


class IndividualIssuer:
    """`issue(subject, moment, crl_partition)`: an INDIVIDUAL certificate of `public_key` by
    `ca`, whose issuing key is `issuing_key` (checked). Security caveats: those of
    `CertificationAuthority.issue`; the key's checks run when the first certificate is issued.

    The last few certificates issued keep their DER (`encoded`)."""

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
        self._subjects = _Subjects()
        #: The last certificates issued and their DER, by id (each held here: no other's id).
        self._issued: dict[int, tuple[x509.Certificate, bytes]] = {}

    def issue(
        self, subject: Individual, *, moment: datetime, crl_partition: int
    ) -> x509.Certificate:
        template = self._templates.get(crl_partition)
        if template is None:
            certificate = self._ca.issue(self._public_key, subject, profile=Profile.INDIVIDUAL,
                                         moment=moment, crl_partition=crl_partition)
            der = certificate.public_bytes(serialization.Encoding.DER)
            self._templates[crl_partition] = _template(der)
            return self._keep(certificate, der)
        name = self._subjects.encode(subject)
        not_before, not_after = self._ca.validity(moment, INDIVIDUAL_VALIDITY)
        validity = der_value(0x30, der_time(not_before) + der_time(not_after))
        serial = random_serial()
        tbs = der_value(0x30, template.head + core.Integer(serial).dump() + template.middle
                   + validity + name + template.tail)
        signature = self._issuing_key.sign(tbs, _ECDSA_SHA256)
        bits = der_value(0x03, b"\0" + signature)
        der = der_value(0x30, tbs + template.signature_algorithm + bits)
        return self._keep(x509.load_der_x509_certificate(der), der)

    def _keep(self, certificate: x509.Certificate, der: bytes) -> x509.Certificate:
        if len(self._issued) >= _KEPT:
            del self._issued[next(iter(self._issued))]
        self._issued[id(certificate)] = (certificate, der)
        return certificate

    def encoded(self, certificate: x509.Certificate) -> bytes:
        """The certificate's DER: the one kept when it is one of the last issued, else
        encoded again."""
        kept = self._issued.get(id(certificate))
        if kept is not None and kept[0] is certificate:
            return kept[1]
        return certificate.public_bytes(serialization.Encoding.DER)
