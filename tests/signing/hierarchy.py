"""A PKI of our own, built by hand with cryptography's builders, for what the TEST CA would never
issue: constraints on a CA, a missing middle CA, expired or revoked CAs, leaves where CAs should
be, weak keys. CRLs are made with `signing.ca.crl.build_crl`, the TEST CA's own CRL profile.

Also `signed`: the `VerifiedSignature` that `signing.cms` and `signing.jws` hand to the validator
once a signature itself verified (those layers are tested in test_cms.py and test_jws.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from conftest import Party
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.ca import POLICY_TEST_INDIVIDUAL_SIGNING, Individual, random_serial, subject_name
from signing.ca.crl import CRLScope, RevokedCertificate, build_crl
from signing.report import Check
from signing.signature import VerifiedSignature

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MOMENT = T0 + timedelta(days=100)
LATER = T0 + timedelta(days=300)


def signed(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    at: datetime | None = MOMENT,
) -> VerifiedSignature:
    """A signature by `certificate`'s key, intact, carrying `chain`, claiming time `at`."""
    return VerifiedSignature(
        format="jws",
        signer=certificate,
        certificates=(certificate, *chain),
        signing_time=at,
        algorithm="ES256",
        checks=(Check("jws.signature", True, "verified by signing.jws"),),
    )


class CRLFetcher:
    """Serves CRLs by URL, as published; no OCSP."""

    def __init__(self) -> None:
        self.crls: dict[str, bytes] = {}
        self.fetched: list[str] = []

    def fetch_crl(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.crls:
            raise ConnectionRefusedError(f"no CRL at {url}")
        return self.crls[url]

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        raise ConnectionRefusedError("no OCSP here")


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    crl_url: str

    def publish(
        self,
        fetcher: CRLFetcher,
        *,
        moment: datetime = MOMENT,
        revoked: Sequence[tuple[int, datetime]] = (),
        ca_certificates: bool = False,
        url: str | None = None,
    ) -> x509.CertificateRevocationList:
        """Its CRL at its URL (or `url`), issued at `moment`, scoped to CA or end-entity
        certificates, naming the URL it is published at."""
        scope = CRLScope(self.certificate, self.key, url or self.crl_url, ca_certificates)
        crl = build_crl(
            scope,
            [RevokedCertificate(serial, when) for serial, when in revoked],
            number=int(moment.timestamp()),
            moment=moment,
            next_update=timedelta(days=30),
        )
        fetcher.crls[url or self.crl_url] = crl.public_bytes(serialization.Encoding.DER)
        return crl


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST - NOT FOR PRODUCTION"),
        ]
    )


def _usage(*, signs: bool, certifies: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signs,
        content_commitment=signs,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certifies,
        crl_sign=certifies,
        encipher_only=False,
        decipher_only=False,
    )


def _crl_points(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)]
    )


def authority(
    name: str,
    *,
    issuer: Authority | None,
    not_after: datetime = LATER,
    path_length: int | None = 1,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> Authority:
    """A CA named `name`, self-signed without `issuer`; below a CA it names that CA's CRL."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(T0)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_usage(signs=False, certifies=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer.key if issuer else key).public_key()
            ),
            critical=False,
        )
    )
    if issuer is not None:
        builder = builder.add_extension(_crl_points(issuer.crl_url), critical=False)
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Authority(key, certificate, f"http://pki.test/{name.replace(' ', '-')}.crl")


def leaf(
    issuer: Authority,
    person: Individual,
    *,
    not_after: datetime = LATER,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    signing_key: ec.EllipticCurvePrivateKey | None = None,
) -> Party:
    """A signature certificate for `person` under the individual profile, naming `issuer`'s
    CRL; signed by `signing_key` instead of the issuer's key when given (a forgery)."""
    private_key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(person))
        .issuer_name(issuer.certificate.subject)
        .public_key(private_key.public_key())
        .serial_number(random_serial())
        .not_valid_before(T0 + timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs=True, certifies=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(POLICY_TEST_INDIVIDUAL_SIGNING, None)]
            ),
            critical=False,
        )
        .add_extension(_crl_points(issuer.crl_url), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    certificate = builder.sign(signing_key or issuer.key, hashes.SHA256())
    return Party(private_key, certificate, (), person)
