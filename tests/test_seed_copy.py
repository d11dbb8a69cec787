"""`birthreg.seed_copy`'s column-at-a-time COPY text is each value's `field`, whatever the
columns hold; and the audit events' COPY text (`seed_pool._middles`) is their values' `field`s."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from birthreg import seed_copy
from birthreg.audit_bulk import Event, hashed_time, prepare
from birthreg.seed_pool import _middles

AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
PLAIN = ["a", "Қ", "Ә", "😀", "N", " ", "x", '"', "\0"]
SPECIAL = ["\\", "\t", "\n", "\r", "\b", "\f", "\v"]


class _Word(StrEnum):
    TABBED = "a\tb"
    PLAIN = "plain"


class _Number(IntEnum):
    SEVEN = 7


class _Moment(datetime):
    pass


def _time(rng: random.Random) -> datetime:
    at = AT + timedelta(seconds=rng.randrange(10**8), microseconds=rng.randrange(10**6))
    return at.replace(microsecond=0) if rng.random() < 0.3 else at


def _string(rng: random.Random, specials: float) -> str:
    alphabet = PLAIN + SPECIAL if rng.random() < specials else PLAIN
    return "".join(rng.choices(alphabet, k=rng.randint(0, 6)))


def _value(rng: random.Random, kind: str) -> Any:
    at = _time(rng)
    return {
        "str": lambda: _string(rng, 0.0),
        "escaped": lambda: _string(rng, 0.1),
        "int": lambda: rng.randint(-(2**63), 2**63),
        "bool": lambda: rng.random() < 0.5,
        "bytes": lambda: rng.randbytes(rng.randint(0, 5)),
        "date": lambda: at.date(),
        "utc": lambda: at,
        "offset": lambda: at.astimezone(timezone(timedelta(hours=rng.choice([0, 6, -3])))),
        "named utc": lambda: at.replace(tzinfo=timezone(timedelta(0), "Z")),
        "naive": lambda: at.replace(tzinfo=None),
        "subclass": lambda: _Moment.fromtimestamp(at.timestamp(), UTC),
        "enum": lambda: rng.choice([*_Word, _Number.SEVEN]),
    }[kind]()


KINDS = ["str", "escaped", "int", "bool", "bytes", "date", "utc", "offset", "named utc",
         "naive", "subclass", "enum"]


def _column(rng: random.Random, length: int) -> list[Any]:
    kind = rng.choice(KINDS)
    nulls = rng.choice([0.0, 0.0, 0.3, 1.0])
    stray = rng.choice(KINDS) if rng.random() < 0.2 else kind  # a column of two types
    return [
        None if rng.random() < nulls
        else _value(rng, stray if rng.random() < 0.1 else kind)
        for _ in range(length)
    ]


def test_a_column_is_its_values_fields() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        values = _column(rng, rng.randint(1, 12))
        assert list(seed_copy.column(values)) == [seed_copy.field(v) for v in values]


def test_a_table_is_its_rows_fields() -> None:
    rng = random.Random(8)
    for _ in range(300):
        length = rng.randint(1, 8)
        columns = [_column(rng, length) for _ in range(rng.randint(1, 6))]
        names = [f"c{index}" for index in range(len(columns))]
        rows = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        expected = "".join(
            "\t".join(seed_copy.field(value) for value in row.values()) + "\n" for row in rows
        )
        assert seed_copy.table(rows) == (tuple(names), expected)
        assert seed_copy.lines([list(row.values()) for row in rows]) == expected.split("\n")[:-1]


def test_lines_of_rows_of_different_lengths() -> None:
    rows: list[list[Any]] = [["a\tb", None], [], [3, AT, b"\x01"]]
    assert seed_copy.lines(rows) == ["a\\tb\t\\N", "", "3\t2026-03-01T09:30:15.123456\t\\\\x01"]
    assert seed_copy.lines([[], []]) == ["", ""]
    assert seed_copy.table([{}, {}]) == ((), "\n\n")


def test_times_written_once_are_written_the_same_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed_copy, "_UTC_TEXTS", {})
    monkeypatch.setattr(seed_copy, "_UTC_TEXTS_KEPT", 4)
    rng = random.Random(9)
    times = [_time(rng) for _ in range(10)]
    for _ in range(20):
        values = rng.choices(times, k=rng.randint(1, 8))
        assert seed_copy.column(values) == [seed_copy.field(v) for v in values]
        assert len(seed_copy._UTC_TEXTS) <= 4 + len(values)
    # The same instant in another zone is not the same text: such a column takes the long way.
    mixed = [AT, AT.astimezone(timezone(timedelta(hours=6)))]
    assert seed_copy.column(mixed) == ["2026-03-01T09:30:15.123456"] * 2


def test_the_hashed_time_from_the_copy_text() -> None:
    rng = random.Random(10)
    for kind in ["utc", "offset", "named utc", "naive", "subclass"] * 200:
        at = _value(rng, kind)
        hashed = hashed_time(at, seed_copy.field(at))
        if at.tzinfo is UTC:
            assert hashed == at.isoformat(timespec="microseconds")
        else:
            assert hashed is None


def test_event_lines_are_their_values_fields() -> None:
    rng = random.Random(11)
    events = [
        Event(_value(rng, rng.choice(["utc", "utc", "offset"])), _string(rng, 0.05),
              rng.choice(list(_Word)), "x.y", "object", _string(rng, 0.05),
              rng.choice([None, {"a": 1}]))
        for _ in range(200)
    ]
    times = seed_copy.column([event.at for event in events])
    prepared = [prepare(event, hashed_time(event.at, text))
                for event, text in zip(events, times, strict=True)]
    assert prepared == [prepare(event) for event in events]
    expected = ["\t".join(seed_copy.field(v) for v in [p.at, *p.values[1:]]) for p in prepared]
    assert _middles(prepared, times) == expected
    assert _middles([], []) == []
