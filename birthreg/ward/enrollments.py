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
from birthreg.models import Birth, Enrollment, EnrollmentRole, StaffUser
from birthreg.ward import codes
from birthreg.ward.births import _facility_birth
from birthreg.ward.context import WardContext, WardError
from birthreg.ward.records import _person
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
    return EnrollmentRole.FATHER, _person(request, "father", "M")


def _insert_enrollment(
    session: Session,
    ward: WardContext,
    staff: StaffUser,
    birth: Birth,
    role: EnrollmentRole,
    person: dict[str, str],
    moment: datetime,
) -> tuple[Enrollment, codes.EnrollmentCode]:
    """Store a new enrollment under a lookup no other enrollment holds."""
    assert staff.id is not None
    enrollment_id = str(uuid.uuid4())
    for _ in range(LOOKUP_ATTEMPTS):
        code = codes.new_code()
        taken = session.exec(select(Enrollment.id).where(Enrollment.lookup == code.lookup)).first()
        if taken is not None:
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
    else:  # pragma: no cover - 20 collisions in a row: the lookup space is nearly full
        raise WardError("no_code_available", "no enrollment code is free; try again", 503)
    return enrollment, code


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
