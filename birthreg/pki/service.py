"""The service's TEST CA: loaded once from the data dir when first needed, with its records
(what it issued and revoked, its CRLs) in the database."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from birthreg import audit
from birthreg.config import ConfigurationError, Settings
from birthreg.errors import DomainError, NotFound, ServiceNotInitialised
from birthreg.models import IssuedCertificate, IssuedCRL
from signing import ocsp
from signing.ca import (
    CertificateStatus,
    CertificationAuthority,
    Profile,
    RevokedCertificate,
)
from signing.report import RevocationState

_lock = threading.Lock()


def load_certification_authority(settings: Settings) -> CertificationAuthority:
    """The CA in the data dir. Raises ServiceNotInitialised when `birthreg init` has not run."""
    if not CertificationAuthority.exists(settings.ca_directory):
        raise ServiceNotInitialised("the TEST CA does not exist yet: run `birthreg init`")
    try:
        passphrase = settings.ca_passphrase_bytes()
    except ConfigurationError as exc:
        raise ServiceNotInitialised(str(exc)) from exc
    return CertificationAuthority.load(
        settings.ca_directory, passphrase, base_url=settings.base_url
    )


def certification_authority(app: Any) -> CertificationAuthority:
    """The app's CA, loaded on first use (so that `birthreg init` may run after start-up)."""
    ca: CertificationAuthority | None = getattr(app.state, "ca", None)
    if ca is None:
        with _lock:
            ca = getattr(app.state, "ca", None)
            if ca is None:
                ca = load_certification_authority(app.state.settings)
                app.state.ca = ca
    return ca


# -- what the CA issued and revoked, in the database ---------------------------------------------

#: A CRL is reissued when a revocation happened since, or when it is this old.
CRL_REFRESH = timedelta(minutes=30)
#: How long relying parties may keep a CRL (its nextUpdate).
CRL_VALIDITY = timedelta(hours=2)
#: How long an OCSP answer may be kept (its nextUpdate).
OCSP_VALIDITY = timedelta(minutes=30)


class DatabaseCertificateStatus:
    """`signing.ca.CertificateStatusSource` over the `pki_certificate` table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def status(self, serial: int) -> CertificateStatus:
        row = self.session.get(IssuedCertificate, format(serial, "x"))
        if row is None:
            return CertificateStatus(RevocationState.UNKNOWN)
        if row.revoked_at is None:
            return CertificateStatus(RevocationState.GOOD)
        return CertificateStatus(
            RevocationState.REVOKED, revoked_at=row.revoked_at, reason=_reason(row)
        )

    def revoked(self) -> list[RevokedCertificate]:
        rows = self.session.exec(
            select(IssuedCertificate)
            .where(col(IssuedCertificate.revoked_at).is_not(None))
            .order_by(col(IssuedCertificate.serial))
        ).all()
        return [
            RevokedCertificate(int(row.serial, 16), row.revoked_at, _reason(row))  # type: ignore[arg-type]
            for row in rows
        ]


def _reason(row: IssuedCertificate) -> x509.ReasonFlags:
    return x509.ReasonFlags[row.revocation_reason or "unspecified"]


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
    """The CRL to serve: the last one issued, or a new one (next number) when a revocation
    happened since or it is older than CRL_REFRESH. Safe with several workers: a number is
    taken once (primary key); a worker that loses the race serves the winner's CRL."""
    latest = session.exec(select(IssuedCRL).order_by(col(IssuedCRL.number).desc()).limit(1)).first()
    revoked = DatabaseCertificateStatus(session).revoked()
    if (
        latest is not None
        and latest.revoked_count == len(revoked)
        and moment - latest.this_update < CRL_REFRESH
        and latest.this_update <= moment
    ):
        return latest
    number = (latest.number + 1) if latest is not None else 1
    crl = ca.build_crl(revoked, number=number, moment=moment, next_update=CRL_VALIDITY)
    issued = IssuedCRL(
        number=number,
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,  # type: ignore[arg-type]
        revoked_count=len(revoked),
        der=crl.public_bytes(serialization.Encoding.DER),
    )
    try:
        with session.begin_nested():
            session.add(issued)
    except IntegrityError:
        winner = session.get(IssuedCRL, number)
        if winner is None:  # pragma: no cover - the row that conflicted is there
            raise
        return winner
    return issued


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
