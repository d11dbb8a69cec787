"""Migration 0008 numbers the submissions that exist already (each its own valid, unique tracking
number) and makes the number unique, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from servicekit import reset_postgres
from sqlalchemy.exc import IntegrityError

from birthreg.db import PACKAGE_DIR, make_engine, migrate
from birthreg.notify.tracking import is_valid


def _before_notify() -> str:
    """The revision 0008 follows (whatever it is once migrations are chained)."""
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    return str(ScriptDirectory.from_config(config).get_revision("0008").down_revision)


BEFORE_NOTIFY = _before_notify()


def _upgrade(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_existing_submissions_get_tracking_numbers(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        reset_postgres(database_url)
    engine = make_engine(database_url)
    try:
        _upgrade(engine, BEFORE_NOTIFY)
        moment = datetime(2026, 5, 1, 12, tzinfo=UTC).replace(tzinfo=None)
        with engine.begin() as connection:
            tables = sa.MetaData()
            tables.reflect(connection, only=["registry_office", "registry_submission"])
            office = tables.tables["registry_office"]
            submissions = tables.tables["registry_submission"]
            assert "tracking_number" not in submissions.c
            connection.execute(office.insert().values(
                id=1, code="T", bin="990140000017", name="TEST", seal_serial="1",
                created_at=moment,
            ))
            ids = [str(uuid.uuid4()) for _ in range(5)]
            connection.execute(submissions.insert(), [
                {
                    "id": submission_id, "registry_office_id": 1, "dossier": "{}",
                    "dossier_sha256": f"{index:064d}", "medical_record_id": submission_id,
                    "medical_record_sha256": "0" * 64, "application_id": submission_id,
                    "facility_bin": "050140000011", "mother_iin": "940315400014",
                    "child_born_at": moment, "child_sex": "F", "birth_order": 1,
                    "status": "received", "report": "{}", "receipt": "{}",
                    "duplicate_candidates": "[]", "received_at": moment,
                }
                for index, submission_id in enumerate(ids)
            ])

        migrate(engine)

        with engine.begin() as connection:
            numbers = dict(connection.execute(
                sa.text("SELECT id, tracking_number FROM registry_submission")
            ).all())
        assert set(numbers) == set(ids)
        assert all(is_valid(number) for number in numbers.values())
        assert len(set(numbers.values())) == len(ids)
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE registry_submission SET tracking_number = :number WHERE id = :id"),
                {"number": numbers[ids[0]], "id": ids[1]},
            )
    finally:
        engine.dispose()
