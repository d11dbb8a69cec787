"""The registry's statistics: registrations by facility or by day, within the deadline or late,
rejections, and how long a birth waited for its registration and its certificate.

A registration counts on the day (in Kazakhstan) it was registered, a rejection on the day it
was decided; `from` and `to` are such days, inclusive. A registration is late when its dossier
was received more than the registry's deadline after the birth: the same rule the intake applies
(`signing.dossier.verify_dossier`). Days and hours are measured from the moment of birth, and the
certificate's hours from the first certificate issued for the registration (a copy or a
correction issues more later). Percentiles interpolate between the two nearest values, as
PostgreSQL's `percentile_cont` and Python's `statistics.quantiles(method="inclusive")` do.

Only counts, facilities and days leave this module: no names, no IINs.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from birthreg.dates import local_midnight
from birthreg.errors import DomainError
from birthreg.models import (
    BirthCertificate,
    Registration,
    Submission,
    SubmissionStatus,
)
from birthreg.registry import statistics_sql, stored
from birthreg.registry.numbering import LOCAL_TIME_ZONE, local_date
from birthreg.registry.statistics_sql import Figures

#: The longest period one request may cover (a year, leap day included).
MAX_RANGE_DAYS: Final = 366
#: The period shown when none is asked for: the last 30 days, today included.
DEFAULT_RANGE_DAYS: Final = 30

SECONDS_PER_DAY: Final = 86_400
SECONDS_PER_HOUR: Final = 3_600


class Group(StrEnum):
    FACILITY = "facility"
    DAY = "day"


class StatisticsRow(BaseModel):
    """One facility's or one day's figures (`key`: the facility's BIN, or the day)."""

    key: str
    facility_name: str | None = None
    registered: int
    within_deadline: int
    late: int
    rejected: int
    days_to_registration_median: float | None
    days_to_registration_p90: float | None
    hours_to_certificate_median: float | None
    hours_to_certificate_p90: float | None


class Statistics(BaseModel):
    """The figures of a period, row by row and in total."""

    date_from: date
    date_to: date
    group: Group
    deadline_days: int
    rows: list[StatisticsRow]
    total: StatisticsRow


#: The CSV's columns, in order: the row's fields.
CSV_COLUMNS: Final = tuple(StatisticsRow.model_fields)


@dataclass
class _Tally:
    within_deadline: int = 0
    late: int = 0
    rejected: int = 0
    seconds: list[float] = field(default_factory=list)
    certificate_seconds: list[float] = field(default_factory=list)

    def add(self, other: _Tally) -> None:
        self.within_deadline += other.within_deadline
        self.late += other.late
        self.rejected += other.rejected
        self.seconds.extend(other.seconds)
        self.certificate_seconds.extend(other.certificate_seconds)

    def figures(self) -> Figures:
        """The counts, and the percentiles of the times (in seconds)."""
        return Figures(
            self.within_deadline,
            self.late,
            self.rejected,
            percentile(self.seconds, 0.5),
            percentile(self.seconds, 0.9),
            percentile(self.certificate_seconds, 0.5),
            percentile(self.certificate_seconds, 0.9),
        )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile of values, interpolated (None for no values)."""
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return float(cuts[round(fraction * 100) - 1])


def _in(seconds: float | None, unit: int) -> float | None:
    return None if seconds is None else round(seconds / unit, 1)


def _row(key: str, figures: Figures, facility_name: str | None = None) -> StatisticsRow:
    return StatisticsRow(
        key=key,
        facility_name=facility_name,
        registered=figures.within_deadline + figures.late,
        within_deadline=figures.within_deadline,
        late=figures.late,
        rejected=figures.rejected,
        days_to_registration_median=_in(figures.seconds_median, SECONDS_PER_DAY),
        days_to_registration_p90=_in(figures.seconds_p90, SECONDS_PER_DAY),
        hours_to_certificate_median=_in(figures.certificate_seconds_median, SECONDS_PER_HOUR),
        hours_to_certificate_p90=_in(figures.certificate_seconds_p90, SECONDS_PER_HOUR),
    )


def default_period(today: date) -> tuple[date, date]:
    """The period shown when none is asked for: the last DEFAULT_RANGE_DAYS days."""
    return today - timedelta(days=DEFAULT_RANGE_DAYS - 1), today


def check_period(date_from: date, date_to: date) -> None:
    """Raise 400 invalid_period unless from ≤ to and the period spans at most a year."""
    if date_from > date_to:
        raise DomainError("invalid_period", "`from` must not be after `to`")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise DomainError("invalid_period", f"a period may span at most {MAX_RANGE_DAYS} days")


def _registrations(session: Session, start: datetime, end: datetime) -> Iterable[Any]:
    first_certificate = (
        select(func.min(BirthCertificate.issued_at))
        .where(BirthCertificate.registration_id == Registration.id)
        .scalar_subquery()
    )
    statement = (
        sa.select(
            col(Submission.facility_bin),
            col(Submission.child_born_at),
            col(Submission.received_at),
            col(Registration.registered_at),
            first_certificate,
        )
        .join(Submission, col(Submission.id) == col(Registration.submission_id))
        .where(col(Registration.registered_at) >= start, col(Registration.registered_at) < end)
    )
    return session.execute(statement)


def _rejections(session: Session, start: datetime, end: datetime) -> Iterable[Any]:
    statement = select(Submission.facility_bin, Submission.decided_at).where(
        col(Submission.status) == SubmissionStatus.REJECTED.value,
        col(Submission.decided_at) >= start,
        col(Submission.decided_at) < end,
    )
    return session.execute(statement)


def _facility_names(session: Session, bins: Iterable[str]) -> dict[str, str]:
    """Each facility's name as its latest dossier's sealed medical record gives it."""
    names: dict[str, str] = {}
    for facility_bin in bins:
        dossier = session.exec(
            select(Submission.dossier)
            .where(Submission.facility_bin == facility_bin)
            .order_by(col(Submission.received_at).desc())
            .limit(1)
        ).first()
        text = "{}" if dossier is None else stored.text(session.connection(), dossier)
        record = json.loads(text).get("medical_record", {}).get("document", {})
        name = record.get("facility", {}).get("name")
        if isinstance(name, str):
            names[facility_bin] = name
    return names


def _figures_in_python(
    session: Session, start: datetime, end: datetime, by_facility: bool, deadline: timedelta
) -> dict[str | None, Figures]:
    """The figures of `statistics_sql`, computed here row by row (SQLite)."""
    tallies: dict[str, _Tally] = {}

    def key(facility_bin: str, moment: datetime) -> str:
        return facility_bin if by_facility else local_date(moment).isoformat()

    for facility_bin, born_at, received_at, registered_at, issued_at in _registrations(
        session, start, end
    ):
        tally = tallies.setdefault(key(facility_bin, registered_at), _Tally())
        if received_at - born_at > deadline:
            tally.late += 1
        else:
            tally.within_deadline += 1
        tally.seconds.append((registered_at - born_at).total_seconds())
        if issued_at is not None:
            tally.certificate_seconds.append((issued_at - born_at).total_seconds())
    for facility_bin, decided_at in _rejections(session, start, end):
        tallies.setdefault(key(facility_bin, decided_at), _Tally()).rejected += 1
    total = _Tally()
    for tally in tallies.values():
        total.add(tally)
    result: dict[str | None, Figures] = {name: tally.figures() for name, tally in tallies.items()}
    result[None] = total.figures()
    return result


def compute(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    group: Group,
    deadline_days: int,
) -> Statistics:
    """The figures from `date_from` to `date_to` (days in Kazakhstan, inclusive) by `group`.
    Raises 400 invalid_period."""
    check_period(date_from, date_to)
    start = local_midnight(date_from, LOCAL_TIME_ZONE)
    end = local_midnight(date_to + timedelta(days=1), LOCAL_TIME_ZONE)
    by_facility = group is Group.FACILITY
    deadline = timedelta(days=deadline_days)
    if session.get_bind().dialect.name == "postgresql":
        found = statistics_sql.figures(session, start, end, by_facility, deadline)
    else:
        found = _figures_in_python(session, start, end, by_facility, deadline)
    total = found.pop(None, Figures())
    if group is Group.DAY:
        for offset in range((date_to - date_from).days + 1):
            found.setdefault((date_from + timedelta(days=offset)).isoformat(), Figures())
    keys = [key for key in found if key is not None]
    names = _facility_names(session, keys) if by_facility else {}
    rows = [_row(key, found[key], names.get(key)) for key in keys]
    if by_facility:
        rows.sort(key=lambda row: (row.facility_name or "", row.key))
    else:
        rows.sort(key=lambda row: row.key)
    return Statistics(
        date_from=date_from,
        date_to=date_to,
        group=group,
        deadline_days=deadline_days,
        rows=rows,
        total=_row("total", total),
    )


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        # A facility's name comes from a sealed record, but no spreadsheet should run it.
        return "'" + value
    return value


def to_csv(figures: Statistics) -> str:
    """The rows and the total as CSV (RFC 4180: a header line, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in [*figures.rows, figures.total]:
        values = row.model_dump()
        writer.writerow([_cell(values[name]) for name in CSV_COLUMNS])
    return buffer.getvalue()
