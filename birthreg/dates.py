"""Dates and times read from a request: parsed in one place, and only within years the service
can compute with.

Python's `date` runs from year 1 to 9999, but a day's bounds in Almaty (UTC+5) or the day after
it fall outside that range at both ends (`OverflowError`, a 500). No birth, receipt or query of
this service is anywhere near those years, so every date or time from a request parameter is
refused outside `EARLIEST_DAY`..`LATEST_DAY`: 400 `invalid_date` on pages (`parse_day`), 422 in
the JSON API's query parameters (`RequestDay`, a pydantic type), and the callers' own codes for
times inside cursors (`parse_moment`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from typing import Annotated, Final

from pydantic import AfterValidator

EARLIEST_DAY: Final = date(1900, 1, 1)
LATEST_DAY: Final = date(2999, 12, 31)


class InvalidDate(ValueError):
    """Not a date (or time) the service reads: malformed, or outside EARLIEST_DAY..LATEST_DAY."""

    code = "invalid_date"


def check_day(day: date) -> date:
    """day, when it lies within EARLIEST_DAY..LATEST_DAY; else InvalidDate."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidDate(f"a date between {EARLIEST_DAY} and {LATEST_DAY}")
    return day


def parse_day(text: str) -> date:
    """An ISO date (YYYY-MM-DD) within the service's years. Raises InvalidDate."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidDate("a date as YYYY-MM-DD") from None
    return check_day(day)


def parse_moment(text: str) -> datetime:
    """An ISO date and time with its UTC offset, within the service's years (as UTC). Raises
    InvalidDate."""
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        raise InvalidDate("a date and time with its offset") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidDate("a date and time with its offset")
    check_day(moment.date())
    return moment.astimezone(UTC)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The start of `day` in `zone`, in UTC (day within the service's years: InvalidDate else)."""
    return datetime.combine(check_day(day), time.min, tzinfo=zone).astimezone(UTC)


#: A date query parameter of the JSON API (FastAPI answers 422 invalid_request outside the years).
RequestDay = Annotated[date, AfterValidator(check_day)]
