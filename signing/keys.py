"""Key and algorithm policy shared by issuance and verification."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signing.errors import WeakKey

#: Curves we issue for and accept signatures from.
ALLOWED_CURVES: tuple[type[ec.EllipticCurve], ...] = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048


def check_key_strength(public_key: PublicKeyTypes) -> None:
    """Raise `WeakKey` unless the key is ECDSA P-256/P-384 or RSA of at least 2048 bits.

    Ed25519, DSA and everything else are refused: the national profile and our verifiers know
    only ECDSA and RSA.
    """
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ALLOWED_CURVES):
            raise WeakKey(f"curve {public_key.curve.name} is not allowed (P-256 or P-384 only)")
        return
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise WeakKey(f"RSA key of {public_key.key_size} bits; at least {MIN_RSA_BITS} needed")
        return
    raise WeakKey(f"{type(public_key).__name__} keys are not allowed (ECDSA or RSA only)")


def describe_key(public_key: PublicKeyTypes) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECDSA {public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    return type(public_key).__name__
