"""Migration 0019: the ward's seals and the parents' signatures already stored get packed (the
same texts when read); and back."""

from __future__ import annotations

import base64
import json
import os

import sqlalchemy as sa

from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.packed import DICTIONARY_FORMS, unpack
from migrations.test_0009_record_life import MOMENT, _insert
from migrations.test_0011_scale_indexes import _migrate

CHAIN = os.urandom(1500)  # the seal's certificate and the CA chain: in every seal


def _seal(number: int) -> str:
    return base64.b64encode(CHAIN + os.urandom(70) + bytes([number])).decode()


SEALS = {number: _seal(number) for number in (1, 2, 3)}
SIGNATURES = {number: json.dumps({"format": "jws", "value": base64.b64encode(
    CHAIN[::-1] + bytes([number])).decode()}) for number in (1, 2, 3)}


def _arrange(connection: sa.Connection) -> None:
    _insert(connection, "facility", id=1, bin="050140000011", name="Ward (TEST)",
            seal_serial="01", created_at=MOMENT)
    _insert(connection, "staff_user", id=1, username="ward", password_hash="x", role="ward",
            display_name="", facility_id=1, disabled=False, created_at=MOMENT)
    for number in (1, 2, 3):
        _insert(connection, "birth", id=f"birth-{number}", facility_id=1, medical_record="{}",
                medical_record_sha256=str(number) * 64, seal_signature=SEALS[number],
                born_at=MOMENT, recorded_at=MOMENT, recorded_by=1, progress="recorded")
        _insert(connection, "parents_application", id=f"application-{number}",
                birth_id=f"birth-{number}", state="ready", document="{}",
                created_by_serial="0a", mother_serial="0a",
                mother_signature=SIGNATURES[number],
                father_signature=SIGNATURES[3] if number == 1 else None,
                created_at=MOMENT, updated_at=MOMENT)


def _rows(connection: sa.Connection) -> list[tuple[object, ...]]:
    return [tuple(row) for row in connection.execute(sa.text(
        "SELECT b.id, b.seal_signature, a.mother_signature, a.father_signature FROM birth AS b "
        "JOIN parents_application AS a ON a.birth_id = b.id ORDER BY b.id"
    ))]


def test_0019_packs_the_signatures_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, "0018")
        with engine.begin() as connection:
            _arrange(connection)
            before = _rows(connection)
        _migrate(engine, "0019")
        with engine.begin() as connection:
            for (_id, *texts), (_same, *packed) in zip(before, _rows(connection), strict=True):
                for text, value in zip(texts, packed, strict=True):
                    if text is None:
                        assert value is None
                        continue
                    assert unpack(connection, bytes(value)) == text  # type: ignore[arg-type]
                    assert len(bytes(value)) < len(str(text)) / 2  # type: ignore[arg-type]
            third = _rows(connection)[2]
            assert bytes(third[1])[0] in DICTIONARY_FORMS  # type: ignore[arg-type]
            kinds = connection.execute(sa.text("SELECT kind FROM stored_dictionary")).scalars()
            assert set(kinds) == {"seal:1", "application_signature"}
        _migrate(engine, "0018", down=True)
        with engine.begin() as connection:
            assert _rows(connection) == before
        _migrate(engine, "head")
    finally:
        engine.dispose()
