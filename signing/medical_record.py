"""The medical birth record's own checks (DESIGN.md, "The dossier, version 1"); its seal and
its binding to the facility are checked in `signing.dossier`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from signing.fields import Fields
from signing.identity import validate_bin, validate_iin
from signing.report import Check
from signing.signature import CLOCK_SKEW

MEDICAL_RECORD_TYPE = "birthreg.medical-record/1"

#: A birth is recorded by the ward within this time of the birth.
MAX_RECORDING_DELAY = timedelta(days=30)
WEIGHT_RANGE_G = (300, 7000)
LENGTH_RANGE_CM = (20, 70)
MAX_PLURALITY = 8


def born_at(record: Mapping[str, Any]) -> datetime | None:
    """The time of birth on the record, if it is there and readable (with its offset)."""
    child = record.get("child")
    if not isinstance(child, Mapping):
        return None
    return Fields().time(child, "born_at", "child")


def medical_record_checks(record: Mapping[str, Any], moment: datetime) -> list[Check]:
    """The record's field checks (FIELD_CHECKS) at `moment`, the time of receipt. How long ago
    the birth was is not judged here (a late registration is the application's matter)."""
    fields = Fields()
    fields.free_text(record, "medical_record")
    fields.identifier(record, "id", "medical_record")
    facility = fields.object(record, "facility")
    fields.number(fields.string(facility, "bin", "facility"), "facility.bin", validate_bin)
    fields.string(facility, "name", "facility")
    mother = fields.object(record, "mother")
    fields.number(fields.string(mother, "iin", "mother"), "mother.iin", validate_iin)
    fields.person_names(mother, "mother")
    child = fields.object(record, "child")
    if child.get("sex") not in ("F", "M"):
        fields.problem("document_fields", 'child.sex must be "F" or "M"')
    birth = fields.time(child, "born_at", "child")
    fields.integer(child, "weight_g", "child", *WEIGHT_RANGE_G)
    fields.integer(child, "length_cm", "child", *LENGTH_RANGE_CM)
    plurality = fields.integer(child, "plurality", "child", 1, MAX_PLURALITY)
    order = fields.integer(child, "birth_order", "child", 1, MAX_PLURALITY)
    if plurality is not None and order is not None and order > plurality:
        fields.problem("business_rules", "child.birth_order is greater than child.plurality")
    fields.string(record, "attendant", "medical_record")
    recorded_at = fields.time(record, "recorded_at", "medical_record")
    if birth is not None and birth > moment + CLOCK_SKEW:
        fields.problem("business_rules", "the birth is in the future")
    if recorded_at is not None:
        if recorded_at > moment + CLOCK_SKEW:
            fields.problem("business_rules", "the record is dated in the future")
        if birth is not None and not birth <= recorded_at + CLOCK_SKEW:
            fields.problem("business_rules", "the record was made before the birth")
        if birth is not None and recorded_at - birth > MAX_RECORDING_DELAY:
            fields.problem(
                "business_rules",
                f"the record was made more than {MAX_RECORDING_DELAY.days} days after the birth",
            )
    return fields.checks()
