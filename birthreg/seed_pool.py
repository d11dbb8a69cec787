"""Where `birthreg seed` makes its rows: in worker processes, one batch each, while the main
process plans the next births and writes the batches already made (`birthreg.seed`).

A batch comes back ready to send: each table's rows in COPY text format on PostgreSQL (the row
dicts elsewhere), and its audit events sorted by time and prepared (`audit_bulk.prepare`), so
that the main process only links them onto the chain, one SHA-256 each.

The workers are forked from the main process once its context is made (the CA and the seals, the
run's throwaway holder key, the report template): nothing secret crosses a pipe, and each worker
has the same context. Where processes cannot be forked, or one process is asked for, the batches
are made in the main process, in turn.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from birthreg import seed_copy
from birthreg.audit_bulk import Event, Prepared, hashed_time, prepare
from birthreg.seed_packed import pack_tables
from birthreg.seed_plan import Numbers, Plan
from birthreg.seed_rows import TABLE_ORDER, Rows, SeedContext, add_birth


@dataclass
class Built:
    """A batch made: per table its COPY columns and UTF-8 text (`copy`) or its rows (`rows`), its
    audit events in time order, the rows per table, and the births' registration numbers (for
    the registry's counters). The events are `Prepared` for rows (`events`), or for COPY each
    one's hashed body (`bodies`, see `audit_bulk.link_body`) and its COPY text but for seq,
    prev_hash and entry_hash (`middles`): plain lists of bytes and str, which cross from a
    worker to the main process at little cost."""

    births: int
    numbers: list[Numbers]
    counts: dict[str, int]
    entries: int
    events: list[Prepared] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    middles: list[str] = field(default_factory=list)
    copy: dict[str, tuple[tuple[str, ...], bytes]] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: The dictionaries the batch's packed values use (birthreg.seed_packed): written first.
    dictionaries: list[dict[str, object]] = field(default_factory=list)
    #: Per CRL partition: its certificates in the batch, how many of them are revoked, and
    #: their last notAfter (for `pki_crl_partition`).
    partitions: dict[int, tuple[int, int, datetime]] = field(default_factory=dict)


def build(context: SeedContext, plans: list[Plan], copy: bool) -> Built:
    """The rows and prepared audit events of the planned births.

    The cyclic garbage collector is off meanwhile: a batch makes hundreds of thousands of
    objects that all live until it is sent, and none in a cycle (`tests/test_seed_pool.py` checks
    that a batch leaves nothing for it), so its passes over them (a twelfth of a birth's CPU)
    found nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(context, plans, copy)
    finally:
        if enabled:
            gc.enable()


#: Births made at a time within a batch, each chunk's rows turned into COPY text before the next
#: is made: a chunk's objects are freed and their memory reused while still in the processor's
#: caches. Measured 2026-12-07 (one process, 40 pairs of 2,000-birth batches, taking turns): a
#: worker's CPU a birth 4% lower (median of the pairs' differences, 32 of 40 lower) than with the
#: whole batch made first.
CHUNK = 250


def _build(context: SeedContext, plans: list[Plan], copy: bool) -> Built:
    built = Built(
        births=len(plans),
        numbers=[plan.registration for plan in plans if plan.registration is not None],
        counts=dict.fromkeys(TABLE_ORDER, 0),
        entries=0,
    )
    events: list[Event] = []
    columns: dict[str, tuple[str, ...]] = {}
    texts: dict[str, list[bytes]] = {name: [] for name in TABLE_ORDER}
    for start in range(0, len(plans), CHUNK):
        rows = Rows()
        for plan in plans[start:start + CHUNK]:
            add_birth(context, rows, plan)
        built.dictionaries += pack_tables(rows.tables)
        events += rows.events
        _tally_partitions(built.partitions, rows.tables["pki_certificate"])
        for name, table in rows.tables.items():
            built.counts[name] += len(table)
            if table and copy:
                names, text = seed_copy.table(table)
                if columns.setdefault(name, names) != names:  # chunks are joined as one COPY
                    raise ValueError(f"{name}: rows of one batch with other columns")
                texts[name].append(text.encode("utf-8"))
            elif table:
                built.rows.setdefault(name, []).extend(table)
    for name, parts in texts.items():
        if parts:
            built.copy[name] = columns[name], b"".join(parts)
    _add_events(built, events, copy)
    return built


def _add_events(built: Built, events: list[Event], copy: bool) -> None:
    """The batch's audit events in time order, prepared: as they are (rows), or their bodies and
    the COPY text around their links (COPY)."""
    events.sort(key=attrgetter("at"))
    times = seed_copy.column([event.at for event in events])
    prepared = [prepare(event, hashed_time(event.at, text))
                for event, text in zip(events, times, strict=True)]
    built.entries = len(prepared)
    if copy:
        built.bodies = [p.body for p in prepared]
        built.middles = _middles(prepared, times)
    else:
        built.events = prepared


def _tally_partitions(
    tally: dict[int, tuple[int, int, datetime]], certificates: list[dict[str, Any]]
) -> None:
    """Count certificates into tally: per CRL partition, how many, how many revoked, and their
    last notAfter."""
    for row in certificates:
        issued, revoked, not_after = tally.get(row["crl_partition"], (0, 0, row["not_after"]))
        tally[row["crl_partition"]] = (issued + 1, revoked + (row["revoked_at"] is not None),
                                       max(not_after, row["not_after"]))


def _middles(prepared: list[Prepared], times: Sequence[str]) -> list[str]:
    """Each event's COPY text but for seq, prev_hash and entry_hash (`times`: the time as the
    column keeps it, in COPY text)."""
    if not prepared:
        return []
    hashed = list(zip(*[p.values for p in prepared], strict=True))
    return seed_copy.column_lines([times, *hashed[1:]])


_CONTEXT: list[SeedContext] = []


def _adopt(context: SeedContext) -> None:
    _CONTEXT.append(context)


def _build_here(plans: list[Plan], copy: bool) -> Built:
    return build(_CONTEXT[0], plans, copy)


def built_batches(
    context: SeedContext, batches: Iterable[list[Plan]], *, copy: bool, processes: int
) -> Iterator[Built]:
    """The batches made, in their order: by `processes` forked workers (a few batches ahead of
    the one the caller is writing), or here when processes is 1 or fork is not available."""
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for plans in batches:
            yield build(context, plans, copy)
        return
    forking = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        processes, mp_context=forking, initializer=_adopt, initargs=(context,)
    ) as pool:
        pending: deque[Future[Built]] = deque()
        for plans in batches:
            pending.append(pool.submit(_build_here, plans, copy))
            if len(pending) > processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
