"""The registry's statistics as JSON, or as CSV for `Accept: text/csv` (clerks and registrars)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from birthreg.auth import ClerkStaff
from birthreg.dates import RequestDay
from birthreg.db import SessionDep
from birthreg.models import now
from birthreg.registry.numbering import local_date
from birthreg.registry.statistics import Group, Statistics, compute, default_period, to_csv
from birthreg.services import services

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

_ERROR = {"description": '`{"error": CODE, "detail": text}`'}


def wants_csv(accept: str) -> bool:
    """Whether an Accept header names text/csv (with a quality above zero)."""
    for part in accept.split(","):
        media_type, *parameters = (piece.strip() for piece in part.split(";"))
        if media_type.lower() != "text/csv":
            continue
        quality = next((p[2:] for p in parameters if p.lower().startswith("q=")), "1")
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


def period(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """The period asked for, the last 30 days where a bound is missing."""
    default_from, default_to = default_period(local_date(now()))
    date_to = date_to or default_to
    if date_from is None:
        date_from = date_to - (default_to - default_from)
    return date_from, date_to


def figures_for(
    request: Request,
    session: Session,
    date_from: date | None,
    date_to: date | None,
    group: Group,
) -> Statistics:
    """The figures of the period asked for, under the registry's deadline (400 invalid_period)."""
    start, end = period(date_from, date_to)
    return compute(
        session,
        date_from=start,
        date_to=end,
        group=group,
        deadline_days=services(request).settings.registration_deadline_days,
    )


def csv_response(figures: Statistics, text: str) -> Response:
    name = f"birthreg-statistics-{figures.group}-{figures.date_from}-{figures.date_to}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/statistics",
    response_model=Statistics,
    responses={200: {"content": {"text/csv": {}}}, 400: _ERROR},
)
def registry_statistics(
    request: Request,
    session: SessionDep,
    user: ClerkStaff,
    date_from: Annotated[RequestDay | None, Query(alias="from")] = None,
    date_to: Annotated[RequestDay | None, Query(alias="to")] = None,
    group: Group = Group.FACILITY,
) -> Response:
    """Registrations (within the deadline, late), rejections and waiting times by facility or
    day; `from` and `to` are days in Kazakhstan (default: the last 30 days), at most a year."""
    figures = figures_for(request, session, date_from, date_to, group)
    if wants_csv(request.headers.get("accept", "")):
        return csv_response(figures, to_csv(figures))
    return JSONResponse(figures.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
