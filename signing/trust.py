"""Path validation (cryptography.x509.verification) and our own revocation step.

Network access sits behind `RevocationFetcher`; the moment of validation is always passed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from cryptography import x509

from signing.report import SignatureReport
from signing.signature import VerifiedSignature


class RevocationFetcher(Protocol):
    """How revocation data is reached: over HTTP, or in-process where the CA lives."""

    def fetch_crl(self, url: str) -> bytes:
        """DER CRL at url; raise OSError (or a subclass) when it cannot be had."""
        ...

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        """DER OCSPResponse for request_der from the responder at url; raise OSError on failure."""
        ...


class RevocationCache:
    """CRLs and OCSP answers kept until their nextUpdate (thread-safe)."""


class TrustAnchors:
    """Configured roots (CA certificates only) and known intermediates."""

    def __init__(self, roots: list[x509.Certificate], intermediates: list[x509.Certificate] = []) -> None:  # noqa: B006
        raise NotImplementedError


Purpose = Literal["individual", "organisation"]


class Validator:
    def __init__(self, anchors: TrustAnchors, fetcher: RevocationFetcher, cache: RevocationCache | None = None) -> None:
        raise NotImplementedError

    def validate(
        self, signature: VerifiedSignature, *, moment: datetime, purpose: Purpose | None = None,
        role: str = "",
    ) -> SignatureReport:
        raise NotImplementedError
