"""The audit trail: an append-only hash chain of every state change, anchored by signed checkpoints.

Each entry records who (a staff id, a certificate holder's serial, or "system"), in which role,
what, on which object, when, and the SHA-256 of the details (never the details themselves: no
IIN or name is kept here in clear). entry_hash covers all of it and the previous entry's hash, so
an edited, removed or reordered row breaks the chain; the one-row head records the last entry,
so a removed tail is seen too. Appends lock the head row: one writer at a time (bulk writers:
`birthreg.audit_bulk`).

Whoever can write the database can also rewrite the chain from some entry on and hash it again.
Checkpoints anchor it: every CHECKPOINT_INTERVAL entries (when the engine has a seal, see
`sign_checkpoints_with`) and on `birthreg audit checkpoint`, the head's seq and hash and the time
are signed with the seal (a JWS, no personal data in it) and kept in `audit_checkpoint`. A
rewrite changes the hash of every later entry, so a kept checkpoint after the rewritten entry no
longer matches, and neither does a checkpoint kept outside the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlmodel import Session

from birthreg.db import snapshot
from birthreg.errors import ServiceNotInitialised
from birthreg.models import AuditCheckpoint, AuditEntry, AuditHead, now
from birthreg.pki.seals import Seal
from signing import jws
from signing.canonical import canonicalize
from signing.errors import SignatureFailure

logger = logging.getLogger("birthreg.audit")

GENESIS = "0" * 64
#: A checkpoint is signed when an append makes the chain a multiple of this long.
CHECKPOINT_INTERVAL = 1000
CHECKPOINT_TYPE = "birthreg.audit-checkpoint/1"
#: Engine execution option: where an append finds the seal that signs a due checkpoint.
CHECKPOINT_SEAL = "birthreg_checkpoint_seal"
#: Rows fetched at a time when the chain is walked (memory stays the same however long it is).
WALK_BATCH = 10_000

_ENTRIES = AuditEntry.__table__  # type: ignore[attr-defined]
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]


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
    return hash_fields(
        [
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
    )


def hash_fields(fields: list[Any]) -> str:
    """An entry's hash: SHA-256 of the RFC 8785 array of its fields (the time in ISO 8601 with
    microseconds), the previous entry's hash last."""
    return hashlib.sha256(canonicalize(fields)).hexdigest()


def details_digest(details: Mapping[str, Any] | None) -> str:
    return hashlib.sha256(canonicalize(dict(details or {}))).hexdigest()


# -- appending ----------------------------------------------------------------------------------

_HEAD_FOR_UPDATE = select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_ENTRY = insert(_ENTRIES)
_ADVANCE_HEAD = update(_HEAD).where(_HEAD.c.id == 1)
_INSERT_CHECKPOINT = insert(_CHECKPOINTS)


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
) -> None:
    """Append an entry in the caller's transaction (it commits or rolls back with the change).

    The head is locked until the transaction ends (take it last: every other lock first).
    When the entry is a multiple of CHECKPOINT_INTERVAL and the engine has a seal, the
    checkpoint is signed and kept in the same transaction."""
    # Core statements on the session's connection (the ORM's unit of work costs more than the
    # statements). Pending changes are written first, as session.execute would.
    session.flush()
    connection = session.connection()
    seq, prev_hash = connection.execute(_HEAD_FOR_UPDATE).one()
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
    connection.execute(
        _INSERT_ENTRY,
        {
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
        },
    )
    connection.execute(_ADVANCE_HEAD, {"seq": seq, "entry_hash": entry_hash})
    if seq % CHECKPOINT_INTERVAL == 0:
        _checkpoint_due(session, connection, seq, entry_hash)


def head_for_update(connection: Connection) -> tuple[int, str]:
    """The chain's head (seq, entry_hash), locked until the transaction ends."""
    seq, entry_hash = connection.execute(_HEAD_FOR_UPDATE).one()
    return int(seq), str(entry_hash)


def advance_head(connection: Connection, seq: int, entry_hash: str) -> None:
    """Move the head (locked by `head_for_update`) to the entry a bulk writer appended last."""
    connection.execute(_ADVANCE_HEAD, {"seq": seq, "entry_hash": entry_hash})


def sign_checkpoints_with(engine: Engine, seal: Callable[[Session], Seal]) -> None:
    """Appends through `engine` sign a checkpoint every CHECKPOINT_INTERVAL entries with the
    seal that `seal(session)` gives (called only then). Engines without one (tools, tests) sign
    none; `birthreg audit checkpoint` signs one of the head at any time."""
    engine.update_execution_options(**{CHECKPOINT_SEAL: seal})


def _checkpoint_due(session: Session, connection: Connection, seq: int, entry_hash: str) -> None:
    seal_of = connection.get_execution_options().get(CHECKPOINT_SEAL)
    if seal_of is None:
        return
    try:
        seal = seal_of(session)
    except ServiceNotInitialised as exc:
        # The entry must not be refused for want of a seal: `audit checkpoint` signs later.
        logger.warning("audit checkpoint at entry %d not signed: %s", seq, exc.detail)
        return
    _keep(connection, sign_checkpoint(seal, seq, entry_hash, now()))


# -- checkpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """Entry `seq` of the chain had `entry_hash` at `signed_at`; `jws` is the signed form."""

    seq: int
    entry_hash: str
    signed_at: datetime
    jws: str


class CheckpointInvalid(Exception):
    """A checkpoint whose signature, signer or contents do not hold."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def checkpoint_payload(seq: int, entry_hash: str, signed_at: datetime) -> bytes:
    """What a checkpoint's signature covers: RFC 8785 JSON of the type, seq, hash and time."""
    return canonicalize(
        {
            "type": CHECKPOINT_TYPE,
            "seq": seq,
            "entry_hash": entry_hash,
            "signed_at": signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


def sign_checkpoint(seal: Seal, seq: int, entry_hash: str, moment: datetime) -> Checkpoint:
    """A checkpoint of entry `seq` signed with the seal: a JWS in compact serialization (ES256
    for the P-256 seal, the seal certificate and its chain in `x5c`, `sigT`)."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    payload = checkpoint_payload(seq, entry_hash, moment)
    detached = jws.sign_detached(
        payload, seal.certificate, seal.key, signing_time=moment, chain=seal.chain
    )
    # A detached JWS signs BASE64URL(header) "." BASE64URL(payload): putting the payload back
    # between the dots gives the ordinary compact form.
    header, _, signature = detached.split(".")
    return Checkpoint(seq, entry_hash, moment, f"{header}.{jws.b64url_encode(payload)}.{signature}")


_HASH = re.compile(r"[0-9a-f]{64}", re.ASCII)


def read_checkpoint(compact: str, seal_certificate: x509.Certificate) -> Checkpoint:
    """The checkpoint in a compact JWS, once its signature verifies and its signer is exactly
    `seal_certificate` (the seal is trusted as pinned: no chain or revocation is looked at, and
    a checkpoint of a former seal certificate is refused). Raises CheckpointInvalid."""
    parts = compact.strip().split(".")
    if len(parts) != 3 or not parts[1]:
        raise CheckpointInvalid("not a JWS compact serialization with its payload")
    try:
        payload = jws.b64url_decode(parts[1])
        signed = jws.verify_detached(f"{parts[0]}..{parts[2]}", payload)
    except ValueError as exc:
        raise CheckpointInvalid(f"the payload is not base64url: {exc}") from exc
    except SignatureFailure as exc:
        raise CheckpointInvalid(f"the signature does not hold: {exc.detail}") from exc
    if signed.signer != seal_certificate:
        raise CheckpointInvalid("it is not signed by this service's seal")
    try:
        fields = json.loads(payload)
        seq, entry_hash = fields["seq"], fields["entry_hash"]
        signed_at = datetime.strptime(fields["signed_at"], "%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointInvalid("its payload is not an audit checkpoint") from exc
    if (
        fields.get("type") != CHECKPOINT_TYPE
        or type(seq) is not int
        or seq < 1
        or not isinstance(entry_hash, str)
        or not _HASH.fullmatch(entry_hash)
    ):
        raise CheckpointInvalid("its payload is not an audit checkpoint")
    return Checkpoint(seq, entry_hash, signed_at.replace(tzinfo=UTC), compact.strip())


def _keep(connection: Connection, checkpoint: Checkpoint) -> None:
    connection.execute(
        _INSERT_CHECKPOINT,
        {
            "seq": checkpoint.seq,
            "entry_hash": checkpoint.entry_hash,
            "signed_at": checkpoint.signed_at,
            "jws": checkpoint.jws,
        },
    )


_CHECKPOINT_AT = select(
    _CHECKPOINTS.c.seq, _CHECKPOINTS.c.entry_hash, _CHECKPOINTS.c.signed_at, _CHECKPOINTS.c.jws
).where(_CHECKPOINTS.c.seq == bindparam("seq"))


def make_checkpoint(
    session: Session, seal: Seal, moment: datetime | None = None
) -> Checkpoint | None:
    """Sign and keep a checkpoint of the chain's head (in the caller's transaction). If one of
    that entry is kept already, that one; None for an empty chain."""
    session.flush()
    connection = session.connection()
    seq, entry_hash = connection.execute(_HEAD_FOR_UPDATE).one()
    if seq == 0:
        return None
    kept = connection.execute(_CHECKPOINT_AT, {"seq": seq}).first()
    if kept is not None:
        return Checkpoint(kept.seq, kept.entry_hash, kept.signed_at, kept.jws)
    checkpoint = sign_checkpoint(seal, seq, entry_hash, moment or now())
    _keep(connection, checkpoint)
    return checkpoint


_LATEST = select(_CHECKPOINTS.c.jws).order_by(_CHECKPOINTS.c.seq.desc()).limit(1)


def latest_checkpoint(connection: Connection) -> str | None:
    """The newest kept checkpoint (JWS compact serialization), if any."""
    latest = connection.execute(_LATEST).scalar_one_or_none()
    return None if latest is None else str(latest)


# -- verifying ----------------------------------------------------------------------------------


@dataclass
class ChainCheck:
    """What a walk found. `entries`: the rows walked (each one's hash computed again);
    `resumed_after`: the checkpoint the walk started after, if it did; `checkpoints`: the kept
    checkpoints whose signature and position hold."""

    entries: int = 0
    head_seq: int = 0
    resumed_after: int | None = None
    checkpoints: int = 0
    newest_checkpoint: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_text(self, anchor: Checkpoint | None = None) -> str:
        """The verdict for people: the first line says intact or BROKEN."""
        if not self.intact:
            count = len(self.problems)
            verdict = f"audit chain BROKEN: {count} problems in {self.head_seq} entries"
            return "\n".join([verdict, *(f"  {problem}" for problem in self.problems)])
        lines = [f"audit chain intact: {self.head_seq} entries"]
        if self.resumed_after is not None:
            lines.append(f"  walked from entry {self.resumed_after + 1}, after a checkpoint")
            lines.append(
                f"  the newest signed checkpoint, of entry {self.resumed_after}, holds (older "
                "ones are looked at by a full walk)"
            )
        elif self.checkpoints:
            lines.append(
                f"  {self.checkpoints} signed checkpoints hold, the newest of entry "
                f"{self.newest_checkpoint}"
            )
        else:
            lines.append("  no signed checkpoint is kept (`birthreg audit checkpoint` signs one)")
        if anchor is not None:
            lines.append(
                f"  the given checkpoint of entry {anchor.seq} (signed {_when(anchor)}) holds"
            )
        return "\n".join(lines)


def _when(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.signed_at:%Y-%m-%d %H:%M:%SZ}"


#: progress(walked, to_walk), called every WALK_BATCH entries.
Progress = Callable[[int, int], None]
#: A position the chain must hold: a checkpoint, and what to call it in a problem.
_Anchor = tuple[Checkpoint, str]

#: The hashed fields in their order, then entry_hash.
_ENTRY_COLUMNS = select(
    _ENTRIES.c.seq,
    _ENTRIES.c.at,
    _ENTRIES.c.actor,
    _ENTRIES.c.role,
    _ENTRIES.c.action,
    _ENTRIES.c.object_type,
    _ENTRIES.c.object_id,
    _ENTRIES.c.details_sha256,
    _ENTRIES.c.prev_hash,
    _ENTRIES.c.entry_hash,
)
_HEAD_ROW = select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == 1)
_KEPT = select(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.jws).order_by(_CHECKPOINTS.c.seq)


def verify_chain(
    bind: Session | Engine,
    *,
    seal_certificate: x509.Certificate | None = None,
    anchor: Checkpoint | None = None,
    since_checkpoint: bool = False,
    progress: Progress | None = None,
) -> ChainCheck:
    """Walk the chain in order; every problem found is listed (by sequence number).

    With `seal_certificate`, every kept checkpoint's signature is checked against it, and the
    entry each one names must still have the signed hash; so must `anchor`'s (a checkpoint kept
    outside the database, from `read_checkpoint`). `since_checkpoint` walks only the entries
    after the newest kept checkpoint that holds, looking at the kept ones newest first and at
    no older one once one holds, so that its cost does not grow with the trail (a checkpoint
    every 1,000 entries: 40,000 of them at 40 million): a change before it shows in a full walk
    alone.
    The walk reads one snapshot as a stream: its memory does not grow with the chain."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    if isinstance(engine, Connection):
        engine = engine.engine
    result = ChainCheck()
    with snapshot(engine) as connection:
        head = connection.execute(_HEAD_ROW).first()
        result.head_seq = head.seq if head is not None else 0
        anchors: list[_Anchor] = [] if anchor is None else [(anchor, "given")]
        start, prev_hash = 1, GENESIS
        if since_checkpoint and seal_certificate is not None:
            start, prev_hash = _resume_point(connection, seal_certificate, result)
            _check_before(connection, [a for a in anchors if a[0].seq < start], result)
        elif seal_certificate is not None:
            anchors += [(kept, "kept") for kept in _kept(connection, seal_certificate, result)]
        last_seq, last_hash = _walk(
            connection, start, prev_hash, [a for a in anchors if a[0].seq >= start], result,
            progress,
        )
    if head is None:
        result.problems.append("the chain's head row is missing")
    elif head.seq != last_seq or head.entry_hash != last_hash:
        result.problems.append(
            f"the head names entry {head.seq}, the chain ends at {last_seq} (entries removed)"
        )
    return result


def _kept(
    connection: Connection, seal_certificate: x509.Certificate, result: ChainCheck
) -> list[Checkpoint]:
    """The kept checkpoints whose signature holds, in order; problems for the others."""
    kept = []
    for seq, compact in connection.execute(_KEPT):
        checkpoint = _signed(seq, compact, seal_certificate, result)
        if checkpoint is not None:
            kept.append(checkpoint)
            result.newest_checkpoint = checkpoint.seq
    return kept


def _signed(
    seq: int, compact: str, seal_certificate: x509.Certificate, result: ChainCheck
) -> Checkpoint | None:
    """The checkpoint kept for entry `seq` if its signature holds and it names that entry;
    otherwise None and a problem."""
    try:
        checkpoint = read_checkpoint(compact, seal_certificate)
    except CheckpointInvalid as exc:
        result.problems.append(f"the kept checkpoint of entry {seq} is refused: {exc.detail}")
        return None
    if checkpoint.seq != seq:
        result.problems.append(
            f"the kept checkpoint of entry {seq} was moved: it is entry {checkpoint.seq}'s"
        )
        return None
    return checkpoint


def _mismatch(checkpoint: Checkpoint, kind: str) -> str:
    return (
        f"the {kind} checkpoint of entry {checkpoint.seq} (signed {_when(checkpoint)}) does not "
        f"match the chain: entry {checkpoint.seq}'s hash is not the one signed (rewritten since)"
    )


def _holds(connection: Connection, checkpoint: Checkpoint) -> bool:
    """Whether the entry the checkpoint names still has the signed hash, computed again."""
    row = connection.execute(_ENTRY_COLUMNS.where(_ENTRIES.c.seq == checkpoint.seq)).first()
    return row is not None and _recomputed(row) == row.entry_hash == checkpoint.entry_hash


def _resume_point(
    connection: Connection, seal_certificate: x509.Certificate, result: ChainCheck
) -> tuple[int, str]:
    """Where a walk since the newest holding kept checkpoint starts: (its seq + 1, its hash),
    or (1, GENESIS) when none holds. The kept checkpoints are read newest first, a page at a
    time, until one holds; a problem for each newer one that does not."""
    below: int | None = None
    while True:
        page = _KEPT_NEWEST.limit(_RESUME_PAGE)
        if below is not None:
            page = page.where(_CHECKPOINTS.c.seq < below)
        rows = connection.execute(page).all()
        for seq, compact in rows:
            checkpoint = _signed(seq, compact, seal_certificate, result)
            if checkpoint is None:
                continue
            if _holds(connection, checkpoint):
                result.checkpoints += 1
                result.newest_checkpoint = result.resumed_after = checkpoint.seq
                return checkpoint.seq + 1, checkpoint.entry_hash
            result.problems.append(_mismatch(checkpoint, "kept"))
        if len(rows) < _RESUME_PAGE:
            return 1, GENESIS
        below = rows[-1].seq


_KEPT_NEWEST = select(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.jws).order_by(_CHECKPOINTS.c.seq.desc())
_RESUME_PAGE = 50


def _check_before(connection: Connection, anchors: list[_Anchor], result: ChainCheck) -> None:
    """The given checkpoints before the walk's start, each checked at its entry."""
    for checkpoint, kind in anchors:
        if not _holds(connection, checkpoint):
            result.problems.append(_mismatch(checkpoint, kind))


def _recomputed(row: Any) -> str:
    """The hash of a row of _ENTRY_COLUMNS (the hashed fields in order, then entry_hash)
    computed again from its fields."""
    seq, at, *fields, _stored = row
    return hash_fields([seq, at.isoformat(timespec="microseconds"), *fields])


def _walk(
    connection: Connection,
    start: int,
    prev_hash: str,
    anchors: list[_Anchor],
    result: ChainCheck,
    progress: Progress | None,
) -> tuple[int, str]:
    """Walk the entries from `start` on (the one before had `prev_hash`), checking the anchors
    on the way; the last entry's seq and hash."""
    at_seq: dict[int, list[_Anchor]] = {}
    for checkpoint, kind in anchors:
        at_seq.setdefault(checkpoint.seq, []).append((checkpoint, kind))
    to_walk = max(result.head_seq - start + 1, 0)
    expected_seq, last_seq = start, start - 1
    for row in _stream(connection, start):
        result.entries += 1
        if row.seq != expected_seq:
            result.problems.append(f"entry {expected_seq} is missing (next is {row.seq})")
        if _recomputed(row) != row.entry_hash:
            result.problems.append(f"entry {row.seq} was altered (its hash does not match)")
        if row.prev_hash != prev_hash:
            result.problems.append(
                f"entry {row.seq} does not follow the entry before it (removed or reordered)"
            )
        for checkpoint, kind in at_seq.pop(row.seq, ()):
            if checkpoint.entry_hash != row.entry_hash:
                result.problems.append(_mismatch(checkpoint, kind))
            elif kind == "kept":
                result.checkpoints += 1
        prev_hash, expected_seq, last_seq = row.entry_hash, row.seq + 1, row.seq
        if progress is not None and result.entries % WALK_BATCH == 0:
            progress(result.entries, to_walk)
    for seq, missing in sorted(at_seq.items()):
        for _checkpoint, kind in missing:
            result.problems.append(
                f"the {kind} checkpoint names entry {seq}, which the chain does not hold "
                f"(it ends at {last_seq})"
            )
    return last_seq, prev_hash


def _stream(connection: Connection, start: int) -> Iterator[Any]:
    """The entries from `start` on, in order, fetched WALK_BATCH at a time (a server-side
    cursor on PostgreSQL)."""
    yield from connection.execute(
        _ENTRY_COLUMNS.where(_ENTRIES.c.seq >= start).order_by(_ENTRIES.c.seq),
        execution_options={"yield_per": WALK_BATCH},
    )
