"""Migrations 0009 and 0009b: existing submissions get their search keys, existing certificates
an `original` issuance; a registration may then have a second certificate and its PDF survives
the table's copy; and back again."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from birthreg.config import Settings
from birthreg.db import PACKAGE_DIR, make_engine

MOMENT = datetime(2026, 6, 1, 6, 30)
SUBMISSION = "00000000-0000-4000-8000-000000000001"
DOSSIER = {
    "medical_record": {"document": {"mother": {"iin": "940315400014", "surname": "Семёнова"}}},
    "application": {"document": {"child": {"surname": "Ахметова"}, "father": None}},
}


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    return config


BEFORE = str(ScriptDirectory.from_config(_config()).get_revision("0009").down_revision)


def _migrate(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _insert(connection: sa.Connection, table_name: str, /, **values: Any) -> None:
    table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
    connection.execute(table.insert(), values)


def _registered_birth(connection: sa.Connection) -> None:
    _insert(connection, "registry_office", id=1, code="ESK-01", bin="050140000021",
            name="АХАЖ (TEST)", seal_serial="03", created_at=MOMENT)
    _insert(connection, "registry_submission", id=SUBMISSION, registry_office_id=1,
            dossier=json.dumps(DOSSIER), dossier_sha256="1" * 64, medical_record_id="record-1",
            medical_record_sha256="0" * 64, application_id="application-1",
            facility_bin="050140000011", mother_iin="940315400014", child_born_at=MOMENT,
            child_sex="F", birth_order=1, status="registered", report="{}", receipt="{}",
            duplicate_candidates="[]", received_at=MOMENT, tracking_number="K7M4QX9RT")
    _insert(connection, "registry_registration", id=1, submission_id=SUBMISSION,
            medical_record_id="record-1", registry_office_id=1, year=2026, act_record_number=15,
            child_iin="260530600011", registered_at=MOMENT)
    _insert(connection, "registry_certificate", id="certificate-01-xxxxxxxxxxx",
            registration_id=1, certificate_number="TEST-I № 000001", fields="{}",
            qr="http://testserver/verify#X", status="valid", issued_at=MOMENT)
    _insert(connection, "registry_certificate_pdf", certificate_id="certificate-01-xxxxxxxxxxx",
            pdf=b"%PDF", made_at=MOMENT)


def _second_certificate(connection: sa.Connection) -> None:
    _insert(connection, "registry_certificate", id="certificate-02-xxxxxxxxxxx",
            registration_id=1, certificate_number="TEST-I № 000001-2", fields="{}",
            qr="http://testserver/verify#Y", status="valid", issued_at=MOMENT)


def test_0009_keys_and_0009b_certificates_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, BEFORE)
        with engine.begin() as connection:
            _registered_birth(connection)
            with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
                _second_certificate(connection)  # one certificate a registration, before
        _migrate(engine, "head")
        with engine.begin() as connection:
            keys = connection.execute(sa.text("SELECT key FROM registry_search_key")).scalars()
            assert sorted(keys) == sorted([
                "i:940315400014", "s:семенова", "s:ахметова", "t:K7M4QX9RT", "i:260530600011",
                "a:15", "a:2026/15", "c:1",
            ])
            issued = connection.execute(
                sa.text("SELECT certificate_id, kind FROM registry_issuance")
            ).all()
            assert [tuple(row) for row in issued] == [("certificate-01-xxxxxxxxxxx", "original")]
            _second_certificate(connection)
            connection.execute(sa.text(
                "UPDATE registry_certificate SET status = 'superseded', "
                "superseded_by = 'certificate-02-xxxxxxxxxxx' WHERE id LIKE 'certificate-01%'"
            ))
            pdf = connection.execute(sa.text("SELECT pdf FROM registry_certificate_pdf")).scalar()
            assert bytes(pdf) == b"%PDF"
        with engine.begin() as connection:  # back to one certificate, as before 0009b
            connection.execute(sa.text(
                "UPDATE registry_certificate SET status = 'valid', superseded_by = NULL"
            ))
            connection.execute(sa.text(
                "DELETE FROM registry_certificate WHERE id LIKE 'certificate-02%'"
            ))
        _migrate(engine, BEFORE, down=True)
        with engine.connect() as connection:
            names = sa.inspect(connection).get_table_names()
            assert "registry_search_key" not in names and "registry_correction" not in names
            columns = {c["name"] for c in sa.inspect(connection).get_columns(
                "registry_certificate")}
            assert "superseded_by" not in columns
            pdf = connection.execute(sa.text("SELECT pdf FROM registry_certificate_pdf")).scalar()
            assert bytes(pdf) == b"%PDF"
    finally:
        engine.dispose()
