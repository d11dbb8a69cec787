"""Certificate loading and naming, memoised.

Verifying a queue of dossiers meets the same few certificates (the CA's, a facility's seal) over
and over; formatting a distinguished name costs more than an ECDSA verification, so both the
parse-and-check and the text are kept per DER encoding (certificates are immutable).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes

_CACHE_SIZE = 4096


@lru_cache(maxsize=_CACHE_SIZE)
def load_certificate(der: bytes) -> x509.Certificate:
    """Load a DER certificate and parse the parts we read later, so that a malformed one is
    refused here (cryptography parses names and extensions lazily). Raises ValueError."""
    certificate = x509.load_der_x509_certificate(der)
    subject_text(certificate)
    certificate.issuer.rfc4514_string()
    len(certificate.extensions)
    return certificate


@lru_cache(maxsize=_CACHE_SIZE)
def subject_text(certificate: x509.Certificate) -> str:
    """The subject as an RFC 4514 string."""
    return certificate.subject.rfc4514_string()


@lru_cache(maxsize=_CACHE_SIZE)
def sha256_fingerprint(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())
