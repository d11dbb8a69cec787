"""Registration and rejection of a submission: the numbers, the certificate, the decision.

Each function works in the caller's session (see `birthreg.registry.service`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, or_, select

from birthreg import audit
from birthreg.errors import DomainError
from birthreg.models import (
    BirthCertificate,
    CertificateStatus,
    EventKind,
    Registration,
    Submission,
    SubmissionStatus,
    now,
)
from birthreg.notify import outbox
from birthreg.registry import certificate as certificates
from birthreg.registry import decisions, search_keys, stored
from birthreg.registry.numbering import (
    IINRangeExhausted,
    give_back_act_record_number,
    iin_registered,
    local_date,
    next_act_record_number,
    next_child_iin,
)
from birthreg.registry.record_models import Issuance, IssuanceKind
from birthreg.registry.schemas import RegistrationPublic
from birthreg.registry.service import (
    OBJECT_TYPE,
    PENDING,
    Registry,
    locked_submission,
    not_found,
)
from birthreg.services import Services

_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]


def invalid_state(submission: Submission | ToRegister, action: str) -> DomainError:
    return DomainError(
        "invalid_state",
        f"a submission that is {submission.status.replace('_', ' ')} cannot be {action}",
        409,
    )


# -- registration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationOutcome:
    """The registration's numbers; `created` is False when it had been registered before."""

    result: RegistrationPublic
    created: bool


@dataclass(frozen=True)
class ToRegister:
    """The columns of a submission that registration reads (a row of _TO_REGISTER)."""

    id: str
    status: str
    medical_record_id: str
    child_born_at: datetime
    child_sex: str
    dossier: str


@dataclass(frozen=True)
class Registered:
    """A registration inserted in this transaction (its columns; no ORM object is made)."""

    id: int
    submission_id: str
    registry_office_id: int
    year: int
    act_record_number: int
    child_iin: str
    registered_at: datetime


_REGISTRATIONS = Registration.__table__  # type: ignore[attr-defined]
# Registration runs plain Core statements: the ORM's unit of work (objects, flushes, a
# savepoint) cost more than the statements themselves.
_TO_REGISTER = (
    _SUBMISSIONS.select()
    .with_only_columns(
        _SUBMISSIONS.c.id,
        _SUBMISSIONS.c.status,
        _SUBMISSIONS.c.medical_record_id,
        _SUBMISSIONS.c.child_born_at,
        _SUBMISSIONS.c.child_sex,
        _SUBMISSIONS.c.dossier,
    )
    .where(_SUBMISSIONS.c.id == bindparam("submission"))
    .with_for_update()
)
_DECIDED = (
    update(_SUBMISSIONS)
    .where(_SUBMISSIONS.c.id == bindparam("submission"))
    .values(
        status=bindparam("new_status"),
        decided_by=bindparam("by"),
        decided_at=bindparam("at"),
    )
)
_CERTIFICATES = BirthCertificate.__table__  # type: ignore[attr-defined]
_INSERT_CERTIFICATE = insert(_CERTIFICATES)
_INSERT_ISSUANCE = insert(Issuance.__table__)  # type: ignore[attr-defined]
# A registration whose medical record or child IIN is taken already is not inserted (and the
# transaction goes on, where a failed INSERT would abort it on PostgreSQL): the caller finds out
# which one from the empty RETURNING.
_INSERT_REGISTRATION = {
    name: dialect.insert(_REGISTRATIONS).on_conflict_do_nothing().returning(_REGISTRATIONS.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def register_submission(
    session: Session,
    registry: Registry,
    submission_id: str,
    *,
    actor: str,
    role: str,
    staff_id: int | None,
    moment: datetime | None = None,
) -> RegistrationOutcome:
    """Register a received or in-review submission in the caller's transaction: the act record
    number (gapless per office and year), the child's IIN, the registration, the certificate,
    the new status and the audit entry all commit together or not at all.

    Registering again returns the first result (`created` False). Raises 404
    submission_not_found, 409 invalid_state (rejected, or the medical record registered through
    another submission), late_unapproved (late, not approved yet), duplicate_undecided or
    decided_duplicate (birthreg.registry.decisions), 503 iin_range_exhausted. The routes check
    every signer again first (`freshness.recheck_before_registering`: 409 signer_revoked, 503
    revocation_unavailable).
    """
    moment = moment or now()
    # The Core statements below go to the connection, which does not flush the session first
    # as session.execute did: whatever the caller changed is written before the submission is read.
    session.flush()
    row = session.connection().execute(_TO_REGISTER, {"submission": submission_id}).first()
    if row is None:
        raise not_found()
    columns = dict(row._mapping)
    columns["dossier"] = stored.text(session.connection(), columns["dossier"])
    submission = ToRegister(**columns)
    if submission.status == SubmissionStatus.REGISTERED.value:
        return RegistrationOutcome(registration_result(session, submission.id), created=False)
    if submission.status == SubmissionStatus.LATE.value:
        raise DomainError(
            "late_unapproved", "a late application is registered after a registrar approves it", 409
        )
    if submission.status not in PENDING:
        raise invalid_state(submission, "registered")
    decisions.check_registrable(session, submission.id)
    office = registry.office(session)
    registration = allocate(session, office.id, submission, moment, staff_id=staff_id)
    certificate_id = complete_registration(
        session,
        registry,
        submission,
        registration,
        actor=actor,
        role=role,
        staff_id=staff_id,
        moment=moment,
    )
    return RegistrationOutcome(
        RegistrationPublic(
            act_record_number=registration.act_record_number,
            child_iin=registration.child_iin,
            certificate_id=certificate_id,
        ),
        created=True,
    )


def allocate(
    session: Session,
    office_id: int,
    submission: ToRegister,
    moment: datetime,
    *,
    staff_id: int | None,
) -> Registered:
    """The numbers and the registration row. The insert decides, with no look-up first: if the
    medical record is registered already, the act record number is given back (so none is lost
    even if the caller commits) and 409 is raised; an IIN some registration carries already
    (made before the counter) is skipped for the prefix's next serial."""
    year = local_date(moment).year
    born = local_date(submission.child_born_at)
    number = next_act_record_number(session, office_id, year)
    connection = session.connection()
    insert_registration = _INSERT_REGISTRATION[connection.dialect.name]
    while True:
        try:
            iin = next_child_iin(session, born, submission.child_sex, skip_registered=False)
        except IINRangeExhausted:
            give_back_act_record_number(session, office_id, year, number)
            raise
        values = {
            "submission_id": submission.id,
            "medical_record_id": submission.medical_record_id,
            "registry_office_id": office_id,
            "year": year,
            "act_record_number": number,
            "child_iin": iin,
            "registered_at": moment,
            "registered_by": staff_id,
        }
        registration_id = connection.execute(insert_registration, values).scalar_one_or_none()
        if registration_id is not None:
            return Registered(
                id=registration_id,
                submission_id=submission.id,
                registry_office_id=office_id,
                year=year,
                act_record_number=number,
                child_iin=iin,
                registered_at=moment,
            )
        _refused_registration(session, office_id, year, number, submission, iin)


def _refused_registration(
    session: Session, office_id: int, year: int, number: int, submission: ToRegister, iin: str
) -> None:
    """Why the registration was not inserted: returns if `iin` is taken (try the next one),
    raises 409 if the medical record (or the submission) is registered already."""
    taken = session.exec(
        select(Registration).where(
            or_(
                col(Registration.medical_record_id) == submission.medical_record_id,
                col(Registration.submission_id) == submission.id,
            )
        )
    ).first()
    if taken is not None:
        give_back_act_record_number(session, office_id, year, number)
        raise _already_registered(taken)
    if not iin_registered(session, iin):
        # Neither the record nor the IIN: the act record number itself is taken, which the
        # counter (the only way numbers are made) rules out. Never retried silently.
        raise RuntimeError("act record number taken although the counter allocated it")


def _already_registered(registration: Registration) -> DomainError:
    return DomainError(
        "invalid_state",
        f"this medical record is already registered (act record {registration.year}"
        f"/{registration.act_record_number})",
        409,
    )


def complete_registration(
    session: Session,
    registry: Registry,
    submission: ToRegister,
    registration: Registered,
    *,
    actor: str,
    role: str,
    staff_id: int | None,
    moment: datetime,
) -> str:
    """The certificate, the submission's new status and the audit entry; the certificate id."""
    certificate = issue_certificate(session, registry.services, registration, submission)
    decision = {
        "submission": submission.id,
        "new_status": SubmissionStatus.REGISTERED.value,
        "by": staff_id,
        "at": moment,
    }
    connection = session.connection()
    connection.execute(_INSERT_CERTIFICATE, certificate)
    connection.execute(_DECIDED, decision)
    _record_issue(connection, registration, certificate, actor=actor, role=role, moment=moment)
    # A copy of the submission this session loaded before is read again when next used.
    loaded = session.identity_map.get(session.identity_key(Submission, submission.id))
    if loaded is not None:
        session.expire(loaded)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="registration.registered",
        object_type=OBJECT_TYPE,
        object_id=submission.id,
        details={
            "act_record_number": registration.act_record_number,
            "year": registration.year,
            "child_iin": registration.child_iin,
            "certificate_id": certificate["id"],
        },
        at=moment,
    )
    outbox.record(
        session,
        EventKind.REGISTERED,
        submission.id,
        moment=moment,
        act_record_number=registration.act_record_number,
        year=registration.year,
        certificate_id=certificate["id"],
    )
    return str(certificate["id"])


def _record_issue(
    connection: Connection,
    registration: Registered,
    certificate: Mapping[str, Any],
    *,
    actor: str,
    role: str,
    moment: datetime,
) -> None:
    """The registration's search keys and the original's entry in the issuance log."""
    keys = search_keys.registration_keys(
        registration.child_iin,
        registration.year,
        registration.act_record_number,
        certificate["certificate_number"],
    )
    search_keys.add_keys(connection, registration.submission_id, keys)
    connection.execute(
        _INSERT_ISSUANCE,
        {
            "certificate_id": certificate["id"],
            "registration_id": registration.id,
            "kind": IssuanceKind.ORIGINAL.value,
            "at": moment,
            "actor": actor,
            "role": role,
        },
    )


def registration_of(session: Session, submission_id: str) -> Registration | None:
    return session.exec(
        select(Registration).where(Registration.submission_id == submission_id)
    ).first()


def certificate_of(session: Session, registration: Registration) -> BirthCertificate | None:
    """The registration's certificate in force: the newest valid one (after a correction or a
    copy there are several), else the newest."""
    return session.exec(
        select(BirthCertificate)
        .where(BirthCertificate.registration_id == registration.id)
        .order_by(
            (col(BirthCertificate.status) == CertificateStatus.VALID.value).desc(),
            col(BirthCertificate.issued_at).desc(),
            col(BirthCertificate.certificate_number).desc(),
        )
    ).first()


def registration_result(session: Session, submission_id: str) -> RegistrationPublic:
    registration = registration_of(session, submission_id)
    if registration is None:  # pragma: no cover - registered submissions have one
        raise DomainError("invalid_state", "the registration is missing", 500)
    return _result(session, registration)


def _result(session: Session, registration: Registration) -> RegistrationPublic:
    certificate = certificate_of(session, registration)
    return RegistrationPublic(
        act_record_number=registration.act_record_number,
        child_iin=registration.child_iin,
        certificate_id=certificate.id if certificate else "",
    )


def issue_certificate(
    session: Session, services: Services, registration: Registered, submission: ToRegister
) -> dict[str, Any]:
    """The certificate row of a registration made in this transaction (so it has none yet: the
    unique registration_id would refuse a second): fields and sealed QR; the PDF is rendered
    on first download."""
    context = certificates.certificate_context(services, session)
    return certificates.certificate_values(
        context, registration, certificates.read_dossier(submission))


# -- rejection ----------------------------------------------------------------------------------


def reject_submission(
    session: Session,
    submission_id: str,
    reason: str,
    *,
    actor: str,
    role: str,
    staff_id: int | None,
    moment: datetime | None = None,
) -> Submission:
    """Reject a received, in-review or late submission with a reason the mother will read; she may
    correct the application and send a new dossier, which links back to this one. Raises 404
    submission_not_found, 409 invalid_state."""
    moment = moment or now()
    submission = locked_submission(session, submission_id)
    if submission.status not in (*PENDING, SubmissionStatus.LATE.value):
        raise invalid_state(submission, "rejected")
    submission.status = SubmissionStatus.REJECTED.value
    submission.rejection_reason = reason
    submission.decided_by = staff_id
    submission.decided_at = moment
    session.add(submission)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="submission.rejected",
        object_type=OBJECT_TYPE,
        object_id=submission.id,
        details={"reason": reason},
        at=moment,
    )
    outbox.record(session, EventKind.REJECTED, submission.id, moment=moment, reason=reason)
    session.flush()
    return submission
