"""Act record numbers and child IINs: counters, undefined check digits, taken numbers, the end of
the range, and local (Asia/Almaty) dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from birthreg.models import ChildIINCounter, RegistryOffice
from birthreg.registry.numbering import (
    IINRangeExhausted,
    iin_prefix,
    local_date,
    next_act_record_number,
    next_child_iin,
)
from registry import factories as f
from signing.identity import is_valid_iin, make_iin


def test_local_dates_are_kazakhstan_dates() -> None:
    # 20:30 UTC on 31 May is 01:30 on 1 June in Almaty (UTC+5).
    assert local_date(datetime(2026, 5, 31, 20, 30, tzinfo=UTC)) == date(2026, 6, 1)
    assert local_date(datetime(2026, 12, 31, 19, 30, tzinfo=UTC)) == date(2027, 1, 1)
    with pytest.raises(ValueError):
        local_date(datetime(2026, 5, 31, 20, 30))


def test_prefix_is_date_and_century_sex_digit() -> None:
    assert iin_prefix(date(2026, 5, 3), "M") == "2605035"
    assert iin_prefix(date(2026, 5, 3), "F") == "2605036"


def test_serials_without_a_check_digit_are_skipped(app: Any, client: Any) -> None:
    # 3 May 2026, male: serial 0001 has no defined check digit.
    assert make_iin(date(2026, 5, 3), "M", 1) is None
    with Session(app.state.services.engine) as session:
        iin = next_child_iin(session, date(2026, 5, 3), "M")
        session.commit()
        counter = session.get(ChildIINCounter, "2605035")
        assert counter is not None
        assert counter.last_serial == 2
    assert iin == make_iin(date(2026, 5, 3), "M", 2)
    assert is_valid_iin(iin)


def test_iins_already_registered_are_skipped(app: Any, client: Any) -> None:
    born = date(2026, 5, 4)
    taken = make_iin(born, "F", 1)
    assert taken is not None
    with Session(app.state.services.engine) as session:
        # Registered by other means (an import, a correction): the counter does not know.
        f.registration_by_hand(session, taken, 1)
        iin = next_child_iin(session, born, "F")
        session.commit()
    assert iin != taken
    assert iin[:7] == taken[:7]


def test_the_end_of_the_range_is_503(app: Any, client: Any) -> None:
    with Session(app.state.services.engine) as session:
        session.add(ChildIINCounter(prefix="2605046", last_serial=9998))
        session.commit()
        last = next_child_iin(session, date(2026, 5, 4), "F")
        session.commit()
        assert last == make_iin(date(2026, 5, 4), "F", 9999)
        with pytest.raises(IINRangeExhausted) as raised:
            next_child_iin(session, date(2026, 5, 4), "F")
        session.rollback()
    assert raised.value.status == 503
    assert raised.value.code == "iin_range_exhausted"


def test_a_rolled_back_registration_gives_its_number_back(app: Any, client: Any) -> None:
    with Session(app.state.services.engine) as session:
        office_id = session.exec(select(RegistryOffice.id)).one()
        assert office_id is not None
        assert next_act_record_number(session, office_id, 2030) == 1
        session.rollback()
        assert next_act_record_number(session, office_id, 2030) == 1
        assert next_act_record_number(session, office_id, 2030) == 2
        session.commit()
