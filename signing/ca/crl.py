"""What the CA issued and revoked, and the CRLs it publishes about it.

The CRL profile (RFC 5280 section 5), one CRL per issuer and scope:

- v2, ECDSA-SHA256, by the CA whose certificates it lists; a cRLNumber that grows; the AKI.
- A critical issuingDistributionPoint saying what the CRL covers: the issuing CA's CRLs name
  their URL and cover end-entity certificates only; the root's CRL (the ARL) covers CA
  certificates only and names no URL, so that it covers the root itself. A CRL fetched for one
  scope cannot be passed off for another.
- Partitions (RFC 5280 5.2.5): the issuing CA's certificates are split by issuance sequence,
  PARTITION_SIZE to a partition; each certificate's cRLDistributionPoints names its partition's
  CRL (/pki/crl/<n>), whose issuingDistributionPoint names the same URL, so a CRL stays small
  however many the CA issued, and a CRL of one partition is refused for another. Partition 0 is
  what was issued before partitions: its certificates name /pki/crl, and so does its CRL.
- Each entry has its revocation date, and its reason unless `unspecified` (RFC 5280 5.3.1).
- Expired certificates leave the CRL once a CRL issued after their expiry has listed them (RFC
  5280 sections 3.3 and 5.1.2.6): an entry goes when its certificate expired before
  `previous_update`.
- The whole list goes to cryptography's immutable builder at once (one at a time is quadratic).
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signing.ca.profiles import require_aware
from signing.errors import CAError
from signing.report import RevocationState
from signing.revocation import crl_urls

#: Certificates issued before CRL partitions: their distribution point is /pki/crl.
LEGACY_PARTITION = 0
#: Certificates per partition, in issuance order. An entry with a 159-bit serial, its date and a
#: reason takes about 55 bytes, so a partition's CRL stays under 600 KB even were every one of
#: its certificates revoked (the registry refuses a CRL over 4 MiB), and at the national rate
#: of one revoked in ten it is about 55 KB: what a relying party fetches per refresh.
PARTITION_SIZE = 10_000
_PARTITION_PATH = re.compile(r"/pki/crl/([1-9][0-9]{0,8})")


def check_partition(partition: int) -> None:
    """CAError unless `partition` is a partition number (0 for the legacy CRL, else >= 1)."""
    if not 0 <= partition < 10**9:
        raise CAError("a CRL partition is a number from 0")


def crl_partition_of(certificate: x509.Certificate) -> int:
    """The partition whose CRL the certificate's distribution point names (/pki/crl/<n>), or
    LEGACY_PARTITION when it names /pki/crl or no CRL of this CA."""
    for url in crl_urls(certificate):
        # The end of the path: a base URL may have a path of its own.
        path = urllib.parse.urlsplit(url).path
        match = _PARTITION_PATH.search(path)
        if match and match.end() == len(path):
            return int(match.group(1))
    return LEGACY_PARTITION


@dataclass(frozen=True)
class CertificateStatus:
    state: RevocationState  # GOOD, REVOKED or UNKNOWN (never issued by this CA)
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


@dataclass(frozen=True)
class RevokedCertificate:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified
    #: The certificate's notAfter, when known: an expired certificate leaves the CRL.
    not_after: datetime | None = None


class CertificateStatusSource(Protocol):
    """What the CA issued and revoked; the service keeps it in its database."""

    def status(self, serial: int) -> CertificateStatus: ...

    def revoked(self) -> Iterable[RevokedCertificate]: ...


@dataclass(frozen=True)
class CRLScope:
    """Who signs a CRL and what it covers (see the module docstring)."""

    issuer: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    #: The URL the CRL is published at, named in its issuingDistributionPoint; None leaves the
    #: name out (the CRL then serves whatever points at it).
    url: str | None
    ca_certificates: bool


def build_crl(
    scope: CRLScope, revoked: Iterable[RevokedCertificate], *, number: int, moment: datetime,
    next_update: timedelta, previous_update: datetime | None = None,
) -> x509.CertificateRevocationList:
    """A CRL under the profile above; CAError for a negative number or period or a naive time.
    Security caveats: `number` must grow with every CRL of this issuer; relying parties take the
    CRL as complete for its scope, so pass every revocation the CA made."""
    require_aware(moment)
    if number < 0:
        raise CAError("the CRL number must not be negative")
    if next_update <= timedelta(0):
        raise CAError("next_update must be positive")
    since = previous_update
    entries = [
        _entry(r) for r in revoked if since is None or r.not_after is None or r.not_after >= since
    ]
    ski = scope.issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    # The whole list at once (see above); the times through the builder's methods, which
    # take them in any offset.
    builder = (
        x509.CertificateRevocationListBuilder(scope.issuer.subject, revoked_certificates=entries)
        .last_update(moment)
        .next_update(moment + next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .add_extension(_distribution_point(scope), critical=True)
    )
    return builder.sign(scope.key, hashes.SHA256())


def _distribution_point(scope: CRLScope) -> x509.IssuingDistributionPoint:
    name = None if scope.url is None else [x509.UniformResourceIdentifier(scope.url)]
    only_ca = scope.ca_certificates
    return x509.IssuingDistributionPoint(name, None, not only_ca, only_ca, None, False, False)


#: One CRLReason extension per reason, shared by every entry that gives it (none for
#: `unspecified`).
_REASONS: dict[x509.ReasonFlags, list[x509.Extension[x509.ExtensionType]]] = {
    flag: [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(flag))]
    for flag in x509.ReasonFlags
    if flag is not x509.ReasonFlags.unspecified
}


def _entry(revocation: RevokedCertificate) -> x509.RevokedCertificate:
    """One CRL entry, its parts given to the builder at once (its chained methods copy it once
    per part): the serial checked and the date put in naive UTC here, as they would."""
    require_aware(revocation.revoked_at, "revoked_at")
    if not 0 < revocation.serial < 2**159:
        raise CAError("a serial number is positive and at most 159 bits")
    when = revocation.revoked_at
    when = (when if when.tzinfo is UTC else when.astimezone(UTC)).replace(tzinfo=None)
    reason = _REASONS.get(revocation.reason, [])
    return x509.RevokedCertificateBuilder(revocation.serial, when, reason).build()


class InMemoryCertificateStatus:
    """A `CertificateStatusSource` kept in memory (tests, benchmarks, the CLI). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[int, x509.Certificate] = {}
        self._revoked: dict[int, RevokedCertificate] = {}

    def add(self, certificate: x509.Certificate) -> None:
        """Record an issued certificate; adding it again is harmless, a different certificate
        with the same serial is refused (CAError)."""
        with self._lock:
            known = self._issued.get(certificate.serial_number)
            if known is not None and known != certificate:
                raise CAError(f"serial {certificate.serial_number:x} is already taken")
            self._issued[certificate.serial_number] = certificate

    def revoke(
        self, serial: int, moment: datetime, reason: x509.ReasonFlags = x509.ReasonFlags.unspecified
    ) -> RevokedCertificate:
        """Revoke an issued certificate and return its revocation. Revoking again keeps the first
        revocation (date and reason) and returns it. Unknown serials and `removeFromCRL` (not a
        revocation reason) raise CAError."""
        require_aware(moment)
        if reason is x509.ReasonFlags.remove_from_crl:
            raise CAError("removeFromCRL is not a revocation reason")
        with self._lock:
            certificate = self._issued.get(serial)
            if certificate is None:
                raise CAError(f"serial {serial:x} was never issued")
            first = self._revoked.get(serial)
            if first is not None:
                return first
            revocation = RevokedCertificate(serial, moment, reason, certificate.not_valid_after_utc)
            self._revoked[serial] = revocation
            return revocation

    def status(self, serial: int) -> CertificateStatus:
        with self._lock:
            revocation = self._revoked.get(serial)
            issued = serial in self._issued
        if revocation is not None:
            revoked = RevocationState.REVOKED
            return CertificateStatus(revoked, revocation.revoked_at, revocation.reason)
        return CertificateStatus(RevocationState.GOOD if issued else RevocationState.UNKNOWN)

    def revoked(self) -> Sequence[RevokedCertificate]:
        with self._lock:
            return list(self._revoked.values())
