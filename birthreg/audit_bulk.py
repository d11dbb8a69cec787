"""Audit entries appended in bulk (`birthreg seed`), hashed exactly as `audit.record` hashes them.

A bulk writer makes its events wherever it likes (in other processes too) and `prepare`s each:
the details digested and the hashed fields written in their canonical form, which is the costly
part. Then, holding the head's lock (`audit.head_for_update`), it `link`s them onto the chain in
order, one SHA-256 each, inserts the rows and moves the head (`audit.advance_head`) in the same
transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from birthreg.audit import details_digest, hash_fields
from signing.canonical import MAX_SAFE_INTEGER, canonicalize

#: The hashed columns `prepare` writes out, in their order in the hash (between seq and
#: prev_hash).
FIELDS = ("at", "actor", "role", "action", "object_type", "object_id", "details_sha256")

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Event:
    """An entry to append in bulk: what `audit.record` takes, the time included."""

    at: datetime
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Prepared:
    """An event ready to be chained: `values` are FIELDS' (the time as the hash writes it, ISO
    8601 with microseconds), `body` the RFC 8785 form of their array without its brackets."""

    at: datetime
    values: tuple[str, ...]
    body: bytes


def prepare(event: Event) -> Prepared:
    values = (
        event.at.isoformat(timespec="microseconds"),
        event.actor,
        event.role,
        event.action,
        event.object_type,
        event.object_id,
        details_digest(event.details),
    )
    return Prepared(event.at, values, canonicalize(list(values))[1:-1])


def link(prepared: Prepared, seq: int, prev_hash: str) -> str:
    """The entry_hash of `prepared` appended as entry `seq` after `prev_hash`: the SHA-256 of the
    RFC 8785 array [seq, *values, prev_hash] (`audit.hash_fields`), put together from its
    canonical parts: a safe integer's canonical form is its digits, a lowercase hex digest's is
    itself quoted. Anything else takes the general way."""
    if 0 < seq <= MAX_SAFE_INTEGER and _HEX_DIGEST.fullmatch(prev_hash):
        array = b'[%d,%b,"%b"]' % (seq, prepared.body, prev_hash.encode("ascii"))
        return hashlib.sha256(array).hexdigest()
    return hash_fields([seq, *prepared.values, prev_hash])


def chained(events: list[Event], seq: int, prev_hash: str) -> list[dict[str, Any]]:
    """The rows of `events` appended after the entry (`seq`, `prev_hash`)."""
    rows = []
    for event in events:
        prepared = prepare(event)
        seq += 1
        entry_hash = link(prepared, seq, prev_hash)
        rows.append(
            {
                "seq": seq,
                **dict(zip(FIELDS, prepared.values, strict=True)),
                "at": event.at,
                "prev_hash": prev_hash,
                "entry_hash": entry_hash,
            }
        )
        prev_hash = entry_hash
    return rows
