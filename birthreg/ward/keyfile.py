"""The ward desk: a PKCS#12 file made here, handed over once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from birthreg.auth import actor_of
from birthreg.auth.passwords import password_problem
from birthreg.errors import NotFound
from birthreg.models import Birth, Enrollment, KeyPath, StaffUser
from birthreg.pki.partitions import next_crl_partition
from birthreg.ward.context import WardContext, WardError, staff_facility
from birthreg.ward.redeem import _identity, _issued
from signing.ca import Profile, export_pkcs12

MIN_KEY_FILE_PASSWORD = 10
MAX_KEY_FILE_PASSWORD = 1024


# -- the ward desk: a PKCS#12 file made here, handed over once -------------------------------


@dataclass(frozen=True)
class KeyFile:
    """A PKCS#12 file to stream once; it is never written anywhere."""

    data: bytes = field(repr=False)
    filename: str
    serial: str


def issue_pkcs12(
    session: Session,
    ward: WardContext,
    *,
    staff: StaffUser,
    enrollment_id: str,
    password: str,
    moment: datetime,
) -> KeyFile:
    """Make a key at the desk for an unused, unexpired, unlocked enrollment of this facility and
    return it as a PKCS#12 file under `password` (10 to 1024 characters, no control
    characters: birthreg.auth.passwords). Refusals: 400 weak_password, 404 enrollment_not_found,
    423 code_locked, 410 code_expired, 409 code_used."""
    problem = password_problem(
        password, minimum=MIN_KEY_FILE_PASSWORD, maximum=MAX_KEY_FILE_PASSWORD
    )
    if problem is not None:
        raise WardError("weak_password", f"the key file password: {problem}", field="password")
    facility = staff_facility(session, staff)
    enrollment = (
        session.exec(
            select(Enrollment).where(Enrollment.id == enrollment_id).with_for_update()
        ).one_or_none()
        if len(enrollment_id) <= 36
        else None
    )
    birth = session.get(Birth, enrollment.birth_id) if enrollment is not None else None
    if enrollment is None or birth is None or birth.facility_id != facility.id:
        raise NotFound("enrollment_not_found", "no enrollment with that id at this facility")
    if enrollment.locked_at is not None:
        raise WardError("code_locked", "this enrollment is locked after wrong attempts", 423)
    if enrollment.used_at is not None:
        raise WardError("code_used", "this enrollment has already been used", 409)
    if enrollment.expires_at <= moment:
        raise WardError("code_expired", "this enrollment has expired; start a new one", 410)
    key, certificate = ward.ca.issue_with_new_key(
        _identity(enrollment),
        profile=Profile.INDIVIDUAL,
        moment=moment,
        crl_partition=next_crl_partition(session),
    )
    data = export_pkcs12(
        key,
        certificate,
        ward.ca.chain,
        password=password.encode("utf-8"),
        friendly_name=f"birthreg TEST {enrollment.role}".encode("ascii"),
    )
    _issued(
        session,
        enrollment,
        certificate,
        KeyPath.PKCS12,
        actor=actor_of(staff),
        role=staff.role,
        moment=moment,
    )
    return KeyFile(
        data, f"birthreg-test-{enrollment.role}.p12", format(certificate.serial_number, "x")
    )
