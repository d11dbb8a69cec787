"""PKCS#12 key files: what the ward desk hands a mother, and what `birthreg sign` opens."""

from __future__ import annotations

from collections.abc import Iterable

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from signing.errors import CAError, SigningError

#: The private keys that certificates are issued for, and so may go in a key file.
_SIGNING_KEYS = (
    ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, dsa.DSAPrivateKey, ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)
MIN_PKCS12_PASSWORD_CHARS = 10
PKCS12_KDF_ROUNDS = 600_000


class InvalidKeyFile(SigningError):
    """A PKCS#12 key file that cannot be read at all (not PKCS#12, or without key/certificate)."""

    code = "invalid_key_file"


class BadKeyFilePassword(InvalidKeyFile):
    """A well-formed PKCS#12 key file that the password does not open."""

    code = "bad_key_file_password"


def export_pkcs12(
    private_key: CertificateIssuerPrivateKeyTypes, certificate: x509.Certificate,
    chain: Iterable[x509.Certificate], *, password: bytes, friendly_name: bytes,
) -> bytes:
    """A PKCS#12 key file: key and certificates encrypted with PBES2 (PBKDF2-HMAC-SHA256,
    600,000 rounds, AES-256-CBC), MAC HMAC-SHA256.

    Security caveats: the password must be printable UTF-8 of at least 10 characters (CAError),
    nothing more; the MAC's iteration count stays at 2048: the encryption rounds protect the key.
    """
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        raise CAError("the key file password must be UTF-8 text") from None
    # PKCS#12 passwords end at a NUL (BMPString with a terminator), so twelve NULs would make a
    # file that opens with no password at all; no control or invisible character has a place.
    if not text.isprintable():
        raise CAError("the key file password must not contain control or invisible characters")
    if len(text) < MIN_PKCS12_PASSWORD_CHARS:
        minimum = MIN_PKCS12_PASSWORD_CHARS
        raise CAError(f"the key file password must have at least {minimum} characters")
    if not isinstance(private_key, _SIGNING_KEYS):
        raise CAError(f"a {type(private_key).__name__} cannot go in a PKCS#12 file")
    if private_key.public_key() != certificate.public_key():
        raise CAError("the private key does not belong to the certificate")
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name or None, private_key, certificate, list(chain), encryption
    )


def load_pkcs12(
    data: bytes, password: bytes
) -> tuple[CertificateIssuerPrivateKeyTypes, x509.Certificate, tuple[x509.Certificate, ...]]:
    """Open a PKCS#12 key file: (private key, its certificate, the other certificates). Raises
    BadKeyFilePassword when the password does not open it, InvalidKeyFile when it is no PKCS#12
    or lacks a matching key and certificate. Security caveat: no chain, validity or key check."""
    try:
        # A PKCS#12 password ends at its first NUL, so none can hold one (and cryptography
        # panics on one instead of refusing it).
        if b"\0" in password:
            raise ValueError("a NUL in the password")
        loaded = pkcs12.load_pkcs12(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        if _looks_like_pkcs12(data):
            wrong = "the key file password is wrong (or the file is damaged)"
            raise BadKeyFilePassword(wrong) from error
        raise InvalidKeyFile("not a PKCS#12 key file") from error
    key = loaded.key
    if loaded.cert is None or key is None:
        raise InvalidKeyFile("the key file must hold a private key and its certificate")
    if not isinstance(key, _SIGNING_KEYS):
        raise InvalidKeyFile("the key file holds a key that cannot sign")
    certificate = loaded.cert.certificate
    if key.public_key() != certificate.public_key():
        raise InvalidKeyFile("the key file's private key does not match its certificate")
    return key, certificate, tuple(c.certificate for c in loaded.additional_certs)


def _looks_like_pkcs12(data: bytes) -> bool:
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        return bool(pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native)
    except (ValueError, TypeError, KeyError):
        return False
