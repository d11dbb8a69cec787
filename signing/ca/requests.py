"""Certificate requests: the public key in a PKCS#10 CSR or a WebCrypto SPKI, once its holder has
proved possession of the private key."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signing.errors import InvalidCertificateRequest, ProofOfPossessionFailed
from signing.keys import check_key_strength, der_ecdsa_signature


def csr_public_key(csr: bytes) -> PublicKeyTypes:
    """The key of a PKCS#10 request (PEM or DER) whose signature (SHA-256 or stronger) proves
    possession. Security caveat: all else the request says is for the caller to ignore. Raises
    InvalidCertificateRequest, WeakKey, ProofOfPossessionFailed."""
    pem = csr.lstrip().startswith(b"-----BEGIN")
    try:
        request = x509.load_pem_x509_csr(csr) if pem else x509.load_der_x509_csr(csr)
    except (ValueError, TypeError) as error:
        raise InvalidCertificateRequest("not a PKCS#10 certificate request") from error
    try:
        public_key = request.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        raise InvalidCertificateRequest("the request's public key cannot be read") from error
    check_key_strength(public_key)
    try:
        algorithm = request.signature_hash_algorithm
    except UnsupportedAlgorithm as error:
        raise InvalidCertificateRequest("unknown signature algorithm in the request") from error
    if not isinstance(algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
        raise InvalidCertificateRequest("the request must be signed with SHA-256 or stronger")
    try:
        valid = request.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as error:
        raise ProofOfPossessionFailed("the request's signature cannot be checked") from error
    if not valid:
        raise ProofOfPossessionFailed("the request's signature does not verify")
    return public_key


def spki_public_key(spki_der: bytes, proof: bytes, challenge: bytes) -> ec.EllipticCurvePublicKey:
    """The WebCrypto key in `spki_der` (exportKey("spki")) once `proof`, its r‖s ECDSA
    signature over `challenge` (SHA-256 for P-256, SHA-384 for P-384, as ES256/ES384), verifies.

    Security caveats: `challenge` must be bound to one enrollment and used once; the proof shows
    possession, not identity. Raises InvalidCertificateRequest, WeakKey, ProofOfPossessionFailed.
    """
    try:
        public_key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise InvalidCertificateRequest("not a DER SubjectPublicKeyInfo") from error
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise InvalidCertificateRequest("an ECDSA P-256 public key is expected")
    check_key_strength(public_key)
    algorithm: hashes.HashAlgorithm = (
        hashes.SHA256() if isinstance(public_key.curve, ec.SECP256R1) else hashes.SHA384()
    )
    try:
        signature = der_ecdsa_signature(proof, public_key.curve)
    except ValueError as error:
        raise ProofOfPossessionFailed(f"the proof must be {error}") from error
    try:
        public_key.verify(signature, challenge, ec.ECDSA(algorithm))
    except InvalidSignature as error:
        raise ProofOfPossessionFailed("the proof of possession does not verify") from error
    return public_key
