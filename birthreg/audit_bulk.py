"""Audit entries appended in bulk (`birthreg seed`), hashed exactly as `audit.record` hashes them.

A bulk writer makes its events wherever it likes (in other processes too) and `prepare`s each:
the details digested and the hashed fields written in their canonical form, which is the costly
part. Then, holding the head's lock (`audit.head_for_update`), it `link`s them onto the chain in
order, one SHA-256 each, inserts the rows and moves the head (`audit.advance_head`) in the same
transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from birthreg.audit import details_digest, hash_fields
from signing.canonical import MAX_SAFE_INTEGER, canonicalize

#: The hashed columns `prepare` writes out, in their order in the hash (between seq and
#: prev_hash).
FIELDS = ("at", "actor", "role", "action", "object_type", "object_id", "details_sha256")

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class Event(NamedTuple):
    """An entry to append in bulk: what `audit.record` takes, the time included. A named tuple,
    as Prepared: `birthreg seed` makes ten of each a birth, and a frozen dataclass takes three
    times as long to make (0.96 against 0.30 µs, 2026-12-07)."""

    at: datetime
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Any] | None = None


class Prepared(NamedTuple):
    """An event ready to be chained: `values` are FIELDS' (the time as the hash writes it, ISO
    8601 with microseconds), `body` the RFC 8785 form of their array without its brackets."""

    at: datetime
    values: tuple[str, ...]
    body: bytes


def prepare(event: Event, at: str | None = None) -> Prepared:
    """`event` ready to be chained; `at`: its time as the hash writes it, when the caller has it
    (`hashed_time`)."""
    values = (
        event.at.isoformat(timespec="microseconds") if at is None else at,
        event.actor,
        event.role,
        event.action,
        event.object_type,
        event.object_id,
        _digest(event.details),
    )
    return Prepared(event.at, values, _body(values))


# -- the canonical forms, the short way ----------------------------------------------------------
# `signing.canonical.canonicalize` writes a "plain" tree (dicts, lists, exact strs, bools, None,
# safe integers, keys in the BMP) with the standard JSON encoder (ensure_ascii=False, keys
# sorted, no spaces), after a walk over the tree that checks it is plain. An event's fields are
# seven exact strs, and its details are mostly None or a flat dict: for them the check is a
# glance and the encoder is called directly (a tuple of strs it writes as a list). Anything
# else takes `canonicalize` (tests/test_audit_bulk.py compares the two on generated values).

_EMPTY_DIGEST = hashlib.sha256(b"{}").hexdigest()
#: signing.canonical's encoder for plain trees (the same settings), called directly.
_PLAIN = json.JSONEncoder(ensure_ascii=False, check_circular=False, allow_nan=False,
                          sort_keys=True, separators=(",", ":"))
_STRS = frozenset({str})
_LEAVES = frozenset({str, type(None), bool})


def _flat(details: dict[Any, Any]) -> bool:
    """Whether `details` is a plain tree one level deep: ASCII keys, and values that are
    leaves, safe integers or lists of leaves."""
    for key, value in details.items():
        if type(key) is not str or not key.isascii():
            return False
        kind = type(value)
        if kind in _LEAVES:
            continue
        if kind is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return False
        elif kind is not list or not _LEAVES.issuperset(map(type, value)):
            return False
    return True


def _digest(details: Mapping[str, Any] | None) -> str:
    """`audit.details_digest(details)`."""
    if not details:
        return _EMPTY_DIGEST
    if type(details) is dict and _flat(details):
        try:
            text = _PLAIN.encode(details).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: refused the general way
        else:
            return hashlib.sha256(text).hexdigest()
    return details_digest(details)


def _body(values: tuple[str, ...]) -> bytes:
    """`canonicalize(list(values))` without its brackets."""
    if _STRS.issuperset(map(type, values)):
        try:
            return _PLAIN.encode(values)[1:-1].encode("utf-8")
        except UnicodeEncodeError:
            pass
    return canonicalize(list(values))[1:-1]


def hashed_time(at: datetime, text: str) -> str | None:
    """The time as the hash writes it (`at.isoformat(timespec="microseconds")`), from `text`,
    its ISO form without offset in UTC (`at.astimezone(UTC).replace(tzinfo=None).isoformat()`,
    as a COPY writes it): None unless `at` is in UTC (tzinfo `UTC` itself, whose offset is
    written "+00:00")."""
    if at.tzinfo is not UTC:
        return None
    return text + ("+00:00" if at.microsecond else ".000000+00:00")


def link_body(body: bytes, seq: int, prev_hash: str) -> str:
    """The entry_hash of a prepared event (its `body`) appended as entry `seq` after
    `prev_hash`: the SHA-256 of the RFC 8785 array [seq, *values, prev_hash]
    (`audit.hash_fields`), put together from its canonical parts: a safe integer's canonical
    form is its digits, a lowercase hex digest's is itself quoted. Anything else takes the
    general way, the values read back from the body."""
    if 0 < seq <= MAX_SAFE_INTEGER and _HEX_DIGEST.fullmatch(prev_hash):
        array = b'[%d,%b,"%b"]' % (seq, body, prev_hash.encode("ascii"))
        return hashlib.sha256(array).hexdigest()
    return hash_fields([seq, *json.loads(b"[" + body + b"]"), prev_hash])


def link(prepared: Prepared, seq: int, prev_hash: str) -> str:
    """The entry_hash of `prepared` appended as entry `seq` after `prev_hash` (`link_body`)."""
    return link_body(prepared.body, seq, prev_hash)


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
