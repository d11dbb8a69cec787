"""The OCSP responder (RFC 6960) over the CA and a `CertificateStatusSource`.

Answers are signed by the issuing CA itself (always authorised, RFC 6960 section 4.2.2.2) and
name it by key hash. CertIDs may be hashed with SHA-1 (`openssl ocsp` by default) or SHA-2;
both the issuer name hash and the issuer key hash must match the issuing CA.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from asn1crypto import keys
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp

from signing.ca import CertificateStatus, CertificateStatusSource, CertificationAuthority
from signing.errors import CAError
from signing.report import RevocationState

#: The largest request we parse; one CertID with a nonce is about 100 bytes.
MAX_REQUEST_BYTES = 16 * 1024
#: RFC 9654 (which obsoletes RFC 8954): a nonce is 1 to 128 octets; others are malformedRequest.
MAX_NONCE_BYTES = 128

_CERT_ID_HASHES = (hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)


def issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """The issuerNameHash and issuerKeyHash of an OCSP CertID naming `issuer` (RFC 6960
    section 4.1.1): the digest of its subject Name in DER, and of its subjectPublicKey's bits."""
    spki = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    key_bits = keys.PublicKeyInfo.load(spki)["public_key"].contents[1:]  # after unused-bits
    name_hash = hashlib.new(algorithm.name, issuer.subject.public_bytes()).digest()
    return name_hash, hashlib.new(algorithm.name, key_bits).digest()


def unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    """A DER OCSPResponse carrying only an error status (unsigned, as RFC 6960 has it)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def respond(
    request_der: bytes, *, ca: CertificationAuthority, statuses: CertificateStatusSource,
    moment: datetime, validity: timedelta = timedelta(hours=1),
) -> bytes:
    """A DER OCSPResponse for the request. Never raises for bad input: a malformed request gets
    MALFORMED_REQUEST, a request for another issuer UNAUTHORIZED.

    The status as `statuses` says now, thisUpdate `moment`, the nonce echoed. Security
    caveats: a revocation recorded after `moment` is still reported; producedAt comes from the
    system clock; request signatures are ignored.
    """
    if validity <= timedelta(0):
        raise CAError("validity must be positive")
    read = _read_request(request_der)
    if read is None:
        return unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    request, algorithm, nonce = read
    serial, issuer = request.serial_number, ca.issuing_certificate
    asked = (request.issuer_name_hash, request.issuer_key_hash)
    if not isinstance(algorithm, _CERT_ID_HASHES) or asked != issuer_hashes(issuer, algorithm):
        return unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    cert_status, revocation_time, revocation_reason = _answer(statuses.status(serial), moment)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=asked[0], issuer_key_hash=asked[1], serial_number=serial,
            algorithm=algorithm, cert_status=cert_status, this_update=moment,
            next_update=moment + validity, revocation_time=revocation_time,
            revocation_reason=revocation_reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        .certificates([issuer])
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return ca.sign_ocsp_response(builder).public_bytes(Encoding.DER)


def _read_request(
    request_der: bytes,
) -> tuple[ocsp.OCSPRequest, hashes.HashAlgorithm, bytes | None] | None:
    """The request, its CertID's digest and its nonce, or None when it is malformed (too long,
    not DER, a critical extension we do not know, a nonce of the wrong size, a serial no
    certificate can have)."""
    if not request_der or len(request_der) > MAX_REQUEST_BYTES:
        return None
    try:
        # cryptography refuses requests with more than one CertID (NotImplementedError): those
        # are answered as malformed, which RFC 6960 allows for what a responder cannot process.
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm, serial = request.hash_algorithm, request.serial_number
        nonce: bytes | None = None
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                nonce = extension.value.nonce
            elif extension.critical:
                return None
    except (ValueError, TypeError, NotImplementedError, UnsupportedAlgorithm):
        return None
    if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE_BYTES:
        return None
    # RFC 5280 serials are positive and at most 20 octets; nothing else can name a certificate
    # (and cryptography cannot encode a negative one back into the answer).
    if not 0 < serial < 2 ** (8 * 20):
        return None
    return request, algorithm, nonce


def _answer(
    status: CertificateStatus, moment: datetime
) -> tuple[ocsp.OCSPCertStatus, datetime | None, x509.ReasonFlags | None]:
    """The certificate status, revocation time and reason an OCSP answer gives."""
    if status.state is RevocationState.GOOD:
        return ocsp.OCSPCertStatus.GOOD, None, None
    if status.state is not RevocationState.REVOKED:
        return ocsp.OCSPCertStatus.UNKNOWN, None, None
    reason = status.reason
    if reason is x509.ReasonFlags.unspecified:
        reason = None  # RFC 5280 5.3.1: no reason rather than "unspecified"
    return ocsp.OCSPCertStatus.REVOKED, status.revoked_at or moment, reason

