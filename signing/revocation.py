"""Revocation look-ups for `signing.trust`: OCSP and CRLs behind a small fetcher interface.

cryptography's path validation does no revocation checking, so it is done here with its parsers
and signature checks: an OCSP answer signed by the issuer or a responder it delegated (RFC 6960
4.2.2.2), about the very certificate asked about; a CRL from the issuer, signed by it, current,
covering the certificate (RFC 5280 5.2.5). Answers are kept until stale and used only when
issued (and fetched) at or after `since` ("Freshness" in `signing.trust`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from signing.errors import SigningError
from signing.keys import verify_data
from signing.report import RevocationState, RevocationStatus
from signing.signature import CLOCK_SKEW, extension, is_ca

#: The longest we keep revocation data that has no nextUpdate (RFC 6960 allows that for OCSP).
MAX_AGE_WITHOUT_NEXT_UPDATE = timedelta(minutes=10)
#: Answers kept per cache beyond which stale ones are dropped (and then the oldest).
CACHE_ENTRIES = 8192

Source = Literal["ocsp", "crl"]


class RevocationFetcher(Protocol):
    """How revocation data is reached: over HTTP, or in-process where the CA lives."""

    def fetch_crl(self, url: str) -> bytes:
        """DER CRL at url; raise OSError (or a subclass) when it cannot be had."""
        ...

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        """DER OCSPResponse for request_der from the responder at url; raise OSError on failure."""
        ...


class RevocationUnavailable(SigningError):
    """No usable revocation answer for a certificate: unreachable, stale, badly signed, out of
    scope, or issued before the time it must follow."""

    code = "revocation_unavailable"


@dataclass(frozen=True)
class _Kept:
    value: object
    this_update: datetime
    good_until: datetime
    #: The moment of the validation that fetched it: the answer says what the CA knew then.
    fetched_at: datetime

    def serves(self, moment: datetime, since: datetime | None) -> bool:
        """Still current at `moment`, issued in the second of `since` or later, and fetched
        after `since` to the microsecond (an answer of the same second fetched before it may
        predate a revocation made in between)."""
        if moment > self.good_until:
            return False
        return since is None or (
            _issued_since(self.this_update, since) and self.fetched_at >= since
        )


#: An answer's URL, the issuer it was checked against, and the serial number it is about (None
#: for a CRL, which is about every serial number of its issuer).
_Key = tuple[str, x509.Certificate, int | None]


class RevocationCache:
    """CRLs (parsed, checked against their issuer) and OCSP statuses, kept until stale.
    Thread-safe; bounded (stale answers go first, then the oldest)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[_Key, _Kept] = {}

    def get(self, key: _Key, moment: datetime, since: datetime | None) -> object | None:
        with self._lock:
            found = self._kept.get(key)
        return found.value if found is not None and found.serves(moment, since) else None

    def keep(
        self, key: _Key, value: object, this_update: datetime, good_until: datetime,
        fetched_at: datetime,
    ) -> None:
        with self._lock:
            if len(self._kept) >= CACHE_ENTRIES:
                for old in [k for k, v in self._kept.items() if v.good_until < fetched_at]:
                    del self._kept[old]
            if len(self._kept) >= CACHE_ENTRIES:
                del self._kept[next(iter(self._kept))]
            self._kept[key] = _Kept(value, this_update, good_until, fetched_at)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def _issued_since(this_update: datetime, since: datetime) -> bool:
    """Whether this_update is in the second of `since` or later (CRL and OCSP times are encoded
    to the whole second)."""
    return this_update >= since.replace(microsecond=0)


def ocsp_urls(certificate: x509.Certificate) -> list[str]:
    """The OCSP responders the certificate's authorityInformationAccess names."""
    return [
        d.access_location.value
        for d in extension(certificate, x509.AuthorityInformationAccess) or ()
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def crl_urls(certificate: x509.Certificate) -> list[str]:
    """The URLs of the certificate's cRLDistributionPoints."""
    return [
        name.value
        for point in extension(certificate, x509.CRLDistributionPoints) or ()
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


class RevocationChecker:
    """The status of one certificate at a moment, from its OCSP responders and CRLs."""

    def __init__(
        self, fetcher: RevocationFetcher, cache: RevocationCache, prefer: Source = "ocsp"
    ) -> None:
        self.fetcher, self.cache, self.prefer = fetcher, cache, prefer

    def status(
        self, certificate: x509.Certificate, issuer: x509.Certificate, moment: datetime,
        since: datetime | None = None,
    ) -> RevocationStatus:
        """The certificate's status at `moment` from information issued at or after `since` (any
        while current when None); RevocationUnavailable when no source gives a good answer."""
        problems: list[str] = []
        lookups: dict[Source, tuple[Callable[..., RevocationStatus], list[str]]] = {
            "ocsp": (self._ocsp, ocsp_urls(certificate)),
            "crl": (self._crl, crl_urls(certificate)),
        }
        for source in sorted(lookups, key=lambda source: source != self.prefer):
            lookup, urls = lookups[source]
            for url in urls:
                try:
                    return lookup(url, certificate, issuer, moment, since)
                except RevocationUnavailable as error:
                    problems.append(error.detail)
                except (ValueError, x509.DuplicateExtension, UnsupportedAlgorithm) as error:
                    # cryptography parses the parts of a CRL or an answer only when read.
                    problems.append(f"{source.upper()} at {url} cannot be read: {error}")
        raise RevocationUnavailable("; ".join(problems) or "no revocation source")

    # -- OCSP -----------------------------------------------------------------------------------

    def _ocsp(
        self, url: str, certificate: x509.Certificate, issuer: x509.Certificate,
        moment: datetime, since: datetime | None,
    ) -> RevocationStatus:
        key = (url, issuer, certificate.serial_number)
        kept = self.cache.get(key, moment, since)
        if isinstance(kept, RevocationStatus):
            return kept
        request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256())
        request_der = request.build().public_bytes(serialization.Encoding.DER)
        try:
            answer = self.fetcher.post_ocsp(url, request_der)
        except OSError as error:
            raise RevocationUnavailable(f"OCSP responder unreachable: {error}") from error
        try:
            response = ocsp.load_der_ocsp_response(answer)
        except ValueError as error:
            raise RevocationUnavailable("OCSP answer is not DER") from error
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnavailable(f"OCSP answered {response.response_status.name}")
        _check_responder(response, issuer, moment)
        single = _single_response(response, certificate, issuer)
        this_update, next_update = single.this_update_utc, single.next_update_utc
        good_until = next_update or this_update + MAX_AGE_WITHOUT_NEXT_UPDATE
        _require_current(this_update, good_until, moment, "OCSP answer")
        reason = None if single.revocation_reason is None else single.revocation_reason.name
        status = RevocationStatus(
            RevocationState[single.certificate_status.name], f"ocsp {url}",
            single.revocation_time_utc, reason, this_update, next_update,
        )
        self.cache.keep(key, status, this_update, good_until, moment)
        _require_issued_since(this_update, since, "OCSP answer")
        return status

    # -- CRL ------------------------------------------------------------------------------------

    def _crl(
        self, url: str, certificate: x509.Certificate, issuer: x509.Certificate,
        moment: datetime, since: datetime | None,
    ) -> RevocationStatus:
        key = (url, issuer, None)
        crl = self.cache.get(key, moment, since)
        if not isinstance(crl, x509.CertificateRevocationList):
            crl = self._fetch_crl(url, issuer, moment)
            self.cache.keep(key, crl, crl.last_update_utc, _next_update(crl), moment)
            _require_issued_since(crl.last_update_utc, since, "CRL")
        _check_scope(crl, url, certificate)
        this_update, next_update = crl.last_update_utc, crl.next_update_utc
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is None:
            return RevocationStatus(
                RevocationState.GOOD, f"crl {url}", this_update=this_update, next_update=next_update
            )
        flag = extension(entry, x509.CRLReason)
        reason = None if flag is None else flag.reason.name
        return RevocationStatus(
            RevocationState.REVOKED, f"crl {url}", entry.revocation_date_utc, reason,
            this_update, next_update,
        )

    def _fetch_crl(
        self, url: str, issuer: x509.Certificate, moment: datetime
    ) -> x509.CertificateRevocationList:
        """The CRL at url, once it is the issuer's, signed by it and current at `moment`."""
        try:
            data = self.fetcher.fetch_crl(url)
        except OSError as error:
            raise RevocationUnavailable(f"CRL unreachable: {error}") from error
        try:
            is_der = data[:1] == b"\x30"
            crl = x509.load_der_x509_crl(data) if is_der else x509.load_pem_x509_crl(data)
        except ValueError as error:
            raise RevocationUnavailable("CRL is not DER or PEM") from error
        if crl.issuer != issuer.subject:
            raise RevocationUnavailable("CRL is from another issuer")
        issuer_key = issuer.public_key()
        if not isinstance(issuer_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) or not (
            crl.is_signature_valid(issuer_key)
        ):
            raise RevocationUnavailable("CRL signature is invalid")
        _require_current(crl.last_update_utc, _next_update(crl), moment, "CRL")
        return crl


def _require_current(
    this_update: datetime, good_until: datetime, moment: datetime, what: str
) -> None:
    if this_update > moment + CLOCK_SKEW:
        raise RevocationUnavailable(f"{what} is dated in the future")
    if moment > good_until:
        raise RevocationUnavailable(f"{what} is stale")


def _require_issued_since(this_update: datetime, since: datetime | None, what: str) -> None:
    if since is not None and not _issued_since(this_update, since):
        since = since.replace(microsecond=0)
        detail = f"issued {this_update.isoformat()}, before {since.isoformat()}: nothing newer yet"
        raise RevocationUnavailable(f"{what} {detail}")


def _next_update(crl: x509.CertificateRevocationList) -> datetime:
    next_update = crl.next_update_utc
    if next_update is None:
        raise RevocationUnavailable("CRL has no nextUpdate")
    return next_update


def _check_scope(crl: x509.CertificateRevocationList, url: str, cert: x509.Certificate) -> None:
    """Raise unless the CRL covers this certificate (RFC 5280 section 5.2.5). A CRL without an
    issuingDistributionPoint covers every certificate of its issuer."""
    point = extension(crl, x509.IssuingDistributionPoint)
    if point is None:
        return
    uris = [n.value for n in point.full_name or () if isinstance(n, x509.UniformResourceIdentifier)]
    if point.full_name is not None and url not in uris:
        raise RevocationUnavailable("CRL is for another distribution point")
    if point.relative_name is not None or point.indirect_crl or point.only_some_reasons:
        raise RevocationUnavailable("CRL is partial or indirect")
    if point.only_contains_attribute_certs:
        raise RevocationUnavailable("CRL covers attribute certificates only")
    if point.only_contains_user_certs and is_ca(cert):
        raise RevocationUnavailable("CRL covers end-entity certificates, not this CA")
    if point.only_contains_ca_certs and not is_ca(cert):
        raise RevocationUnavailable("CRL covers CA certificates only")


def _single_response(
    response: ocsp.OCSPResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    """The answer's entry for the certificate: its serial, and its issuer's name and key
    hashed under the entry's own digest (a responder may answer SHA-1 for SHA-256)."""
    for single in response.responses:
        if single.serial_number != certificate.serial_number:
            continue
        try:
            builder = ocsp.OCSPRequestBuilder()
            expected = builder.add_certificate(certificate, issuer, single.hash_algorithm).build()
        except (ValueError, UnsupportedAlgorithm):
            continue  # a CertID under a digest we do not know names no certificate of ours
        hashes_named = (single.issuer_name_hash, single.issuer_key_hash)
        if hashes_named == (expected.issuer_name_hash, expected.issuer_key_hash):
            return single
    raise RevocationUnavailable("OCSP answer is about another certificate")


def _key_hash(certificate: x509.Certificate) -> bytes:
    """The certificate's key as an OCSP ResponderID names it: SHA-1 of the subjectPublicKey
    bits (RFC 6960 section 4.2.1), which is what a method-1 subjectKeyIdentifier is."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _check_responder(response: ocsp.OCSPResponse, issuer: x509.Certificate, at: datetime) -> None:
    """The answer must be signed by the issuer itself or by a responder certificate that the
    issuer gave the OCSPSigning purpose (RFC 6960 section 4.2.2.2)."""
    key_hash = response.responder_key_hash
    if key_hash is not None:
        by_issuer = key_hash == _key_hash(issuer)
    else:
        by_issuer = response.responder_name == issuer.subject
    signer = issuer if by_issuer else _delegated_responder(response, issuer, at)
    try:
        algorithm = response.signature_hash_algorithm
        if algorithm is None:
            raise InvalidSignature("no hash algorithm")
        verify_data(signer.public_key(), response.signature, response.tbs_response_bytes, algorithm)
    except (InvalidSignature, UnsupportedAlgorithm) as error:
        raise RevocationUnavailable("OCSP answer signature is invalid") from error


def _delegated_responder(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, moment: datetime
) -> x509.Certificate:
    key_hash = response.responder_key_hash
    name = response.responder_name
    named = [
        c for c in response.certificates
        if (key_hash is not None and _key_hash(c) == key_hash) or (name and c.subject == name)
    ]
    if not named:
        raise RevocationUnavailable("OCSP answer signed by an unknown responder")
    responder = named[0]
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as error:
        raise RevocationUnavailable("OCSP responder certificate not issued by the CA") from error
    usage = extension(responder, x509.ExtendedKeyUsage)
    if usage is None or ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
        raise RevocationUnavailable("OCSP responder certificate lacks the OCSPSigning purpose")
    if not responder.not_valid_before_utc <= moment <= responder.not_valid_after_utc:
        raise RevocationUnavailable("OCSP responder certificate is not valid now")
    return responder

