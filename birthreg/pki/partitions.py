"""The issuing CA's CRL partitions in the database (the profile is in `signing.ca.crl`).

Issuance fills partition 1 with PARTITION_SIZE certificates, then 2, and so on: the partition is
taken before the certificate is signed (its distribution point names it) under a lock on the
open partition's row, held to the end of the issuing transaction. A revocation counts in its
partition's row in its own transaction, so the publisher finds the partitions whose CRL is
behind by reading this small table, never the certificates; certificates written around
`revoke` (the development seed) are caught up by the periodic refresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select, update

from birthreg.models import CRLPartition, IssuedCertificate, IssuedCRL
from signing.ca import LEGACY_PARTITION, PARTITION_SIZE

ISSUING = "issuing"


def next_crl_partition(session: Session, size: int = PARTITION_SIZE) -> int:
    """The partition for the certificate about to be issued in this transaction (counted in it
    now: a transaction that issues nothing rolls back and gives its place back)."""
    for _ in range(3):
        open_ = session.exec(
            select(CRLPartition)
            .where(CRLPartition.number > LEGACY_PARTITION)
            .order_by(col(CRLPartition.number).desc())
            .limit(1)
            .with_for_update()
        ).first()
        if open_ is not None and open_.issued < size:
            open_.issued += 1
            session.add(open_)
            session.flush()
            return open_.number
        number = 1 if open_ is None else open_.number + 1
        try:
            with session.begin_nested():
                session.add(CRLPartition(number=number, issued=1))
        except IntegrityError:
            continue  # another worker opened it first: take a place in it
        return number
    raise RuntimeError("could not take a CRL partition")  # pragma: no cover


def note_issued(session: Session, partition: int, not_after: datetime) -> None:
    """Keep the partition's last notAfter (after it its CRL lists nothing)."""
    session.execute(
        update(CRLPartition)
        .where(col(CRLPartition.number) == partition)
        .where(col(CRLPartition.not_after).is_(None) | (col(CRLPartition.not_after) < not_after))
        .values(not_after=not_after)
    )


def count_revocation(session: Session, partition: int) -> None:
    """Count a revocation in its partition (in the revoking transaction)."""
    result = session.execute(
        update(CRLPartition)
        .where(col(CRLPartition.number) == partition)
        .values(revoked=CRLPartition.revoked + 1)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return
    with session.begin_nested():  # a partition made without its row: count it from the rows
        session.add(CRLPartition(number=partition, revoked=revocations(session, partition)))


def revocations(session: Session, partition: int) -> int:
    """How many of the partition's certificates were revoked, counted from the rows."""
    return session.exec(
        select(func.count())
        .where(col(IssuedCertificate.crl_partition) == partition)
        .where(col(IssuedCertificate.revoked_at).is_not(None))
    ).one()


def revoked_counter(session: Session, partition: int) -> int:
    """The partition's revocation counter (from the rows when it has no row yet)."""
    counted = session.exec(
        select(CRLPartition.revoked).where(CRLPartition.number == partition)
    ).first()
    return revocations(session, partition) if counted is None else counted


def partition_exists(session: Session, partition: int) -> bool:
    return session.get(CRLPartition, partition) is not None


def due_partitions(session: Session, moment: datetime, refresh: timedelta) -> list[int]:
    """The partitions whose CRL must be issued again: none yet, a revocation since the last, or
    the last is `refresh` old while the partition still holds a certificate not long expired
    (partition 0, the legacy /pki/crl, always). Small reads: the partitions, and the newest
    CRL of each."""
    # The newest CRL of each partition from the index alone, then its count and date by number
    # (read before the DER: on SQLite, crl_partition sits behind it in the row).
    newest = dict(
        session.exec(
            select(IssuedCRL.crl_partition, func.max(IssuedCRL.number))
            .where(IssuedCRL.scope == ISSUING)
            .group_by(col(IssuedCRL.crl_partition))
        ).all()
    )
    by_number = {
        number: (revoked, this_update)
        for number, revoked, this_update in session.exec(
            select(IssuedCRL.number, IssuedCRL.revoked_count, IssuedCRL.this_update).where(
                col(IssuedCRL.number).in_(list(newest.values()))
            )
        )
    }
    published = {partition: by_number[number] for partition, number in newest.items()}
    due = []
    rows = session.exec(select(CRLPartition).order_by(col(CRLPartition.number))).all()
    numbers = {row.number for row in rows}
    for row in rows:
        last = published.get(row.number)
        if last is None or last[0] != row.revoked:
            due.append(row.number)
            continue
        live = row.number == LEGACY_PARTITION or (
            row.not_after is not None and row.not_after >= last[1]
        )
        if live and not last[1] <= moment < last[1] + refresh:
            due.append(row.number)
    if LEGACY_PARTITION not in numbers:
        last = published.get(LEGACY_PARTITION)
        if last is None or not last[1] <= moment < last[1] + refresh:
            due.insert(0, LEGACY_PARTITION)
    return due
