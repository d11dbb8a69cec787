"""`birthreg seed --births N [--days D]`: a development database filled to a national size.

N births spread evenly over the last D days, each in the state its own clock has reached (see
`birthreg.seed_rows`): sealed medical records, enrollments with their certificates (some
revoked), applications, submissions, registrations with certificates, and their audit entries on
the one chain, which `birthreg audit verify` then finds intact (a signed checkpoint of its head is
kept at the end, so `--since-checkpoint` has somewhere to start).

Rows are made a batch at a time outside any transaction, then written in one transaction per
batch: COPY on PostgreSQL, executemany on SQLite, with the audit head locked while the batch's
entries are chained onto it (so the service may run beside a seed). The registry's counters (act
record numbers, child IIN serials) are moved past what each batch used, in its transaction, so a
seed stopped between batches leaves a database the service goes on with. No parent is told
anything: the seeded events are history, not news (no outbox rows).

Development only: refused in production (`SeedRefused`).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select, text, update
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as select_rows

from birthreg import audit
from birthreg.auth import create_staff_user
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.errors import ServiceNotInitialised
from birthreg.models import (
    ActRecordCounter,
    ChildIINCounter,
    Facility,
    Registration,
    Role,
    StaffUser,
    Submission,
    now,
)
from birthreg.packed import Packer
from birthreg.parents.service import SIGNATURE_KIND
from birthreg.pki.seals import load_seal
from birthreg.pki.service import load_certification_authority
from birthreg.registry.certificate import certificate_values, load_certificate_context
from birthreg.registry.service import load_office
from birthreg.registry.stored import pack_submissions
from birthreg.seed_report import ReportTemplate, receipt_maker
from birthreg.seed_rows import TABLE_ORDER, Rows, SeedContext, Staff, add_birth, prime_report
from birthreg.ward.context import seal_kind

#: Births made and written at a time (a transaction each).
BATCH = 1000
SEED_ACCOUNTS = (("seed-ward", Role.WARD), ("seed-clerk", Role.CLERK))


class SeedRefused(Exception):
    """The seed cannot run here (production, or an uninitialised service)."""


@dataclass
class SeedResult:
    births: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    audit_entries: int = 0
    seconds: float = 0.0


def run_seed(
    settings: Settings,
    births: int,
    days: int = 365,
    *,
    progress: Callable[[int], None] | None = None,
    moment: datetime | None = None,
    rng: random.Random | None = None,
) -> SeedResult:
    """Seed `births` births over the `days` days before `moment` (now). Raises SeedRefused."""
    if settings.is_production:
        raise SeedRefused("birthreg seed runs only in development, never in production")
    if births < 1 or days < 1:
        raise SeedRefused("--births and --days must be at least 1")
    started = time.monotonic()
    moment = moment or now()
    rng = rng or random.Random()  # noqa: S311 (made-up data, not secrets)
    engine = make_engine(settings.database_url)
    try:
        context = _context(engine, settings, moment)
        result = SeedResult(births=births)
        first = moment - timedelta(days=days)
        step = timedelta(days=days) / births
        for start in range(0, births, BATCH):
            rows = Rows()
            count = min(BATCH, births - start)
            for index in range(start, start + count):
                add_birth(context, rows, rng, first + step * (index + rng.random()))
            result.audit_entries += _write(engine, rows, context)
            for table, table_rows in rows.tables.items():
                result.rows[table] = result.rows.get(table, 0) + len(table_rows)
            if progress is not None:
                progress(count)
        _finish(engine, context)
    finally:
        engine.dispose()
    result.seconds = time.monotonic() - started
    return result


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


def _context(engine: Engine, settings: Settings, moment: datetime) -> SeedContext:
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

    def make_certificate(registration: dict[str, Any], dossier: str) -> dict[str, Any]:
        return certificate_values(
            certificates, _Registered(**registration), _Dossier(dossier),
            moment=registration["registered_at"],
        )

    context = SeedContext(
        moment=moment, ca=ca, facility=facility,
        facility_seal=facility_seal,
        office_id=office.id, office_seal=office.seal, staff=staff, holder_key=template.holder_key,
        make_report=template.report, make_receipt=receipt_maker(office),
        make_certificate=make_certificate,
    )
    _load_counters(engine, context)
    prime_report(context)
    return context


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


@dataclass(frozen=True)
class _Dossier:
    dossier: str


_ACTS = ActRecordCounter.__table__  # type: ignore[attr-defined]
_IINS = ChildIINCounter.__table__  # type: ignore[attr-defined]
_REGISTRATIONS = Registration.__table__  # type: ignore[attr-defined]
_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]


def _load_counters(engine: Engine, context: SeedContext) -> None:
    """Where the registry's numbers stand, so that the seed's follow them."""
    with engine.connect() as connection:
        for office_id, year, last in connection.execute(select(_ACTS)):
            context.acts[(office_id, year)] = last
        for prefix, last in connection.execute(select(_IINS)):
            context.iins[prefix] = last
        context.next_registration_id = 1 + (
            connection.execute(select(func.max(_REGISTRATIONS.c.id))).scalar_one() or 0
        )
        context.next_lookup = connection.execute(
            text("SELECT count(*) FROM enrollment")
        ).scalar_one()
        context.tracking_numbers.update(
            connection.execute(select(_SUBMISSIONS.c.tracking_number)).scalars()
        )


# -- writing --------------------------------------------------------------------------------------


def _write(engine: Engine, rows: Rows, context: SeedContext) -> int:
    """One batch in one transaction: its rows, the registry's counters past its numbers, then
    its audit entries chained onto the head. A seed stopped between batches leaves a database
    the service can go on with."""
    events = sorted(rows.events, key=lambda event: event.at)
    with engine.begin() as connection:
        pack_submissions(connection, rows.tables["registry_submission"])
        _pack_signatures(connection, rows)
        for name in TABLE_ORDER:
            _insert(connection, name, rows.tables[name])
        _move_counters(connection, context, rows.tables["registry_registration"])
        seq, head = audit.head_for_update(connection)  # last: the lock every writer waits for
        entries = audit.chained(events, seq, head)
        _insert(connection, "audit_entry", entries)
        if entries:
            audit.advance_head(connection, entries[-1]["seq"], entries[-1]["entry_hash"])
    return len(entries)


def _pack_signatures(connection: Connection, rows: Rows) -> None:
    """The births' seals and the applications' signatures packed (`birthreg.packed`)."""
    packer = Packer(connection)
    for birth in rows.tables["birth"]:
        seal = birth["seal_signature"].decode("ascii")
        birth["seal_signature"] = packer.pack(seal_kind(birth["facility_id"]), seal)
    for application in rows.tables["parents_application"]:
        for column in ("mother_signature", "father_signature"):
            if application[column] is not None:
                application[column] = packer.pack(SIGNATURE_KIND, application[column])
    packer.write(connection)


def _move_counters(
    connection: Connection, context: SeedContext, registrations: list[dict[str, Any]]
) -> None:
    """The act record and child IIN counters the batch's registrations used, and the
    registrations' id sequence, moved past the numbers the batch took."""
    if not registrations:
        return
    acts = {(r["registry_office_id"], r["year"]) for r in registrations}
    _store_counters(connection, _ACTS, [
        {"registry_office_id": office, "year": year, "last_number": context.acts[(office, year)]}
        for office, year in sorted(acts)
    ], ("registry_office_id", "year"))
    prefixes = {r["child_iin"][:7] for r in registrations}
    _store_counters(connection, _IINS, [
        {"prefix": prefix, "last_serial": context.iins[prefix]} for prefix in sorted(prefixes)
    ], ("prefix",))
    if connection.dialect.name == "postgresql":
        connection.execute(text(
            "SELECT setval(pg_get_serial_sequence('registry_registration', 'id'), "
            "(SELECT max(id) FROM registry_registration))"
        ))


def _insert(connection: Connection, name: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table: Table = SQLModel.metadata.tables[name]
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    raw = connection.connection.driver_connection
    statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([_plain(row[column]) for column in columns])


def _plain(value: Any) -> Any:
    """A value as the column keeps it: times as naive UTC (see models.UTCDateTime)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _finish(engine: Engine, context: SeedContext) -> None:
    """Statistics for the planner, and a signed checkpoint of the chain's head."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    with Session(engine) as session:
        audit.make_checkpoint(session, context.office_seal)
        session.commit()


def _store_counters(
    connection: Connection, table: Table, values: Iterable[dict[str, Any]], key: tuple[str, ...]
) -> None:
    for row in values:
        match = [table.c[name] == row[name] for name in key]
        moved = connection.execute(
            update(table).where(*match).values({k: v for k, v in row.items() if k not in key})
        )
        if moved.rowcount == 0:
            connection.execute(table.insert(), row)
