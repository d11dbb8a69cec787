"""The shared test PKI, built once per session and named by role.

Everything is made at fixed times around `MOMENT` (no clock is read): the CA is created three
years before it, so that certificates issued "in the past" (the expired signer) fall inside the
CA's own validity; ordinary parties are issued one day before `MOMENT`. Every certificate the test
CA issues is recorded in `pki.statuses`, so OCSP answers "good" for it unless it is revoked.

Roles:
    mother, father              individuals (Kazakh Cyrillic names, valid IINs), P-256
    facility, registry_office   organisation seals (valid BINs), P-256
    revoked_signer              revoked at MOMENT + 1 day, keyCompromise
    expired_signer              expired 35 days before MOMENT
    not_yet_valid_signer        valid from MOMENT + 30 days
    rsa_signer                  RSA-2048 individual
    other_ca, other_ca_signer   a second, unrelated TEST CA (same CA names!) and a certificate
                                from it carrying the mother's identity
    self_signed_with_iin        a self-signed leaf carrying the mother's identity
    ca_as_signer                the issuing CA's own key and certificate
    wrong_key_usage_signer      issued by the test CA, keyUsage keyEncipherment only
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from signing.ca import (
    POLICY_TEST_INDIVIDUAL_SIGNING,
    CertificationAuthority,
    Individual,
    InMemoryCertificateStatus,
    Organisation,
    Profile,
    random_serial,
    subject_name,
)

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CA_CREATED = MOMENT - timedelta(days=3 * 365)
ISSUED = MOMENT - timedelta(days=1)
BASE_URL = "http://birthreg.test"
OTHER_BASE_URL = "http://other-ca.test"

MOTHER = Individual(
    iin="940315400014",
    surname="Әбілқасымова",
    given_name="Гүлнұр",
    patronymic="Серікқызы",
)
FATHER = Individual(
    iin="910802300013",
    surname="Әбілқасымов",
    given_name="Ерлан",
    patronymic="Болатұлы",
)
FACILITY = Organisation(bin="050440000012", name="Өскемен қалалық перзентханасы")
REGISTRY_OFFICE = Organisation(bin="990140000017", name="Өскемен қаласының АХАЖ бөлімі")
REVOKED = Individual(
    iin="940315400024",
    surname="Нұрланова",
    given_name="Айгерім",
    patronymic="Қайратқызы",
)
EXPIRED = Individual(
    iin="940315400034",
    surname="Иванова",
    given_name="Мария",
    patronymic="Петровна",
)
NOT_YET_VALID = Individual(iin="940315400044", surname="Смағұлова", given_name="Дана")
RSA_PERSON = Individual(
    iin="940315400054",
    surname="Омарова",
    given_name="Жанар",
    patronymic="Асанқызы",
)
WRONG_USAGE = Individual(iin="940315400064", surname="Серікова", given_name="Әсел")


@dataclass(frozen=True)
class Party:
    """A key holder: private key, certificate, and the certificates between it and the root."""

    key: CertificateIssuerPrivateKeyTypes
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    subject: Individual | Organisation | None = None

    @property
    def iin(self) -> str | None:
        return self.subject.iin if isinstance(self.subject, Individual) else None

    @property
    def bin(self) -> str | None:
        return self.subject.bin if isinstance(self.subject, Organisation) else None

    @property
    def name(self) -> str | None:
        return self.subject.name if isinstance(self.subject, Organisation) else None


@dataclass(frozen=True)
class PKI:
    moment: datetime
    ca_created: datetime
    ca: CertificationAuthority
    statuses: InMemoryCertificateStatus
    mother: Party
    father: Party
    facility: Party
    registry_office: Party
    revoked_signer: Party
    expired_signer: Party
    not_yet_valid_signer: Party
    rsa_signer: Party
    other_ca: CertificationAuthority
    other_statuses: InMemoryCertificateStatus
    other_ca_signer: Party
    self_signed_with_iin: Party
    ca_as_signer: Party
    wrong_key_usage_signer: Party

    @property
    def root(self) -> x509.Certificate:
        return self.ca.root_certificate

    @property
    def issuing(self) -> x509.Certificate:
        return self.ca.issuing_certificate


def _issue(
    ca: CertificationAuthority, statuses: InMemoryCertificateStatus,
    subject: Individual | Organisation, *, moment: datetime,
    key: CertificateIssuerPrivateKeyTypes | None = None,
) -> Party:
    profile = Profile.INDIVIDUAL if isinstance(subject, Individual) else Profile.ORGANISATION_SEAL
    private_key = key or ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue(private_key.public_key(), subject, profile=profile, moment=moment)
    statuses.add(certificate)
    return Party(private_key, certificate, ca.chain, subject)


def _self_signed(subject: Individual, moment: datetime) -> Party:
    key = ec.generate_private_key(ec.SECP256R1())
    name = subject_name(subject)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(POLICY_TEST_INDIVIDUAL_SIGNING, None)]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Party(key, certificate, (), subject)


def _usage(*, digital_signature: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=digital_signature,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _wrong_key_usage(
    ca: CertificationAuthority, statuses: InMemoryCertificateStatus, subject: Individual,
    moment: datetime,
) -> Party:
    """Everything as the individual profile, except keyUsage keyEncipherment only."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuing = ca.issuing_certificate
    issuing_ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject_name(subject))
        .issuer_name(issuing.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(key_encipherment=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(POLICY_TEST_INDIVIDUAL_SIGNING, None)]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(ca.crl_url)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ca.ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuing_ski),
            critical=False,
        )
        .sign(ca._issuing_key, hashes.SHA256())
    )
    statuses.add(certificate)
    return Party(key, certificate, ca.chain, subject)


def build_test_pki(moment: datetime = MOMENT) -> PKI:
    """The whole test PKI at `moment` (see the module docstring for the roles)."""
    ca_created = moment - timedelta(days=3 * 365)
    issued = moment - timedelta(days=1)
    ca = CertificationAuthority.create(base_url=BASE_URL, moment=ca_created)
    statuses = InMemoryCertificateStatus()
    revoked_signer = _issue(ca, statuses, REVOKED, moment=issued)
    statuses.revoke(
        revoked_signer.certificate.serial_number, moment + timedelta(days=1),
        x509.ReasonFlags.key_compromise,
    )
    other_ca = CertificationAuthority.create(base_url=OTHER_BASE_URL, moment=ca_created)
    other_statuses = InMemoryCertificateStatus()
    return PKI(
        moment=moment,
        ca_created=ca_created,
        ca=ca,
        statuses=statuses,
        mother=_issue(ca, statuses, MOTHER, moment=issued),
        father=_issue(ca, statuses, FATHER, moment=issued),
        facility=_issue(ca, statuses, FACILITY, moment=issued),
        registry_office=_issue(ca, statuses, REGISTRY_OFFICE, moment=issued),
        revoked_signer=revoked_signer,
        expired_signer=_issue(ca, statuses, EXPIRED, moment=moment - timedelta(days=400)),
        not_yet_valid_signer=_issue(
            ca, statuses, NOT_YET_VALID, moment=moment + timedelta(days=30)
        ),
        rsa_signer=_issue(
            ca, statuses, RSA_PERSON, moment=issued,
            key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ),
        other_ca=other_ca,
        other_statuses=other_statuses,
        other_ca_signer=_issue(other_ca, other_statuses, MOTHER, moment=issued),
        self_signed_with_iin=_self_signed(MOTHER, issued),
        ca_as_signer=Party(ca._issuing_key, ca.issuing_certificate, (), None),
        wrong_key_usage_signer=_wrong_key_usage(ca, statuses, WRONG_USAGE, issued),
    )


@pytest.fixture(scope="session")
def pki() -> PKI:
    return build_test_pki(MOMENT)


@pytest.fixture(scope="session")
def moment() -> datetime:
    return MOMENT


@pytest.fixture(autouse=True)
def _environment_taken_back() -> Iterator[None]:
    """`birthreg serve` hands its settings to uvicorn's workers through the environment
    (BIRTHREG_ROLE, BIRTHREG_NOTIFY_SENDER, BIRTHREG_CRL_PUBLISHER): a test that runs it in
    process must not change the settings of the tests after it."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
