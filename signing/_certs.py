"""Certificate loading and naming, memoised.

Verifying a queue of dossiers meets the same few certificates (the CA's, a facility's seal) over
and over; formatting a distinguished name costs more than an ECDSA verification, so both the
parse-and-check and the text are kept per DER encoding (certificates are immutable).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from asn1crypto import keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

_CACHE_SIZE = 4096
_MEMOS: list[Any] = []
_F = TypeVar("_F", bound=Callable[..., Any])


def memo(function: _F) -> _F:
    """Remember a pure function of certificates (bounded), and register it for `forget`."""
    cached = lru_cache(maxsize=_CACHE_SIZE)(function)
    _MEMOS.append(cached)
    return cached  # type: ignore[return-value]


def forget() -> None:
    """Drop everything remembered about certificates (benchmarks measure cold work with it)."""
    for cached in _MEMOS:
        cached.cache_clear()


@memo
def load_certificate(der: bytes) -> x509.Certificate:
    """Load a DER certificate and parse the parts we read later, so that a malformed one is
    refused here (cryptography parses names and extensions lazily). Raises ValueError."""
    certificate = x509.load_der_x509_certificate(der)
    # Reading them parses them (and raises ValueError when malformed).
    _ = certificate.subject, certificate.issuer
    len(certificate.extensions)
    return certificate


@memo
def subject_text(certificate: x509.Certificate) -> str:
    """The subject as an RFC 4514 string."""
    return certificate.subject.rfc4514_string()


@memo
def sha256_fingerprint(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())


@memo
def public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value without its unused-bits octet: what an OCSP
    CertID's issuerKeyHash and a ResponderID's KeyHash cover (RFC 6960 section 4.1.1)."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    contents: bytes = keys.PublicKeyInfo.load(spki)["public_key"].contents
    return contents[1:]
