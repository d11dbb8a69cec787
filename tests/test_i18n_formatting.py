"""Languages: numbers, dates and times formatted per locale, in Kazakhstan's time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from birthreg import i18n
from birthreg.i18n import (
    format_date,
    format_datetime,
    format_decimal,
    format_number,
    format_time,
    use_language,
)

BORN_AT = dt.datetime(2026, 3, 5, 4, 30, tzinfo=dt.UTC)  # 09:30 in Kazakhstan (UTC+5)


@pytest.mark.parametrize(
    ("language", "number", "decimal", "date", "long_date", "date_time", "time"),
    [
        (
            "kk", "3\xa0400", "1\xa0234,5", "2026\u202fж. 05 нау.", "2026\u202fж. 5 наурыз",
            "2026\u202fж. 05 нау., 09:30:00", "09:30",
        ),
        (
            "ru", "3\xa0400", "1\xa0234,5", "5 мар. 2026\u202fг.", "5 марта 2026\u202fг.",
            "5 мар. 2026\u202fг., 09:30:00", "09:30",
        ),
        (
            "en", "3,400", "1,234.5", "5 Mar 2026", "5 March 2026", "5 Mar 2026, 09:30:00",
            "09:30",
        ),
    ],
)
def test_formatting_per_locale(
    language: str, number: str, decimal: str, date: str, long_date: str, date_time: str,
    time: str,
) -> None:
    with use_language(language):
        assert format_number(3400) == number
        assert format_decimal(Decimal("1234.5")) == decimal
        assert format_decimal(1234.5) == decimal
        assert format_date(BORN_AT) == date
        assert format_date(BORN_AT.date(), "long") == long_date
        assert format_datetime(BORN_AT) == date_time
        assert format_time(BORN_AT) == time
        assert format_time(dt.time(9, 30)) == time
        rendered = i18n.templates.env.from_string(
            "{{ 3400 | format_number }}|{{ format_date(born_at) }}|{{ born_at | format_time }}"
        ).render(born_at=BORN_AT)
        assert rendered == f"{number}|{date}|{time}"


def test_times_are_shown_in_kazakhstan_time() -> None:
    with use_language("en"):
        # 21:00 UTC is already the next day in Almaty.
        late = dt.datetime(2026, 3, 5, 21, 0, tzinfo=dt.UTC)
        assert format_date(late) == "6 Mar 2026"
        assert format_time(late) == "02:00"
        # Naive datetimes are UTC.
        assert format_time(dt.datetime(2026, 3, 5, 4, 30)) == "09:30"
        assert format_decimal(0.5, "#,##0.00") == "0.50"
