"""Recording a birth: the form, every problem in it at once, and a second look when the same
mother already has a birth recorded within SAME_MOTHER_WINDOW.

A form whose text cannot even be read (a blank field, a letter in a number) is still checked
against every rule that the readable fields allow, so that staff correct everything in one go.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from birthreg.auth import WardStaff
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.models import Birth, StaffUser, now
from birthreg.services import services
from birthreg.ward import checks, forms, service
from birthreg.ward.schemas import BirthIn, ChildIn, PersonIn
from signing.medical_record import LENGTH_RANGE_CM, MAX_PLURALITY, WEIGHT_RANGE_G

router = APIRouter()

NUMBER_FIELDS = ("child_weight_g", "child_length_cm", "child_plurality", "child_birth_order")
#: What stands in for a field that could not be read, so that the others can still be checked
#: (its own problem is already shown; a stand-in's is never).
_STAND_INS = {
    "child_weight_g": WEIGHT_RANGE_G[0],
    "child_length_cm": LENGTH_RANGE_CM[0],
    "child_plurality": MAX_PLURALITY,
    "child_birth_order": 1,
}


def _birth_form_page(
    request: Request,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    status_code: int = 200,
    flashes: list[tuple[str, str]] | None = None,
    earlier: Birth | None = None,
) -> Response:
    moment = now()
    ordered = {name: errors[name] for name in forms.BIRTH_FIELDS if name in errors}
    return forms.render(
        request,
        "ward/new_birth.html",
        {
            "values": values,
            "errors": ordered,
            "today": service.ward_day(moment).isoformat(),
            "flashes": (flashes or []) + forms.error_banner(ordered),
            "weight_range": WEIGHT_RANGE_G,
            "length_range": LENGTH_RANGE_CM,
            "max_plurality": MAX_PLURALITY,
            "earlier": earlier,
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


def _shape_errors(values: Mapping[str, str]) -> dict[str, str]:
    """What the form's text alone shows: blank, too long, not a number, not a date or time."""
    errors: dict[str, str] = {}
    for name in forms.BIRTH_FIELDS:
        value = values.get(name, "")
        if len(value) > forms.MAX_TEXT:
            errors[name] = forms.message_for("too_long")
        elif not value and name != "mother_patronymic":
            errors[name] = forms.message_for("invalid_sex" if name == "child_sex" else "required")
    for name in NUMBER_FIELDS:
        if name not in errors and not forms.WHOLE_NUMBER.match(values[name]):
            errors[name] = forms.message_for("not_a_number")
    if "child_sex" not in errors and values["child_sex"] not in ("F", "M"):
        errors["child_sex"] = forms.message_for("invalid_sex")
    for name, parse, code in (
        ("born_date", date.fromisoformat, "invalid_date"),
        ("born_time", time.fromisoformat, "invalid_time"),
    ):
        if name not in errors:
            try:
                parse(values[name])
            except ValueError:
                errors[name] = forms.message_for(code)
    return errors


def _born_at(values: Mapping[str, str], errors: Mapping[str, str]) -> datetime:
    """The ward's local (Almaty) time of birth as an aware time (now, when it is unreadable)."""
    if "born_date" in errors or "born_time" in errors:
        return now().astimezone(service.WARD_TIME_ZONE).replace(second=0, microsecond=0)
    day = date.fromisoformat(values["born_date"])
    moment_of_day = time.fromisoformat(values["born_time"]).replace(second=0, microsecond=0)
    return datetime.combine(day, moment_of_day, service.WARD_TIME_ZONE)


def _birth_in(values: Mapping[str, str]) -> tuple[BirthIn, dict[str, str]]:
    """The service's input model from the form (stand-ins where the text cannot be read) and
    the form's own errors (shape, not rules)."""
    errors = _shape_errors(values)
    numbers = {
        name: _STAND_INS[name] if name in errors else int(values[name]) for name in NUMBER_FIELDS
    }

    def text(name: str) -> str:
        return "" if name in errors else values.get(name, "").strip()

    record = BirthIn(
        mother=PersonIn(
            iin=text("mother_iin"),
            surname=text("mother_surname"),
            given_name=text("mother_given_name"),
            patronymic=text("mother_patronymic") or None,
        ),
        child=ChildIn(
            sex="F" if "child_sex" in errors else values["child_sex"],  # type: ignore[arg-type]
            born_at=_born_at(values, errors),
            weight_g=numbers["child_weight_g"],
            length_cm=numbers["child_length_cm"],
            plurality=numbers["child_plurality"],
            birth_order=numbers["child_birth_order"],
        ),
        attendant=text("attendant"),
    )
    return record, errors


def _with_problems(errors: dict[str, str], refusal: DomainError) -> list[tuple[str, str]]:
    """Put each of the refusal's problems next to its field (a field's first problem wins);
    those that belong to no field come back as flashes."""
    problems = refusal.problems() if isinstance(refusal, service.WardError) else [refusal]
    unplaced: list[tuple[str, str]] = []
    for problem in problems:
        where = getattr(problem, "field", None)
        field = forms.form_field(where)
        message = forms.message_for(problem.code, where)
        if field in forms.BIRTH_FIELDS:
            errors.setdefault(field, message)
        else:
            unplaced.append(("error", message))
    return unplaced


def _second_birth(
    session: Session, staff: StaffUser, record: BirthIn, confirmed: str
) -> Birth | None:
    """The latest earlier birth of this mother within the window, unless staff confirmed this
    one is another birth or both are babies of one delivery (twins: different birth orders)."""
    earlier = [
        birth
        for birth in service.earlier_births(
            session, staff=staff, mother_iin=record.mother.iin, born_at=record.child.born_at
        )
        if not _same_delivery(birth, record)
    ]
    if not earlier or confirmed == earlier[-1].id:
        return None
    return earlier[-1]


def _same_delivery(birth: Birth, record: BirthIn) -> bool:
    child: dict[str, Any] = service.signed_medical_record(birth).document["child"]
    return (
        record.child.plurality > 1
        and child["plurality"] == record.child.plurality
        and child["birth_order"] != record.child.birth_order
        and abs(birth.born_at - record.child.born_at).days < 1
    )


@router.post("/births/new", response_class=HTMLResponse)
def record_birth(
    request: Request, session: SessionDep, staff: WardStaff, form: forms.FormFields
) -> Response:
    """Record and seal a birth; back to the form with every error, or on to the birth's page."""
    values = {name: form.get(name, "") for name in forms.BIRTH_FIELDS}
    record, errors = _birth_in(values)
    moment = now()
    try:
        checks.birth_record(record, moment)
    except service.WardError as refusal:
        _with_problems(errors, refusal)
    if errors:
        return _birth_form_page(request, values, errors, status_code=400)
    earlier = _second_birth(session, staff, record, form.get("confirm_earlier", ""))
    if earlier is not None:
        return _birth_form_page(request, values, {}, status_code=409, earlier=earlier)
    try:
        ward = service.ward_context(services(request))
        birth = service.record_birth(session, ward, staff=staff, record=record, moment=moment)
    except DomainError as refusal:
        session.rollback()
        unplaced = _with_problems(errors, refusal)
        return _birth_form_page(
            request, values, errors, status_code=refusal.status, flashes=unplaced
        )
    return RedirectResponse(f"/ward/births/{birth.id}?flash=birth_recorded", status_code=303)
