"""The service's TEST CA: loaded once from the data dir when first needed, with its records
(what it issued and revoked, its CRLs) in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select

from birthreg import audit
from birthreg.config import ConfigurationError, Settings
from birthreg.errors import DomainError, NotFound, ServiceNotInitialised
from birthreg.models import IssuedCertificate, IssuedCRL
from birthreg.pki.partitions import ISSUING, count_revocation, note_issued, revoked_counter
from birthreg.services import Services
from signing import ocsp
from signing.ca import (
    LEGACY_PARTITION,
    CertificateStatus,
    CertificationAuthority,
    Profile,
    RevokedCertificate,
    crl_partition_of,
)
from signing.report import RevocationState


def load_certification_authority(settings: Settings) -> CertificationAuthority:
    """The CA in the data dir. Raises ServiceNotInitialised when `birthreg init` has not run."""
    if not CertificationAuthority.exists(settings.ca_directory):
        raise ServiceNotInitialised("the TEST CA does not exist yet: run `birthreg init`")
    try:
        passphrase = settings.ca_passphrase_bytes()
    except ConfigurationError as exc:
        raise ServiceNotInitialised(str(exc)) from exc
    ca = CertificationAuthority.load(settings.ca_directory, passphrase, base_url=settings.base_url)
    # The CA keeps the addresses it was created with (its CRLs' scopes name them), so what it
    # issued goes on verifying when the service is served at another address.
    created = ca.created_base_url
    return ca if created in (None, ca.base_url) else ca.with_base_url(created)


def certification_authority(services: Services) -> CertificationAuthority:
    """The app's CA, loaded on first use (so that `birthreg init` may run after start-up)."""
    ca: CertificationAuthority = services.ca.get()
    return ca


# -- what the CA issued and revoked, in the database ---------------------------------------------

#: The issuing CA's CRL is issued again at the first request after a revocation, or when it is
#: this old; relying parties may keep it until its nextUpdate, CRL_VALIDITY after its issue.
CRL_REFRESH = timedelta(minutes=30)
CRL_VALIDITY = timedelta(hours=2)
#: The root's CRL (the ARL) lists no certificate (the root certifies only the issuing CA, whose
#: revocation would be a new TEST PKI), so it is issued again only to stay current.
ARL_REFRESH = timedelta(days=1)
ARL_VALIDITY = timedelta(days=7)
#: How long an OCSP answer may be kept (its nextUpdate).
OCSP_VALIDITY = timedelta(minutes=30)


_STATUS = select(IssuedCertificate.revoked_at, IssuedCertificate.revocation_reason).where(
    col(IssuedCertificate.serial) == bindparam("serial")
)


class DatabaseCertificateStatus:
    """`signing.ca.CertificateStatusSource` over the `pki_certificate` table (its revoked rows
    are read through `ix_pki_certificate_revoked`, a partition's through
    `ix_pki_certificate_partition_revoked`, never the certificates themselves)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def status(self, serial: int) -> CertificateStatus:
        # A Core statement built once: an OCSP answer is on every intake's path.
        row = self.session.connection().execute(_STATUS, {"serial": format(serial, "x")}).first()
        if row is None:
            return CertificateStatus(RevocationState.UNKNOWN)
        revoked_at, reason = row
        if revoked_at is None:
            return CertificateStatus(RevocationState.GOOD)
        return CertificateStatus(RevocationState.REVOKED, revoked_at, _reason(reason))

    def revoked(
        self, expired_before: datetime | None = None, partition: int | None = None
    ) -> list[RevokedCertificate]:
        """Every revocation (of one CRL partition, when given), but those of certificates
        expired before `expired_before`. Read as plain rows from an index (a national CA has a
        hundred thousand of them)."""
        query = select(
            IssuedCertificate.serial,
            IssuedCertificate.revoked_at,
            IssuedCertificate.revocation_reason,
        ).where(col(IssuedCertificate.revoked_at).is_not(None))
        if partition is not None:
            query = query.where(col(IssuedCertificate.crl_partition) == partition)
        if expired_before is not None:
            query = query.where(col(IssuedCertificate.not_after) >= expired_before)
        return [
            RevokedCertificate(int(serial, 16), revoked_at, _reason(reason))
            for serial, revoked_at, reason in self.session.connection().execute(query)
        ]

    def revocations(self) -> int:
        """How many certificates were ever revoked (it only grows: a revocation is final)."""
        return self.session.exec(
            select(func.count()).where(col(IssuedCertificate.revoked_at).is_not(None))
        ).one()


def _reason(name: str | None) -> x509.ReasonFlags:
    return x509.ReasonFlags[name or "unspecified"]


def record_issued(
    session: Session, certificate: x509.Certificate, profile: Profile, moment: datetime
) -> IssuedCertificate:
    """Keep a certificate the CA just issued, so that OCSP knows it ("good", not "unknown"), in
    the CRL partition its distribution point names."""
    partition = crl_partition_of(certificate)
    row = IssuedCertificate(
        serial=format(certificate.serial_number, "x"),
        profile=profile.value,
        der=certificate.public_bytes(serialization.Encoding.DER),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        issued_at=moment,
        crl_partition=partition,
    )
    session.add(row)
    note_issued(session, partition, certificate.not_valid_after_utc)
    session.flush()
    return row


REVOCATION_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}


def parse_serial(serial_hex: str) -> int:
    """A serial in lowercase hex (as the API takes it). Raises DomainError(400)."""
    if not (1 <= len(serial_hex) <= 40) or any(c not in "0123456789abcdef" for c in serial_hex):
        raise DomainError(
            "invalid_serial", "a certificate serial is lowercase hexadecimal, at most 40 digits"
        )
    return int(serial_hex, 16)


def revoke(
    session: Session,
    serial: int,
    reason: x509.ReasonFlags,
    moment: datetime,
    *,
    actor: str,
    role: str,
) -> IssuedCertificate:
    """Revoke a certificate the CA issued (RFC 5280 reasons). Revoking twice keeps the first
    revocation and raises DomainError 409; an unknown serial is 404."""
    row = session.exec(
        select(IssuedCertificate)
        .where(IssuedCertificate.serial == format(serial, "x"))
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound("certificate_not_found", "no certificate with that serial was issued here")
    if row.revoked_at is not None:
        raise DomainError("already_revoked", "the certificate is already revoked", 409)
    row.revoked_at = moment
    row.revocation_reason = reason.name
    session.add(row)
    count_revocation(session, row.crl_partition)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="certificate.revoked",
        object_type="certificate",
        object_id=row.serial,
        details={"reason": reason.name},
        at=moment,
    )
    session.flush()
    return row


def current_crl(
    session: Session,
    ca: CertificationAuthority,
    moment: datetime,
    partition: int = LEGACY_PARTITION,
) -> IssuedCRL:
    """The CRL of one partition of the issuing CA to serve (0: /pki/crl): the last one issued,
    or a new one when a certificate of the partition was revoked since or it is older than
    CRL_REFRESH. It is built once per change and then served as stored; expired certificates
    leave it (see `signing.ca.crl`)."""
    statuses = DatabaseCertificateStatus(session)
    revocations = revoked_counter(session, partition)  # before the rows: see `_current`

    def build(number: int, previous: IssuedCRL | None) -> x509.CertificateRevocationList:
        previous_update = None if previous is None else previous.this_update
        return ca.build_crl(
            statuses.revoked(expired_before=previous_update, partition=partition),
            number=number,
            moment=moment,
            next_update=CRL_VALIDITY,
            previous_update=previous_update,
            partition=partition,
        )

    return _current(session, ISSUING, moment, CRL_REFRESH, revocations, build, partition)


def current_arl(session: Session, ca: CertificationAuthority, moment: datetime) -> IssuedCRL:
    """The root's CRL (the ARL) to serve: the last one issued, or a new one when it is older
    than ARL_REFRESH."""

    def build(number: int, previous: IssuedCRL | None) -> x509.CertificateRevocationList:
        return ca.build_arl(number=number, moment=moment, next_update=ARL_VALIDITY)

    return _current(session, ROOT, moment, ARL_REFRESH, 0, build)


ROOT = "root"


#: How long past CRL_REFRESH a published CRL is still served as stored (the publisher issues
#: the next one within seconds of the refresh; this is its slack).
PUBLISHED_SLACK = timedelta(minutes=5)


def published_crl(
    session: Session,
    ca: CertificationAuthority,
    moment: datetime,
    partition: int = LEGACY_PARTITION,
) -> IssuedCRL:
    """A partition's CRL to serve where `birthreg.pki.publisher` keeps it current: the last one
    issued, as stored, without counting the revocations; a new one only when none is recent
    (the publisher is not running, or the partition's certificates have all expired)."""
    latest = _latest(session, ISSUING, partition)
    if latest is not None and latest.this_update <= moment < (
        latest.this_update + CRL_REFRESH + PUBLISHED_SLACK
    ):
        return latest
    return current_crl(session, ca, moment, partition)


def _latest(session: Session, scope: str, partition: int) -> IssuedCRL | None:
    return session.exec(
        select(IssuedCRL)
        .where(IssuedCRL.scope == scope)
        .where(IssuedCRL.crl_partition == partition)
        .order_by(col(IssuedCRL.number).desc())
        .limit(1)
    ).first()


def _current(
    session: Session,
    scope: str,
    moment: datetime,
    refresh: timedelta,
    revocations: int,
    build: Callable[[int, IssuedCRL | None], x509.CertificateRevocationList],
    partition: int = LEGACY_PARTITION,
) -> IssuedCRL:
    """The newest CRL of `scope` and `partition` while it is current, else a new one under the
    next number of the one sequence every CRL shares. Safe with several workers: a number is
    taken once (primary key); a worker that loses the race looks again and serves the winner's
    CRL. `revocations` is read before the rows the CRL is built from, so a revocation committed
    in between is listed and only makes the next look build again. Of the partition's older
    CRLs the one before is kept, the rest go (a CRL a partition every half hour adds up)."""
    for _ in range(3):
        latest = _latest(session, scope, partition)
        if (
            latest is not None
            and latest.revoked_count == revocations
            and latest.this_update <= moment < latest.this_update + refresh
        ):
            return latest
        number = (session.exec(select(func.max(IssuedCRL.number))).one() or 0) + 1
        crl = build(number, latest)
        issued = IssuedCRL(
            number=number,
            scope=scope,
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,  # type: ignore[arg-type]
            revoked_count=revocations,
            der=crl.public_bytes(serialization.Encoding.DER),
            crl_partition=partition,
        )
        try:
            with session.begin_nested():
                session.add(issued)
        except IntegrityError:
            continue
        if latest is not None:
            session.execute(
                delete(IssuedCRL)
                .where(col(IssuedCRL.scope) == scope)
                .where(col(IssuedCRL.crl_partition) == partition)
                .where(col(IssuedCRL.number) < latest.number)
            )
        return issued
    raise DomainError("crl_busy", "the CRL is being issued; ask again", 503)


def ocsp_answer(
    session: Session, ca: CertificationAuthority, request_der: bytes, moment: datetime
) -> bytes:
    """The DER OCSP response for a request (never raises for a bad request)."""
    return ocsp.respond(
        request_der,
        ca=ca,
        statuses=DatabaseCertificateStatus(session),
        moment=moment,
        validity=OCSP_VALIDITY,
    )
