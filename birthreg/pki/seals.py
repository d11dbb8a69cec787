"""Organisation seals (the facility's, the registry office's): keys and certificates on disk.

A seal's private key is kept in the data dir beside the CA, as encrypted PKCS#8 under the CA
passphrase, written once with mode 0600 (never overwritten); its certificate is also recorded in
the CA's issued list (for OCSP and CRL).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from birthreg.config import Settings
from birthreg.errors import ServiceNotInitialised

SEALS_DIRECTORY = "seals"


@dataclass(frozen=True)
class Seal:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")


def _paths(settings: Settings, kind: str, bin_: str) -> tuple[Path, Path]:
    directory = settings.data_dir / SEALS_DIRECTORY
    return directory / f"{kind}-{bin_}.key.pem", directory / f"{kind}-{bin_}.pem"


def seal_exists(settings: Settings, kind: str, bin_: str) -> bool:
    return all(path.is_file() for path in _paths(settings, kind, bin_))


def save_seal(
    settings: Settings,
    kind: str,
    bin_: str,
    key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
) -> None:
    key_path, cert_path = _paths(settings, kind, bin_)
    key_path.parent.mkdir(mode=0o700, exist_ok=True)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(settings.ca_passphrase_bytes()),
    )
    for path, data in (
        (key_path, encrypted),
        (cert_path, certificate.public_bytes(serialization.Encoding.PEM)),
    ):
        # O_EXCL: a seal is never silently replaced.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def load_seal(
    settings: Settings, kind: str, bin_: str, chain: tuple[x509.Certificate, ...]
) -> Seal:
    key_path, cert_path = _paths(settings, kind, bin_)
    if not (key_path.is_file() and cert_path.is_file()):
        raise ServiceNotInitialised(f"the {kind} seal does not exist yet: run `birthreg init`")
    key = serialization.load_pem_private_key(
        key_path.read_bytes(), password=settings.ca_passphrase_bytes()
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ServiceNotInitialised(f"the {kind} seal key is not an EC key")
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return Seal(key, certificate, chain)
