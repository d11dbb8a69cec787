"""The audit trail: an append-only hash chain of every state change.

Each entry records who (a staff id, a certificate holder's serial, or "system"), in which role,
what, on which object, when, and the SHA-256 of the details (never the details themselves: no
IIN or name is kept here in clear). entry_hash covers all of it and the previous entry's hash, so
an edited, removed or reordered row breaks the chain; the one-row head records the last entry,
so a removed tail is seen too. Appends lock the head row: one writer at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from birthreg.models import AuditEntry, AuditHead, now
from signing.canonical import canonicalize

GENESIS = "0" * 64


def _entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    details_sha256: str,
    prev_hash: str,
) -> str:
    fields = [
        seq,
        at.isoformat(timespec="microseconds"),
        actor,
        role,
        action,
        object_type,
        object_id,
        details_sha256,
        prev_hash,
    ]
    return hashlib.sha256(canonicalize(fields)).hexdigest()


def details_digest(details: Mapping[str, Any] | None) -> str:
    return hashlib.sha256(canonicalize(dict(details or {}))).hexdigest()


_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]
_HEAD_TABLE = AuditHead.__table__  # type: ignore[attr-defined]
_INSERT_ENTRY = insert(_ENTRIES)
#: The chain's head (seq, entry_hash), locked until the transaction ends. A caller may read it in
#: a statement of its own (as a CTE's main query, say) and pass it to `record` as `head`.
HEAD_FOR_UPDATE = (
    select(col(AuditHead.seq), col(AuditHead.entry_hash))
    .where(col(AuditHead.id) == 1)
    .with_for_update()
)
_ADVANCE_HEAD = (
    update(_HEAD_TABLE)
    .where(_HEAD_TABLE.c.id == 1)
    .values(seq=bindparam("seq"), entry_hash=bindparam("entry_hash"))
)
# PostgreSQL takes both in one statement (one round trip): the entry's INSERT as a
# data-modifying WITH of the head's UPDATE. Both happen, or neither.
_APPEND = _ADVANCE_HEAD.add_cte(
    insert(_ENTRIES)
    .values({column.name: bindparam(column.name) for column in _ENTRIES.c})
    .cte("entry")
)


def record(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    head: tuple[int, str] | None = None,
) -> None:
    """Append an entry in the caller's transaction (it commits or rolls back with the change).

    `head` is the chain's head as the caller has already read it, locked, with HEAD_FOR_UPDATE
    in this transaction (saving a statement); by default it is read here."""
    # Plain Core statements on the session's connection (the ORM's unit of work, and even its
    # execute, cost more than the statements). Pending changes are written first, as
    # session.execute would.
    session.flush()
    connection = session.connection()
    seq, prev_hash = head if head is not None else connection.execute(HEAD_FOR_UPDATE).one()
    at = at or now()
    seq += 1
    digest = details_digest(details)
    entry_hash = _entry_hash(
        seq=seq,
        at=at,
        actor=actor,
        role=role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details_sha256=digest,
        prev_hash=prev_hash,
    )
    values = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "role": role,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details_sha256": digest,
        "prev_hash": prev_hash,
        "entry_hash": entry_hash,
    }
    if connection.dialect.name == "postgresql":
        connection.execute(_APPEND, values)
    else:
        connection.execute(_INSERT_ENTRY, values)
        connection.execute(_ADVANCE_HEAD, {"seq": seq, "entry_hash": entry_hash})


@dataclass
class ChainCheck:
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_chain(session: Session, *, batch: int = 1000) -> ChainCheck:
    """Walk the whole chain in order; every problem found is listed (by sequence number)."""
    result = ChainCheck()
    expected_seq = 1
    prev_hash = GENESIS
    last_seq = 0
    while True:
        rows = session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.seq) > last_seq)
            .order_by(col(AuditEntry.seq))
            .limit(batch)
        ).all()
        if not rows:
            break
        for entry in rows:
            result.entries += 1
            if entry.seq != expected_seq:
                result.problems.append(f"entry {expected_seq} is missing (next is {entry.seq})")
            recomputed = _entry_hash(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                role=entry.role,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                details_sha256=entry.details_sha256,
                prev_hash=entry.prev_hash,
            )
            if recomputed != entry.entry_hash:
                result.problems.append(f"entry {entry.seq} was altered (its hash does not match)")
            if entry.prev_hash != prev_hash:
                result.problems.append(
                    f"entry {entry.seq} does not follow the entry before it (removed or reordered)"
                )
            prev_hash = entry.entry_hash
            expected_seq = entry.seq + 1
            last_seq = entry.seq
    head = session.get(AuditHead, 1)
    if head is None:
        result.problems.append("the chain's head row is missing")
    elif head.seq != last_seq or head.entry_hash != prev_hash:
        result.problems.append(
            f"the head names entry {head.seq}, the chain ends at {last_seq} (entries removed)"
        )
    return result
