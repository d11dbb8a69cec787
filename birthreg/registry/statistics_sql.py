"""The statistics' figures computed by PostgreSQL: counts and `percentile_cont` per facility or
local day and in total (ROLLUP), so that a year of a national registry's registrations is
aggregated where it lies instead of crossing the wire row by row. `birthreg.registry.statistics`
computes the same figures in Python on SQLite (a development database), by the same definitions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, col

from birthreg.models import BirthCertificate, Registration, Submission, SubmissionStatus
from birthreg.registry.numbering import LOCAL_TIME_ZONE


class Figures(NamedTuple):
    """One row's figures; the times are seconds (None where nothing was registered)."""

    within_deadline: int = 0
    late: int = 0
    rejected: int = 0
    seconds_median: float | None = None
    seconds_p90: float | None = None
    certificate_seconds_median: float | None = None
    certificate_seconds_p90: float | None = None


def _key(by_facility: bool, moment: Any) -> Any:
    """The facility's BIN, or the moment's day in Kazakhstan as YYYY-MM-DD (the columns hold
    naive UTC, read as UTC and turned to the zone's local time)."""
    if by_facility:
        return col(Submission.facility_bin)
    local = func.timezone(LOCAL_TIME_ZONE.key, func.timezone("UTC", moment))
    return func.to_char(local, "YYYY-MM-DD")


def _seconds(later: Any, earlier: Any) -> Any:
    return func.extract("epoch", later - earlier)


def _registrations(
    session: Session, start: datetime, end: datetime, by_facility: bool, deadline: timedelta
) -> dict[str | None, Figures]:
    first_certificate = (
        sa.select(func.min(BirthCertificate.issued_at))
        .where(col(BirthCertificate.registration_id) == col(Registration.id))
        .correlate(Registration)
        .scalar_subquery()
    )
    born = col(Submission.child_born_at)
    each = (
        sa.select(
            _key(by_facility, col(Registration.registered_at)).label("key"),
            ((col(Submission.received_at) - born) > deadline).label("late"),
            _seconds(col(Registration.registered_at), born).label("seconds"),
            _seconds(first_certificate, born).label("certificate_seconds"),
        )
        .join(Submission, col(Submission.id) == col(Registration.submission_id))
        .where(col(Registration.registered_at) >= start, col(Registration.registered_at) < end)
        .subquery()
    )

    def percentile(column: Any, fraction: float) -> Any:
        return func.percentile_cont(fraction).within_group(column)

    statement = sa.select(
        each.c.key,
        func.count().filter(sa.not_(each.c.late)),
        func.count().filter(each.c.late),
        percentile(each.c.seconds, 0.5),
        percentile(each.c.seconds, 0.9),
        percentile(each.c.certificate_seconds, 0.5),
        percentile(each.c.certificate_seconds, 0.9),
    ).group_by(func.rollup(each.c.key))
    return {
        key: Figures(within, late, 0, median, p90, certificate_median, certificate_p90)
        for key, within, late, median, p90, certificate_median, certificate_p90 in (
            session.execute(statement)
        )
    }


def figures(
    session: Session, start: datetime, end: datetime, by_facility: bool, deadline: timedelta
) -> dict[str | None, Figures]:
    """Each facility's or day's figures, and the total's under the key None."""
    result = _registrations(session, start, end, by_facility, deadline)
    key = _key(by_facility, col(Submission.decided_at)).label("key")
    rejections = (
        sa.select(key, func.count())
        .where(
            col(Submission.status) == SubmissionStatus.REJECTED.value,
            col(Submission.decided_at) >= start,
            col(Submission.decided_at) < end,
        )
        .group_by(func.rollup(key))
    )
    for name, count in session.execute(rejections):
        result[name] = result.get(name, Figures())._replace(rejected=count)
    return result
