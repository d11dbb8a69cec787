"""The service's TEST CA: loaded once from the data dir when first needed, with its records
(what it issued and revoked, its CRLs) in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from birthreg import audit
from birthreg.config import ConfigurationError, Settings
from birthreg.errors import DomainError, NotFound, ServiceNotInitialised
from birthreg.models import IssuedCertificate, IssuedCRL
from birthreg.services import Services
from signing import ocsp
from signing.ca import (
    CertificateStatus,
    CertificationAuthority,
    Profile,
    RevokedCertificate,
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
    are read through `ix_pki_certificate_revoked`, never the certificates themselves)."""

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

    def revoked(self, expired_before: datetime | None = None) -> list[RevokedCertificate]:
        """Every revocation, but those of certificates expired before `expired_before`. Read
        as plain rows from the index (a national CRL has a hundred thousand of them)."""
        query = select(
            IssuedCertificate.serial,
            IssuedCertificate.revoked_at,
            IssuedCertificate.revocation_reason,
        ).where(col(IssuedCertificate.revoked_at).is_not(None))
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
    """Keep a certificate the CA just issued, so that OCSP knows it ("good", not "unknown")."""
    row = IssuedCertificate(
        serial=format(certificate.serial_number, "x"),
        profile=profile.value,
        der=certificate.public_bytes(serialization.Encoding.DER),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        issued_at=moment,
    )
    session.add(row)
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


def current_crl(session: Session, ca: CertificationAuthority, moment: datetime) -> IssuedCRL:
    """The issuing CA's CRL to serve: the last one issued, or a new one when a certificate was
    revoked since or it is older than CRL_REFRESH. It is built once per change and then served
    as stored; expired certificates leave it (see `signing.ca.crl`)."""
    statuses = DatabaseCertificateStatus(session)
    revocations = statuses.revocations()

    def build(number: int, previous: IssuedCRL | None) -> x509.CertificateRevocationList:
        previous_update = None if previous is None else previous.this_update
        return ca.build_crl(
            statuses.revoked(expired_before=previous_update),
            number=number,
            moment=moment,
            next_update=CRL_VALIDITY,
            previous_update=previous_update,
        )

    return _current(session, ISSUING, moment, CRL_REFRESH, revocations, build)


def current_arl(session: Session, ca: CertificationAuthority, moment: datetime) -> IssuedCRL:
    """The root's CRL (the ARL) to serve: the last one issued, or a new one when it is older
    than ARL_REFRESH."""

    def build(number: int, previous: IssuedCRL | None) -> x509.CertificateRevocationList:
        return ca.build_arl(number=number, moment=moment, next_update=ARL_VALIDITY)

    return _current(session, ROOT, moment, ARL_REFRESH, 0, build)


ISSUING = "issuing"
ROOT = "root"


#: How long past CRL_REFRESH a published CRL is still served as stored (the publisher issues
#: the next one within seconds of the refresh; this is its slack).
PUBLISHED_SLACK = timedelta(minutes=5)


def published_crl(session: Session, ca: CertificationAuthority, moment: datetime) -> IssuedCRL:
    """The CRL to serve where `birthreg.pki.publisher` keeps it current: the last one issued, as
    stored, without counting the revocations (a national CA has a hundred thousand); a new one
    only when none is recent (the publisher is not running)."""
    latest = session.exec(
        select(IssuedCRL)
        .where(IssuedCRL.scope == ISSUING)
        .order_by(col(IssuedCRL.number).desc())
        .limit(1)
    ).first()
    if latest is not None and latest.this_update <= moment < (
        latest.this_update + CRL_REFRESH + PUBLISHED_SLACK
    ):
        return latest
    return current_crl(session, ca, moment)


def crl_due(session: Session, moment: datetime) -> bool:
    """Whether the issuing CA's CRL must be issued again (a revocation since the last one, or
    it is CRL_REFRESH old): two reads through indexes, no lock."""
    latest = session.exec(
        select(IssuedCRL.revoked_count, IssuedCRL.this_update)  # not the CRL itself
        .where(IssuedCRL.scope == ISSUING)
        .order_by(col(IssuedCRL.number).desc())
        .limit(1)
    ).first()
    if latest is None:
        return True
    revoked_count, this_update = latest
    revocations = DatabaseCertificateStatus(session).revocations()
    return not (revoked_count == revocations and this_update <= moment < this_update + CRL_REFRESH)


def _current(
    session: Session,
    scope: str,
    moment: datetime,
    refresh: timedelta,
    revocations: int,
    build: Callable[[int, IssuedCRL | None], x509.CertificateRevocationList],
) -> IssuedCRL:
    """The newest CRL of `scope` while it is current, else a new one under the next number of
    the one sequence both scopes share. Safe with several workers: a number is taken once
    (primary key); a worker that loses the race looks again and serves the winner's CRL."""
    for _ in range(3):
        latest = session.exec(
            select(IssuedCRL)
            .where(IssuedCRL.scope == scope)
            .order_by(col(IssuedCRL.number).desc())
            .limit(1)
        ).first()
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
        )
        try:
            with session.begin_nested():
                session.add(issued)
        except IntegrityError:
            continue
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
