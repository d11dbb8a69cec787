"""The ward's pages: the day's births, recording a birth, a birth's record, enrollment codes, the
desk key file and revocation.

Thin routes over `birthreg.ward.service`, the same functions the JSON API calls. Forms carry the
session's CSRF token (checked by `WardStaff` before a route runs). A refusal from the service is
shown on the page it came from, translated and next to the field at fault, with the service's
status; nothing is stored then (the session is rolled back before the page is rendered).

Flashes after a redirect are a fixed message *key* in the query (`?flash=birth_recorded`): no
personal data in URLs, and a forged link can only show one of our own sentences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Annotated, Any, Final

from babel.support import LazyProxy
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from birthreg import i18n
from birthreg.auth import WardStaff
from birthreg.dates import InvalidDate, parse_day
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.i18n import gettext, lazy_gettext
from birthreg.models import StaffUser, now
from birthreg.ward import service
from birthreg.ward.api import PKCS12_MEDIA_TYPE
from birthreg.ward.schemas import (
    BirthIn,
    ChildIn,
    FatherEnrollmentIn,
    MotherEnrollmentIn,
    PersonIn,
)
from signing.medical_record import (
    LENGTH_RANGE_CM,
    MAX_PLURALITY,
    MAX_RECORDING_DELAY,
    WEIGHT_RANGE_G,
)

router = APIRouter(prefix="/ward", include_in_schema=False)

NO_STORE: Final = {"Cache-Control": "no-store"}
#: Form text longer than this is refused before it reaches the service (its schemas allow 256).
MAX_TEXT: Final = 256
_UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_WHOLE_NUMBER: Final = re.compile(r"^[0-9]{1,6}$")

#: The birth form's fields, in the order of the page.
BIRTH_FIELDS: Final = (
    "mother_iin",
    "mother_surname",
    "mother_given_name",
    "mother_patronymic",
    "child_sex",
    "born_date",
    "born_time",
    "child_weight_g",
    "child_length_cm",
    "child_plurality",
    "child_birth_order",
    "attendant",
)
FATHER_FIELDS: Final = ("father_iin", "father_surname", "father_given_name", "father_patronymic")
REVOCATION_REASONS: Final = tuple(service.STAFF_REVOCATION_REASONS)

#: Messages after a redirect, by the key in `?flash=`.
FLASHES: Final[dict[str, LazyProxy]] = {
    "birth_recorded": lazy_gettext("The birth is recorded and sealed by the facility."),
    "revoked": lazy_gettext(
        "The certificate is revoked: the CRL and OCSP answers say so from now on."
    ),
}

#: What people read for a refusal, by its machine code (service codes and this module's own).
MESSAGES: Final[dict[str, LazyProxy]] = {
    "required": lazy_gettext("Fill in this field."),
    "too_long": lazy_gettext("This is too long."),
    "not_a_number": lazy_gettext("Enter a whole number."),
    "invalid_date": lazy_gettext("Enter a date."),
    "invalid_time": lazy_gettext("Enter a time: hours and minutes."),
    "invalid_sex": lazy_gettext("Choose the child's sex."),
    "invalid_iin": lazy_gettext("This is not a valid IIN: check the 12 digits."),
    "iin_sex_mismatch": lazy_gettext("This IIN does not match the person's sex (its 7th digit)."),
    "invalid_name": lazy_gettext(
        "Use Kazakh, Russian or Latin letters, a hyphen, an apostrophe and single spaces."
    ),
    "birth_in_future": lazy_gettext("The time of birth is in the future."),
    "invalid_attendant": lazy_gettext("Enter who attended the birth (up to 200 characters)."),
    "id_not_checked": lazy_gettext("Check his identity document, then tick this box."),
    "weak_password": lazy_gettext(
        "The password needs at least 10 characters and no control characters."
    ),
    "password_mismatch": lazy_gettext("The two passwords are not the same."),
    "enrollment_not_found": lazy_gettext("There is no such enrollment at this facility."),
    "code_used": lazy_gettext("A key has already been issued for this enrollment."),
    "code_expired": lazy_gettext("This enrollment has expired: start a new one."),
    "code_locked": lazy_gettext("This enrollment is locked after wrong codes: start a new one."),
    "invalid_reason": lazy_gettext("Choose a reason."),
    "invalid_serial": lazy_gettext("This ward issued no certificate with that serial."),
    "certificate_not_found": lazy_gettext("This ward issued no certificate with that serial."),
    "already_revoked": lazy_gettext("This certificate is already revoked."),
    "no_facility": lazy_gettext("Your account is not attached to a maternity facility."),
    "birth_not_found": lazy_gettext("There is no such birth at this facility."),
}


def message_for(code: str, field: str | None = None) -> str:
    """The translated sentence for a refusal (some codes need the field or the limits)."""
    if code == "weight_out_of_range":
        return gettext("The weight is between %(low)s and %(high)s g.") % {
            "low": i18n.format_number(WEIGHT_RANGE_G[0]),
            "high": i18n.format_number(WEIGHT_RANGE_G[1]),
        }
    if code == "length_out_of_range":
        return gettext("The length is between %(low)s and %(high)s cm.") % {
            "low": LENGTH_RANGE_CM[0],
            "high": LENGTH_RANGE_CM[1],
        }
    if code == "invalid_birth_order":
        if field == "child.plurality":
            return gettext("The number of babies born is between 1 and %(max)s.") % {
                "max": MAX_PLURALITY
            }
        return gettext("The birth order is between 1 and the number of babies born.")
    if code == "birth_too_old":
        return gettext("A birth is recorded within %(days)s days.") % {
            "days": MAX_RECORDING_DELAY.days
        }
    message = MESSAGES.get(code)
    if message is not None:
        return str(message)
    return gettext("This could not be done (%(code)s).") % {"code": code}


def _form_field(service_field: str | None, prefix: str = "") -> str | None:
    """The page's field name for the service's (`mother.iin` → `mother_iin`)."""
    if service_field is None:
        return None
    if service_field == "child.born_at":
        return "born_date"
    name = service_field.replace(".", "_")
    return name if name.startswith(prefix) else None


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the CSRF check has read it already; Starlette keeps it)."""
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


FormFields = Annotated[dict[str, str], Depends(_form)]


def _render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return i18n.templates.TemplateResponse(
        request, template, dict(context), status_code=status_code, headers=dict(headers or {})
    )


def _flashes(flash: str | None) -> list[tuple[str, str]]:
    message = FLASHES.get(flash or "")
    return [("ok", str(message))] if message is not None else []


def _initials(person: Mapping[str, Any]) -> str:
    """"Surname G. P." for a list (names are fine on staff pages, never in logs)."""
    parts = [str(person.get("surname", ""))]
    for key in ("given_name", "patronymic"):
        name = person.get(key)
        if name:
            parts.append(f"{str(name)[0]}.")
    return " ".join(parts)


def _full_name(person: Mapping[str, Any]) -> str:
    return " ".join(
        str(person[key]) for key in ("surname", "given_name", "patronymic") if person.get(key)
    )


# -- the day's births ---------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def births_page(
    request: Request,
    session: SessionDep,
    staff: WardStaff,
    day_text: Annotated[str | None, Query(alias="date", max_length=32)] = None,
    flash: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The births of a day (Almaty; today unless `date` names another), with each progress."""
    moment = now()
    today = service.ward_day(moment)
    day, errors, status = today, {}, 200
    if day_text:
        try:
            day = parse_day(day_text)
        except InvalidDate:
            errors, status = {"date": message_for("invalid_date")}, 400
    births = service.list_births(session, staff=staff, day=day, moment=moment)
    rows = [
        {
            "view": view,
            "mother": _initials(view.document["mother"]),
            "child": view.document["child"],
        }
        for view in births
    ]
    return _render(
        request,
        "ward/births.html",
        {
            "rows": rows,
            "day": day,
            "today": today,
            "is_today": day == today,
            "day_value": day.isoformat() if not errors else (day_text or ""),
            "errors": errors,
            "flashes": _flashes(flash),
        },
        status_code=status,
    )


# -- recording a birth --------------------------------------------------------------------------


def _birth_form_page(
    request: Request,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    status_code: int = 200,
    flashes: list[tuple[str, str]] | None = None,
) -> Response:
    moment = now()
    if errors and not flashes:
        # Said once at the top too (role="alert"), for whoever does not see the fields' colours.
        flashes = [("error", gettext("Some fields need correcting: see the messages under them."))]
    return _render(
        request,
        "ward/new_birth.html",
        {
            "values": values,
            "errors": errors,
            "today": service.ward_day(moment).isoformat(),
            "flashes": flashes or [],
            "weight_range": WEIGHT_RANGE_G,
            "length_range": LENGTH_RANGE_CM,
            "max_plurality": MAX_PLURALITY,
        },
        status_code=status_code,
    )


@router.get("/births/new", response_class=HTMLResponse)
def new_birth_page(request: Request, staff: WardStaff) -> Response:
    """The medical birth record form."""
    local_now = now().astimezone(service.WARD_TIME_ZONE)
    values = {
        "born_date": local_now.date().isoformat(),
        "born_time": local_now.strftime("%H:%M"),
        "child_plurality": "1",
        "child_birth_order": "1",
        "attendant": staff.display_name,
    }
    return _birth_form_page(request, values, {})


def _birth_in(values: Mapping[str, str]) -> tuple[BirthIn | None, dict[str, str]]:
    """The service's input model from the form, or the form's own errors (shape, not rules)."""
    errors: dict[str, str] = {}
    for name in BIRTH_FIELDS:
        value = values.get(name, "")
        if len(value) > MAX_TEXT:
            errors[name] = message_for("too_long")
        elif not value and name != "mother_patronymic":
            errors[name] = message_for("invalid_sex" if name == "child_sex" else "required")
    numbers: dict[str, int] = {}
    for name in ("child_weight_g", "child_length_cm", "child_plurality", "child_birth_order"):
        if name in errors:
            continue
        if _WHOLE_NUMBER.match(values[name]):
            numbers[name] = int(values[name])
        else:
            errors[name] = message_for("not_a_number")
    if "child_sex" not in errors and values["child_sex"] not in ("F", "M"):
        errors["child_sex"] = message_for("invalid_sex")
    born_at: datetime | None = None
    if "born_date" not in errors and "born_time" not in errors:
        try:
            day = date.fromisoformat(values["born_date"])
        except ValueError:
            errors["born_date"] = message_for("invalid_date")
        try:
            moment_of_day = time.fromisoformat(values["born_time"])
        except ValueError:
            errors["born_time"] = message_for("invalid_time")
        if not errors.get("born_date") and not errors.get("born_time"):
            # The ward enters local (Almaty) time; the record keeps an aware time.
            born_at = datetime.combine(
                day, moment_of_day.replace(second=0, microsecond=0), service.WARD_TIME_ZONE
            )
    if errors or born_at is None:
        return None, errors
    try:
        record = BirthIn(
            mother=PersonIn(
                iin=values["mother_iin"].strip(),
                surname=values["mother_surname"].strip(),
                given_name=values["mother_given_name"].strip(),
                patronymic=values.get("mother_patronymic", "").strip() or None,
            ),
            child=ChildIn(
                sex=values["child_sex"],  # type: ignore[arg-type]
                born_at=born_at,
                weight_g=numbers["child_weight_g"],
                length_cm=numbers["child_length_cm"],
                plurality=numbers["child_plurality"],
                birth_order=numbers["child_birth_order"],
            ),
            attendant=values["attendant"],
        )
    except ValidationError as error:  # pragma: no cover - the checks above cover the shapes
        for problem in error.errors():
            field = "_".join(str(part) for part in problem.get("loc", ()))
            errors[field if field in BIRTH_FIELDS else "mother_iin"] = message_for("required")
        return None, errors
    return record, {}


@router.post("/births/new", response_class=HTMLResponse)
def record_birth(
    request: Request, session: SessionDep, staff: WardStaff, form: FormFields
) -> Response:
    """Record and seal a birth; back to the form with the errors, or on to the birth's page."""
    values = {name: form.get(name, "") for name in BIRTH_FIELDS}
    record, errors = _birth_in(values)
    if record is None:
        return _birth_form_page(request, values, errors, status_code=400)
    try:
        birth = service.record_birth(
            session, service.ward_context(request.app), staff=staff, record=record, moment=now()
        )
    except DomainError as error:
        session.rollback()
        field = _form_field(getattr(error, "field", None))
        message = message_for(error.code, getattr(error, "field", None))
        if field in BIRTH_FIELDS:
            return _birth_form_page(
                request, values, {field: message}, status_code=error.status
            )
        return _birth_form_page(
            request, values, {}, status_code=error.status, flashes=[("error", message)]
        )
    return RedirectResponse(f"/ward/births/{birth.id}?flash=birth_recorded", status_code=303)


# -- one birth ----------------------------------------------------------------------------------


def _birth_page(
    request: Request,
    session: Session,
    staff: StaffUser,
    birth_id: str,
    *,
    status_code: int = 200,
    flashes: list[tuple[str, str]] | None = None,
    father_values: Mapping[str, str] | None = None,
    father_errors: Mapping[str, str] | None = None,
) -> Response:
    view = service.get_birth(session, staff=staff, birth_id=birth_id, moment=now())
    facility = service.staff_facility(session, staff)
    document = view.document
    return _render(
        request,
        "ward/birth.html",
        {
            "view": view,
            "record": document,
            "mother_name": _full_name(document["mother"]),
            "born_at": datetime.fromisoformat(document["child"]["born_at"]),
            "recorded_at": datetime.fromisoformat(document["recorded_at"]),
            "facility": facility,
            "reasons": REVOCATION_REASONS,
            "flashes": flashes or [],
            "father_values": father_values or {},
            "father_errors": father_errors or {},
        },
        status_code=status_code,
    )


@router.get("/births/{birth_id}", response_class=HTMLResponse)
def birth_page(
    request: Request,
    session: SessionDep,
    staff: WardStaff,
    birth_id: str,
    flash: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A birth's sealed record, its enrollments, and the forms to enroll the parents."""
    return _birth_page(request, session, staff, birth_id, flashes=_flashes(flash))


@router.post("/births/{birth_id}/enrollments", response_class=HTMLResponse)
def start_enrollment(
    request: Request, session: SessionDep, staff: WardStaff, birth_id: str, form: FormFields
) -> Response:
    """Start an enrollment: the one-time code and its QR code, shown once."""
    role = form.get("role", "")
    father_values = {name: form.get(name, "") for name in FATHER_FIELDS}
    enrollment: MotherEnrollmentIn | FatherEnrollmentIn
    if role == "father":
        errors = {
            name: message_for("too_long")
            for name, value in father_values.items()
            if len(value) > MAX_TEXT
        }
        if form.get("id_checked") != "yes":
            errors["id_checked"] = message_for("id_not_checked")
        if errors:
            return _birth_page(
                request, session, staff, birth_id, status_code=400,
                father_values=father_values, father_errors=errors,
            )
        enrollment = FatherEnrollmentIn(
            role="father",
            iin=father_values["father_iin"].strip(),
            surname=father_values["father_surname"].strip(),
            given_name=father_values["father_given_name"].strip(),
            patronymic=father_values["father_patronymic"].strip() or None,
        )
    elif role == "mother":
        enrollment = MotherEnrollmentIn(role="mother")
    else:
        return _birth_page(
            request, session, staff, birth_id, status_code=400,
            flashes=[("error", gettext("Choose whom to enroll."))],
        )
    ward = service.ward_context(request.app)
    try:
        started = service.start_enrollment(
            session, ward, staff=staff, birth_id=birth_id, request=enrollment, moment=now()
        )
    except service.WardError as error:
        session.rollback()
        message = message_for(error.code, error.field)
        field = _form_field(error.field, "father_")
        return _birth_page(
            request, session, staff, birth_id, status_code=error.status,
            father_values=father_values,
            father_errors={field: message} if field else {},
            flashes=[] if field else [("error", message)],
        )
    return _render(
        request,
        "ward/enrollment.html",
        {
            "birth_id": birth_id,
            "enrollment_id": started.enrollment.id,
            "role": started.enrollment.role,
            "code": started.code.canonical,
            "code_groups": started.code.canonical.split("-"),
            "expires_at": started.enrollment.expires_at,
            "url": started.url,
            "qr_svg": started.qr_svg,
            "minutes": int(service.ENROLLMENT_LIFETIME.total_seconds() // 60),
            "errors": {},
        },
        headers=NO_STORE,
    )


# -- the desk key file --------------------------------------------------------------------------


@router.post("/enrollments/{enrollment_id}/pkcs12", response_class=HTMLResponse)
def issue_pkcs12(
    request: Request,
    session: SessionDep,
    staff: WardStaff,
    enrollment_id: str,
    form: FormFields,
) -> Response:
    """Make the key at the desk and hand it over once as a PKCS#12 file (no copy is kept)."""
    password = form.get("password", "")
    repeat = form.get("password_repeat", "")
    birth_id = form.get("birth_id", "")
    birth_id = birth_id if _UUID.match(birth_id) else ""

    def refused(status: int, errors: dict[str, str], flashes: list[tuple[str, str]]) -> Response:
        return _render(
            request,
            "ward/pkcs12.html",
            {
                "enrollment_id": enrollment_id,
                "birth_id": birth_id,
                "errors": errors,
                "flashes": flashes,
            },
            status_code=status,
            headers=NO_STORE,
        )

    if len(password) < service.MIN_KEY_FILE_PASSWORD:
        return refused(400, {"password": message_for("weak_password")}, [])
    if password != repeat:
        return refused(400, {"password_repeat": message_for("password_mismatch")}, [])
    try:
        key_file = service.issue_pkcs12(
            session,
            service.ward_context(request.app),
            staff=staff,
            enrollment_id=enrollment_id,
            password=password,
            moment=now(),
        )
    except DomainError as error:
        session.rollback()
        field = getattr(error, "field", None)
        message = message_for(error.code, field)
        if field == "password":
            return refused(error.status, {"password": message}, [])
        return refused(error.status, {}, [("error", message)])
    return Response(
        key_file.data,
        200,
        media_type=PKCS12_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{key_file.filename}"',
            **NO_STORE,
        },
    )


# -- revocation ---------------------------------------------------------------------------------


@router.post("/certificates/{serial}/revoke", response_class=HTMLResponse)
def revoke_certificate(
    request: Request, session: SessionDep, staff: WardStaff, serial: str, form: FormFields
) -> Response:
    """Revoke a certificate this ward issued; back to the birth's page."""
    birth_id = form.get("birth_id", "")
    birth_id = birth_id if _UUID.match(birth_id) else ""
    try:
        service.revoke_by_staff(
            session, staff=staff, serial=serial, reason=form.get("reason", ""), moment=now()
        )
    except DomainError as error:
        session.rollback()
        if not birth_id:
            raise
        return _birth_page(
            request, session, staff, birth_id, status_code=error.status,
            flashes=[("error", message_for(error.code))],
        )
    target = f"/ward/births/{birth_id}" if birth_id else "/ward"
    return RedirectResponse(f"{target}?flash=revoked", status_code=303)
