"""The TEST CA (signing.ca): hierarchy, profiles, issuance paths, storage, PKCS#12, CRL."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store

from signing.ca import (
    OID_ARC,
    POLICY_TEST_INDIVIDUAL_SIGNING,
    POLICY_TEST_ORGANISATION_SEAL,
    SERIAL_BITS,
    BadKeyFilePassword,
    CertificationAuthority,
    Individual,
    InMemoryCertificateStatus,
    InvalidKeyFile,
    Organisation,
    Profile,
    RevokedCertificate,
    TLSServer,
    enrollment_challenge,
    export_pkcs12,
    load_pkcs12,
    random_serial,
)
from signing.ca.profiles import ISSUING_NAME, ROOT_NAME, CAProfile, ca_certificate
from signing.errors import (
    BadPassphrase,
    CAError,
    InvalidCertificateRequest,
    InvalidIdentityNumber,
    InvalidName,
    ProofOfPossessionFailed,
    SigningError,
    WeakKey,
)
from signing.report import RevocationState

if TYPE_CHECKING:
    from conftest import PKI

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERSON = Individual(
    iin="940315400074", surname="Қасымова", given_name="Әйгерім", patronymic="Ерланқызы"
)
PERSON_WITHOUT_PATRONYMIC = Individual(iin="940315400084", surname="Smith", given_name="Anna")
OTHER_PERSON = Individual(iin="910802300025", surname="Петров", given_name="Пётр")
SEAL = Organisation(bin="050440000022", name="TEST перзентхана №2")


def _attributes(name: x509.Name) -> list[tuple[x509.ObjectIdentifier, str]]:
    return [(a.oid, str(a.value)) for a in name]


def _extension(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[
    x509.ExtensionType
]:
    return certificate.extensions.get_extension_for_oid(oid)


@pytest.fixture(scope="module")
def ca(pki: PKI) -> CertificationAuthority:
    return pki.ca


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# -- the hierarchy ----------------------------------------------------------------------------


def test_oid_arc_is_a_uuid_arc_and_policies_hang_below_it() -> None:
    assert OID_ARC.startswith("2.25.")
    assert int(OID_ARC.removeprefix("2.25.")) < 2**128
    assert int(OID_ARC.removeprefix("2.25.")) != 0
    assert POLICY_TEST_INDIVIDUAL_SIGNING.dotted_string == OID_ARC + ".1.1"
    assert POLICY_TEST_ORGANISATION_SEAL.dotted_string == OID_ARC + ".1.2"


def test_root_and_issuing_ca_names_say_test(ca: CertificationAuthority) -> None:
    assert _attributes(ca.root_certificate.subject) == [
        (NameOID.COMMON_NAME, "birthreg TEST Root CA - NOT FOR PRODUCTION"),
        (NameOID.ORGANIZATION_NAME, "birthreg TEST"),
        (NameOID.COUNTRY_NAME, "KZ"),
    ]
    assert _attributes(ca.issuing_certificate.subject) == [
        (NameOID.COMMON_NAME, "birthreg TEST Issuing CA - NOT FOR PRODUCTION"),
        (NameOID.ORGANIZATION_NAME, "birthreg TEST"),
        (NameOID.COUNTRY_NAME, "KZ"),
    ]
    assert ca.root_certificate.issuer == ca.root_certificate.subject
    assert ca.issuing_certificate.issuer == ca.root_certificate.subject


def test_ca_certificates_have_the_ca_profile(pki: PKI) -> None:
    ca = pki.ca
    for certificate, path_length, digital_signature in (
        (ca.root_certificate, 1, False),
        (ca.issuing_certificate, 0, True),
    ):
        assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
        assert isinstance(certificate.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
        assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
        constraints = _extension(certificate, ExtensionOID.BASIC_CONSTRAINTS)
        assert constraints.critical
        assert constraints.value == x509.BasicConstraints(ca=True, path_length=path_length)
        usage = _extension(certificate, ExtensionOID.KEY_USAGE)
        assert usage.critical
        assert usage.value.key_cert_sign and usage.value.crl_sign  # type: ignore[attr-defined]
        # Only the issuing CA signs (OCSP answers) besides certificates and CRLs.
        assert usage.value.digital_signature is digital_signature  # type: ignore[attr-defined]
        assert not usage.value.content_commitment  # type: ignore[attr-defined]
        ski = _extension(certificate, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
        assert ski == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())  # type: ignore[arg-type]
        aki = _extension(certificate, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
        expected_aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca.root_certificate.public_key()  # type: ignore[arg-type]
        )
        assert aki == expected_aki
        assert 0 < certificate.serial_number < 2**SERIAL_BITS
    ca.root_certificate.verify_directly_issued_by(ca.root_certificate)
    ca.issuing_certificate.verify_directly_issued_by(ca.root_certificate)


def test_ca_validity_periods(pki: PKI) -> None:
    created = pki.ca_created
    root, issuing = pki.ca.root_certificate, pki.ca.issuing_certificate
    assert root.not_valid_before_utc == created - timedelta(minutes=5)
    assert issuing.not_valid_before_utc == created - timedelta(minutes=5)
    assert root.not_valid_after_utc - created == timedelta(days=7305)
    assert issuing.not_valid_after_utc - created == timedelta(days=3653)


def test_create_needs_an_aware_moment_and_an_http_base_url() -> None:
    with pytest.raises(CAError):
        CertificationAuthority.create(base_url="http://x.test", moment=datetime(2026, 6, 1))
    with pytest.raises(CAError):
        CertificationAuthority.create(base_url="ftp://x.test", moment=MOMENT)


def test_urls_come_from_the_base_url_without_trailing_slash() -> None:
    ca = CertificationAuthority.create(base_url="https://example.test/", moment=MOMENT)
    assert ca.crl_url == "https://example.test/pki/crl"
    assert ca.ocsp_url == "https://example.test/pki/ocsp"
    assert ca.ca_issuers_url == "https://example.test/pki/ca.cer"
    assert ca.arl_url == "https://example.test/pki/root.crl"
    assert ca.root_issuers_url == "https://example.test/pki/root.cer"
    assert ca.chain == (ca.issuing_certificate,)


def test_the_issuing_ca_points_to_the_roots_crl_and_certificate(pki: PKI) -> None:
    extensions = pki.ca.issuing_certificate.extensions
    (point,) = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name == [x509.UniformResourceIdentifier("http://birthreg.test/pki/root.crl")]
    access = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(a.access_method, a.access_location.value) for a in access] == [
        (AuthorityInformationAccessOID.CA_ISSUERS, "http://birthreg.test/pki/root.cer"),
    ]
    for extension in extensions:
        if extension.oid in (
            ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_INFORMATION_ACCESS
        ):
            assert not extension.critical
    # The root is the anchor: it points nowhere.
    root_extensions = {e.oid for e in pki.ca.root_certificate.extensions}
    assert ExtensionOID.CRL_DISTRIBUTION_POINTS not in root_extensions
    assert ExtensionOID.AUTHORITY_INFORMATION_ACCESS not in root_extensions


# -- profiles ---------------------------------------------------------------------------------


def test_individual_subject_follows_the_national_profile_plus_test_marker(pki: PKI) -> None:
    certificate = pki.mother.certificate
    assert _attributes(certificate.subject) == [
        (NameOID.COMMON_NAME, "Әбілқасымова Гүлнұр"),
        (NameOID.SURNAME, "Әбілқасымова"),
        (NameOID.GIVEN_NAME, "Серікқызы"),
        (NameOID.SERIAL_NUMBER, "IIN940315400014"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST - NOT FOR PRODUCTION"),
        (NameOID.COUNTRY_NAME, "KZ"),
    ]
    assert certificate.issuer == pki.ca.issuing_certificate.subject


def test_individual_without_patronymic_has_no_givenname(ca: CertificationAuthority) -> None:
    certificate = ca.issue(
        _p256().public_key(), PERSON_WITHOUT_PATRONYMIC, profile=Profile.INDIVIDUAL, moment=MOMENT
    )
    assert _attributes(certificate.subject) == [
        (NameOID.COMMON_NAME, "Smith Anna"),
        (NameOID.SURNAME, "Smith"),
        (NameOID.SERIAL_NUMBER, "IIN940315400084"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST - NOT FOR PRODUCTION"),
        (NameOID.COUNTRY_NAME, "KZ"),
    ]


def test_organisation_subject(pki: PKI) -> None:
    assert _attributes(pki.facility.certificate.subject) == [
        (NameOID.COMMON_NAME, "Өскемен қалалық перзентханасы"),
        (NameOID.ORGANIZATION_NAME, "Өскемен қалалық перзентханасы"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "BIN050440000012"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST - NOT FOR PRODUCTION"),
        (NameOID.COUNTRY_NAME, "KZ"),
    ]


def test_serialnumber_is_a_printable_string(pki: PKI) -> None:
    # X.520 says serialNumber is a PrintableString; the national CA and OpenSSL expect that.
    (attribute,) = pki.mother.certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    assert attribute._type == x509.name._ASN1Type.PrintableString  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("party", "policy"),
    [("mother", POLICY_TEST_INDIVIDUAL_SIGNING), ("facility", POLICY_TEST_ORGANISATION_SEAL)],
)
def test_end_entity_extensions(pki: PKI, party: str, policy: x509.ObjectIdentifier) -> None:
    certificate = getattr(pki, party).certificate
    ca = pki.ca
    critical = {e.oid for e in certificate.extensions if e.critical}
    assert critical == {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE}
    assert {e.oid for e in certificate.extensions} == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
    extensions = certificate.extensions
    assert extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(
        ca=False, path_length=None
    )
    assert extensions.get_extension_for_class(x509.KeyUsage).value == x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    assert list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.EMAIL_PROTECTION
    ]
    policies = extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [policy]
    (point,) = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name == [x509.UniformResourceIdentifier("http://birthreg.test/pki/crl")]
    assert point.crl_issuer is None and point.reasons is None
    access = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [(a.access_method, a.access_location.value) for a in access] == [
        (AuthorityInformationAccessOID.OCSP, "http://birthreg.test/pki/ocsp"),
        (AuthorityInformationAccessOID.CA_ISSUERS, "http://birthreg.test/pki/ca.cer"),
    ]
    ski = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
    aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuing_ski = ca.issuing_certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    assert aki.key_identifier == issuing_ski.digest
    assert aki.authority_cert_issuer is None and aki.authority_cert_serial_number is None
    assert isinstance(certificate.signature_hash_algorithm, hashes.SHA256)
    certificate.verify_directly_issued_by(ca.issuing_certificate)


def test_individual_validity_is_one_year_from_moment_less_skew(pki: PKI) -> None:
    certificate = pki.mother.certificate
    issued = pki.moment - timedelta(days=1)
    assert certificate.not_valid_before_utc == issued - timedelta(minutes=5)
    assert certificate.not_valid_after_utc == issued + timedelta(days=365)


def test_seal_validity_is_three_years(pki: PKI) -> None:
    certificate = pki.facility.certificate
    issued = pki.moment - timedelta(days=1)
    assert certificate.not_valid_after_utc == issued + timedelta(days=3 * 365)


def test_validity_is_clamped_to_the_issuing_ca(ca: CertificationAuthority) -> None:
    end = ca.issuing_certificate.not_valid_after_utc
    late = end - timedelta(days=30)
    certificate = ca.issue(_p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=late)
    assert certificate.not_valid_after_utc == end
    seal = ca.issue(
        _p256().public_key(), SEAL, profile=Profile.ORGANISATION_SEAL, moment=late,
        validity=timedelta(days=10_000),
    )
    assert seal.not_valid_after_utc == end


def test_explicit_validity(ca: CertificationAuthority) -> None:
    certificate = ca.issue(
        _p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT,
        validity=timedelta(days=7),
    )
    assert certificate.not_valid_after_utc == MOMENT + timedelta(days=7)
    with pytest.raises(CAError):
        ca.issue(
            _p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT,
            validity=timedelta(0),
        )


def test_no_issue_outside_the_issuing_ca_validity(ca: CertificationAuthority) -> None:
    issuing = ca.issuing_certificate
    for moment in (
        issuing.not_valid_before_utc - timedelta(seconds=1),
        issuing.not_valid_after_utc,
    ):
        with pytest.raises(CAError):
            ca.issue(_p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=moment)


def test_not_before_never_precedes_the_issuing_ca(ca: CertificationAuthority) -> None:
    start = ca.issuing_certificate.not_valid_before_utc
    certificate = ca.issue(_p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=start)
    assert certificate.not_valid_before_utc == start


def test_profile_and_subject_must_agree(ca: CertificationAuthority) -> None:
    key = _p256().public_key()
    with pytest.raises(CAError):
        ca.issue(key, SEAL, profile=Profile.INDIVIDUAL, moment=MOMENT)
    with pytest.raises(CAError):
        ca.issue(key, PERSON, profile=Profile.ORGANISATION_SEAL, moment=MOMENT)
    with pytest.raises(CAError, match="OCSP"):
        ca.issue(key, SEAL, profile=Profile.OCSP_RESPONDER, moment=MOMENT)


def test_naive_moment_is_refused(ca: CertificationAuthority) -> None:
    with pytest.raises(CAError):
        ca.issue(
            _p256().public_key(), PERSON, profile=Profile.INDIVIDUAL,
            moment=datetime(2026, 6, 1, 12),
        )


@pytest.mark.parametrize(
    ("subject", "error"),
    [
        (Individual(iin="940315400015", surname="Қасымова", given_name="Ә"), InvalidIdentityNumber),
        (Individual(iin="9403154000", surname="Қасымова", given_name="Ә"), InvalidIdentityNumber),
        (Individual(iin="940315400074", surname="Қасымова<script>", given_name="Ә"), InvalidName),
        (Individual(iin="940315400074", surname="Қасымова", given_name=""), InvalidName),
        (Individual(iin="940315400074", surname="Ivаnova", given_name="Anna"), InvalidName),
        (
            Individual(iin="940315400074", surname="Қасымова", given_name="Ә", patronymic="X\n"),
            InvalidName,
        ),
        (Organisation(bin="050440000023", name="TEST"), InvalidIdentityNumber),
        (Organisation(bin="050440000022", name=""), CAError),
        (Organisation(bin="050440000022", name="A\u0000B"), CAError),
        (Organisation(bin="050440000022", name="x" * 65), CAError),
        (Organisation(bin="050440000022", name="A\u00a0B"), CAError),
        (Organisation(bin="050440000022", name="A\u200bB"), CAError),
        (Organisation(bin="050440000022", name=" AB"), CAError),
    ],
)
def test_identity_and_names_are_validated(
    ca: CertificationAuthority, subject: Individual | Organisation, error: type[SigningError]
) -> None:
    profile = Profile.INDIVIDUAL if isinstance(subject, Individual) else Profile.ORGANISATION_SEAL
    with pytest.raises(error):
        ca.issue(_p256().public_key(), subject, profile=profile, moment=MOMENT)


def test_common_name_longer_than_64_is_refused(ca: CertificationAuthority) -> None:
    long_person = Individual(iin="940315400074", surname="А" * 40, given_name="Б" * 30)
    with pytest.raises(CAError):
        ca.issue(_p256().public_key(), long_person, profile=Profile.INDIVIDUAL, moment=MOMENT)


def test_names_are_put_in_nfc(ca: CertificationAuthority) -> None:
    decomposed = Individual(
        iin="940315400074",
        surname="Пе\u0308тр",  # е + combining diaeresis
        given_name="И\u0306орген",  # И + combining breve
    )
    certificate = ca.issue(
        _p256().public_key(), decomposed, profile=Profile.INDIVIDUAL, moment=MOMENT
    )
    assert certificate.subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "Пётр"
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Пётр Йорген"


def test_rsa_2048_is_accepted(pki: PKI) -> None:
    public_key = pki.rsa_signer.certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        ec.generate_private_key(ec.SECP224R1()),
        ec.generate_private_key(ec.SECP521R1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa1024", "p224", "p521", "ed25519"],
)
def test_weak_or_foreign_keys_are_refused(ca: CertificationAuthority, key: object) -> None:
    with pytest.raises(WeakKey):
        ca.issue(key.public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT)  # type: ignore[attr-defined]


def test_a_ca_key_is_never_certified_as_an_end_entity(ca: CertificationAuthority) -> None:
    for certificate in (ca.root_certificate, ca.issuing_certificate):
        with pytest.raises(CAError):
            ca.issue(certificate.public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT)


def test_serials_are_random_positive_and_at_most_128_bits(pki: PKI) -> None:
    serials = [random_serial() for _ in range(2000)]
    assert len(set(serials)) == len(serials)
    assert all(0 < s < 2**128 for s in serials)
    # 128 random bits: about half of them use the top bit.
    assert 800 < sum(s >> 127 for s in serials) < 1200
    issued = [
        pki.ca.issue(_p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT)
        for _ in range(5)
    ]
    issued_serials = {c.serial_number for c in issued}
    assert len(issued_serials) == 5
    assert all(0 < s < 2**128 for s in issued_serials)


def test_issued_certificates_chain_with_cryptography_verifier(pki: PKI) -> None:
    # The CA certificates must satisfy cryptography's CA profile (what signing.trust relies on).
    verifier = (
        PolicyBuilder()
        .store(Store([pki.ca.root_certificate]))
        .time(pki.moment)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    for party in (pki.mother, pki.father, pki.facility, pki.registry_office, pki.rsa_signer):
        verified = verifier.verify(party.certificate, list(party.chain))
        assert verified.chain == [
            party.certificate, pki.ca.issuing_certificate, pki.ca.root_certificate
        ]


# -- issuance from a CSR ----------------------------------------------------------------------


def _csr(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    algorithm: hashes.HashAlgorithm | None = None,
) -> x509.CertificateSigningRequest:
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Петров Пётр"),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, "IIN910802300025"),
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
                ]
            )
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name("attacker@example.test")]), critical=False
        )
    )
    if algorithm is None and not isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = hashes.SHA256()
    return builder.sign(key, algorithm)


def test_csr_cannot_choose_the_identity(ca: CertificationAuthority) -> None:
    key = _p256()
    csr = _csr(key).public_bytes(serialization.Encoding.PEM)
    certificate = ca.issue_from_csr(csr, PERSON, moment=MOMENT)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == (
        "IIN940315400074"
    )
    assert "910802300025" not in certificate.subject.rfc4514_string()
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_TEST_INDIVIDUAL_SIGNING]


def test_csr_in_der_and_for_a_seal(ca: CertificationAuthority) -> None:
    key = _p256()
    csr = _csr(key).public_bytes(serialization.Encoding.DER)
    certificate = ca.issue_from_csr(csr, SEAL, moment=MOMENT, profile=Profile.ORGANISATION_SEAL)
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [u.value for u in units] == ["BIN050440000022", "TEST - NOT FOR PRODUCTION"]


def test_csr_with_a_bad_signature_fails_proof_of_possession(ca: CertificationAuthority) -> None:
    der = bytearray(_csr(_p256()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last octet of the signature's s
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_csr(bytes(der), PERSON, moment=MOMENT)


def test_csr_signed_by_another_key_fails_proof_of_possession(ca: CertificationAuthority) -> None:
    # Splice the public key of one CSR into the body of another, keeping the first signature.
    honest = _csr(_p256())
    victim_key = _p256()
    victim = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(honest.subject)
        .sign(victim_key, hashes.SHA256())
    )
    spliced = asn1_csr.CertificationRequest.load(honest.public_bytes(serialization.Encoding.DER))
    victim_info = asn1_csr.CertificationRequest.load(
        victim.public_bytes(serialization.Encoding.DER)
    )["certification_request_info"]
    spliced["certification_request_info"]["subject_pk_info"] = victim_info["subject_pk_info"]
    assert x509.load_der_x509_csr(spliced.dump()).public_key() == victim_key.public_key()
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_csr(spliced.dump(), PERSON, moment=MOMENT)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x30\x03\x02\x01\x00",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"not a csr",
    ],
)
def test_unparseable_csr_is_an_invalid_request(ca: CertificationAuthority, garbage: bytes) -> None:
    with pytest.raises(InvalidCertificateRequest) as raised:
        ca.issue_from_csr(garbage, PERSON, moment=MOMENT)
    assert not isinstance(raised.value, ProofOfPossessionFailed)


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        ec.generate_private_key(ec.SECP224R1()),
        ec.generate_private_key(ec.SECP521R1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa1024", "p224", "p521", "ed25519"],
)
def test_csr_with_a_weak_key_is_refused(
    ca: CertificationAuthority,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    with pytest.raises(WeakKey):
        ca.issue_from_csr(_csr(key).public_bytes(serialization.Encoding.PEM), PERSON, moment=MOMENT)


def test_csr_signed_with_sha1_is_refused(ca: CertificationAuthority) -> None:
    # cryptography no longer makes SHA-1 CSRs: re-sign a good one's body with ECDSA-SHA1.
    key = _p256()
    request = asn1_csr.CertificationRequest.load(_csr(key).public_bytes(serialization.Encoding.DER))
    body = request["certification_request_info"].dump()
    request["signature_algorithm"] = {"algorithm": "sha1_ecdsa"}
    request["signature"] = key.sign(body, ec.ECDSA(hashes.SHA1()))  # noqa: S303
    sha1_csr = request.dump()
    parsed = x509.load_der_x509_csr(sha1_csr)
    key.public_key().verify(parsed.signature, parsed.tbs_certrequest_bytes, ec.ECDSA(hashes.SHA1()))  # noqa: S303
    with pytest.raises(InvalidCertificateRequest):
        ca.issue_from_csr(sha1_csr, PERSON, moment=MOMENT)


def test_csr_with_rsa_2048(ca: CertificationAuthority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = ca.issue_from_csr(
        _csr(key).public_bytes(serialization.Encoding.PEM), PERSON, moment=MOMENT
    )
    assert certificate.public_key() == key.public_key()


# -- issuance from a WebCrypto key ------------------------------------------------------------


def _spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _raw_proof(
    key: ec.EllipticCurvePrivateKey, challenge: bytes, algorithm: hashes.HashAlgorithm | None = None
) -> bytes:
    """What WebCrypto's sign() gives: r‖s, each as long as the curve's order."""
    size = (key.curve.key_size + 7) // 8
    r, s = decode_dss_signature(key.sign(challenge, ec.ECDSA(algorithm or hashes.SHA256())))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def test_spki_with_a_good_proof(ca: CertificationAuthority) -> None:
    key = _p256()
    challenge = enrollment_challenge("K7Q2-9XPM")
    assert challenge == b"birthreg-enroll:K7Q2-9XPM"
    proof = _raw_proof(key, challenge)
    assert len(proof) == 64
    certificate = ca.issue_from_spki(_spki(key), proof, challenge, PERSON, moment=MOMENT)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == (
        "IIN940315400074"
    )
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_TEST_INDIVIDUAL_SIGNING]


def test_spki_p384_with_sha384_proof(ca: CertificationAuthority) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    challenge = enrollment_challenge("code")
    proof = _raw_proof(key, challenge, hashes.SHA384())
    assert len(proof) == 96
    certificate = ca.issue_from_spki(_spki(key), proof, challenge, PERSON, moment=MOMENT)
    assert certificate.public_key() == key.public_key()


def test_spki_proof_over_another_challenge_fails(ca: CertificationAuthority) -> None:
    key = _p256()
    proof = _raw_proof(key, enrollment_challenge("old-code"))
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(
            _spki(key), proof, enrollment_challenge("new-code"), PERSON, moment=MOMENT
        )


def test_spki_proof_by_another_key_fails(ca: CertificationAuthority) -> None:
    challenge = enrollment_challenge("code")
    proof = _raw_proof(_p256(), challenge)
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(_spki(_p256()), proof, challenge, PERSON, moment=MOMENT)


def test_spki_proof_with_sha384_on_p256_fails(ca: CertificationAuthority) -> None:
    key = _p256()
    challenge = enrollment_challenge("code")
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(
            _spki(key), _raw_proof(key, challenge, hashes.SHA384()), challenge, PERSON,
            moment=MOMENT,
        )


def test_spki_proof_of_the_wrong_form_fails(ca: CertificationAuthority) -> None:
    key = _p256()
    challenge = enrollment_challenge("code")
    good = _raw_proof(key, challenge)
    der = key.sign(challenge, ec.ECDSA(hashes.SHA256()))
    for proof in (b"", good[:-1], good + b"\x00", der, bytes(64), b"\xff" * 64):
        with pytest.raises(ProofOfPossessionFailed):
            ca.issue_from_spki(_spki(key), proof, challenge, PERSON, moment=MOMENT)
    tampered = bytearray(good)
    tampered[10] ^= 0x80
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(_spki(key), bytes(tampered), challenge, PERSON, moment=MOMENT)


def test_spki_that_is_not_an_ec_key(ca: CertificationAuthority) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidCertificateRequest):
        ca.issue_from_spki(_spki(rsa_key), bytes(64), b"c", PERSON, moment=MOMENT)
    for garbage in (b"", b"\x30\x00", b"garbage", _spki(_p256())[:-1], _spki(_p256()) + b"\x00"):
        with pytest.raises(InvalidCertificateRequest):
            ca.issue_from_spki(garbage, bytes(64), b"c", PERSON, moment=MOMENT)


def test_spki_on_a_weak_curve(ca: CertificationAuthority) -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    challenge = b"c"
    with pytest.raises(WeakKey):
        ca.issue_from_spki(_spki(key), _raw_proof(key, challenge), challenge, PERSON, moment=MOMENT)


def test_issue_with_new_key(ca: CertificationAuthority) -> None:
    key, certificate = ca.issue_with_new_key(SEAL, profile=Profile.ORGANISATION_SEAL, moment=MOMENT)
    assert isinstance(key.curve, ec.SECP256R1)
    assert certificate.public_key() == key.public_key()
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_TEST_ORGANISATION_SEAL]


# -- saving and loading -----------------------------------------------------------------------

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertificationAuthority, Path]:
    ca = CertificationAuthority.create(base_url="http://birthreg.test", moment=MOMENT)
    directory = tmp_path_factory.mktemp("ca") / "keys"
    ca.save(directory, PASSPHRASE)
    return ca, directory


def test_save_and_load_round_trip(saved: tuple[CertificationAuthority, Path]) -> None:
    ca, directory = saved
    assert CertificationAuthority.exists(directory)
    loaded = CertificationAuthority.load(directory, PASSPHRASE, base_url="https://elsewhere.test")
    assert loaded.root_certificate == ca.root_certificate
    assert loaded.issuing_certificate == ca.issuing_certificate
    assert loaded.base_url == "https://elsewhere.test"
    certificate = loaded.issue(
        _p256().public_key(), PERSON, profile=Profile.INDIVIDUAL, moment=MOMENT
    )
    certificate.verify_directly_issued_by(ca.issuing_certificate)


def test_saved_files_are_private_and_keys_encrypted(
    saved: tuple[CertificationAuthority, Path],
) -> None:
    ca, directory = saved
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["ca-key.pem", "ca.pem", "root-key.pem", "root.pem"]  # no temp files left
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for key_file in ("root-key.pem", "ca-key.pem"):
        text = (directory / key_file).read_bytes()
        assert text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(text, password=None)
    assert (directory / "root.pem").read_bytes() == ca.root_certificate.public_bytes(
        serialization.Encoding.PEM
    )
    assert (directory / "ca.pem").read_bytes() == ca.issuing_certificate.public_bytes(
        serialization.Encoding.PEM
    )


def test_wrong_or_empty_passphrase(saved: tuple[CertificationAuthority, Path]) -> None:
    _, directory = saved
    with pytest.raises(BadPassphrase):
        CertificationAuthority.load(directory, b"wrong passphrase", base_url="http://x.test")
    with pytest.raises(BadPassphrase):
        CertificationAuthority.load(directory, b"", base_url="http://x.test")


def test_load_changes_nothing(saved: tuple[CertificationAuthority, Path]) -> None:
    _, directory = saved
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    CertificationAuthority.load(directory, PASSPHRASE, base_url="http://x.test")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    assert before == after


def test_saving_over_an_existing_ca_is_refused(saved: tuple[CertificationAuthority, Path]) -> None:
    _, directory = saved
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    other = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    with pytest.raises(CAError):
        other.save(directory, PASSPHRASE)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


def test_saving_over_a_partial_ca_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca-key.pem").write_bytes(b"left over")
    ca = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    assert not CertificationAuthority.exists(tmp_path)
    with pytest.raises(CAError):
        ca.save(tmp_path, PASSPHRASE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca-key.pem"]


def test_empty_passphrase_is_refused_on_save(tmp_path: Path) -> None:
    ca = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    with pytest.raises(CAError):
        ca.save(tmp_path / "ca", b"")
    assert not (tmp_path / "ca").exists()


def test_load_of_missing_or_tampered_files(
    tmp_path: Path, saved: tuple[CertificationAuthority, Path]
) -> None:
    _, directory = saved
    assert not CertificationAuthority.exists(tmp_path)
    with pytest.raises(CAError):
        CertificationAuthority.load(tmp_path, PASSPHRASE, base_url="http://x.test")

    copy = tmp_path / "copy"
    copy.mkdir()
    for path in directory.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    # An unencrypted key in place of the encrypted one is refused, not used.
    plain = serialization.load_pem_private_key(
        (directory / "ca-key.pem").read_bytes(), password=PASSPHRASE
    ).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (copy / "ca-key.pem").write_bytes(plain)
    with pytest.raises(CAError, match="not an encrypted"):
        CertificationAuthority.load(copy, PASSPHRASE, base_url="http://x.test")
    # Another CA's issuing certificate does not match the keys.
    other = CertificationAuthority.create(base_url="http://x.test", moment=MOMENT)
    for path in directory.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    other_pem = other.issuing_certificate.public_bytes(serialization.Encoding.PEM)
    (copy / "ca.pem").write_bytes(other_pem)
    with pytest.raises(CAError):
        CertificationAuthority.load(copy, PASSPHRASE, base_url="http://x.test")


def test_save_tightens_an_existing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)  # noqa: S103 - the point of the test
    CertificationAuthority.create(base_url="http://x.test", moment=MOMENT).save(
        directory, PASSPHRASE
    )
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


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


# -- PKCS#12 ----------------------------------------------------------------------------------

PFX_PASSWORD = "пароль-1234".encode()


@pytest.fixture(scope="module")
def pfx(pki: PKI) -> bytes:
    return export_pkcs12(
        pki.mother.key, pki.mother.certificate, pki.mother.chain, password=PFX_PASSWORD,
        friendly_name="Әбілқасымова Гүлнұр".encode(),
    )


def test_pkcs12_round_trip(pki: PKI, pfx: bytes) -> None:
    key, certificate, chain = load_pkcs12(pfx, PFX_PASSWORD)
    assert certificate == pki.mother.certificate
    assert key.public_key() == pki.mother.certificate.public_key()
    assert chain == (pki.ca.issuing_certificate,)
    loaded = serialization.pkcs12.load_pkcs12(pfx, PFX_PASSWORD)
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == "Әбілқасымова Гүлнұр".encode()


def test_pkcs12_uses_pbes2_pbkdf2_sha256_aes256_and_a_sha256_mac(pfx: bytes) -> None:
    parsed = asn1_pkcs12.Pfx.load(pfx)
    mac = parsed["mac_data"]
    assert mac["mac"]["digest_algorithm"]["algorithm"].native == "sha256"
    algorithms = []
    for content_info in parsed.authenticated_safe:
        if content_info["content_type"].native == "encrypted_data":
            algorithms.append(
                content_info["content"]["encrypted_content_info"]["content_encryption_algorithm"]
            )
        else:
            safe = asn1_pkcs12.SafeContents.load(content_info["content"].native)
            for bag in safe:
                assert bag["bag_id"].native == "pkcs8_shrouded_key_bag"
                algorithms.append(bag["bag_value"]["encryption_algorithm"])
    assert len(algorithms) == 2  # the certificates and the key
    for algorithm in algorithms:
        assert algorithm["algorithm"].native == "pbes2"
        kdf = algorithm["parameters"]["key_derivation_func"]
        assert kdf["algorithm"].native == "pbkdf2"
        assert kdf["parameters"]["iteration_count"].native >= 600_000
        assert kdf["parameters"]["prf"]["algorithm"].native == "sha256"
        assert algorithm["parameters"]["encryption_scheme"]["algorithm"].native == "aes256_cbc"


def test_pkcs12_wrong_password_and_garbage(pfx: bytes) -> None:
    with pytest.raises(BadKeyFilePassword) as raised:
        load_pkcs12(pfx, b"wrong password")
    assert raised.value.code == "bad_key_file_password"
    with pytest.raises(InvalidKeyFile) as garbage:
        load_pkcs12(b"not a key file", PFX_PASSWORD)
    assert not isinstance(garbage.value, BadKeyFilePassword)
    assert garbage.value.code == "invalid_key_file"


def test_pkcs12_refuses_short_passwords_and_mismatched_keys(pki: PKI) -> None:
    with pytest.raises(CAError, match="10 characters"):
        export_pkcs12(
            pki.mother.key, pki.mother.certificate, (), password=b"short", friendly_name=b"x"
        )
    # Ten Cyrillic letters are 20 bytes but still ten characters: counted as characters.
    with pytest.raises(CAError):
        export_pkcs12(
            pki.mother.key, pki.mother.certificate, (), password="пароль123".encode(),
            friendly_name=b"x",
        )
    with pytest.raises(CAError):
        export_pkcs12(
            pki.father.key, pki.mother.certificate, (), password=PFX_PASSWORD, friendly_name=b"x"
        )


@pytest.mark.parametrize(
    "password", ["\0" * 12, "password\0\0\0\0", "pass\tword-12", "pass\u202eword-12"]
)
def test_pkcs12_refuses_control_characters_in_passwords(pki: PKI, password: str) -> None:
    with pytest.raises(CAError, match="control"):
        export_pkcs12(
            pki.mother.key, pki.mother.certificate, (), password=password.encode(),
            friendly_name=b"x",
        )


def test_a_made_key_file_opens_only_with_its_password(pfx: bytes) -> None:
    for wrong in (b"", b"\0", PFX_PASSWORD[:-1]):
        with pytest.raises(BadKeyFilePassword):
            load_pkcs12(pfx, wrong)
    assert load_pkcs12(pfx, PFX_PASSWORD)[0] is not None
