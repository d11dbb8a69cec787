"""Migration 0011: the scale indexes come, the single-column ones they cover go; and back."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from birthreg.config import Settings
from birthreg.db import PACKAGE_DIR, make_engine

NEW = {
    "audit_entry": {"ix_audit_entry_object"},
    "enrollment": {"ix_enrollment_certificate_serial"},
    "registry_submission": {
        "ix_registry_submission_previous_id",
        "ix_registry_submission_queue",
        "ix_registry_submission_status_queue",
        "ix_registry_submission_facility_queue",
    },
}
COVERED = {
    "ix_registry_submission_received_at",
    "ix_registry_submission_status",
    "ix_registry_submission_facility_bin",
}


def _migrate(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _indexes(engine: sa.Engine, table: str) -> set[str]:
    return {index["name"] for index in sa.inspect(engine).get_indexes(table)}  # type: ignore[misc]


def test_0011_adds_the_scale_indexes_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, "0011")
        for table, names in NEW.items():
            assert names <= _indexes(engine, table)
        assert not COVERED & _indexes(engine, "registry_submission")
        _migrate(engine, "0009", down=True)
        for table, names in NEW.items():
            assert not names & _indexes(engine, table)
        assert _indexes(engine, "registry_submission") >= COVERED
        _migrate(engine, "head")
        assert NEW["registry_submission"] <= _indexes(engine, "registry_submission")
    finally:
        engine.dispose()
