"""The statements behind the pages people wait for read a few rows, however large the tables.

PostgreSQL only. The tables are filled with tens of thousands of rows (`generate_series`) and
analysed, so the planner chooses as it would in service; then each service function runs with
its statements captured, and each captured SELECT is run again under `EXPLAIN (ANALYZE)`. A test
fails when a large table is scanned sequentially or when more rows of it are read than a page
needs (which is how a keyset condition that is no index range shows: it filters its way through
the history). `test_the_check_sees_a_missing_index` drops an index and shows the check failing,
so that a pass means something.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from servicekit import reset_postgres
from sqlalchemy import Engine, event, text
from sqlmodel import Session

from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import Submission, SubmissionStatus
from birthreg.packed import plain
from birthreg.parents.sessions import SessionClaims, holder_for_claims
from birthreg.pki.service import DatabaseCertificateStatus
from birthreg.registry.queue import list_submissions, submission_detail
from birthreg.registry.search import matching_ids, read_query

pytestmark = pytest.mark.postgres

ROWS = 20_000
#: Tables the service must never read through.
LARGE = {
    "registry_submission", "registry_search_key", "audit_entry", "enrollment", "birth",
    "pki_certificate",
}
FACILITIES = ("050140000011", "050140000031", "050140000051", "050140000071")

#: What the queue's lines read from a dossier (kept packed: birthreg.packed).
DOSSIER = plain(json.dumps({
    "medical_record": {"document": {"child": {}, "facility": {"name": "F"}, "mother": {}}},
    "application": {"document": {"child": {}}},
}))
EMPTY = plain("{}")
FILL = [
    """INSERT INTO staff_user (id, username, password_hash, role, display_name, disabled,
           created_at)
       VALUES (9001, 'plans-ward', 'x', 'ward', '', false, now())""",
    # Submissions received one a minute; every tenth replaces the one before it.
    """INSERT INTO registry_submission (id, registry_office_id, dossier, dossier_sha256,
           medical_record_id, medical_record_sha256, application_id, facility_bin, mother_iin,
           child_born_at, child_sex, birth_order, status, report, receipt, duplicate_candidates,
           previous_id, received_at, tracking_number)
       SELECT 's-' || lpad(i::text, 8, '0'), (SELECT min(id) FROM registry_office), :dossier,
              md5('d' || i), 'r-' || i, md5('m' || i), 'a-' || i,
              (ARRAY['050140000011','050140000031','050140000051','050140000071'])[1 + i % 4],
              '9403154' || lpad(i::text, 5, '0'), timestamp '2026-01-01' + i * interval '1 min',
              'F', 1, (ARRAY['received','in_review','registered','rejected'])[1 + i % 4],
              :empty, :empty, '[]',
              CASE WHEN i % 10 = 0 THEN 's-' || lpad((i - 1)::text, 8, '0') END,
              timestamp '2026-01-01' + i * interval '1 min', 'T' || lpad(i::text, 8, '0')
       FROM generate_series(1, :rows) AS i""",
    # Five audit entries per submission.
    """INSERT INTO audit_entry (seq, at, actor, role, action, object_type, object_id,
           details_sha256, prev_hash, entry_hash)
       SELECT 1000000 + i, now(), 'system', 'system', 'submission.received', 'submission',
              's-' || lpad((i / 5)::text, 8, '0'), md5('x'), md5('p'), md5('e' || i)
       FROM generate_series(1, 5 * :rows) AS i""",
    """INSERT INTO birth (id, facility_id, medical_record, medical_record_sha256, seal_signature,
           born_at, recorded_at, recorded_by, progress)
       SELECT 'b-' || i, (SELECT min(id) FROM facility), '{}', md5('b' || i), :empty, now(),
              now(), 9001, 'key_issued'
       FROM generate_series(1, :rows) AS i""",
    """INSERT INTO pki_certificate (serial, profile, der, not_before, not_after, issued_at,
           revoked_at, revocation_reason)
       SELECT to_hex(1000000 + i), 'individual', '\\x3000', now(), now() + interval '1 year',
              now(), CASE WHEN i % 100 = 0 THEN now() END,
              CASE WHEN i % 100 = 0 THEN 'key_compromise' END
       FROM generate_series(1, :rows) AS i""",
    # Each submission is found by its mother's IIN and two surnames: one in four mothers is an
    # Ахметова (a common surname's start matches thousands), one child in a thousand a Редкова.
    """INSERT INTO registry_search_key (key, submission_id, received_at)
       SELECT k, 's-' || lpad(i::text, 8, '0'), timestamp '2026-01-01' + i * interval '1 min'
       FROM generate_series(1, :rows) AS i,
            LATERAL (VALUES ('i:9403154' || lpad(i::text, 5, '0')),
                            (CASE WHEN i % 4 = 0 THEN 's:ахметова' ELSE 's:мать' || i END),
                            (CASE WHEN i % 1000 = 0 THEN 's:редкова' ELSE 's:дитя' || i END)
                    ) AS keys(k)""",
    """INSERT INTO enrollment (id, birth_id, role, iin, surname, given_name, lookup, secret_hmac,
           expires_at, failed_attempts, key_path, certificate_serial, created_by, created_at)
       SELECT 'e-' || i, 'b-' || i, 'mother', '940315400014', 'Әбілқасымова', 'Гүлнұр',
              lpad(to_hex(i), 8, '0'), md5('s'), now(), 0, 'webcrypto', to_hex(1000000 + i),
              9001, now()
       FROM generate_series(1, :rows) AS i""",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = os.environ.get("BIRTHREG_TEST_DATABASE_URL")
    if not url:
        pytest.skip("BIRTHREG_TEST_DATABASE_URL is not set")
    reset_postgres(url)
    data_dir: Path = tmp_path_factory.mktemp("plans") / "data"
    settings = Settings(data_dir=data_dir, database_url=url, base_url="http://testserver",
                        env="development", _env_file=None)  # type: ignore[call-arg]
    initialise(settings)
    engine = make_engine(url)
    with engine.begin() as connection:
        for statement in FILL:
            connection.execute(text(statement), {"rows": ROWS, "dossier": DOSSIER, "empty": EMPTY})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in sorted(LARGE):
            connection.execute(text(f"ANALYZE {table}"))
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class Read:
    table: str
    node: str
    rows: int


def _reads(plan: dict[str, Any]) -> Iterator[Read]:
    """Every scan of a large table in a plan, with the rows it read (kept or filtered out)."""
    table = plan.get("Relation Name")
    if table in LARGE:
        loops = plan.get("Actual Loops", 1)
        read = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        yield Read(table, plan["Node Type"], read * loops)
    for child in plan.get("Plans", ()):
        if child.get("Node Type") == "Bitmap Index Scan":
            continue  # its heap scan (the parent) counts the rows
        yield from _reads(child)


@contextmanager
def _captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def plan_reads(engine: Engine, call: Callable[[Session], Any]) -> list[Read]:
    """Run `call` (a service function on a session), then EXPLAIN ANALYZE what it sent."""
    with Session(engine) as session, _captured(engine) as statements:
        call(session)
        session.rollback()
    assert statements, "the service sent no SELECT"
    reads: list[Read] = []
    with engine.connect() as connection:
        for statement, parameters in statements:
            (plan,) = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
            ).scalar_one()
            reads.extend(_reads(plan["Plan"]))
    return reads


def assert_few_rows_read(reads: list[Read], limit: int) -> None:
    assert not [r for r in reads if r.node == "Seq Scan"], reads
    assert all(r.rows <= limit for r in reads), reads


def _cursor(received_at: datetime, submission_id: str) -> str:
    raw = json.dumps([received_at.isoformat(), submission_id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


#: A submission in mid-history that a later one replaced (every tenth replaces the one before).
MIDDLE = "s-" + str(ROWS // 2 - 1).zfill(8)


def _middle_cursor(engine: Engine) -> str:
    with Session(engine) as session:
        submission = session.get(Submission, MIDDLE)
        assert submission is not None
        return _cursor(submission.received_at, submission.id)


def test_a_submission_page_reads_its_history_and_successors_by_index(engine: Engine) -> None:
    def open_page(session: Session) -> None:
        submission = session.get(Submission, MIDDLE)
        assert submission is not None
        detail = submission_detail(session, submission)
        assert len(detail.history) == 5
        assert detail.next_ids == ["s-" + str(ROWS // 2).zfill(8)]

    assert_few_rows_read(plan_reads(engine, open_page), limit=10)


def test_a_parents_page_finds_the_enrollment_by_its_key(engine: Engine) -> None:
    serial = format(1_000_000 + ROWS // 2 + 1, "x")  # not one of the revoked

    def parent_page(session: Session) -> None:
        holder = holder_for_claims(session, SessionClaims(serial, "csrf", 0))
        assert holder.birth_id == f"b-{ROWS // 2 + 1}"

    assert_few_rows_read(plan_reads(engine, parent_page), limit=2)


def test_revocations_are_read_from_the_revoked_rows_only(engine: Engine) -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)

    def revoked(session: Session) -> None:
        statuses = DatabaseCertificateStatus(session)
        assert statuses.revocations() == ROWS // 100
        assert len(statuses.revoked(expired_before=moment)) == ROWS // 100

    assert_few_rows_read(plan_reads(engine, revoked), limit=ROWS // 100)


QUEUE_PAGES = {
    "first page": {},
    "first page, received": {"status": SubmissionStatus.RECEIVED},
    "first page, one facility": {"facility": FACILITIES[1]},
    "mid-history": {"after": "middle"},
    "mid-history, received": {"after": "middle", "status": SubmissionStatus.RECEIVED},
    "mid-history, one facility": {"after": "middle", "facility": FACILITIES[1]},
    "mid-history, facility and status": {
        "after": "middle", "facility": FACILITIES[1], "status": SubmissionStatus.IN_REVIEW,
    },
}


@pytest.mark.parametrize("filters", QUEUE_PAGES.values(), ids=QUEUE_PAGES.keys())
def test_a_queue_page_reads_about_a_page(engine: Engine, filters: dict[str, Any]) -> None:
    filters = dict(filters)
    if filters.get("after") == "middle":
        filters["after"] = _middle_cursor(engine)

    def page(session: Session) -> None:
        assert len(list_submissions(session, limit=50, **filters).items) == 50

    # A page of 50 and the one row that says whether there is a next page; where a filter is
    # not the index's own column the scan skips the other rows (four statuses in the data).
    assert_few_rows_read(plan_reads(engine, page), limit=4 * 51)


def test_the_check_sees_a_missing_index(engine: Engine) -> None:
    """Without the history index, the same page reads the trail: the check above would fail."""
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_audit_entry_object"))
        connection.execute(text("ANALYZE audit_entry"))

    def open_page(session: Session) -> None:
        submission = session.get(Submission, MIDDLE)
        assert submission is not None
        submission_detail(session, submission)

    try:
        reads = plan_reads(engine, open_page)
        with pytest.raises(AssertionError):
            assert_few_rows_read(reads, limit=10)
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("CREATE INDEX ix_audit_entry_object ON audit_entry (object_type, object_id)")
            )


SEARCHES = {
    # A common surname's start: the surnames it covers (one here, 5,000 keys), each read from
    # its newest end, 50 at most, and the skip from one surname to the next.
    "a common surname's start": ("ахмет", 50, 50 + 2),
    "a rare surname's start": ("редк", ROWS // 1000, ROWS // 1000 + 2),
    "a mother's IIN": ("940315412345", 1, 2),
}


@pytest.mark.parametrize("query, found, keys", SEARCHES.values(), ids=SEARCHES.keys())
def test_a_search_reads_only_the_keys_it_matches(
    engine: Engine, query: str, found: int, keys: int
) -> None:
    def search(session: Session) -> None:
        assert len(matching_ids(session, read_query(query))) == found

    reads = plan_reads(engine, search)
    # The keys' index alone: no submission is read to find or order them.
    assert {r.table for r in reads} == {"registry_search_key"}, reads
    assert_few_rows_read(reads, limit=keys)
