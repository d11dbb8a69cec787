"""The registration application's own checks (DESIGN.md, "The dossier, version 1"); its
signatures and bindings to the medical record are checked in `signing.dossier`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from signing.fields import Fields, free_text_problem
from signing.identity import validate_iin
from signing.report import Check

APPLICATION_TYPE = "birthreg.application/1"
#: The longest late_reason accepted, in characters.
MAX_LATE_REASON_LENGTH = 1000

_HEX64 = re.compile(r"[0-9a-f]{64}")
_PHONE = re.compile(r"\+?[0-9 ()-]{6,20}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def application_checks(application: Mapping[str, Any], *, late: bool) -> list[Check]:
    """The application's field checks (FIELD_CHECKS), and for a late application the check
    `late_reason`: the parent must give a reason (otherwise optional; printable text of at most
    MAX_LATE_REASON_LENGTH characters). What it says is for a registrar to judge.
    """
    fields = Fields()
    fields.free_text(application, "application")
    fields.identifier(application, "id", "application")
    record_sha256 = application.get("medical_record_sha256")
    if not isinstance(record_sha256, str) or not _HEX64.fullmatch(record_sha256):
        fields.problem("document_fields", "medical_record_sha256 must be 64 lowercase hex digits")
    fields.person_names(fields.object(application, "child"), "child")
    mother = fields.object(application, "mother")
    mother_iin = fields.string(mother, "iin", "mother")
    fields.number(mother_iin, "mother.iin", validate_iin)
    _father(fields, application.get("father"), mother_iin)
    address = fields.object(application, "address")
    for key in ("region", "locality", "street", "building"):
        fields.string(address, key, "address")
    fields.string(address, "flat", "address", optional=True)
    _contact(fields, fields.object(application, "contact"))
    if application.get("language") not in ("kk", "ru", "en"):
        fields.problem("document_fields", 'language must be "kk", "ru" or "en"')
    reason = fields.string(
        application, "late_reason", "application", optional=True, max_length=MAX_LATE_REASON_LENGTH
    )
    checks = fields.checks()
    if late:
        given = reason is not None and free_text_problem(reason) is None
        detail = "the parent gives the reason for the late application"
        if not given:
            detail = (
                "an application after the registration deadline must give its late_reason"
                f" (a string of printable text, at most {MAX_LATE_REASON_LENGTH} characters)"
            )
        checks.append(Check("late_reason", given, detail))
    return checks


def _father(fields: Fields, father: Any, mother_iin: str | None) -> None:
    if father is None:
        return
    if not isinstance(father, Mapping):
        fields.problem("document_fields", "father must be null or an object")
        return
    father_iin = fields.string(father, "iin", "father")
    fields.number(father_iin, "father.iin", validate_iin)
    fields.person_names(father, "father")
    if father.get("basis") not in ("marriage", "joint_application"):
        fields.problem("document_fields", 'father.basis must be "marriage" or "joint_application"')
    if father_iin is not None and father_iin == mother_iin:
        fields.problem("business_rules", "the father's IIN is the mother's")


def _contact(fields: Fields, contact: Mapping[str, Any]) -> None:
    phone = fields.string(contact, "phone", "contact", optional=True, max_length=32)
    email = fields.string(contact, "email", "contact", optional=True, max_length=254)
    if phone is not None and not _PHONE.fullmatch(phone):
        fields.problem("document_fields", "contact.phone is not a phone number")
    if email is not None and not _EMAIL.fullmatch(email):
        fields.problem("document_fields", "contact.email is not an e-mail address")
    if phone is None and email is None:
        fields.problem("document_fields", "contact needs a phone or an e-mail")
