"""Recording a birth: the medical record checked against the registry's rules, sealed, stored."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlmodel import Session

from birthreg import audit
from birthreg.auth import actor_of
from birthreg.models import Birth, Facility, Progress, StaffUser
from birthreg.ward.context import WardContext, WardError, staff_facility
from birthreg.ward.schemas import BirthIn, PersonIn
from signing import cms
from signing.canonical import canonicalize
from signing.errors import InvalidIdentityNumber, InvalidName
from signing.identity import iin_sex, validate_iin
from signing.medical_record import (
    CLOCK_SKEW,
    LENGTH_RANGE_CM,
    MAX_PLURALITY,
    MAX_RECORDING_DELAY,
    MEDICAL_RECORD_TYPE,
    WEIGHT_RANGE_G,
)
from signing.names import validate_person_name

MAX_ATTENDANT_LENGTH = 200


def _facility(facility: Facility) -> dict[str, str]:
    """The record's facility: BIN, name and, when known, its locality (the place of birth)."""
    if facility.locality:
        return {"bin": facility.bin, "name": facility.name, "locality": facility.locality}
    return {"bin": facility.bin, "name": facility.name}


def _time_text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# -- validation ------------------------------------------------------------------------------


def _check_iin(iin: str, where: str, sex: Literal["F", "M"]) -> str:
    try:
        validate_iin(iin)
    except InvalidIdentityNumber as error:
        raise WardError("invalid_iin", f"{where}: {error.detail}", field=where) from None
    if iin_sex(iin) != sex:
        who = "a mother's" if sex == "F" else "a father's"
        digit = "female (even)" if sex == "F" else "male (odd)"
        raise WardError(
            "iin_sex_mismatch",
            f"{where}: {who} IIN has a {digit} century-and-sex digit",
            field=where,
        )
    return iin


def _check_name(value: str | None, where: str, *, optional: bool = False) -> str | None:
    if optional and (value is None or value == ""):
        return None
    try:
        return validate_person_name(value or "", field=where)
    except InvalidName as error:
        raise WardError("invalid_name", error.detail, field=where) from None


def _person(person: PersonIn, where: str, sex: Literal["F", "M"]) -> dict[str, str]:
    result = {
        "iin": _check_iin(person.iin, f"{where}.iin", sex),
        "surname": _check_name(person.surname, f"{where}.surname") or "",
        "given_name": _check_name(person.given_name, f"{where}.given_name") or "",
    }
    patronymic = _check_name(person.patronymic, f"{where}.patronymic", optional=True)
    if patronymic is not None:
        result["patronymic"] = patronymic
    return result


def _check_range(value: int, bounds: tuple[int, int], code: str, where: str, unit: str) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise WardError(code, f"{where} must be between {low} and {high} {unit}", field=where)


def medical_record_document(
    record: BirthIn, facility: Facility, *, record_id: str, moment: datetime
) -> dict[str, Any]:
    """The medical birth record of DESIGN.md, after the registry's business rules (the same
    constants as `signing.medical_record`). Raises WardError naming the field at fault."""
    mother = _person(record.mother, "mother", "F")
    child = record.child
    if child.born_at > moment + CLOCK_SKEW:
        raise WardError(
            "birth_in_future", "the time of birth is in the future", field="child.born_at"
        )
    if moment - child.born_at > MAX_RECORDING_DELAY:
        raise WardError(
            "birth_too_old",
            f"a birth is recorded within {MAX_RECORDING_DELAY.days} days",
            field="child.born_at",
        )
    _check_range(child.weight_g, WEIGHT_RANGE_G, "weight_out_of_range", "child.weight_g", "g")
    _check_range(child.length_cm, LENGTH_RANGE_CM, "length_out_of_range", "child.length_cm", "cm")
    if not 1 <= child.plurality <= MAX_PLURALITY:
        raise WardError(
            "invalid_birth_order",
            f"plurality must be between 1 and {MAX_PLURALITY}",
            field="child.plurality",
        )
    if not 1 <= child.birth_order <= child.plurality:
        raise WardError(
            "invalid_birth_order",
            "birth order must be between 1 and the plurality",
            field="child.birth_order",
        )
    attendant = record.attendant.strip()
    if not attendant or len(attendant) > MAX_ATTENDANT_LENGTH or not attendant.isprintable():
        raise WardError(
            "invalid_attendant",
            f"the attendant is 1 to {MAX_ATTENDANT_LENGTH} printable characters",
            field="attendant",
        )
    return {
        "type": MEDICAL_RECORD_TYPE,
        "id": record_id,
        "facility": _facility(facility),
        "mother": mother,
        "child": {
            "sex": child.sex,
            "born_at": _time_text(child.born_at),
            "weight_g": child.weight_g,
            "length_cm": child.length_cm,
            "plurality": child.plurality,
            "birth_order": child.birth_order,
        },
        "attendant": attendant,
        "recorded_at": _time_text(moment.astimezone(UTC)),
    }


# -- births ----------------------------------------------------------------------------------


def record_birth(
    session: Session,
    ward: WardContext,
    *,
    staff: StaffUser,
    record: BirthIn,
    moment: datetime,
) -> Birth:
    """Validate, build, seal (CMS detached by the facility seal) and store a medical birth
    record; audited `birth.recorded`. Raises WardError (400, naming the field) and stores
    nothing for a bad record."""
    facility = staff_facility(session, staff)
    record_id = str(uuid.uuid4())
    document = medical_record_document(record, facility, record_id=record_id, moment=moment)
    content = canonicalize(document)
    seal = ward.facility_seal(facility)
    signature = cms.sign_detached(
        content,
        seal.certificate,
        seal.key,
        signing_time=moment.replace(microsecond=0),
        chain=seal.chain,
    )
    digest = hashlib.sha256(content).hexdigest()
    assert facility.id is not None and staff.id is not None
    birth = Birth(
        id=record_id,
        facility_id=facility.id,
        medical_record=content.decode("utf-8"),
        medical_record_sha256=digest,
        seal_signature=base64.b64encode(signature).decode("ascii"),
        born_at=record.child.born_at.replace(microsecond=0),
        # The column keeps the full moment (the list's order); the document has whole seconds.
        recorded_at=moment,
        recorded_by=staff.id,
        progress=Progress.RECORDED.value,
    )
    session.add(birth)
    session.flush()
    audit.record(
        session,
        actor=actor_of(staff),
        role=staff.role,
        action="birth.recorded",
        object_type="birth",
        object_id=birth.id,
        details={"medical_record_sha256": digest, "facility_id": facility.id},
        at=moment,
    )
    return birth
