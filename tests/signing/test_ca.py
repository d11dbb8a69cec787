"""The TEST CA (signing.ca): hierarchy, profiles and issuance (signing.ca.authority, profiles)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store

from signing.ca import (
    POLICY_TEST_INDIVIDUAL_SIGNING,
    POLICY_TEST_ORGANISATION_SEAL,
    CertificationAuthority,
    Individual,
    Organisation,
    Profile,
    random_serial,
)
from signing.ca.profiles import OID_ARC, SERIAL_BITS
from signing.errors import (
    CAError,
    InvalidIdentityNumber,
    InvalidName,
    SigningError,
    WeakKey,
)

if TYPE_CHECKING:
    from conftest import PKI

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERSON = Individual(
    iin="940315400074", surname="Қасымова", given_name="Әйгерім", patronymic="Ерланқызы"
)
PERSON_WITHOUT_PATRONYMIC = Individual(iin="940315400084", surname="Smith", given_name="Anna")
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
    assert ca.chain == (ca.issuing_certificate,)


def test_a_ca_knows_the_address_it_was_created_with() -> None:
    ca = CertificationAuthority.create(base_url="http://127.0.0.1:8000", moment=MOMENT)
    assert ca.created_base_url == "http://127.0.0.1:8000"
    moved = ca.with_base_url("http://127.0.0.1:8201")
    assert moved.crl_url == "http://127.0.0.1:8201/pki/crl"
    assert moved.issuing_certificate == ca.issuing_certificate  # issued before: unchanged
    assert moved.created_base_url == "http://127.0.0.1:8000"


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
