"""What the CA issued and revoked, and its CRLs (signing.ca.crl): profile, scope, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.ca import (
    CertificationAuthority,
    Individual,
    InMemoryCertificateStatus,
    Profile,
    RevokedCertificate,
    TLSServer,
    random_serial,
)
from signing.ca.profiles import ISSUING_NAME, ROOT_NAME, CAProfile, ca_certificate
from signing.errors import (
    CAError,
)
from signing.report import RevocationState

if TYPE_CHECKING:
    from conftest import PKI

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERSON = Individual(
    iin="940315400074", surname="Қасымова", given_name="Әйгерім", patronymic="Ерланқызы"
)


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# -- status source ----------------------------------------------------------------------------


def test_in_memory_status(pki: PKI) -> None:
    statuses = InMemoryCertificateStatus()
    certificate = pki.mother.certificate
    serial = certificate.serial_number
    assert statuses.status(serial).state is RevocationState.UNKNOWN
    statuses.add(certificate)
    statuses.add(certificate)  # again: harmless
    assert statuses.status(serial).state is RevocationState.GOOD
    assert statuses.revoked() == []
    with pytest.raises(CAError):
        statuses.revoke(serial + 1, MOMENT, x509.ReasonFlags.key_compromise)
    with pytest.raises(CAError):
        statuses.revoke(serial, MOMENT, x509.ReasonFlags.remove_from_crl)
    first = statuses.revoke(serial, MOMENT, x509.ReasonFlags.key_compromise)
    again = statuses.revoke(serial, MOMENT + timedelta(days=1), x509.ReasonFlags.superseded)
    assert again == first == RevokedCertificate(
        serial, MOMENT, x509.ReasonFlags.key_compromise, certificate.not_valid_after_utc
    )
    status = statuses.status(serial)
    assert status.state is RevocationState.REVOKED
    assert status.revoked_at == MOMENT
    assert status.reason is x509.ReasonFlags.key_compromise
    assert statuses.revoked() == [first]


def test_in_memory_status_refuses_a_serial_collision(pki: PKI) -> None:
    statuses = InMemoryCertificateStatus()
    statuses.add(pki.mother.certificate)
    impostor = (
        x509.CertificateBuilder()
        .subject_name(pki.father.certificate.subject)
        .issuer_name(pki.ca.issuing_certificate.subject)
        .public_key(pki.father.certificate.public_key())  # type: ignore[arg-type]
        .serial_number(pki.mother.certificate.serial_number)
        .not_valid_before(MOMENT)
        .not_valid_after(MOMENT + timedelta(days=1))
        .sign(pki.ca._issuing_key, hashes.SHA256())
    )
    with pytest.raises(CAError):
        statuses.add(impostor)


def test_fixture_statuses(pki: PKI) -> None:
    assert pki.statuses.status(pki.mother.certificate.serial_number).state is RevocationState.GOOD
    revoked = pki.statuses.status(pki.revoked_signer.certificate.serial_number)
    assert revoked.state is RevocationState.REVOKED
    assert revoked.revoked_at == pki.moment + timedelta(days=1)
    assert revoked.reason is x509.ReasonFlags.key_compromise
    assert pki.statuses.status(pki.other_ca_signer.certificate.serial_number).state is (
        RevocationState.UNKNOWN
    )
    assert pki.expired_signer.certificate.not_valid_after_utc < pki.moment
    assert pki.not_yet_valid_signer.certificate.not_valid_before_utc > pki.moment
    self_signed = pki.self_signed_with_iin.certificate
    assert self_signed.issuer == self_signed.subject
    usage = pki.wrong_key_usage_signer.certificate.extensions.get_extension_for_class(
        x509.KeyUsage
    ).value
    assert usage.key_encipherment and not usage.digital_signature
    assert pki.ca_as_signer.certificate == pki.ca.issuing_certificate


# -- CRL --------------------------------------------------------------------------------------


def _distribution_point(crl: x509.CertificateRevocationList) -> x509.Extension[
    x509.IssuingDistributionPoint
]:
    return crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)


def test_crl_contents(pki: PKI) -> None:
    first, second = random_serial(), random_serial()
    revoked = [
        RevokedCertificate(first, MOMENT - timedelta(hours=2), x509.ReasonFlags.key_compromise),
        RevokedCertificate(second, MOMENT - timedelta(hours=1)),
    ]
    crl = pki.ca.build_crl(revoked, number=42, moment=MOMENT, next_update=timedelta(hours=6))
    crl = x509.load_der_x509_crl(crl.public_bytes(serialization.Encoding.DER))
    assert crl.issuer == pki.ca.issuing_certificate.subject
    assert crl.last_update_utc == MOMENT
    assert crl.next_update_utc == MOMENT + timedelta(hours=6)
    assert isinstance(crl.signature_hash_algorithm, hashes.SHA256)
    assert crl.is_signature_valid(pki.ca.issuing_certificate.public_key())  # type: ignore[arg-type]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuing_ski = pki.ca.issuing_certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    assert aki.key_identifier == issuing_ski.digest
    # Its scope: end-entity certificates that point to its URL (RFC 5280 5.2.5, critical).
    point = _distribution_point(crl)
    assert point.critical
    assert point.value == x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(pki.ca.crl_url)],
        relative_name=None,
        only_contains_user_certs=True,
        only_contains_ca_certs=False,
        only_some_reasons=None,
        indirect_crl=False,
        only_contains_attribute_certs=False,
    )
    assert len(crl) == 2
    entry = crl.get_revoked_certificate_by_serial_number(first)
    assert entry is not None
    assert entry.revocation_date_utc == MOMENT - timedelta(hours=2)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    entry = crl.get_revoked_certificate_by_serial_number(second)
    assert entry is not None
    # RFC 5280 5.3.1: the reason code SHOULD be absent rather than "unspecified".
    assert len(entry.extensions) == 0
    mother_serial = pki.mother.certificate.serial_number
    assert crl.get_revoked_certificate_by_serial_number(mother_serial) is None


def test_empty_crl_and_bad_arguments(pki: PKI) -> None:
    crl = pki.ca.build_crl([], number=0, moment=MOMENT)
    assert len(crl) == 0
    assert crl.next_update_utc == MOMENT + timedelta(hours=24)
    with pytest.raises(CAError):
        pki.ca.build_crl([], number=-1, moment=MOMENT)
    with pytest.raises(CAError):
        pki.ca.build_crl([], number=1, moment=MOMENT, next_update=timedelta(0))
    with pytest.raises(CAError):
        pki.ca.build_crl(
            [RevokedCertificate(random_serial(), datetime(2026, 6, 1))], number=1, moment=MOMENT
        )


def test_expired_certificates_leave_the_crl_once_a_crl_after_their_expiry_listed_them(
    pki: PKI,
) -> None:
    """RFC 5280 3.3: an entry may go once it appeared on a CRL issued after the certificate
    expired, i.e. when it expired before the previous CRL's thisUpdate."""
    previous = MOMENT - timedelta(hours=1)
    still_valid, expired_since, expired_before, unknown = (random_serial() for _ in range(4))
    revoked = [
        RevokedCertificate(
            still_valid, MOMENT - timedelta(days=9), not_after=MOMENT + timedelta(days=1)
        ),
        RevokedCertificate(expired_since, MOMENT - timedelta(days=9), not_after=previous),
        RevokedCertificate(
            expired_before, MOMENT - timedelta(days=9), not_after=previous - timedelta(seconds=1)
        ),
        RevokedCertificate(unknown, MOMENT - timedelta(days=9)),  # expiry not known: kept
    ]
    listed = {
        entry.serial_number
        for entry in pki.ca.build_crl(revoked, number=2, moment=MOMENT, previous_update=previous)
    }
    assert listed == {still_valid, expired_since, unknown}
    # The first CRL of all lists everything: no earlier CRL listed the expired ones.
    first = {entry.serial_number for entry in pki.ca.build_crl(revoked, number=1, moment=MOMENT)}
    assert first == {still_valid, expired_since, expired_before, unknown}


def test_a_large_crl_takes_the_whole_list_at_once(pki: PKI) -> None:
    revoked = [
        RevokedCertificate(serial, MOMENT - timedelta(days=1), x509.ReasonFlags.superseded)
        for serial in range(1, 5001)
    ]
    crl = pki.ca.build_crl(revoked, number=3, moment=MOMENT)
    assert len(crl) == 5000
    assert crl.get_revoked_certificate_by_serial_number(4321) is not None


def test_the_root_publishes_its_own_crl(pki: PKI) -> None:
    arl = pki.ca.build_arl(number=5, moment=MOMENT, next_update=timedelta(days=7))
    assert arl.issuer == pki.ca.root_certificate.subject
    assert arl.is_signature_valid(pki.ca.root_certificate.public_key())  # type: ignore[arg-type]
    assert not arl.is_signature_valid(pki.ca.issuing_certificate.public_key())  # type: ignore[arg-type]
    assert arl.next_update_utc == MOMENT + timedelta(days=7)
    assert arl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 5
    aki = arl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(
        pki.ca.root_certificate.public_key()  # type: ignore[arg-type]
    ).digest
    point = _distribution_point(arl)
    assert point.critical
    # No URL: it covers every CA certificate of the root, the root's own included.
    assert point.value.full_name is None
    assert point.value.only_contains_ca_certs and not point.value.only_contains_user_certs
    assert len(arl) == 0
    revoked = pki.ca.build_arl(
        [RevokedCertificate(pki.ca.issuing_certificate.serial_number, MOMENT)],
        number=6, moment=MOMENT,
    )
    assert revoked.get_revoked_certificate_by_serial_number(
        pki.ca.issuing_certificate.serial_number
    ) is not None


def _old_ca(moment: datetime) -> CertificationAuthority:
    """A CA as made before the issuing CA certificate named the ARL."""
    root_key, issuing_key = _p256(), _p256()
    root = ca_certificate(
        CAProfile(ROOT_NAME, root_key.public_key(), ROOT_NAME, root_key, moment,
                  moment + timedelta(days=3650), path_length=1, signs_ocsp=False)
    )
    issuing = ca_certificate(
        CAProfile(ISSUING_NAME, issuing_key.public_key(), ROOT_NAME, root_key, moment,
                  moment + timedelta(days=365), path_length=0, signs_ocsp=True)
    )
    return CertificationAuthority(
        root_key=root_key, root_certificate=root, issuing_key=issuing_key,
        issuing_certificate=issuing, base_url="http://old.test",
    )


def test_an_older_ca_without_the_arl_pointer_keeps_working(tmp_path: Path) -> None:
    """Loaded as it is; its ARL names no distribution point, so it still covers the issuing CA
    certificate that points nowhere (OpenSSL's reading of RFC 5280 5.2.5)."""
    old = _old_ca(MOMENT - timedelta(days=1))
    old.save(tmp_path / "ca", b"passphrase")
    loaded = CertificationAuthority.load(tmp_path / "ca", b"passphrase", base_url="http://old.test")
    assert loaded.issuing_certificate == old.issuing_certificate
    point = _distribution_point(loaded.build_arl(number=1, moment=MOMENT)).value
    assert point.full_name is None and point.only_contains_ca_certs
    certificate = loaded.issue(_p256().public_key(), PERSON, profile=Profile.INDIVIDUAL,
                               moment=MOMENT)
    certificate.verify_directly_issued_by(loaded.issuing_certificate)


def test_tls_server_certificates_point_over_http() -> None:
    ca = CertificationAuthority.create(base_url="https://ward.test:8443", moment=MOMENT)
    certificate = ca.issue(
        _p256().public_key(), TLSServer(("ward.test",)), profile=Profile.TLS_SERVER, moment=MOMENT
    )
    (point,) = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name == [x509.UniformResourceIdentifier("http://ward.test:8443/pki/crl")]
    access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [a.access_location.value for a in access] == [
        "http://ward.test:8443/pki/ocsp",
        "http://ward.test:8443/pki/ca.cer",
    ]
    # The signing certificates keep the service's own address.
    mother = ca.issue(_p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT)
    (point,) = mother.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name == [x509.UniformResourceIdentifier("https://ward.test:8443/pki/crl")]
