"""Migration 0006: a certificate's PDF already made moves, byte for byte, to its own table and
the column goes; the facility `birthreg init` made gets its town; and back again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from birthreg.config import Settings
from birthreg.db import PACKAGE_DIR, make_engine

PDF = b"%PDF-1.7 a certificate signed before 0006 \x00\xff"
MOMENT = datetime(2026, 6, 1, 6, 30)  # naive UTC, as stored


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    return config


#: The revision 0006 follows (whatever it is once migrations are chained).
BEFORE = str(ScriptDirectory.from_config(_config()).get_revision("0006").down_revision)


def _migrate(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _rows(connection: sa.Connection) -> None:
    """A facility, a registry office and two registered births, one of them with its PDF."""
    tables = sa.MetaData()

    def insert(table_name: str, /, **values: Any) -> None:
        table = sa.Table(table_name, tables, autoload_with=connection)
        connection.execute(table.insert(), values)

    insert("facility", id=1, bin="050140000011", name="Өскемен қалалық перзентханасы (TEST)",
           seal_serial="01", created_at=MOMENT)
    insert("facility", id=2, bin="050140000031", name="Басқа (TEST)", seal_serial="02",
           created_at=MOMENT)
    insert("registry_office", id=1, code="ESK-01", bin="050140000021", name="АХАЖ (TEST)",
           seal_serial="03", created_at=MOMENT)
    for number, pdf in ((1, PDF), (2, None)):
        submission = f"00000000-0000-4000-8000-00000000000{number}"
        insert("registry_submission", id=submission, registry_office_id=1, dossier="{}",
               dossier_sha256=str(number) * 64, medical_record_id=f"record-{number}",
               medical_record_sha256="0" * 64, application_id=f"application-{number}",
               facility_bin="050140000011", mother_iin="940315400014", child_born_at=MOMENT,
               child_sex="F", birth_order=1, status="registered", report="{}", receipt="{}",
               duplicate_candidates="[]", received_at=MOMENT)
        insert("registry_registration", id=number, submission_id=submission,
               medical_record_id=f"record-{number}", registry_office_id=1, year=2026,
               act_record_number=number, child_iin=f"26053060001{number}", registered_at=MOMENT)
        insert("registry_certificate", id=f"certificate-{number:02d}-xxxxxxxxxxx",
               registration_id=number, certificate_number=f"TEST-I № 00000{number}",
               fields="{}", qr="http://testserver/verify#X", status="valid", issued_at=MOMENT,
               pdf=pdf)


def test_0006_moves_the_pdfs_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, BEFORE)
        with engine.begin() as connection:
            _rows(connection)
        _migrate(engine, "0006")
        with engine.connect() as connection:
            moved = connection.execute(
                sa.text("SELECT certificate_id, pdf FROM registry_certificate_pdf")
            ).all()
            assert [(row[0], bytes(row[1])) for row in moved] == [
                ("certificate-01-xxxxxxxxxxx", PDF)
            ]
            columns = {c["name"] for c in sa.inspect(connection).get_columns(
                "registry_certificate")}
            assert "pdf" not in columns
            localities = connection.execute(
                sa.text("SELECT bin, locality FROM facility ORDER BY id")
            ).all()
            assert [tuple(row) for row in localities] == [
                ("050140000011", "Өскемен / Усть-Каменогорск"), ("050140000031", None)
            ]

        _migrate(engine, BEFORE, down=True)
        with engine.connect() as connection:
            back = connection.execute(
                sa.text("SELECT registration_id, pdf FROM registry_certificate ORDER BY id")
            ).all()
            assert [(row[0], None if row[1] is None else bytes(row[1])) for row in back] == [
                (1, PDF), (2, None)
            ]
            assert "registry_certificate_pdf" not in sa.inspect(connection).get_table_names()
            assert "locality" not in {
                c["name"] for c in sa.inspect(connection).get_columns("facility")
            }
    finally:
        engine.dispose()
