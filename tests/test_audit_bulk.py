"""birthreg.audit_bulk: events prepared anywhere and linked onto the chain hash exactly as
`audit.record` hashes them; and the seed's COPY text and names."""

from __future__ import annotations

import os
import pickle
import random
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import text

from birthreg import audit, audit_bulk, seed_copy, seed_names
from birthreg.audit_bulk import FIELDS, Event, Prepared, chained, link, prepare
from birthreg.db import make_engine
from signing.canonical import canonicalize
from signing.errors import CanonicalizationError
from signing.names import validate_person_name

AT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _events() -> list[Event]:
    rng = random.Random(3)
    details: list[dict[str, Any] | None] = [
        None, {}, {"submission_id": "s-1", "candidates": []},
        {"reason": "тексеру \"quoted\" \\ back\nslash", "n": 2**53 - 1, "nested": {"ok": True}},
        {"emoji": "😀", "\ue000": "private use", "value": 1.5},  # floats: the general way
    ]
    return [
        Event(AT + timedelta(seconds=rng.random() * 1000), f"holder:{index:x}", "mother",
              "application.signed", "application", f"object-{index}", details[index % 5])
        for index in range(20)
    ]


def test_chained_entries_hash_as_record_hashes_them() -> None:
    rows = chained(_events(), 41, audit.GENESIS)
    prev = audit.GENESIS
    for seq, (event, row) in enumerate(zip(_events(), rows, strict=True), start=42):
        assert row["seq"] == seq and row["prev_hash"] == prev and row["at"] == event.at
        assert row["entry_hash"] == audit._entry_hash(
            seq=seq, at=event.at, actor=event.actor, role=event.role, action=event.action,
            object_type=event.object_type, object_id=event.object_id,
            details_sha256=audit.details_digest(event.details), prev_hash=prev,
        )
        prev = row["entry_hash"]
    assert set(rows[0]) == {"seq", *FIELDS, "prev_hash", "entry_hash"}


@pytest.mark.parametrize("prev", ["A" * 64, "0" * 63, "not a digest"])
@pytest.mark.parametrize("seq", [1, 2**53 - 1, 2**53])
def test_link_outside_its_shortcut_takes_the_general_way(seq: int, prev: str) -> None:
    prepared = prepare(_events()[3])
    if seq > 2**53 - 1:
        with pytest.raises(CanonicalizationError):
            link(prepared, seq, prev)
        return
    assert link(prepared, seq, prev) == audit.hash_fields([seq, *prepared.values, prev])


def test_prepared_time_is_the_hashed_iso_form() -> None:
    local = AT.astimezone(timezone(timedelta(hours=5)))
    prepared = prepare(Event(local, "system", "system", "x", "y", "z"))
    assert prepared.values[0] == local.isoformat(timespec="microseconds")
    assert link(prepared, 7, "a" * 64) == audit.hash_fields([7, *prepared.values, "a" * 64])


def _leaf(rng: random.Random) -> Any:
    return rng.choice([
        None, True, False, 0, -7, 2**53 - 1, -(2**53 - 1), 2**53, 1.5, -0.0,
        "", "тексеру", "quote \" back \\ nl \n ctl \x01 \x7f", "😀", "\ud800", _Role.MOTHER,
    ])


def _tree(rng: random.Random, depth: int = 0) -> Any:
    """A JSON-like value: mostly what JSON carries, now and then what it does not."""
    roll = rng.random()
    if depth > 2 or roll < 0.4:
        return _leaf(rng)
    if roll < 0.55:
        return [_tree(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.6:
        return tuple(_tree(rng, depth + 1) for _ in range(rng.randint(0, 2)))
    keys = ["a", "submission_id", "ключ", "😀", "\ue000", "\ud800", "b" * 3]
    tree: dict[Any, Any] = {
        rng.choice(keys): _tree(rng, depth + 1) for _ in range(rng.randint(0, 4))
    }
    if rng.random() < 0.05:
        tree[rng.choice([1, _Role.MOTHER])] = "odd key"
    return tree


class _Role(StrEnum):
    MOTHER = "mother"


def _outcome(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except Exception as error:  # the same error either way is what is compared
        return type(error)


def test_prepared_digest_and_body_are_canonicalize_s() -> None:
    rng = random.Random(12)
    for _ in range(4000):
        details = _tree(rng) if rng.random() < 0.8 else rng.choice([None, {}])
        if isinstance(details, dict) and rng.random() < 0.1:
            details = MappingProxyType(details)
        if not isinstance(details, (dict, MappingProxyType)) and details is not None:
            details = {"value": details}
        assert _outcome(audit_bulk._digest, details) == _outcome(audit.details_digest, details)
        values = tuple(rng.choice(["", "staff:1", "Қ\"\\\n", "😀", "\udfff", _Role.MOTHER])
                       for _ in range(7))
        general = _outcome(lambda v: canonicalize(list(v))[1:-1], values)
        assert _outcome(audit_bulk._body, values) == general


def test_a_prepared_event_pickles_as_itself() -> None:
    for event in _events():
        prepared = prepare(event)
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(prepared, protocol))  # noqa: S301 (its own bytes)
            assert type(back) is Prepared and back == prepared and back.at.tzinfo is UTC


# -- COPY text ------------------------------------------------------------------------------------


def test_copy_fields() -> None:
    assert seed_copy.field(None) == "\\N"
    assert seed_copy.field("a\\b\tc\nd\re\bf\fg\vh") == "a\\\\b\\tc\\nd\\re\\bf\\fg\\vh"
    assert seed_copy.field("Әбілқасымова") == "Әбілқасымова"
    assert seed_copy.field(True) == "t" and seed_copy.field(0) == "0"
    assert seed_copy.field(AT.astimezone(timezone(timedelta(hours=6)))) == (
        "2026-03-01T09:30:15.123456"
    )
    assert seed_copy.field(b"\x00\xff") == "\\\\x00ff"
    # Subclasses (enums) are written as their base type is, and escaped where they need it.
    assert seed_copy.line([HTTPStatus.OK, date(2026, 3, 1), False, _Tabbed.VALUE]) == (
        "200\t2026-03-01\tf\ta\\tb\n"
    )
    assert seed_copy.lines([[HTTPStatus.OK, None, "x"]]) == ["200\t\\N\tx"]
    with pytest.raises(TypeError):
        seed_copy.field(1.5)
    with pytest.raises(ValueError, match="same columns"):
        seed_copy.table([{"a": 1, "b": 2}, {"a": 1}])


class _Tabbed(StrEnum):
    VALUE = "a\tb"


def test_copy_lines_escape_as_each_field_does() -> None:
    rng = random.Random(1)
    alphabet = ["a", "Қ", "\\", "\t", "\n", "\r", "\b", "\f", "\v", "N", "x"]
    for _ in range(5000):
        values: list[Any] = [
            None if rng.random() < 0.2 else "".join(rng.choices(alphabet, k=rng.randint(0, 4)))
            for _ in range(rng.randint(0, 5))
        ] + [b"\\x", 3, AT]
        assert seed_copy.line(values) == "\t".join(seed_copy.field(v) for v in values) + "\n"


@pytest.mark.postgres
def test_copy_text_round_trips_through_postgresql() -> None:
    database_url = os.environ.get("BIRTHREG_TEST_DATABASE_URL")
    if not database_url:
        pytest.skip("BIRTHREG_TEST_DATABASE_URL is not set")
    rows = [
        {"t": "tab\there\nnew line \\ backslash \r\b\f\v Қазақ 😀", "b": bytes(range(256)),
         "at": AT, "n": 2**40, "f": False, "nothing": None},
        {"t": "", "b": b"", "at": AT + timedelta(days=400), "n": -1, "f": True, "nothing": None},
    ]
    columns, data = seed_copy.table(rows)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "CREATE TEMPORARY TABLE copied (t text, b bytea, at timestamp, n bigint, "
                "f boolean, nothing text)"
            ))
            raw = connection.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                f"COPY copied ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                copy.write(data)
            back = connection.execute(text("SELECT * FROM copied ORDER BY n DESC")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in back] == [
        (r["t"], r["b"], r["at"].replace(tzinfo=None), r["n"], r["f"], None) for r in rows
    ]


# -- names ----------------------------------------------------------------------------------------


def test_seed_names_are_valid_and_varied() -> None:
    rng = random.Random(5)
    people = set()
    for _ in range(2000):
        family = rng.choice(seed_names.SURNAMES)
        for sex in ("F", "M"):
            person = seed_names.adult(rng, family, sex)
            for name in person:
                validate_person_name(name, field="name")
            people.add(person)
        child = seed_names.child(rng, family, "F", None)
        assert child["surname"] == seed_names.feminine(family)
        assert child["patronymic"].endswith("қызы")
    assert len(people) > 3500
    assert seed_names.feminine("Омаров") == "Омарова" and seed_names.feminine("Ким") == "Ким"
