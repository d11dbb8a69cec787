"""A partition's CRL reads its own revoked rows through its index (EXPLAIN on PostgreSQL), not
the CA's hundred thousand: on the test_query_plans database, its certificates spread over ten
partitions."""

from __future__ import annotations

from datetime import UTC, datetime

from service.test_query_plans import ROWS, assert_few_rows_read, engine, plan_reads
from sqlalchemy import Engine, text
from sqlmodel import Session

from birthreg.pki.partitions import revocations
from birthreg.pki.service import DatabaseCertificateStatus

__all__ = ["engine"]  # the module's fixture: the filled database


def test_a_partitions_revocations_are_read_from_its_rows_only(engine: Engine) -> None:
    with engine.begin() as connection:
        # The i-th certificate (serial 1000000 + i, revoked when i is a multiple of a
        # hundred) in partition 2 + i / 100 % 10: ten partitions, the revoked spread evenly.
        connection.execute(text(
            "UPDATE pki_certificate SET crl_partition = 2 + "
            "((('x' || lpad(serial, 8, '0'))::bit(32)::int - 1000000) / 100) % 10"
        ))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE pki_certificate"))
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    per_partition = ROWS // 100 // 10  # one revoked in a hundred, ten partitions

    def build(session: Session) -> None:
        listed = DatabaseCertificateStatus(session).revoked(expired_before=moment, partition=5)
        assert len(listed) == per_partition
        assert revocations(session, 5) == per_partition

    assert_few_rows_read(plan_reads(engine, build), limit=per_partition)
