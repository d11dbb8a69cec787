"""Revocation by ward staff and by a certificate's holder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from sqlmodel import Session, col, select

from birthreg.auth import actor_of
from birthreg.errors import NotFound
from birthreg.models import Birth, Enrollment, StaffUser
from birthreg.pki.fetch import InProcessRevocationFetcher
from birthreg.pki.service import parse_serial, revoke
from birthreg.ward.context import WardContext, WardError, staff_facility
from signing.canonical import canonicalize
from signing.dossier import verify_signature
from signing.errors import SigningError
from signing.report import SubIndication
from signing.trust import TrustAnchors, Validator

REVOCATION_REQUEST_TYPE = "birthreg.revocation-request/1"
#: How far a holder's revocation request may be from our clock (it cannot be replayed later).
REVOCATION_REQUEST_WINDOW = timedelta(minutes=10)
HOLDER_REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "unspecified": x509.ReasonFlags.unspecified,
}
#: The ward's reasons, as RFC 5280 reasons in the CRL and OCSP. All three are keyCompromise:
#: a lost phone holds the key where anyone who picks it up may use it, and a certificate given
#: to the wrong person binds the named person's identity to a key someone else holds. Either
#: way no signature made with that key can be trusted, whenever it claims to have been made,
#: and keyCompromise is the one reason that tells relying parties so (affiliationChanged or
#: cessationOfOperation would leave earlier signatures standing). The ward's own reason stays
#: in the answer and in the audit entry.
STAFF_REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "lost_phone": x509.ReasonFlags.key_compromise,
    "wrong_person": x509.ReasonFlags.key_compromise,
    "key_compromise": x509.ReasonFlags.key_compromise,
}


# -- revocation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    serial: str
    revoked_at: datetime
    reason: str
    crl_reason: x509.ReasonFlags

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "revoked_at": self.revoked_at,
            "reason": self.reason,
            "crl_reason": self.crl_reason.name,
        }


def revoke_by_staff(
    session: Session,
    *,
    staff: StaffUser,
    serial: str,
    reason: str,
    moment: datetime,
) -> Revocation:
    """Revoke a certificate issued through an enrollment of the staff member's facility
    (never a seal: 404). Reasons: lost_phone, wrong_person, key_compromise (see
    STAFF_REVOCATION_REASONS). Refusals: 400 invalid_serial / invalid_reason, 404
    certificate_not_found, 409 already_revoked. Audited `certificate.revoked`."""
    number = parse_serial(serial)
    flag = STAFF_REVOCATION_REASONS.get(reason)
    if flag is None:
        raise WardError(
            "invalid_reason",
            "reason must be one of " + ", ".join(STAFF_REVOCATION_REASONS),
            field="reason",
        )
    facility = staff_facility(session, staff)
    serial_hex = format(number, "x")
    enrollment = session.exec(
        select(Enrollment)
        .join(Birth, col(Birth.id) == col(Enrollment.birth_id))
        .where(Enrollment.certificate_serial == serial_hex)
        .where(Birth.facility_id == facility.id)
    ).first()
    if enrollment is None:
        raise NotFound(
            "certificate_not_found", "no certificate with that serial was issued by this ward"
        )
    row = revoke(session, number, flag, moment, actor=actor_of(staff), role=staff.role)
    assert row.revoked_at is not None
    return Revocation(row.serial, row.revoked_at, reason, flag)


def _revocation_request(request: Mapping[str, Any], serial: str, moment: datetime) -> str:
    expected = {"type", "serial", "reason", "requested_at"}
    if set(request) != expected:
        raise WardError(
            "invalid_request",
            "request has exactly type, serial, reason and requested_at",
            field="request",
        )
    if request["type"] != REVOCATION_REQUEST_TYPE:
        raise WardError(
            "invalid_request",
            f'request.type must be "{REVOCATION_REQUEST_TYPE}"',
            field="request.type",
        )
    if request["serial"] != serial:
        raise WardError(
            "serial_mismatch",
            "request.serial is not the serial in the path",
            field="request.serial",
        )
    reason = request["reason"]
    if not isinstance(reason, str) or reason not in HOLDER_REVOCATION_REASONS:
        raise WardError(
            "invalid_reason",
            "request.reason must be key_compromise or unspecified",
            field="request.reason",
        )
    requested_at_text = request["requested_at"]
    try:
        if not isinstance(requested_at_text, str) or "T" not in requested_at_text.upper():
            raise ValueError
        requested_at = datetime.fromisoformat(requested_at_text)
        if requested_at.tzinfo is None:
            raise ValueError
    except ValueError:
        raise WardError(
            "invalid_request",
            "request.requested_at must be an RFC 3339 time with an offset",
            field="request.requested_at",
        ) from None
    if abs(moment - requested_at) > REVOCATION_REQUEST_WINDOW:
        raise WardError(
            "stale_request",
            f"request.requested_at must be within {REVOCATION_REQUEST_WINDOW.seconds // 60}"
            " minutes of now; sign a new request",
            field="request.requested_at",
        )
    return reason


def revoke_by_holder(
    session: Session,
    ward: WardContext,
    *,
    serial: str,
    request: Mapping[str, Any],
    signature: Mapping[str, Any],
    moment: datetime,
) -> Revocation:
    """Revoke a certificate at its holder's request, signed (JWS or CMS) with that very
    certificate's key over the canonical `request`, made within 10 minutes of now. The signature
    must pass in full (chain to this CA's root, individual policy, not revoked): a revoked key
    cannot revoke again (409 already_revoked). Refusals: 400 invalid_serial / invalid_request /
    serial_mismatch / invalid_reason / stale_request / invalid_signature (with its `report`),
    403 signer_mismatch, 409 already_revoked. Audited as "holder:<serial>"."""
    number = parse_serial(serial)
    serial_hex = format(number, "x")
    reason = _revocation_request(request, serial_hex, moment)
    try:
        content = canonicalize(dict(request))
    except SigningError as error:
        raise WardError("invalid_request", error.detail, field="request") from None
    # The signature is checked before this session touches the database: the revocation
    # fetcher reads with its own session, which on SQLite would wait for ours.
    validator = Validator(
        TrustAnchors([ward.ca.root_certificate], [ward.ca.issuing_certificate]),
        InProcessRevocationFetcher(ward.engine, ward.ca),
    )
    report = verify_signature(
        signature, content, validator=validator, moment=moment, purpose="individual"
    )
    if not report.passed:
        if report.sub_indication in (SubIndication.REVOKED, SubIndication.REVOKED_NO_POE):
            raise WardError("already_revoked", "the certificate is already revoked", 409)
        raise WardError(
            "invalid_signature",
            "the revocation request's signature does not pass",
            extra={"report": report.to_json()},
        )
    if report.signer_serial != serial_hex:
        raise WardError(
            "signer_mismatch",
            "only the holder of this certificate, signing with its key, may revoke it",
            403,
        )
    flag = HOLDER_REVOCATION_REASONS[reason]
    row = revoke(session, number, flag, moment, actor=f"holder:{serial_hex}", role="holder")
    assert row.revoked_at is not None
    return Revocation(row.serial, row.revoked_at, reason, flag)
