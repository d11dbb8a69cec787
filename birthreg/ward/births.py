"""The ward's births as it sees them (list and detail) and their progress."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import or_
from sqlmodel import Session, col, select

from birthreg.errors import NotFound
from birthreg.models import Birth, Enrollment, IssuedCertificate, Progress, StaffUser
from birthreg.ward.context import WARD_TIME_ZONE, signed_medical_record, staff_facility

#: A birth's progress only moves up this ladder. A rejection stands on the signed application's
#: rung: a corrected application signed after it, or the registry's rejection of that one, each
#: replace the other; registration is the end.
_PROGRESS_RANK = {
    Progress.RECORDED: 0,
    Progress.KEY_ISSUED: 1,
    Progress.APPLICATION_SIGNED: 2,
    Progress.REJECTED: 2,
    Progress.REGISTERED: 3,
}
#: A second birth recorded for the same mother this soon after the first is worth a second look.
SAME_MOTHER_WINDOW = timedelta(days=270)


EnrollmentState = Literal["pending", "used", "expired", "locked"]


def enrollment_state(enrollment: Enrollment, moment: datetime) -> EnrollmentState:
    if enrollment.used_at is not None:
        return "used"
    if enrollment.locked_at is not None:
        return "locked"
    if enrollment.expires_at <= moment:
        return "expired"
    return "pending"


@dataclass(frozen=True)
class EnrollmentView:
    """An enrollment as the ward sees it (never its code)."""

    id: str
    role: str
    state: EnrollmentState
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    key_path: str | None
    certificate_serial: str | None
    certificate_revoked: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "used_at": self.used_at,
            "key_path": self.key_path,
            "certificate_serial": self.certificate_serial,
            "certificate_revoked": self.certificate_revoked,
        }


@dataclass(frozen=True)
class BirthView:
    """A birth for the ward's list and detail pages."""

    birth: Birth
    document: dict[str, Any]
    enrollments: tuple[EnrollmentView, ...]

    @property
    def progress(self) -> Progress:
        return Progress(self.birth.progress)

    @property
    def hours_to_certificate(self) -> float | None:
        """Hours from the birth to its certificate (one decimal), once the ward knows it."""
        issued_at = self.birth.certificate_issued_at
        if issued_at is None:
            return None
        return round((issued_at - self.birth.born_at).total_seconds() / 3600, 1)

    @property
    def shown_progress(self) -> str:
        """The progress as the pages show it: "key_revoked" when the mother's key was issued
        and every certificate she holds for this birth is revoked (she needs a new one)."""
        if self.progress != Progress.KEY_ISSUED:
            return self.progress.value
        mother = [
            e for e in self.enrollments if e.role == "mother" and e.certificate_serial is not None
        ]
        if mother and all(e.certificate_revoked for e in mother):
            return "key_revoked"
        return self.progress.value

    def to_json(self, *, with_record: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": self.birth.id,
            "mother": self.document["mother"],
            "child": self.document["child"],
            "recorded_at": self.birth.recorded_at,
            "progress": self.birth.progress,
            "certificate_issued_at": self.birth.certificate_issued_at,
            "enrollments": [e.to_json() for e in self.enrollments],
        }
        if with_record:
            result["medical_record"] = signed_medical_record(self.birth).to_json()
        return result


def _views(session: Session, births: Sequence[Birth], moment: datetime) -> list[BirthView]:
    ids = [birth.id for birth in births]
    by_birth: dict[str, list[EnrollmentView]] = {birth_id: [] for birth_id in ids}
    if ids:
        rows = session.exec(
            select(Enrollment, IssuedCertificate)
            .join(
                IssuedCertificate,
                col(IssuedCertificate.serial) == col(Enrollment.certificate_serial),
                isouter=True,
            )
            .where(col(Enrollment.birth_id).in_(ids))
            .order_by(col(Enrollment.created_at).desc())
        ).all()
        for enrollment, certificate in rows:
            by_birth[enrollment.birth_id].append(
                EnrollmentView(
                    id=enrollment.id,
                    role=enrollment.role,
                    state=enrollment_state(enrollment, moment),
                    created_at=enrollment.created_at,
                    expires_at=enrollment.expires_at,
                    used_at=enrollment.used_at,
                    key_path=enrollment.key_path,
                    certificate_serial=enrollment.certificate_serial,
                    certificate_revoked=certificate is not None
                    and certificate.revoked_at is not None,
                )
            )
    return [
        BirthView(birth, json.loads(birth.medical_record), tuple(by_birth[birth.id]))
        for birth in births
    ]


def ward_day(moment: datetime) -> date:
    """The date in Almaty at `moment`."""
    return moment.astimezone(WARD_TIME_ZONE).date()


def list_births(
    session: Session, *, staff: StaffUser, day: date | None = None, moment: datetime
) -> list[BirthView]:
    """The facility's births born or recorded on `day` (Almaty; today by default), newest
    in the order they were born, each with its enrollments and progress."""
    facility = staff_facility(session, staff)
    day = day or ward_day(moment)
    start = datetime.combine(day, time(0), WARD_TIME_ZONE).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), WARD_TIME_ZONE).astimezone(UTC)
    births = session.exec(
        select(Birth)
        .where(Birth.facility_id == facility.id)
        .where(
            or_(
                (col(Birth.born_at) >= start) & (col(Birth.born_at) < end),
                (col(Birth.recorded_at) >= start) & (col(Birth.recorded_at) < end),
            )
        )
        .order_by(col(Birth.born_at), col(Birth.recorded_at))
    ).all()
    return _views(session, births, moment)


def _facility_birth(session: Session, staff: StaffUser, birth_id: str) -> Birth:
    facility = staff_facility(session, staff)
    birth = session.get(Birth, birth_id) if len(birth_id) <= 36 else None
    if birth is None or birth.facility_id != facility.id:
        raise NotFound("birth_not_found", "no birth with that id at this facility")
    return birth


def get_birth(session: Session, *, staff: StaffUser, birth_id: str, moment: datetime) -> BirthView:
    """One birth of the staff member's facility, with its sealed record and enrollments."""
    return _views(session, [_facility_birth(session, staff, birth_id)], moment)[0]


# -- progress --------------------------------------------------------------------------------


def set_progress(session: Session, birth: Birth, progress: Progress) -> bool:
    """Move a birth's progress forward to `progress` (never back); True when it moved."""
    current = Progress(birth.progress)
    if progress == current or _PROGRESS_RANK[progress] < _PROGRESS_RANK[current]:
        return False
    birth.progress = progress.value
    session.add(birth)
    session.flush()
    return True


def advance_progress(session: Session, birth_id: str, progress: Progress) -> bool:
    """For the later steps (the mother signed her application; the registry registered the
    birth): move the birth with that id forward. False when it is unknown or already there."""
    birth = session.get(Birth, birth_id, with_for_update=True)
    if birth is None:
        return False
    return set_progress(session, birth, progress)


def note_certificate_issued(session: Session, birth_id: str, issued_at: datetime) -> None:
    """When the registry issued the birth's certificate (the first time it is learnt; a copy or
    a corrected certificate later does not move it)."""
    birth = session.get(Birth, birth_id)
    if birth is not None and birth.certificate_issued_at is None:
        birth.certificate_issued_at = issued_at
        session.add(birth)
        session.flush()


def note_rejected(session: Session, birth_id: str) -> bool:
    """The parents' side learnt that the registry rejected the birth's application."""
    return advance_progress(session, birth_id, Progress.REJECTED)


def earlier_births(
    session: Session, *, staff: StaffUser, mother_iin: str, born_at: datetime
) -> list[Birth]:
    """Births of this facility for the same mother (by IIN) born within SAME_MOTHER_WINDOW of
    `born_at`, first born first. The sealed record's text narrows the rows in the database; the
    record's own mother IIN decides."""
    facility = staff_facility(session, staff)
    pattern = f'%"iin":"{mother_iin}"%' if mother_iin.isdigit() else None
    if pattern is None:
        return []
    rows = session.exec(
        select(Birth)
        .where(Birth.facility_id == facility.id)
        .where(col(Birth.born_at) > born_at - SAME_MOTHER_WINDOW)
        .where(col(Birth.born_at) < born_at + SAME_MOTHER_WINDOW)
        .where(col(Birth.medical_record).like(pattern))
        .order_by(col(Birth.born_at))
    ).all()
    return [row for row in rows if json.loads(row.medical_record)["mother"]["iin"] == mother_iin]
