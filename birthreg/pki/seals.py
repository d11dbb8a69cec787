"""Organisation seals (the facility's, the registry office's): keys and certificates on disk.

A seal's private key is kept in the data dir, as encrypted PKCS#8 under the passphrase of the
role's keys (the CA passphrase where the CA is; the registry's own key passphrase in role
registry), written once with mode 0600 (never overwritten); its certificate is also recorded in
the CA's issued list (for OCSP and CRL). A seal issued across the boundary (role registry: see
`birthreg.pki.seal_request`) keeps its chain in its certificate file, after the certificate.
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
    save_seal_key(settings, key_path, key)
    save_seal_certificate(cert_path, (certificate,))


def seal_key_path(settings: Settings, kind: str, bin_: str) -> Path:
    return _paths(settings, kind, bin_)[0]


def seal_certificate_path(settings: Settings, kind: str, bin_: str) -> Path:
    return _paths(settings, kind, bin_)[1]


def save_seal_key(settings: Settings, path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write the key, encrypted under the role's key passphrase (never over an existing one)."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(settings.seal_passphrase_bytes()),
    )
    _write_once(path, encrypted)


def save_seal_certificate(path: Path, certificates: tuple[x509.Certificate, ...]) -> None:
    """The certificate, then its chain (PEM), written once."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    _write_once(
        path, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    )


def load_seal_key(settings: Settings, path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(
        path.read_bytes(), password=settings.seal_passphrase_bytes()
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ServiceNotInitialised(f"the seal key {path.name} is not an EC key")
    return key


def _write_once(path: Path, data: bytes) -> None:
    # O_EXCL: a seal is never silently replaced.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_seal(
    settings: Settings, kind: str, bin_: str, chain: tuple[x509.Certificate, ...] | None = None
) -> Seal:
    """The seal; its chain as given, or (None) the one kept after it in its certificate file."""
    key_path, cert_path = _paths(settings, kind, bin_)
    if not (key_path.is_file() and cert_path.is_file()):
        raise ServiceNotInitialised(f"the {kind} seal does not exist yet: run `birthreg init`")
    key = load_seal_key(settings, key_path)
    certificate, *kept = x509.load_pem_x509_certificates(cert_path.read_bytes())
    return Seal(key, certificate, tuple(kept) if chain is None else chain)
