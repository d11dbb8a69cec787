"""birthreg.seed_certificates: one key's certificates for many people, the bytes `issue` would
give."""

from __future__ import annotations

import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from birthreg import seed_names
from birthreg.seed_certificates import IndividualIssuer, _Subjects
from signing.ca import (
    CertificationAuthority,
    Individual,
    Profile,
    crl_partition_of,
    subject_name,
)
from signing.errors import CAError, InvalidIdentityNumber, InvalidName

if TYPE_CHECKING:
    from conftest import PKI

FIRST = Individual(iin="940315400074", surname="Қасымова", given_name="Әйгерім",
                   patronymic="Ерланқызы")
LATER = Individual(iin="940315400084", surname="Smith", given_name="Anna")


def _issuer(ca: CertificationAuthority, public_key: ec.EllipticCurvePublicKey) -> IndividualIssuer:
    return IndividualIssuer(ca, public_key, ca._issuing_key)


_TBS_FIELDS = ("version", "serial_number", "signature", "issuer", "validity", "subject",
               "subject_public_key_info", "issuer_unique_id", "subject_unique_id", "extensions")


def _fields(certificate: x509.Certificate) -> dict[str, bytes]:
    """Each TBSCertificate field's encoding (asn1crypto), checked to make up the whole."""
    tbs = asn1_x509.TbsCertificate.load(certificate.tbs_certificate_bytes)
    fields = {name: tbs[name].dump() for name in _TBS_FIELDS}
    assert b"".join(fields.values()) == tbs.contents
    return fields


def test_later_certificates_are_what_issue_makes(pki: PKI) -> None:
    ca: CertificationAuthority = pki.ca
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = _issuer(ca, key.public_key())
    first = issuer.issue(FIRST, moment=pki.moment, crl_partition=3)
    for hours in (1, 5):
        moment = pki.moment + timedelta(hours=hours)
        later = issuer.issue(LATER, moment=moment, crl_partition=3)
        reference = ca.issue(key.public_key(), LATER, profile=Profile.INDIVIDUAL,
                             moment=moment, crl_partition=3)
        # Field for field, byte for byte, the TBSCertificate `issue` makes, but for the random
        # serial.
        ours, theirs = _fields(later), _fields(reference)
        assert ours.pop("serial_number") != theirs.pop("serial_number")
        assert ours == theirs
        assert later.serial_number not in (first.serial_number, reference.serial_number)
        assert later.signature_algorithm_oid == reference.signature_algorithm_oid
        later.verify_directly_issued_by(ca.issuing_certificate)
    assert crl_partition_of(later) == 3
    # Another partition: its own first certificate, naming that partition's CRL.
    other = issuer.issue(LATER, moment=pki.moment, crl_partition=4)
    assert crl_partition_of(other) == 4
    assert crl_partition_of(issuer.issue(FIRST, moment=pki.moment, crl_partition=4)) == 4


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_a_later_certificate(pki: PKI, tmp_path: Path) -> None:
    issuer = _issuer(pki.ca, ec.generate_private_key(ec.SECP256R1()).public_key())
    issuer.issue(FIRST, moment=pki.moment, crl_partition=1)
    later = issuer.issue(LATER, moment=pki.moment, crl_partition=1)
    files = {"root": pki.ca.root_certificate, "issuing": pki.ca.issuing_certificate,
             "leaf": later}
    for name, certificate in files.items():
        (tmp_path / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-attime", str(int(pki.moment.timestamp()) + 60), "-x509_strict",
         "-purpose", "smimesign", "-CAfile", tmp_path / "root.pem",
         "-untrusted", tmp_path / "issuing.pem", tmp_path / "leaf.pem"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.stdout.strip().endswith(": OK"), result.stdout + result.stderr


def test_later_subjects_and_moments_are_checked_as_issue_checks_them(pki: PKI) -> None:
    issuer = _issuer(pki.ca, ec.generate_private_key(ec.SECP256R1()).public_key())
    issuer.issue(FIRST, moment=pki.moment, crl_partition=1)
    with pytest.raises(InvalidIdentityNumber):
        issuer.issue(Individual(iin="940315400075", surname="Smith", given_name="Anna"),
                     moment=pki.moment, crl_partition=1)
    before_the_ca = pki.ca.issuing_certificate.not_valid_before_utc - timedelta(days=1)
    with pytest.raises(CAError):
        issuer.issue(LATER, moment=before_the_ca, crl_partition=1)


def test_only_the_issuing_cas_key_signs(pki: PKI) -> None:
    with pytest.raises(ValueError, match="not the issuing CA's"):
        IndividualIssuer(pki.ca, ec.generate_private_key(ec.SECP256R1()).public_key(),
                         ec.generate_private_key(ec.SECP256R1()))


def test_the_first_certificate_refuses_a_ca_key(pki: PKI) -> None:
    issuer = _issuer(pki.ca, pki.ca.issuing_certificate.public_key())
    with pytest.raises(CAError):
        issuer.issue(FIRST, moment=pki.moment, crl_partition=1)


def test_subject_names_are_subject_names_encodings() -> None:
    rng = random.Random(1048)
    subjects = _Subjects()
    people = [FIRST, LATER, Individual(iin=FIRST.iin, surname="Қасымова", given_name="Әйгерім"),
              Individual(iin=LATER.iin, surname="Smith", given_name="Anna", patronymic=""),
              # CN at cryptography's bound (64 bytes), lengths of more than one byte.
              Individual(iin=LATER.iin, surname="Ә" * 20, given_name="Б" * 11,
                         patronymic="В" * 64)]
    for _ in range(400):
        family = rng.choice(seed_names.SURNAMES)
        surname, given, patronymic = seed_names.adult(rng, family, rng.choice("FM"))
        people.append(Individual(iin=LATER.iin if rng.random() < 0.5 else FIRST.iin,
                                 surname=surname, given_name=given,
                                 patronymic=patronymic if rng.random() < 0.8 else None))
    for person in people * 2:
        assert subjects.encode(person) == subject_name(person).public_bytes()
    with pytest.raises(InvalidIdentityNumber):
        subjects.encode(Individual(iin="940315400075", surname="Smith", given_name="Anna"))
    with pytest.raises(InvalidName):
        subjects.encode(Individual(iin=FIRST.iin, surname="Smith1", given_name="Anna"))
    # Both parts known (from names that fit), together beyond the CN's 64 bytes: refused.
    subjects.encode(Individual(iin=FIRST.iin, surname="Smith", given_name="Б" * 12))
    with pytest.raises(CAError):
        subjects.encode(Individual(iin=FIRST.iin, surname="Ә" * 20, given_name="Б" * 12))


def test_the_issued_certificates_der_is_kept(pki: PKI) -> None:
    issuer = _issuer(pki.ca, ec.generate_private_key(ec.SECP256R1()).public_key())
    issued = [issuer.issue(FIRST if i % 2 else LATER, moment=pki.moment, crl_partition=1)
              for i in range(6)]
    for certificate in issued:
        der = certificate.public_bytes(serialization.Encoding.DER)
        assert issuer.encoded(certificate) == der
        assert x509.load_der_x509_certificate(der) == certificate
    # The last ones are kept as issued; an equal certificate loaded again is encoded anew.
    again = x509.load_der_x509_certificate(issued[-1].public_bytes(serialization.Encoding.DER))
    assert issuer.encoded(again) == issuer.encoded(issued[-1])
