"""Act record numbers and child IINs: allocated under row locks, never with max()+1.

Both come from a counter row locked for the rest of the transaction (by an `UPDATE … RETURNING`
on PostgreSQL; on SQLite every transaction is BEGIN IMMEDIATE, which serialises writers). A counter
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
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from birthreg.errors import DomainError
from birthreg.models import ActRecordCounter, ChildIINCounter, Registration
from signing.identity import century_sex_digit, make_iin

#: Civil registration dates are local dates.
LOCAL_TIME_ZONE = ZoneInfo("Asia/Almaty")
#: Serials of a child IIN prefix: 0001..9999 (0000 is never issued).
FIRST_SERIAL = 1
LAST_SERIAL = 9999


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


_ACTS = ActRecordCounter.__table__  # type: ignore[attr-defined]
_IINS = ChildIINCounter.__table__  # type: ignore[attr-defined]

# Core statements, built once: one UPDATE … RETURNING both locks a counter row (the row lock of
# an UPDATE on PostgreSQL; on SQLite the transaction already holds the write lock) and moves or
# reads it, where the ORM took a locking SELECT, a flush and an UPDATE.
_NEXT_ACT = (
    update(_ACTS)
    .where(_ACTS.c.registry_office_id == bindparam("office"), _ACTS.c.year == bindparam("of_year"))
    .values(last_number=_ACTS.c.last_number + 1)
    .returning(_ACTS.c.last_number)
)
_GIVE_BACK_ACT = (
    update(_ACTS)
    .where(
        _ACTS.c.registry_office_id == bindparam("office"),
        _ACTS.c.year == bindparam("of_year"),
        _ACTS.c.last_number == bindparam("number"),
    )
    .values(last_number=bindparam("number") - 1)
)
_NEW_ACT = insert(_ACTS).values(
    registry_office_id=bindparam("office"), year=bindparam("of_year"), last_number=0
)
_NEXT_IIN = (
    update(_IINS)
    .where(_IINS.c.prefix == bindparam("of_prefix"))
    .values(last_serial=_IINS.c.last_serial + 1)
    .returning(_IINS.c.last_serial)
)
_NEW_IIN = insert(_IINS).values(prefix=bindparam("of_prefix"), last_serial=FIRST_SERIAL - 1)
_IIN_TAKEN = select(Registration.id).where(Registration.child_iin == bindparam("iin"))


def iin_registered(session: Session, iin: str) -> bool:
    """Whether some registration carries this child IIN already."""
    return session.connection().execute(_IIN_TAKEN, {"iin": iin}).first() is not None


def _locked_counter(session: Session, move: Any, make: Any, parameters: dict[str, Any]) -> int:
    """Run `move` (an UPDATE … RETURNING of one counter row) and return its value; the row is
    locked until the transaction ends. A missing row is first made by `make` in a savepoint (a
    concurrent transaction that made it first makes ours fail with IntegrityError, and the
    UPDATE then waits for its lock)."""
    value = session.connection().execute(move, parameters).scalar_one_or_none()
    if value is None:
        try:
            with session.begin_nested():
                session.execute(make, parameters)
        except IntegrityError:
            pass
        value = session.connection().execute(move, parameters).scalar_one()
    return int(value)


def next_act_record_number(session: Session, registry_office_id: int, year: int) -> int:
    """The next act record number of the office for the year (1, 2, 3, … with no gaps).

    The counter stays locked until the caller's transaction ends: allocate late, commit soon.
    """
    return _locked_counter(
        session, _NEXT_ACT, _NEW_ACT, {"office": registry_office_id, "of_year": year}
    )


def give_back_act_record_number(
    session: Session, registry_office_id: int, year: int, number: int
) -> None:
    """Undo `next_act_record_number` in the transaction that allocated `number` (its counter row
    is still locked by it), for a registration that turned out not to be made: the number goes
    to the next registration even if the caller commits."""
    session.connection().execute(
        _GIVE_BACK_ACT, {"office": registry_office_id, "of_year": year, "number": number}
    )


def next_child_iin(
    session: Session, birth_date: date, sex: str, *, skip_registered: bool = True
) -> str:
    """A new child IIN for this date of birth and sex ('M' or 'F'): the next serial of the
    prefix whose check digit is defined and which no registration carries yet.

    A caller that inserts the registration so that a taken IIN is refused without an error
    (`INSERT … ON CONFLICT DO NOTHING`, see registry.service) says `skip_registered=False`,
    saving a look-up per registration, and asks again when the IIN turns out to be taken.

    Raises IINRangeExhausted (503) when serials 0001..9999 are all taken. The prefix's counter
    stays locked until the caller's transaction ends.
    """
    prefix = iin_prefix(birth_date, sex)
    parameters = {"of_prefix": prefix}
    serial = _locked_counter(session, _NEXT_IIN, _NEW_IIN, parameters)
    while True:
        if serial > LAST_SERIAL:
            raise IINRangeExhausted()  # the counter stays past the end: the prefix is full
        iin = make_iin(birth_date, sex, serial)
        # A serial with no defined check digit is never issued; one some registration carries
        # already (made before the counter, or by hand) is skipped.
        if iin is not None and not (skip_registered and iin_registered(session, iin)):
            return iin
        serial = int(session.connection().execute(_NEXT_IIN, parameters).scalar_one())
