"""Certificate loading and naming, memoised.

Verifying a queue of dossiers meets the same few certificates (the CA's, a facility's seal) over
and over; formatting a distinguished name costs more than an ECDSA verification, so both the
parse-and-check and the text are kept per DER encoding (certificates are immutable).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from asn1crypto import keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

_CACHE_SIZE = 4096
_FORGETTERS: list[Callable[[], None]] = []
_F = TypeVar("_F", bound=Callable[..., Any])
_C = TypeVar("_C")
_R = TypeVar("_R")


def memo(function: _F) -> _F:
    """Remember a pure function of certificates (bounded), and register it for `forget`."""
    cached = lru_cache(maxsize=_CACHE_SIZE)(function)
    _FORGETTERS.append(cached.cache_clear)
    return cached  # type: ignore[return-value]


def per_certificate(function: Callable[[_C], _R]) -> Callable[[_C], _R]:
    """Remember a pure function of one certificate (or another immutable object), keyed by the
    object's identity (bounded, oldest forgotten first), and register it for `forget`.

    Hashing a cryptography Certificate hashes its whole parsed structure and comparing two costs
    more, while a verification asks a dozen questions of the same few certificate objects; so
    those answers are kept per object. Each entry holds its object, so an identity cannot be
    taken over by another object while its entry lives. Equal certificates that are distinct
    objects are simply worked out twice (`load_certificate` hands out one object per DER
    encoding, so that is rare).
    """
    entries: dict[int, tuple[_C, _R]] = {}
    lock = threading.Lock()

    @functools.wraps(function)
    def remembered(certificate: _C) -> _R:
        entry = entries.get(id(certificate))
        if entry is not None and entry[0] is certificate:
            return entry[1]
        value = function(certificate)
        with lock:
            if len(entries) >= _CACHE_SIZE:
                # Oldest first (dicts keep insertion order).
                entries.pop(next(iter(entries)))
            entries[id(certificate)] = (certificate, value)
        return value

    _FORGETTERS.append(entries.clear)
    return remembered


def forget() -> None:
    """Drop everything remembered about certificates (benchmarks measure cold work with it)."""
    for clear in _FORGETTERS:
        clear()


@memo
def load_certificate(der: bytes) -> x509.Certificate:
    """Load a DER certificate and parse the parts we read later, so that a malformed one is
    refused here (cryptography parses names and extensions lazily). Raises ValueError."""
    certificate = x509.load_der_x509_certificate(der)
    # Reading them parses them (and raises ValueError when malformed).
    _ = certificate.subject, certificate.issuer
    len(certificate.extensions)
    return certificate


@per_certificate
def subject_text(certificate: x509.Certificate) -> str:
    """The subject as an RFC 4514 string."""
    return certificate.subject.rfc4514_string()


@per_certificate
def sha256_fingerprint(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())


@per_certificate
def public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value without its unused-bits octet: what an OCSP
    CertID's issuerKeyHash and a ResponderID's KeyHash cover (RFC 6960 section 4.1.1)."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    contents: bytes = keys.PublicKeyInfo.load(spki)["public_key"].contents
    return contents[1:]


@per_certificate
def validity(certificate: x509.Certificate) -> tuple[datetime, datetime]:
    """notBefore and notAfter as aware UTC datetimes (each read of the properties makes new
    datetime objects)."""
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc
