"""The statistics page (clerks and registrars): a period and a grouping, a chart drawn on the
server as SVG (no script), the table of figures, and the same figures as a CSV download.

By day, the chart is one SVG of stacked columns (within the deadline, late, rejected) whose
viewBox scales to the width of a phone or a desk screen; by facility, each row of the table-like
list carries its own small stacked bar, so that the facility's name stays readable text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final

from babel.support import LazyProxy
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from birthreg import i18n
from birthreg.auth import ClerkStaff
from birthreg.dates import InvalidDate, parse_day
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.i18n import lazy_gettext
from birthreg.registry.statistics import Group, Statistics, StatisticsRow, to_csv
from birthreg.registry.statistics_api import csv_response, figures_for

router = APIRouter(prefix="/registry", include_in_schema=False)

NO_STORE: Final = {"Cache-Control": "no-store"}

MESSAGES: Final[dict[str, LazyProxy]] = {
    "invalid_date": lazy_gettext("Enter a date."),
    "invalid_period": lazy_gettext("The period must start before it ends and span at most a year."),
    "invalid_group": lazy_gettext("Choose a grouping from the list."),
}

#: The day chart's drawing area, in SVG user units (the viewBox; the page scales it).
CHART_WIDTH: Final = 720
CHART_HEIGHT: Final = 240
#: The stacked parts of a bar, bottom first: the field and its CSS class.
PARTS: Final = (
    ("within_deadline", "part-within"),
    ("late", "part-late"),
    ("rejected", "part-rejected"),
)


@dataclass(frozen=True)
class Segment:
    """One coloured part of a bar, in the chart's units."""

    css_class: str
    field: str
    count: int
    x: float
    y: float
    width: float
    height: float


def _height(row: StatisticsRow) -> int:
    return row.within_deadline + row.late + row.rejected


def day_columns(rows: list[StatisticsRow]) -> tuple[list[tuple[str, list[Segment]]], int]:
    """Stacked columns for the day chart (each day's key with its segments), and the tallest
    column's count (the scale's top)."""
    top = max((_height(row) for row in rows), default=0)
    if not rows:
        return [], top
    step = CHART_WIDTH / len(rows)
    width = max(step * 0.8, 0.5)
    columns: list[tuple[str, list[Segment]]] = []
    for index, row in enumerate(rows):
        segments: list[Segment] = []
        bottom = float(CHART_HEIGHT)
        for field, css_class in PARTS:
            count = getattr(row, field)
            if not count:
                continue
            height = CHART_HEIGHT * count / top
            bottom -= height
            segments.append(
                Segment(
                    css_class,
                    field,
                    count,
                    index * step + (step - width) / 2,
                    bottom,
                    width,
                    height,
                )
            )
        columns.append((row.key, segments))
    return columns, top


def facility_bars(rows: list[StatisticsRow]) -> list[list[Segment]]:
    """One stacked bar per facility on a scale of 0..100 (the widest facility fills it)."""
    top = max((_height(row) for row in rows), default=0)
    bars: list[list[Segment]] = []
    for row in rows:
        segments: list[Segment] = []
        left = 0.0
        for field, css_class in PARTS:
            count = getattr(row, field)
            if count and top:
                width = 100 * count / top
                segments.append(Segment(css_class, field, count, left, 0.0, width, 10.0))
                left += width
        bars.append(segments)
    return bars


def _render(request: Request, context: dict[str, Any], status_code: int = 200) -> Response:
    return i18n.templates.TemplateResponse(
        request, "registry/statistics.html", context, status_code=status_code, headers=NO_STORE
    )


def _read_form(
    values: dict[str, str],
) -> tuple[dict[str, str], date | None, date | None, Group | None]:
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {"from": None, "to": None}
    for name in days:
        if values[name]:
            try:
                days[name] = parse_day(values[name])
            except InvalidDate:
                errors[name] = str(MESSAGES["invalid_date"])
    group: Group | None = None
    try:
        group = Group(values["group"] or Group.FACILITY.value)
    except ValueError:
        errors["group"] = str(MESSAGES["invalid_group"])
    return errors, days["from"], days["to"], group


def _asked(
    date_from: Annotated[str, Query(alias="from", max_length=32)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=32)] = "",
    group: Annotated[str, Query(max_length=16)] = "",
) -> dict[str, str]:
    """The period and grouping as typed into the page's form."""
    return {"from": date_from.strip(), "to": date_to.strip(), "group": group.strip()}


Asked = Annotated[dict[str, str], Depends(_asked)]


def _figures(
    request: Request, session: SessionDep, values: dict[str, str]
) -> tuple[Statistics | None, dict[str, str]]:
    """The figures asked for (the form's values get the period's days), or the form's errors."""
    errors, date_from, date_to, group = _read_form(values)
    if errors or group is None:
        return None, errors
    try:
        figures = figures_for(request, session, date_from, date_to, group)
    except DomainError as error:
        return None, {"from": str(MESSAGES.get(error.code, error.detail))}
    values["from"], values["to"] = figures.date_from.isoformat(), figures.date_to.isoformat()
    return figures, {}


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    values: Asked,
) -> Response:
    """Registrations by facility or day, with a chart and the CSV to download."""
    figures, errors = _figures(request, session, values)
    context: dict[str, Any] = {
        "values": values,
        "errors": errors,
        "figures": figures,
        "groups": [g.value for g in Group],
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "columns": [],
        "bars": [],
        "top": 0,
    }
    if figures is not None:
        if figures.group is Group.DAY:
            context["columns"], context["top"] = day_columns(figures.rows)
        else:
            context["bars"] = facility_bars(figures.rows)
    return _render(request, context, 400 if errors else 200)


@router.get("/statistics.csv")
def statistics_csv(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    values: Asked,
) -> Response:
    """The statistics page's figures as CSV."""
    figures, errors = _figures(request, session, values)
    if figures is None:
        raise DomainError("invalid_period", "; ".join(sorted(set(errors.values()))))
    return csv_response(figures, to_csv(figures))
