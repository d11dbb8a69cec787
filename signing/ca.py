"""The TEST certification authority: hierarchy, profiles, issuance, PKCS#12, revocation, CRL.

Every name it issues says TEST. It is stateless about what it issued: the caller keeps the list of
issued and revoked certificates (a `CertificateStatusSource`) and hands it in for CRLs and OCSP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PublicKeyTypes

from signing.report import RevocationState

#: Our OID arc: a UUID OID (ITU-T X.667, "2.25.<uuid as integer>"), which needs no registration.
OID_ARC = "2.25.0"  # replaced by the implementation with the real UUID arc
POLICY_TEST_INDIVIDUAL_SIGNING: x509.ObjectIdentifier
POLICY_TEST_ORGANISATION_SEAL: x509.ObjectIdentifier

ENROLL_CHALLENGE_PREFIX = b"birthreg-enroll:"


def enrollment_challenge(code: str) -> bytes:
    """The bytes a WebCrypto key signs to prove possession: b"birthreg-enroll:" + code."""
    return ENROLL_CHALLENGE_PREFIX + code.encode("utf-8")


@dataclass(frozen=True)
class Individual:
    """A person: CN=SURNAME GIVENNAME, SURNAME, GIVENNAME=<patronymic>, SERIALNUMBER=IIN…, C=KZ."""

    iin: str
    surname: str
    given_name: str
    patronymic: str | None = None


@dataclass(frozen=True)
class Organisation:
    """An organisation seal: CN=<name>, O=<name>, OU=BIN…, C=KZ."""

    bin: str
    name: str


class Profile(StrEnum):
    INDIVIDUAL = "individual"
    ORGANISATION_SEAL = "organisation_seal"
    OCSP_RESPONDER = "ocsp_responder"


@dataclass(frozen=True)
class CertificateStatus:
    state: RevocationState  # GOOD, REVOKED or UNKNOWN (never issued by this CA)
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


@dataclass(frozen=True)
class RevokedCertificate:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


class CertificateStatusSource(Protocol):
    """What the CA issued and revoked; the service keeps it in its database."""

    def status(self, serial: int) -> CertificateStatus: ...

    def revoked(self) -> Iterable[RevokedCertificate]: ...


class CertificationAuthority:
    """A root, an issuing CA and an OCSP responder certificate; ECDSA P-256 throughout."""

    root_certificate: x509.Certificate
    issuing_certificate: x509.Certificate
    base_url: str

    @classmethod
    def create(cls, *, base_url: str, moment: datetime) -> CertificationAuthority:
        raise NotImplementedError

    def save(self, directory: Path, passphrase: bytes) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, directory: Path, passphrase: bytes, *, base_url: str) -> CertificationAuthority:
        raise NotImplementedError

    @staticmethod
    def exists(directory: Path) -> bool:
        raise NotImplementedError

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/pki/crl"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/pki/ocsp"

    @property
    def ca_issuers_url(self) -> str:
        return f"{self.base_url}/pki/ca.pem"

    def issue(
        self,
        public_key: PublicKeyTypes,
        subject: Individual | Organisation,
        *,
        profile: Profile,
        moment: datetime,
        validity: timedelta | None = None,
    ) -> x509.Certificate:
        raise NotImplementedError

    def issue_from_csr(
        self, csr: bytes, subject: Individual | Organisation, *, moment: datetime,
        profile: Profile = Profile.INDIVIDUAL,
    ) -> x509.Certificate:
        raise NotImplementedError

    def issue_from_spki(
        self, spki_der: bytes, proof: bytes, challenge: bytes, subject: Individual, *, moment: datetime
    ) -> x509.Certificate:
        raise NotImplementedError

    def issue_with_new_key(
        self, subject: Individual | Organisation, *, profile: Profile, moment: datetime
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        raise NotImplementedError

    def build_crl(
        self, revoked: Iterable[RevokedCertificate], *, number: int, moment: datetime,
        next_update: timedelta = timedelta(hours=24),
    ) -> x509.CertificateRevocationList:
        raise NotImplementedError


class InMemoryCertificateStatus:
    """A `CertificateStatusSource` kept in memory (tests, benchmarks, the CLI)."""


def export_pkcs12(
    private_key: CertificateIssuerPrivateKeyTypes, certificate: x509.Certificate,
    chain: Iterable[x509.Certificate], *, password: bytes, friendly_name: bytes,
) -> bytes:
    raise NotImplementedError


def load_pkcs12(data: bytes, password: bytes) -> tuple[CertificateIssuerPrivateKeyTypes, x509.Certificate, tuple[x509.Certificate, ...]]:
    raise NotImplementedError
