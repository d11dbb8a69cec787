"""A seal issued across the trust boundary (DESIGN.md "Two services, one trust boundary").

The registry holds no CA key, so it gets its seal the way a real registry would:

1. `init --role registry` makes the seal key (encrypted under the registry's key passphrase) and
   a PKCS#10 request, `DATA/registry-seal.csr` (`ensure_request`);
2. the ward's `birthreg ca issue-seal CSR --kind registry` checks the request's proof of
   possession and issues the seal certificate for the organisation the ward names, never the
   one the request names (`issue_seal`), and prints it with its chain;
3. `init --role registry --seal-cert FILE` installs it once it matches the key and chains to the
   registry's roots (`check_seal_certificate`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from birthreg.config import Settings
from birthreg.pki.seals import load_seal_key, save_seal_key, seal_key_path
from signing.ca import (
    LEGACY_PARTITION,
    CertificationAuthority,
    Organisation,
    Profile,
    subject_name,
)
from signing.identity import signer_bin

SEAL_REQUEST_FILE = "registry-seal.csr"


class SealCertificateRefused(ValueError):
    """The certificate offered for the seal does not fit (its key, its BIN, its chain)."""


def request_path(settings: Settings) -> Path:
    return settings.data_dir / SEAL_REQUEST_FILE


def ensure_request(settings: Settings, organisation: Organisation) -> tuple[Path, bool]:
    """(path of the PKCS#10 request, True when the key or the request was made now)."""
    key_path = seal_key_path(settings, "registry", organisation.bin)
    made = False
    if key_path.is_file():
        key = load_seal_key(settings, key_path)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        save_seal_key(settings, key_path, key)
        made = True
    path = request_path(settings)
    if made or not path.is_file():
        request = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(subject_name(organisation))
            .sign(key, hashes.SHA256())
        )
        path.write_bytes(request.public_bytes(serialization.Encoding.PEM))
        made = True
    return path, made


def issue_seal(
    ca: CertificationAuthority, csr: bytes, organisation: Organisation, moment: datetime, *,
    crl_partition: int = LEGACY_PARTITION,
) -> tuple[x509.Certificate, ...]:
    """The seal certificate for the key in `csr`, then the issuing CA and the root.

    Security caveat: the subject is `organisation`, as the CA's operator names it; the request
    only proves that its sender holds the key. Raises the CA's errors (InvalidCertificateRequest,
    ProofOfPossessionFailed, WeakKey, InvalidIdentityNumber)."""
    certificate = ca.issue_from_csr(
        csr, organisation, moment=moment, profile=Profile.ORGANISATION_SEAL,
        crl_partition=crl_partition,
    )
    return (certificate, *ca.chain, ca.root_certificate)


@dataclass(frozen=True)
class CheckedSeal:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]


def check_seal_certificate(
    settings: Settings, organisation: Organisation, pem: bytes, roots: list[x509.Certificate],
    moment: datetime,
) -> CheckedSeal:
    """The certificate (first in `pem`) and its chain, once the certificate is for the seal key
    and the organisation's BIN, each certificate is issued by the next, and the last by one of
    `roots`, all valid at `moment`. Raises SealCertificateRefused."""
    try:
        certificate, *chain = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise SealCertificateRefused("the file holds no PEM certificate") from error
    key = load_seal_key(settings, seal_key_path(settings, "registry", organisation.bin))
    if certificate.public_key() != key.public_key():
        raise SealCertificateRefused("the certificate is not for this registry's seal key")
    if signer_bin(certificate) != organisation.bin:
        raise SealCertificateRefused(f"the certificate does not name BIN {organisation.bin}")
    path = [certificate, *(c for c in chain if c not in roots)]
    for subject, issuer in itertools.pairwise(path):
        _issued_by(subject, issuer)
    if not any(_is_issued_by(path[-1], root) for root in roots):
        raise SealCertificateRefused("the certificate does not chain to the registry's roots")
    for link in path:
        if not link.not_valid_before_utc <= moment <= link.not_valid_after_utc:
            raise SealCertificateRefused(f"{link.subject.rfc4514_string()} is not valid now")
    return CheckedSeal(certificate, tuple(path[1:]) + tuple(c for c in chain if c in roots))


def _is_issued_by(subject: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        subject.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _issued_by(subject: x509.Certificate, issuer: x509.Certificate) -> None:
    if not _is_issued_by(subject, issuer):
        raise SealCertificateRefused(
            f"{subject.subject.rfc4514_string()} is not issued by {issuer.subject.rfc4514_string()}"
        )
