"""The ward's pages: the day's births and a birth's record; recording a birth
(`record_pages`), enrollment codes, the desk key file and revocation (`enrollment_pages`).

Thin routes over `birthreg.ward.service`, the same functions the JSON API calls. Forms carry the
session's CSRF token (checked by `WardStaff` before a route runs). A refusal from the service is
shown on the page it came from, translated and next to the field at fault, with the service's
status; nothing is stored then (the session is rolled back before the page is rendered).

Flashes after a redirect are a fixed message *key* in the query (`?flash=birth_recorded`): no
personal data in URLs, and a forged link can only show one of our own sentences.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from birthreg.auth import WardStaff
from birthreg.dates import InvalidDate, parse_day
from birthreg.db import SessionDep
from birthreg.models import now
from birthreg.ward import certificate_pages, enrollment_pages, forms, record_pages, service
from birthreg.ward.birth_view import render_birth

router = APIRouter(prefix="/ward", include_in_schema=False)
# First, so that /ward/births/new is not taken for a birth's id.
router.include_router(record_pages.router)
router.include_router(enrollment_pages.router)
router.include_router(certificate_pages.router)

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
            errors, status = {"date": forms.message_for("invalid_date")}, 400
    births = service.list_births(session, staff=staff, day=day, moment=moment)
    rows = [
        {
            "view": view,
            "mother": forms.initials(view.document["mother"]),
            "child": view.document["child"],
        }
        for view in births
    ]
    return forms.render(
        request,
        "ward/births.html",
        {
            "rows": rows,
            "day": day,
            "today": today,
            "is_today": day == today,
            "day_value": day.isoformat() if not errors else (day_text or ""),
            "errors": errors,
            "flashes": forms.flashes(flash),
        },
        status_code=status,
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
    return render_birth(request, session, staff, birth_id, flashes=forms.flashes(flash))
