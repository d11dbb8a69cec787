"""Migration 0017: the table of the wards' sealed print claims' nonces comes; and goes back."""

from __future__ import annotations

import sqlalchemy as sa

from birthreg.config import Settings
from birthreg.db import make_engine
from migrations.test_0011_scale_indexes import _migrate


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_0017_adds_the_nonces_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, "0017")
        assert "registry_ward_print_nonce" in _tables(engine)
        _migrate(engine, "0016", down=True)
        assert "registry_ward_print_nonce" not in _tables(engine)
        _migrate(engine, "head")
        assert "registry_ward_print_nonce" in _tables(engine)
    finally:
        engine.dispose()
