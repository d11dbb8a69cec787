"""Corrections of a registered record: requested with a reason (by a clerk, or by a parent with
a signed request), approved or rejected by a registrar who did not ask.

Only what the application gave may be corrected: the child's and the parents' names, the
parents' nationality, the father. The medical facts (sex, date, time and place of birth, weight)
come from the facility's sealed record and only a new sealed record changes them. Approval
issues a new certificate (new number, same act record, `reissue`) and the old one becomes
`superseded`, pointing at the new. Every step is audited on the submission, so that its history
shows both versions.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlmodel import Session, col, select

from birthreg.errors import DomainError, NotFound
from birthreg.models import (
    BirthCertificate,
    CertificateStatus,
    EventKind,
    Registration,
    StaffUser,
    now,
)
from birthreg.registry import reissue
from birthreg.registry.approval import check_approver
from birthreg.registry.certificate import get_certificate
from birthreg.registry.record_models import Correction, CorrectionStatus, IssuanceKind
from birthreg.services import Services

_PEOPLE: Final = ("child", "mother", "father")
_NAMES: Final = ("surname", "given_name", "patronymic")
#: What may be corrected: names, and the parents' nationality.
CORRECTABLE: Final = frozenset(
    {f"{person}.{name}" for person in _PEOPLE for name in _NAMES}
    | {"mother.nationality", "father.nationality"}
)
#: What may be left empty.
OPTIONAL: Final = frozenset(p for p in CORRECTABLE if not p.endswith(("surname", "given_name")))
#: A name: letters of any script, with hyphens, apostrophes and spaces between.
_NAME: Final = re.compile(r"^[^\W\d_]+(?:[-' ][^\W\d_]+)*$")
MAX_NAME: Final = 64


def field_value(fields: Mapping[str, Any], path: str) -> Any:
    """A certificate field by its dotted path (`child.surname`); None when absent."""
    person, name = path.split(".", 1)
    return (fields.get(person) or {}).get(name)


def _not_found() -> NotFound:
    return NotFound("correction_not_found", "no correction with that id")


def check_changes(changes: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The changes, checked: 422 not_correctable for a medical fact or an unknown field,
    invalid_value for a value that is not a name, no_change when nothing would change."""
    if not changes:
        raise DomainError("no_change", "name at least one field to correct", 422)
    checked: dict[str, Any] = {}
    for path, value in changes.items():
        if path not in CORRECTABLE:
            raise DomainError(
                "not_correctable",
                f"{path} cannot be corrected here (medical facts only by a new sealed record)",
                422,
            )
        if value is None or (isinstance(value, str) and not value.strip()):
            if path not in OPTIONAL:
                raise DomainError("invalid_value", f"{path} must not be empty", 422)
            checked[path] = None
            continue
        text = " ".join(value.split()) if isinstance(value, str) else ""
        if not _NAME.match(text) or len(text) > MAX_NAME:
            raise DomainError("invalid_value", f"{path} must be a name (letters)", 422)
        checked[path] = text
    if reissue.apply_changes(fields, checked) == dict(fields):
        raise DomainError("no_change", "the certificate says that already", 422)
    return checked


def _current(session: Session, certificate_id: str) -> BirthCertificate:
    certificate = get_certificate(session, certificate_id)
    if certificate.status != CertificateStatus.VALID.value:
        raise DomainError(
            "certificate_not_current",
            f"this certificate is {certificate.status}: correct the one in force",
            409,
        )
    return certificate


def request_correction(
    session: Session,
    certificate_id: str,
    changes: Mapping[str, Any],
    reason: str,
    *,
    actor: str,
    role: str,
    staff_id: int | None,
    holder: str | None = None,
    signed_request: str | None = None,
    correction_id: str | None = None,
    moment: datetime | None = None,
) -> Correction:
    """Ask for a correction of the certificate in force. Raises 404 certificate_not_found, 409
    certificate_not_current or correction_pending, 422 (see `check_changes`)."""
    moment = moment or now()
    certificate = _current(session, certificate_id)
    checked = check_changes(changes, json.loads(certificate.fields))
    reissue.locked_registration(session, certificate.registration_id)
    pending = session.exec(
        select(Correction).where(
            Correction.registration_id == certificate.registration_id,
            Correction.status == CorrectionStatus.PENDING.value,
        )
    ).first()
    if pending is not None:
        raise DomainError("correction_pending", "a correction of this record is pending", 409)
    correction = Correction(
        id=correction_id or str(uuid.uuid4()),
        certificate_id=certificate.id,
        registration_id=certificate.registration_id,
        changes=json.dumps(checked, ensure_ascii=False, sort_keys=True),
        reason=reason,
        requested_by=staff_id,
        requested_by_holder=holder,
        signed_request=signed_request,
        requested_at=moment,
    )
    session.add(correction)
    _audit(session, correction, "correction.requested", actor, role, moment)
    return correction


def _audit(
    session: Session, correction: Correction, action: str, actor: str, role: str, at: datetime
) -> None:
    reissue.audit_on_record(
        session,
        correction.registration_id,
        action,
        actor=actor,
        role=role,
        details={
            "correction_id": correction.id,
            "certificate_id": correction.certificate_id,
            "fields": sorted(json.loads(correction.changes)),
            "new_certificate_id": correction.new_certificate_id,
        },
        at=at,
    )


def _pending(session: Session, correction_id: str) -> Correction:
    correction = session.exec(
        select(Correction)
        .where(Correction.id == correction_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if correction is None:
        raise _not_found()
    if correction.status != CorrectionStatus.PENDING.value:
        raise DomainError("invalid_state", f"this correction is {correction.status}", 409)
    return correction


def approve_correction(
    session: Session, services: Services, correction_id: str, *, staff: StaffUser, actor: str
) -> Correction:
    """A registrar approves: the new certificate, the old one superseded. Raises 404
    correction_not_found, 403 registrar_required or own_request, 409 invalid_state or
    certificate_not_current."""
    moment = now()
    correction = _pending(session, correction_id)
    check_approver(staff, correction.requested_by)
    old = _current(session, correction.certificate_id)
    new = reissue.reissue(
        session, services, old, changes=json.loads(correction.changes), moment=moment
    )
    _supersede(session, new)
    correction.status = CorrectionStatus.APPROVED.value
    correction.decided_by = staff.id
    correction.decided_at = moment
    correction.new_certificate_id = new.id
    session.add(correction)
    reissue.log_issuance(
        session, new, IssuanceKind.CORRECTED.value, actor=actor, role=staff.role, moment=moment
    )
    reissue.tell_parents(
        session, correction.registration_id, EventKind.CORRECTION_APPROVED,
        object_id=correction.id, moment=moment, certificate_id=new.id,
    )  # fmt: skip
    _audit(session, correction, "correction.approved", actor, staff.role, moment)
    return correction


def _supersede(session: Session, new: BirthCertificate) -> None:
    """Every other certificate of the record in force (the corrected one, and copies of it)
    is superseded by the new one."""
    others = session.exec(
        select(BirthCertificate).where(
            BirthCertificate.registration_id == new.registration_id,
            BirthCertificate.status == CertificateStatus.VALID.value,
            BirthCertificate.id != new.id,
        )
    ).all()
    for other in others:
        other.status = CertificateStatus.SUPERSEDED.value
        other.superseded_by = new.id
        session.add(other)


def reject_correction(
    session: Session, correction_id: str, reason: str, *, staff: StaffUser, actor: str
) -> Correction:
    """A registrar rejects with a reason. Raises 404, 403 as approval does, 409 invalid_state."""
    moment = now()
    correction = _pending(session, correction_id)
    check_approver(staff, correction.requested_by)
    correction.status = CorrectionStatus.REJECTED.value
    correction.decided_by = staff.id
    correction.decided_at = moment
    correction.decision_reason = reason
    session.add(correction)
    reissue.tell_parents(
        session, correction.registration_id, EventKind.CORRECTION_REJECTED,
        object_id=correction.id, moment=moment, reason=reason,
    )  # fmt: skip
    _audit(session, correction, "correction.rejected", actor, staff.role, moment)
    return correction


def corrections_of(session: Session, registration_id: int) -> list[Correction]:
    """The registration's corrections, newest first."""
    return list(
        session.exec(
            select(Correction)
            .where(Correction.registration_id == registration_id)
            .order_by(col(Correction.requested_at).desc())
        ).all()
    )


def pending_corrections(session: Session, limit: int = 100) -> list[tuple[Correction, str]]:
    """The corrections waiting for a registrar, oldest first, with their submission ids."""
    rows = session.exec(
        select(Correction, Registration.submission_id)
        .join(Registration, col(Registration.id) == col(Correction.registration_id))
        .where(Correction.status == CorrectionStatus.PENDING.value)
        .order_by(col(Correction.requested_at))
        .limit(limit)
    ).all()
    return [(correction, submission_id) for correction, submission_id in rows]
