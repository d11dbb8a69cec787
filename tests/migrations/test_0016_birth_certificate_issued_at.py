"""Migration 0016: the birth's certificate_issued_at comes (empty for births already there); and
back."""

from __future__ import annotations

import sqlalchemy as sa

from birthreg.config import Settings
from birthreg.db import make_engine
from migrations.test_0011_scale_indexes import _migrate


def _columns(engine: sa.Engine) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns("birth")}


def test_0016_adds_the_certificates_time_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, "0016")
        assert "certificate_issued_at" in _columns(engine)
        _migrate(engine, "0010", down=True)
        assert "certificate_issued_at" not in _columns(engine)
        _migrate(engine, "head")
        assert "certificate_issued_at" in _columns(engine)
    finally:
        engine.dispose()
