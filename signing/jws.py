"""JWS compact serialization with detached payload (RFC 7515 appendix F)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing.signature import VerifiedSignature


def sign_detached(
    payload: bytes, certificate: x509.Certificate,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, *, signing_time: datetime,
    chain: Iterable[x509.Certificate] = (), alg: str | None = None,
) -> str:
    """`header..signature` over payload, protected header {alg, x5c, sigT}."""
    raise NotImplementedError


def verify_detached(compact: str, payload: bytes) -> VerifiedSignature:
    """Raises SignatureFailure. Says nothing about trust."""
    raise NotImplementedError
