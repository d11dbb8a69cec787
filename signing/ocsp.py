"""The OCSP responder (RFC 6960) over the CA and a `CertificateStatusSource`."""

from __future__ import annotations

from datetime import datetime, timedelta

from signing.ca import CertificateStatusSource, CertificationAuthority


def respond(
    request_der: bytes, *, ca: CertificationAuthority, statuses: CertificateStatusSource,
    moment: datetime, validity: timedelta = timedelta(hours=1),
) -> bytes:
    """A DER OCSPResponse for the request. Never raises for bad input: a malformed request gets
    MALFORMED_REQUEST, a request for another issuer UNAUTHORIZED."""
    raise NotImplementedError
