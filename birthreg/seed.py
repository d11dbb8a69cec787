"""`birthreg seed --births N [--days D]`: a development database filled to a national size.

N births spread evenly over the last D days, each in the state its own clock has reached (see
`birthreg.seed_rows`): sealed medical records, enrollments with their certificates (some
revoked), applications, submissions, registrations with certificates, and their audit entries on
the one chain, which `birthreg audit verify` then finds intact (a signed checkpoint of its head is
kept at the end, so `--since-checkpoint` has somewhere to start).

Each birth's story and numbers are drawn here in turn (`birthreg.seed_plan`); its rows are made a
batch at a time by worker processes, one per core (`birthreg.seed_pool`), while this process
writes the batches already made, each in one transaction: COPY on PostgreSQL, executemany on
SQLite, with the audit head locked while the batch's entries are linked onto it (so the service
may run beside a seed). The registry's counters (act
record numbers, child IIN serials) are moved past what each batch used, in its transaction, so a
seed stopped between batches leaves a database the service goes on with. No parent is told
anything: the seeded events are history, not news (no outbox rows).

Development only: refused in production (`SeedRefused`).
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Engine, Table, bindparam, case, func, select, text, update
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as select_rows

from birthreg import audit, seed_indexes
from birthreg.audit_bulk import FIELDS, link, link_body
from birthreg.auth import create_staff_user
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.errors import ServiceNotInitialised
from birthreg.models import (
    ActRecordCounter,
    ChildIINCounter,
    CRLPartition,
    Facility,
    Registration,
    Role,
    StaffUser,
    Submission,
    now,
)
from birthreg.packed import store_dictionaries
from birthreg.pki.seals import load_seal
from birthreg.pki.service import load_certification_authority
from birthreg.registry.certificate import certificate_values, load_certificate_context
from birthreg.registry.service import load_office
from birthreg.seed_certificates import IndividualIssuer
from birthreg.seed_plan import Counters, Numbers, Plan, plan_birth
from birthreg.seed_pool import Built, built_batches
from birthreg.seed_report import ReportTemplate, receipt_maker
from birthreg.seed_rows import TABLE_ORDER, SeedContext, Staff, prime_report
from signing import cms
from signing.ca.authority import ISSUING_KEY_FILE, load_key

#: Births made and written at a time (a transaction each).
BATCH = 2000
SEED_ACCOUNTS = (("seed-ward", Role.WARD), ("seed-clerk", Role.CLERK))


class SeedRefused(Exception):
    """The seed cannot run here (production, or an uninitialised service)."""


@dataclass
class SeedResult:
    births: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    audit_entries: int = 0
    seconds: float = 0.0
    #: The indexes set aside for the seed (`seed_indexes`) and made again at its end, and the
    #: seconds that took (a part of `seconds`).
    indexes: int = 0
    index_seconds: float = 0.0


def run_seed(
    settings: Settings,
    births: int,
    days: int = 365,
    *,
    progress: Callable[[int], None] | None = None,
    moment: datetime | None = None,
    rng: random.Random | None = None,
    processes: int | None = None,
) -> SeedResult:
    """Seed `births` births over the `days` days before `moment` (now), their rows made by
    `processes` workers (by default one per core unless the machine is overloaded: see
    _workers). Raises SeedRefused."""
    if settings.is_production:
        raise SeedRefused("birthreg seed runs only in development, never in production")
    if births < 1 or days < 1:
        raise SeedRefused("--births and --days must be at least 1")
    started = time.monotonic()
    moment = moment or now()
    rng = rng or random.Random()  # noqa: S311 (made-up data, not secrets)
    engine = make_engine(settings.database_url)
    try:
        context, counters = _context(engine, settings, moment)
        seed_indexes.restore(engine)  # what a seed stopped by force left aside
        with engine.connect() as connection:
            big = seed_indexes.worth_it(connection, births)
        result = SeedResult(births=births)
        try:
            if big:
                seed_indexes.set_aside(engine, (*TABLE_ORDER, "audit_entry"))
            _seed_batches(engine, context, counters, result,
                          _plans(counters, rng, births, days, moment),
                          processes=processes or _workers(), progress=progress)
        finally:
            restoring = time.monotonic()
            result.indexes = len(seed_indexes.restore(engine))
            result.index_seconds = time.monotonic() - restoring
        _finish(engine, context)
    finally:
        engine.dispose()
    result.seconds = time.monotonic() - started
    return result


def _seed_batches(
    engine: Engine, context: SeedContext, counters: Counters, result: SeedResult,
    plans: Iterator[list[Plan]], *, processes: int, progress: Callable[[int], None] | None,
) -> None:
    """Make the planned batches (in forked workers) and write them, counting into result."""
    # The workers are forked next: no connection of this process's may go with them.
    engine.dispose()
    copy = engine.dialect.name == "postgresql"
    batches = built_batches(context, plans, copy=copy, processes=processes)
    for built in _written(engine, batches, counters, background=copy):
        result.audit_entries += built.entries
        for table, count in built.counts.items():
            result.rows[table] = result.rows.get(table, 0) + count
        if progress is not None:
            progress(built.births)


def _written(
    engine: Engine, batches: Iterator[Built], counters: Counters, *, background: bool
) -> Iterator[Built]:
    """Each batch once written (`_write`). In the background (PostgreSQL): a thread writes a
    batch while the next is made, so that the server's work on one (a fifth of a birth's CPU)
    runs beside the making of the next; that thread mostly waits on the server, its GIL
    released. The thread starts after the first batch is made (after any fork of workers)."""
    if not background:
        for built in batches:
            _write(engine, built, counters)
            yield built
        return
    with ThreadPoolExecutor(1, thread_name_prefix="seed-writer") as writer:
        writing: tuple[Built, Future[int]] | None = None
        for built in batches:
            if writing is not None:
                writing[1].result()
                yield writing[0]
            writing = (built, writer.submit(_write, engine, built, counters))
        if writing is not None:
            writing[1].result()
            yield writing[0]


#: Linux's count of runnable tasks now ("running/total", its fourth field).
LOADAVG = Path("/proc/loadavg")


def _workers() -> int:
    """One worker per core, less one for each other runnable process beyond the cores' number.
    Measured 2026-12-06 on 2 cores: two workers made 50,000 births at 611/s where one process
    made 411/s (load 1.3-2.5), but no faster at a load of 2.6-3.5 (347 and 342/s) or 5-6.5,
    where they only add their own overhead (a tenth more CPU a birth)."""
    cores = os.cpu_count() or 1
    return max(1, cores - max(0, _others_runnable() - cores))


def _others_runnable() -> int:
    """Processes runnable now besides this one: the median of five looks at Linux's count a
    twentieth of a second apart. Not the load average, a minute's memory, which a seed just
    ended keeps up: a seed right after another chose one process. Elsewhere, that average."""
    looks = []
    try:
        for look in range(5):
            if look:
                time.sleep(0.05)
            looks.append(int(LOADAVG.read_text().split()[3].split("/")[0]) - 1)
    except (OSError, ValueError, IndexError):
        try:
            return round(os.getloadavg()[0])
        except OSError:  # no load average here
            return 0
    return sorted(looks)[len(looks) // 2]


def _plans(
    counters: Counters, rng: random.Random, births: int, days: int, moment: datetime
) -> Iterator[list[Plan]]:
    """The births planned a batch at a time (as the workers ask for them), evenly spread over
    the days before moment."""
    first = moment - timedelta(days=days)
    step = timedelta(days=days) / births
    for start in range(0, births, BATCH):
        yield [
            plan_birth(counters, rng, first + step * (index + rng.random()), moment)
            for index in range(start, min(start + BATCH, births))
        ]


# -- the run's context ----------------------------------------------------------------------------


def _seed_staff(session: Session, facility: Facility) -> Staff:
    """The seed's ward and clerk accounts (disabled: nobody signs in as them)."""
    ids = []
    for username, role in SEED_ACCOUNTS:
        user = session.exec(
            select_rows(StaffUser).where(col(StaffUser.username) == username)
        ).first()
        if user is None:
            user = create_staff_user(
                session, username=username, password=_unusable_password(), role=role,
                facility_id=facility.id if role == Role.WARD else None,
            )
            user.disabled = True
            session.add(user)
            session.flush()
        assert user.id is not None
        ids.append(user.id)
    return Staff(ward=ids[0], clerk=ids[1])


def _unusable_password() -> str:
    return secrets.token_urlsafe(32)


def _context(
    engine: Engine, settings: Settings, moment: datetime
) -> tuple[SeedContext, Counters]:
    try:
        ca = load_certification_authority(settings)
        with Session(engine) as session:
            facility = session.exec(select_rows(Facility).order_by(col(Facility.id))).first()
            if facility is None:
                raise ServiceNotInitialised("no facility yet: run `birthreg init`")
            staff = _seed_staff(session, facility)
            office = load_office(session, settings)
            certificates = load_certificate_context(settings, session)
            session.commit()
            session.refresh(facility)
    except ServiceNotInitialised as exc:
        raise SeedRefused(exc.detail) from exc
    facility_seal = load_seal(settings, "facility", facility.bin, ca.chain)
    template = ReportTemplate(ca, [facility_seal.certificate], moment)

    def make_certificate(
        registration: dict[str, Any], dossier: dict[str, Any]
    ) -> dict[str, Any]:
        return certificate_values(
            certificates, _Registered(**registration), dossier,
            moment=registration["registered_at"],
        )

    context = SeedContext(
        moment=moment, ca=ca, facility=facility,
        facility_seal=facility_seal,
        facility_signer=cms.DetachedSigner(
            facility_seal.certificate, facility_seal.key, chain=facility_seal.chain
        ),
        office_id=office.id, office_seal=office.seal, staff=staff, holder_key=template.holder_key,
        chain=tuple(c.public_bytes(serialization.Encoding.DER) for c in ca.chain),
        holder_issuer=IndividualIssuer(
            ca, template.holder_key.public_key(),
            load_key(settings.ca_directory / ISSUING_KEY_FILE, settings.ca_passphrase_bytes()),
        ),
        make_report=template.report, make_receipt=receipt_maker(office),
        make_certificate=make_certificate,
    )
    template.encoded = context.holder_issuer.encoded  # the mothers' DER, as issued
    prime_report(context)
    return context, _load_counters(engine, office.id)


@dataclass(frozen=True)
class _Registered:
    """`certificate.RegistrationFields` from a registration row's values."""

    id: int
    submission_id: str
    medical_record_id: str
    registry_office_id: int
    year: int
    act_record_number: int
    child_iin: str
    registered_at: datetime
    registered_by: int | None


_ACTS = ActRecordCounter.__table__  # type: ignore[attr-defined]
_IINS = ChildIINCounter.__table__  # type: ignore[attr-defined]
_REGISTRATIONS = Registration.__table__  # type: ignore[attr-defined]
_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]
_PARTITIONS = CRLPartition.__table__  # type: ignore[attr-defined]


def _load_counters(engine: Engine, office_id: int) -> Counters:
    """Where the registry's numbers stand, so that the seed's follow them."""
    counters = Counters(office_id)
    with engine.connect() as connection:
        for office, year, last in connection.execute(select(_ACTS)):
            counters.acts[(office, year)] = last
        for prefix, last in connection.execute(select(_IINS)):
            counters.iins[prefix] = last
        counters.next_registration_id = 1 + (
            connection.execute(select(func.max(_REGISTRATIONS.c.id))).scalar_one() or 0
        )
        counters.next_lookup = connection.execute(
            text("SELECT count(*) FROM enrollment")
        ).scalar_one()
        open_partition = connection.execute(
            select(_PARTITIONS.c.number, _PARTITIONS.c.issued)
            .where(_PARTITIONS.c.number > 0).order_by(_PARTITIONS.c.number.desc()).limit(1)
        ).first()
        if open_partition is not None:
            counters.partition, counters.partition_issued = open_partition
        counters.tracking_numbers.update(
            connection.execute(select(_SUBMISSIONS.c.tracking_number)).scalars()
        )
    counters.stored_acts = set(counters.acts)
    counters.stored_iins = set(counters.iins)
    return counters


# -- writing --------------------------------------------------------------------------------------


def _write(engine: Engine, built: Built, counters: Counters) -> int:
    """One batch in one transaction: its rows, the registry's counters past its numbers, then
    its audit entries linked onto the head. A seed stopped between batches leaves a database
    the service can go on with."""
    with engine.begin() as connection:
        _skip_reference_checks(connection)
        if built.dictionaries:  # the packed values' dictionaries (birthreg.seed_packed)
            store_dictionaries(connection, built.dictionaries)
        for name in TABLE_ORDER:
            if name in built.copy:
                _copy(connection, name, *built.copy[name])
            elif name in built.rows:
                connection.execute(SQLModel.metadata.tables[name].insert(), built.rows[name])
        _move_counters(connection, counters, built.numbers)
        _move_partitions(connection, built.partitions)
        seq, head = audit.head_for_update(connection)  # last: the lock every writer waits for
        if built.middles:
            lines = []
            for body, middle in zip(built.bodies, built.middles, strict=True):
                seq += 1
                entry_hash = link_body(body, seq, head)
                lines.append(f"{seq}\t{middle}\t{head}\t{entry_hash}\n")
                head = entry_hash
            _copy(connection, "audit_entry", ("seq", *FIELDS, "prev_hash", "entry_hash"),
                  "".join(lines))
        else:
            entries = []
            for prepared in built.events:
                seq += 1
                entry_hash = link(prepared, seq, head)
                entries.append({"seq": seq, **dict(zip(FIELDS, prepared.values, strict=True)),
                                "at": prepared.at, "prev_hash": head, "entry_hash": entry_hash})
                head = entry_hash
            if entries:
                connection.execute(SQLModel.metadata.tables["audit_entry"].insert(), entries)
        if built.entries:
            audit.advance_head(connection, seq, head)
    return built.entries


def _skip_reference_checks(connection: Connection) -> None:
    """PostgreSQL checks each new row's foreign keys with a trigger, a query per reference: a
    third of the server's work on a seeded birth. The seed's rows refer only to rows it wrote in
    the same batch or found stored (the facility, its accounts, the office), so where the role
    may (a superuser, as in development), its batch is written with those triggers off, as for
    a bulk load or a replica: `session_replication_role` for this transaction only. Other
    roles keep the checks. There are no other triggers in the schema."""
    if connection.dialect.name != "postgresql":
        return
    if connection.execute(text("SHOW is_superuser")).scalar_one() == "on":
        connection.execute(text("SET LOCAL session_replication_role = replica"))


def _move_counters(connection: Connection, counters: Counters, numbers: list[Numbers]) -> None:
    """The act record and child IIN counters moved past the batch's registrations' numbers
    (which grow in birth order), and the registrations' id sequence past their ids."""
    if not numbers:
        return
    acts = {(counters.office_id, n.year): n.act_record_number for n in numbers}
    iins = {n.child_iin[:7]: n.iin_serial for n in numbers}
    _store_counters(connection, _ACTS, counters.stored_acts, [
        {"registry_office_id": office, "year": year, "last_number": last}
        for (office, year), last in sorted(acts.items())
    ], ("registry_office_id", "year"))
    _store_counters(connection, _IINS, counters.stored_iins, [
        {"prefix": prefix, "last_serial": last} for prefix, last in sorted(iins.items())
    ], ("prefix",))
    if connection.dialect.name == "postgresql":
        connection.execute(text(
            "SELECT setval(pg_get_serial_sequence('registry_registration', 'id'), "
            "(SELECT max(id) FROM registry_registration))"
        ))


def _move_partitions(
    connection: Connection, partitions: dict[int, tuple[int, int, datetime]]
) -> None:
    """The CRL partitions' rows counting the batch's certificates and revocations (added to
    what they hold: the service may issue beside a seed), so that the publisher finds them due
    and lists the revocations (`pki.partitions.due_partitions`)."""
    if not partitions:
        return
    number = _PARTITIONS.c.number
    stored = set(connection.execute(
        select(number).where(number.in_(list(partitions)))
    ).scalars())
    for partition, (issued, revoked, not_after) in sorted(partitions.items()):
        if partition not in stored:
            connection.execute(_PARTITIONS.insert().values(
                number=partition, issued=issued, revoked=revoked, not_after=not_after))
            continue
        last = _PARTITIONS.c.not_after
        connection.execute(update(_PARTITIONS).where(number == partition).values(
            issued=_PARTITIONS.c.issued + issued, revoked=_PARTITIONS.c.revoked + revoked,
            not_after=case((last.is_(None) | (last < not_after), not_after), else_=last),
        ))


def _copy(
    connection: Connection, name: str, columns: tuple[str, ...], data: str | bytes
) -> None:
    raw = connection.connection.driver_connection
    statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(data)


def _finish(engine: Engine, context: SeedContext) -> None:
    """Statistics for the planner, and a signed checkpoint of the chain's head."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    with Session(engine) as session:
        audit.make_checkpoint(session, context.office_seal)
        session.commit()


def _store_counters(
    connection: Connection, table: Table, stored: set[Any], values: list[dict[str, Any]],
    key: tuple[str, ...],
) -> None:
    """Counter rows moved to `values`: updated where `stored` (their keys) has them, else
    inserted (and then stored)."""
    def key_of(row: dict[str, Any]) -> Any:
        return tuple(row[name] for name in key) if len(key) > 1 else row[key[0]]

    old = [row for row in values if key_of(row) in stored]
    new = [row for row in values if key_of(row) not in stored]
    if old:
        match = [table.c[name] == bindparam(f"k_{name}") for name in key]
        values_of: dict[str, Any] = {c: bindparam(f"v_{c}") for c in old[0] if c not in key}
        connection.execute(update(table).where(*match).values(values_of), [
            {**{f"k_{name}": row[name] for name in key},
             **{f"v_{c}": row[c] for c in row if c not in key}} for row in old
        ])
    if new:
        connection.execute(table.insert(), new)
        stored.update(key_of(row) for row in new)
