"""Migration 0010: submissions received before it get their child's name key (likely duplicates
by the child's names) from their stored dossiers; the decisions' tables come and go."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from birthreg.config import Settings
from birthreg.db import make_engine
from migrations.test_0006_certificate_pdf import _config, _migrate

MOMENT = datetime(2026, 6, 1, 6, 30)  # naive UTC, as stored
#: The revision 0010 follows (whatever it is once migrations are chained).
BEFORE = str(ScriptDirectory.from_config(_config()).get_revision("0010").down_revision)


def _dossier(child: dict[str, str]) -> str:
    return json.dumps({"application": {"document": {"child": child}}}, ensure_ascii=False)


def test_0010_keys_the_children_s_names_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, BEFORE)
        with engine.begin() as connection:
            tables = sa.MetaData()
            office = sa.Table("registry_office", tables, autoload_with=connection)
            connection.execute(office.insert(), {
                "id": 1, "code": "ESK-01", "bin": "050140000021", "name": "АХАЖ (TEST)",
                "seal_serial": "03", "created_at": MOMENT,
            })
            submissions = sa.Table("registry_submission", tables, autoload_with=connection)
            children = [{"surname": " Фёдорова ", "given_name": "АННА"}, {"surname": "Ли"}]
            for number, child in enumerate(children, start=1):
                connection.execute(submissions.insert(), {
                    "id": f"00000000-0000-4000-8000-00000000000{number}",
                    "registry_office_id": 1, "dossier": _dossier(child),
                    "dossier_sha256": str(number) * 64, "medical_record_id": f"record-{number}",
                    "medical_record_sha256": "0" * 64, "application_id": f"application-{number}",
                    "facility_bin": "050140000011", "mother_iin": "940315400014",
                    "child_born_at": MOMENT, "child_sex": "F", "birth_order": 1,
                    "status": "received", "report": "{}", "receipt": "{}",
                    "duplicate_candidates": "[]", "received_at": MOMENT,
                    "tracking_number": f"ABCDEFGH{number}",
                })
        _migrate(engine, "0010")
        with engine.connect() as connection:
            keys = connection.execute(
                sa.text("SELECT child_name_key FROM registry_submission ORDER BY id")
            ).all()
            # Case-folded, ё as е, spaces collapsed; no given name, no key.
            assert [row[0] for row in keys] == ["федорова|анна", None]
            tables_now = sa.inspect(connection).get_table_names()
            assert {"registry_late_approval", "registry_duplicate_decision"} <= set(tables_now)

        _migrate(engine, BEFORE, down=True)
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert "registry_duplicate_decision" not in inspector.get_table_names()
            columns = {c["name"] for c in inspector.get_columns("registry_submission")}
            assert "child_name_key" not in columns
    finally:
        engine.dispose()
