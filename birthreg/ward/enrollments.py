"""Starting an enrollment: a one-time code for the mother or the father of a birth."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from birthreg import audit
from birthreg.auth import actor_of
from birthreg.errors import NotFound
from birthreg.models import Birth, Enrollment, EnrollmentRole, StaffUser
from birthreg.ward import checks, codes
from birthreg.ward.births import EnrollmentState, _facility_birth, enrollment_state
from birthreg.ward.context import WardContext, WardError, staff_facility
from birthreg.ward.schemas import FatherEnrollmentIn, MotherEnrollmentIn

ENROLLMENT_LIFETIME = timedelta(minutes=30)
LOOKUP_ATTEMPTS = 20


# -- enrollments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StartedEnrollment:
    """A new enrollment and its code, which exists only here: show it once."""

    enrollment: Enrollment
    code: codes.EnrollmentCode
    url: str
    qr_svg: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.enrollment.id,
            "code": self.code.canonical,
            "expires_at": self.enrollment.expires_at,
            "url": self.url,
            "qr_svg": self.qr_svg,
        }


def _enrollee(
    birth: Birth, request: MotherEnrollmentIn | FatherEnrollmentIn
) -> tuple[EnrollmentRole, dict[str, str]]:
    mother = json.loads(birth.medical_record)["mother"]
    if isinstance(request, MotherEnrollmentIn):
        return EnrollmentRole.MOTHER, mother
    # A male century-and-sex digit: so never the mother's IIN, whose digit is female.
    return EnrollmentRole.FATHER, checks.person(request, "father", "M")


def _insert_enrollment(
    session: Session,
    ward: WardContext,
    staff: StaffUser,
    birth: Birth,
    role: EnrollmentRole,
    person: dict[str, str],
    moment: datetime,
) -> tuple[Enrollment, codes.EnrollmentCode]:
    """Store a new enrollment under a lookup no open enrollment holds: a lookup held by one
    that can no longer be redeemed (used, locked or expired) is taken from it first. There are
    810,000 lookups and a country's wards start about 500,000 enrollments a year, so lookups
    that stayed with their rows for ever would run out in under two years; only the codes of
    the last 30 minutes need one."""
    assert staff.id is not None
    enrollment_id = str(uuid.uuid4())
    for _ in range(LOOKUP_ATTEMPTS):
        code = codes.derived_code(ward.secret_key, enrollment_id, codes.random_lookup())
        if not _release_lookup(session, code.lookup, moment):
            continue
        enrollment = Enrollment(
            id=enrollment_id,
            birth_id=birth.id,
            role=role.value,
            iin=person["iin"],
            surname=person["surname"],
            given_name=person["given_name"],
            patronymic=person.get("patronymic"),
            lookup=code.lookup,
            secret_hmac=codes.secret_hmac(ward.secret_key, code),
            expires_at=moment + ENROLLMENT_LIFETIME,
            created_by=staff.id,
            created_at=moment,
        )
        try:
            # A savepoint: another worker may take the same lookup between check and insert.
            with session.begin_nested():
                session.add(enrollment)
        except IntegrityError:
            continue
        break
    else:  # 20 draws in a row held by live codes: hardly ever, unless codes are drawn badly
        raise WardError("no_code_available", "no enrollment code is free; try again", 503)
    return enrollment, code


def _release_lookup(session: Session, lookup: str, moment: datetime) -> bool:
    """Whether `lookup` is free for a new code: held by no enrollment, or taken now from one
    that can no longer be redeemed. (Its old code then reads as a wrong code, which it is.)"""
    holder = session.exec(select(Enrollment).where(Enrollment.lookup == lookup)).first()
    if holder is None:
        return True
    if enrollment_state(holder, moment) == "pending":
        return False
    holder.lookup = None
    session.flush()  # before the new code's insert takes the lookup
    return True


def start_enrollment(
    session: Session,
    ward: WardContext,
    *,
    staff: StaffUser,
    birth_id: str,
    request: MotherEnrollmentIn | FatherEnrollmentIn,
    moment: datetime,
) -> StartedEnrollment:
    """A one-time code for the mother (identity from the medical record) or the father
    (identity typed by staff from his ID). Any earlier unused code for the same birth and role
    expires now. Audited `enrollment.started`."""
    birth = _facility_birth(session, staff, birth_id)
    role, person = _enrollee(birth, request)
    session.execute(
        update(Enrollment)
        .where(col(Enrollment.birth_id) == birth.id)
        .where(col(Enrollment.role) == role.value)
        .where(col(Enrollment.used_at).is_(None))
        .where(col(Enrollment.expires_at) > moment)
        .values(expires_at=moment)
    )
    enrollment, code = _insert_enrollment(session, ward, staff, birth, role, person, moment)
    audit.record(
        session,
        actor=actor_of(staff),
        role=staff.role,
        action="enrollment.started",
        object_type="enrollment",
        object_id=enrollment.id,
        details={"birth_id": birth.id, "role": role.value},
        at=moment,
    )
    url = codes.enrollment_url(ward.settings.base_url, code)
    return StartedEnrollment(enrollment, code, url, codes.qr_svg(url))


# -- the code again, and a new one on purpose --------------------------------------------------


@dataclass(frozen=True)
class ShownEnrollment:
    """An enrollment for its page: the code, its link and QR code only while it can be used."""

    enrollment: Enrollment
    state: EnrollmentState
    started: StartedEnrollment | None


def facility_enrollment(session: Session, staff: StaffUser, enrollment_id: str) -> Enrollment:
    """An enrollment of a birth at the staff member's facility (404 enrollment_not_found)."""
    facility = staff_facility(session, staff)
    enrollment = session.get(Enrollment, enrollment_id) if len(enrollment_id) <= 36 else None
    birth = session.get(Birth, enrollment.birth_id) if enrollment is not None else None
    if enrollment is None or birth is None or birth.facility_id != facility.id:
        raise NotFound("enrollment_not_found", "no enrollment with that id at this facility")
    return enrollment


def show_enrollment(
    session: Session, ward: WardContext, *, staff: StaffUser, enrollment_id: str, moment: datetime
) -> ShownEnrollment:
    """An enrollment of this facility with, while it is pending, the same code as when it was
    started (derived again: `codes.derived_code`). Audited `enrollment.code_shown` when the
    code is shown."""
    enrollment = facility_enrollment(session, staff, enrollment_id)
    state = enrollment_state(enrollment, moment)
    if state != "pending" or enrollment.lookup is None:
        return ShownEnrollment(enrollment, state, None)
    code = codes.derived_code(ward.secret_key, enrollment.id, enrollment.lookup)
    if not codes.secret_matches(ward.secret_key, code, enrollment.secret_hmac):
        # Started under another secret key: the code cannot be shown again.
        return ShownEnrollment(enrollment, state, None)
    audit.record(
        session,
        actor=actor_of(staff),
        role=staff.role,
        action="enrollment.code_shown",
        object_type="enrollment",
        object_id=enrollment.id,
        details={"birth_id": enrollment.birth_id, "role": enrollment.role},
        at=moment,
    )
    url = codes.enrollment_url(ward.settings.base_url, code)
    return ShownEnrollment(
        enrollment, state, StartedEnrollment(enrollment, code, url, codes.qr_svg(url))
    )


def renew_enrollment(
    session: Session, ward: WardContext, *, staff: StaffUser, enrollment_id: str, moment: datetime
) -> StartedEnrollment:
    """A new code for the same birth and person as this enrollment; the earlier code, if still
    unused, stops working now (see start_enrollment)."""
    enrollment = facility_enrollment(session, staff, enrollment_id)
    request: MotherEnrollmentIn | FatherEnrollmentIn
    if enrollment.role == EnrollmentRole.MOTHER.value:
        request = MotherEnrollmentIn(role="mother")
    else:
        request = FatherEnrollmentIn(
            role="father",
            iin=enrollment.iin,
            surname=enrollment.surname,
            given_name=enrollment.given_name,
            patronymic=enrollment.patronymic,
        )
    return start_enrollment(
        session, ward, staff=staff, birth_id=enrollment.birth_id, request=request, moment=moment
    )
