"""Migration 0017p: certificates and CRLs already there are partition 0 (/pki/crl), whose
counter starts at the revocations made so far; and back, keeping only partition 0's CRLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from birthreg.config import Settings
from birthreg.db import make_engine
from migrations.test_0011_scale_indexes import _indexes, _migrate

MOMENT = datetime(2026, 6, 1, tzinfo=UTC)


def _certificate(serial: str, revoked: bool) -> dict[str, object]:
    return {
        "serial": serial, "profile": "individual", "der": b"\x30\x00",
        "not_before": MOMENT, "not_after": MOMENT + timedelta(days=365), "issued_at": MOMENT,
        "revoked_at": MOMENT if revoked else None,
        "revocation_reason": "key_compromise" if revoked else None,
    }


def _crl(number: int) -> dict[str, object]:
    return {"number": number, "scope": "issuing", "this_update": MOMENT,
            "next_update": MOMENT + timedelta(hours=2), "revoked_count": 1, "der": b"\x30\x00"}


def test_0017p_makes_what_was_there_partition_0_and_back(service_settings: Settings) -> None:
    engine = make_engine(service_settings.database_url)
    metadata = sa.MetaData()
    try:
        _migrate(engine, "0017")
        certificates = sa.Table("pki_certificate", metadata, autoload_with=engine)
        crls = sa.Table("pki_crl", metadata, autoload_with=engine)
        with engine.begin() as connection:
            connection.execute(
                certificates.insert(), [_certificate("a1", True), _certificate("a2", False)]
            )
            connection.execute(crls.insert(), [_crl(1)])
        _migrate(engine, "0017p")
        with engine.begin() as connection:
            assert connection.execute(
                sa.text("SELECT number, issued, revoked FROM pki_crl_partition")
            ).all() == [(0, 2, 1)]
            assert connection.execute(
                sa.text("SELECT DISTINCT crl_partition FROM pki_certificate")
            ).all() == [(0,)]
            assert connection.execute(sa.text("SELECT crl_partition FROM pki_crl")).all() == [
                (0,)
            ]
            connection.execute(
                sa.text(
                    "INSERT INTO pki_crl (number, scope, this_update, next_update, "
                    "revoked_count, der, crl_partition) SELECT 2, scope, this_update, "
                    "next_update, 0, der, 3 FROM pki_crl WHERE number = 1"
                )
            )
        assert "ix_pki_certificate_partition_revoked" in _indexes(engine, "pki_certificate")
        _migrate(engine, "0017", down=True)
        assert "pki_crl_partition" not in sa.inspect(engine).get_table_names()
        assert "ix_pki_certificate_partition_revoked" not in _indexes(engine, "pki_certificate")
        with engine.begin() as connection:
            # What /pki/crl served before partitions is the newest left: partition 0's.
            assert connection.execute(sa.text("SELECT number FROM pki_crl")).all() == [(1,)]
        _migrate(engine, "head")
    finally:
        engine.dispose()
