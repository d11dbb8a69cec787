"""The CA's files: keys encrypted under a passphrase, certificates in PEM, never overwritten."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.errors import BadPassphrase, CAError

ROOT_CERT_FILE = "root.pem"
ISSUING_CERT_FILE = "ca.pem"
ROOT_KEY_FILE = "root-key.pem"
ISSUING_KEY_FILE = "ca-key.pem"
CA_FILES = (ROOT_KEY_FILE, ISSUING_KEY_FILE, ROOT_CERT_FILE, ISSUING_CERT_FILE)


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file, fsync, then link into place), mode 0600.

    The final step never replaces an existing file: os.link fails if `path` exists, so two
    processes racing to create a CA cannot overwrite each other. Where the file system has no
    hard links, os.replace is used after checking that nothing is there.
    """
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise CAError(f"{path} already exists; refusing to replace a CA file") from None
        except OSError:
            if path.exists():
                raise CAError(f"{path} already exists; refusing to replace a CA file") from None
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def fsync_directory(directory: Path) -> None:
    """Make the directory's new entries durable (the files themselves are fsynced apart)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def encrypted_key(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    """PKCS#8 PEM, encrypted with the passphrase (cryptography's best available scheme)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def load_key(path: Path, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    """An encrypted PKCS#8 ECDSA key. Raises CAError (unencrypted or not ECDSA) or
    BadPassphrase."""
    data = path.read_bytes()
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in data:
        raise CAError(f"{path} is not an encrypted PKCS#8 key; refusing to use it")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as error:
        raise BadPassphrase(f"cannot decrypt {path.name}: wrong CA passphrase?") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CAError(f"{path.name} is not an ECDSA key")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM certificate; CAError when it is not one. Nothing here checks what it certifies."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as error:
        raise CAError(f"{path.name} is not a PEM certificate") from error
