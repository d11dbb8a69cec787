"""The application form: what the mother typed, checked field by field with messages in her
language, and the registration application document of DESIGN.md built from it."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from birthreg.dates import InvalidDate, parse_day
from birthreg.i18n import gettext
from birthreg.models import (
    Birth,
)
from birthreg.parents.schemas import ApplicationForm
from signing.application import APPLICATION_TYPE, MAX_LATE_REASON_LENGTH
from signing.errors import InvalidIdentityNumber, InvalidName
from signing.fields import free_text_problem
from signing.identity import iin_sex, validate_iin
from signing.names import validate_person_name

MAX_ADDRESS_LENGTH = 200
PHONE_PATTERN = re.compile(r"\+?[0-9 ()-]{6,20}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
LANGUAGES = ("kk", "ru", "en")
FATHER_BASES = ("none", "marriage", "joint_application")
#: A marriage certificate's number as printed on it: letters, digits, "№", "-", "/" and spaces.
MARRIAGE_NUMBER = re.compile(r"[0-9A-Za-zА-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі№ /-]{1,40}")

@dataclass(frozen=True)
class FormResult:
    """A validated form: the document parts, or a translated message per field in error."""

    parts: dict[str, Any]
    errors: dict[str, str]

    @property
    def valid(self) -> bool:
        return not self.errors


def _clean_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


def _name(value: str, field: str, errors: dict[str, str], *, optional: bool = False) -> str | None:
    if not value and optional:
        return None
    if not value:
        errors[field] = gettext("Please fill this in.")
        return None
    try:
        return validate_person_name(value, field=field)
    except InvalidName:
        errors[field] = gettext(
            "Use Kazakh, Russian or Latin letters only, with a hyphen, an apostrophe or single "
            "spaces between words."
        )
        return None



def _names(form: ApplicationForm, person: str, errors: dict[str, str]) -> dict[str, Any]:
    """The person's surname, given name and patronymic (optional) from the form fields
    `{person}_surname` and so on; problems go into `errors` under those field names."""
    names: dict[str, Any] = {}
    for key in ("surname", "given_name", "patronymic"):
        field = f"{person}_{key}"
        value = _name(
            _clean_text(getattr(form, field)), field, errors, optional=key == "patronymic"
        )
        if value is not None:
            names[key] = value
    return names


def _father_iin(
    form: ApplicationForm, mother_iin: str, enrolled_father_iin: str | None,
    errors: dict[str, str],
) -> str | None:
    iin = "".join(form.father_iin.split())
    try:
        validate_iin(iin)
    except InvalidIdentityNumber:
        errors["father_iin"] = gettext("An IIN has 12 digits; check it against the document.")
        return None
    if iin_sex(iin) != "M":
        errors["father_iin"] = gettext("This IIN belongs to a woman.")
    elif iin == mother_iin:
        errors["father_iin"] = gettext("This is the mother's IIN.")
    elif (
        form.father_basis == "joint_application"
        and enrolled_father_iin is not None
        and iin != enrolled_father_iin
    ):
        errors["father_iin"] = gettext("This is not the IIN of the father whom the ward enrolled.")
    else:
        return iin
    return None


def _marriage_certificate(
    form: ApplicationForm, errors: dict[str, str], today: date
) -> dict[str, str] | None:
    """The marriage certificate's number and date (basis `marriage`)."""
    number = _clean_text(form.marriage_number)
    if not number:
        errors["marriage_number"] = gettext("Please fill this in.")
    elif not MARRIAGE_NUMBER.fullmatch(number) or not any(c.isdigit() for c in number):
        errors["marriage_number"] = gettext(
            "Write the number as on the certificate: letters, digits, № and -."
        )
    day: date | None = None
    if not form.marriage_date.strip():
        errors["marriage_date"] = gettext("Please fill this in.")
    else:
        try:
            day = parse_day(form.marriage_date)
        except InvalidDate:
            errors["marriage_date"] = gettext("Write the date as day, month and year.")
        else:
            if day > today:
                errors["marriage_date"] = gettext("This date is in the future.")
    if "marriage_number" in errors or "marriage_date" in errors or day is None:
        return None
    return {"number": number, "date": day.isoformat()}


def _father(
    form: ApplicationForm, mother_iin: str, enrolled_father_iin: str | None,
    errors: dict[str, str], today: date,
) -> dict[str, Any] | None:
    basis = form.father_basis
    if basis not in FATHER_BASES:
        errors["father_basis"] = gettext("Choose one of the options.")
        return None
    if basis == "none":
        return None
    father: dict[str, Any] = {}
    iin = _father_iin(form, mother_iin, enrolled_father_iin, errors)
    if iin is not None:
        father["iin"] = iin
    father.update(_names(form, "father", errors))
    father["basis"] = basis
    if basis == "marriage":
        certificate = _marriage_certificate(form, errors, today)
        if certificate is not None:
            father["marriage_certificate"] = certificate
    return father


def _address(form: ApplicationForm, errors: dict[str, str]) -> dict[str, str]:
    address: dict[str, str] = {}
    for key in ("region", "locality", "street", "building", "flat"):
        value = _clean_text(getattr(form, key))
        if not value:
            if key != "flat":
                errors[key] = gettext("Please fill this in.")
            continue
        if len(value) > MAX_ADDRESS_LENGTH or not value.isprintable():
            errors[key] = gettext("This is too long or has characters that cannot be printed.")
            continue
        address[key] = value
    return address


def _contact(form: ApplicationForm, errors: dict[str, str]) -> dict[str, str]:
    contact: dict[str, str] = {}
    phone = _clean_text(form.phone)
    email = form.email.strip()
    if phone:
        if PHONE_PATTERN.fullmatch(phone):
            contact["phone"] = phone
        else:
            errors["phone"] = gettext("Write the number with digits, e.g. +7 701 234 5678.")
    if email:
        if EMAIL_PATTERN.fullmatch(email) and len(email) <= 254:
            contact["email"] = email
        else:
            errors["email"] = gettext("This is not an e-mail address.")
    if not phone and not email:
        errors["phone"] = gettext("Give a phone number or an e-mail address.")
    return contact


def _late_reason(form: ApplicationForm, errors: dict[str, str]) -> str | None:
    """Why the application comes after the registration deadline (required then)."""
    reason = " ".join(unicodedata.normalize("NFC", form.late_reason).split())
    if not reason:
        errors["late_reason"] = gettext("Please write why the application comes late.")
        return None
    if len(reason) > MAX_LATE_REASON_LENGTH or free_text_problem(reason) is not None:
        errors["late_reason"] = gettext(
            "This is too long or has characters that cannot be printed."
        )
        return None
    return reason


def validate_application_form(
    form: ApplicationForm, *, mother_iin: str, enrolled_father_iin: str | None, today: date,
    late: bool = False,
) -> FormResult:
    """Check what she typed (`today` is the local date; `late` when the registration deadline
    has passed, so that a reason is asked); messages are in the current language, keyed by
    form field."""
    errors: dict[str, str] = {}
    child: dict[str, Any] = _names(form, "child", errors)
    father = _father(form, mother_iin, enrolled_father_iin, errors, today)
    address = _address(form, errors)
    contact = _contact(form, errors)
    language = form.language
    if language not in LANGUAGES:
        errors["language"] = gettext("Choose one of the options.")
    parts = {
        "child": child,
        "father": father,
        "address": address,
        "contact": contact,
        "language": language,
        "late_reason": _late_reason(form, errors) if late else None,
    }
    return FormResult(parts, errors)


def application_document(
    application_id: str, birth: Birth, parts: Mapping[str, Any]
) -> dict[str, Any]:
    """The registration application of DESIGN.md, exactly its fields."""
    record = json.loads(birth.medical_record)
    return {
        "type": APPLICATION_TYPE,
        "id": application_id,
        "medical_record_sha256": birth.medical_record_sha256,
        "child": dict(parts["child"]),
        "mother": {"iin": record["mother"]["iin"]},
        "father": dict(parts["father"]) if parts["father"] is not None else None,
        "address": dict(parts["address"]),
        "contact": dict(parts["contact"]),
        "language": parts["language"],
    } | ({"late_reason": parts["late_reason"]} if parts.get("late_reason") else {})
