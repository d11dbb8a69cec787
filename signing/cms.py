"""CMS (RFC 5652) detached SignedData: create with cryptography, verify with asn1crypto."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing.signature import VerifiedSignature


def sign_detached(
    content: bytes, certificate: x509.Certificate,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, *,
    chain: Iterable[x509.Certificate] = (),
) -> bytes:
    """DER SignedData over content, detached, with signed attributes and the signer's chain."""
    raise NotImplementedError


def verify_detached(
    signature_der: bytes, content: bytes, *, moment: datetime | None = None
) -> VerifiedSignature:
    """Check that signature_der is a well-formed detached SignedData over content, with allowed
    algorithms and a valid signature by a certificate it carries. Raises SignatureFailure.

    Says nothing about trust (no path validation, no revocation)."""
    raise NotImplementedError
