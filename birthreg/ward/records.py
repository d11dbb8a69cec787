"""Recording a birth: the medical record checked against the registry's rules, sealed, stored."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from birthreg import audit
from birthreg.auth import actor_of
from birthreg.models import Birth, Facility, Progress, StaffUser
from birthreg.packed import pack_for
from birthreg.ward import checks
from birthreg.ward.context import WardContext, seal_kind, staff_facility
from birthreg.ward.schemas import BirthIn
from signing import cms
from signing.canonical import canonicalize
from signing.medical_record import (
    MEDICAL_RECORD_TYPE,
)


def record_facility(facility: Facility) -> dict[str, str]:
    """The record's facility: BIN, name and, when known, its locality (the place of birth)."""
    if facility.locality:
        return {"bin": facility.bin, "name": facility.name, "locality": facility.locality}
    return {"bin": facility.bin, "name": facility.name}


def _time_text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def medical_record_document(
    record: BirthIn, facility: Facility, *, record_id: str, moment: datetime
) -> dict[str, Any]:
    """The medical birth record of DESIGN.md, after the registry's business rules (the same
    constants as `signing.medical_record`). Raises one WardError listing every problem
    (`birthreg.ward.checks`)."""
    mother, attendant = checks.birth_record(record, moment)
    child = record.child
    return {
        "type": MEDICAL_RECORD_TYPE,
        "id": record_id,
        "facility": record_facility(facility),
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
        seal_signature=b"",  # packed below, once the birth is in the session
        born_at=record.child.born_at.replace(microsecond=0),
        # The column keeps the full moment (the list's order); the document has whole seconds.
        recorded_at=moment,
        recorded_by=staff.id,
        progress=Progress.RECORDED.value,
    )
    session.add(birth)
    birth.seal_signature = pack_for(
        birth, seal_kind(facility.id), base64.b64encode(signature).decode("ascii")
    )
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
