"""Act record numbers and child IINs: allocated under row locks, never with max()+1.

Both come from a counter row locked for the rest of the transaction (`SELECT … FOR UPDATE` on
PostgreSQL; on SQLite every transaction is BEGIN IMMEDIATE, which serialises writers). A counter
row that does not exist yet is inserted in a savepoint; a concurrent transaction that inserted it
first makes ours fail with IntegrityError, after which the row is read (and locked) again. The
counter moves only inside the registering transaction, so a rolled-back registration gives its
number back: act record numbers are gapless per registry office and year.

Dates are those of Kazakhstan (Asia/Almaty): a child born at 23:30 local time on 31 May is born on
31 May, whatever the UTC date, and an act recorded at 00:30 local time on 1 January belongs to the
new year.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from birthreg.errors import DomainError
from birthreg.models import ActRecordCounter, ChildIINCounter, Registration
from signing.identity import century_sex_digit, make_iin

#: Civil registration dates are local dates.
LOCAL_TIME_ZONE = ZoneInfo("Asia/Almaty")
#: Serials of a child IIN prefix: 0001..9999 (0000 is never issued).
FIRST_SERIAL = 1
LAST_SERIAL = 9999

Counter = TypeVar("Counter", bound=SQLModel)


class IINRangeExhausted(DomainError):
    """Every serial of an IIN prefix (date of birth and sex) is used."""

    def __init__(self) -> None:
        super().__init__(
            "iin_range_exhausted",
            "no child IIN serial is left for this date of birth and sex",
            503,
        )


def local_date(moment: datetime) -> date:
    """The date in Kazakhstan at `moment` (timezone-aware)."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware moment is needed")
    return moment.astimezone(LOCAL_TIME_ZONE).date()


def iin_prefix(birth_date: date, sex: str) -> str:
    """YYMMDD and the century-and-sex digit: the first seven digits of the child's IIN."""
    digit = century_sex_digit(birth_date, sex)
    return f"{birth_date.year % 100:02d}{birth_date.month:02d}{birth_date.day:02d}{digit}"


def _locked_counter(session: Session, model: type[Counter], **key: Any) -> Counter:
    """The counter row with this key, locked until the transaction ends (made if missing)."""
    statement = select(model).with_for_update().execution_options(populate_existing=True)
    for name, value in key.items():
        statement = statement.where(getattr(model, name) == value)
    row = session.exec(statement).one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                session.add(model(**key))
        except IntegrityError:
            # Another transaction made the row first; reading it below waits for its lock.
            pass
        row = session.exec(statement).one()
    return row


def next_act_record_number(session: Session, registry_office_id: int, year: int) -> int:
    """The next act record number of the office for the year (1, 2, 3, … with no gaps).

    The counter stays locked until the caller's transaction ends: allocate late, commit soon.
    """
    counter = _locked_counter(
        session, ActRecordCounter, registry_office_id=registry_office_id, year=year
    )
    counter.last_number += 1
    session.add(counter)
    session.flush()
    return counter.last_number


def next_child_iin(session: Session, birth_date: date, sex: str) -> str:
    """A new child IIN for this date of birth and sex ('M' or 'F'): the next serial of the
    prefix whose check digit is defined and which no registration carries yet.

    Raises IINRangeExhausted (503) when serials 0001..9999 are all taken. The prefix's counter
    stays locked until the caller's transaction ends.
    """
    prefix = iin_prefix(birth_date, sex)
    counter = _locked_counter(session, ChildIINCounter, prefix=prefix)
    serial = max(counter.last_serial, FIRST_SERIAL - 1)
    while True:
        serial += 1
        if serial > LAST_SERIAL:
            raise IINRangeExhausted()
        iin = make_iin(birth_date, sex, serial)
        if iin is None:
            continue  # no check digit is defined for this serial: such numbers are never issued
        taken = session.exec(
            select(Registration.id).where(Registration.child_iin == iin)
        ).first()
        if taken is None:
            break
    counter.last_serial = serial
    session.add(counter)
    session.flush()
    return iin
