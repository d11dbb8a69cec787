"""Registration and intake under concurrency, on SQLite (BEGIN IMMEDIATE serialises writers) and
on PostgreSQL (row and advisory locks): parallel clerks get gapless act record numbers and unique,
valid IINs; the same dossier registered or sent twice at once makes one record."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlmodel import Session, func, select

from birthreg.models import ActRecordCounter, BirthCertificate, Registration, Submission, now
from birthreg.registry.registration import RegistrationOutcome, register_submission
from birthreg.registry.service import registry_for
from birthreg.services import app_services
from registry import factories as f
from signing.identity import is_valid_iin

SUBMISSIONS = "/api/v1/registry/submissions"
PARALLEL = 20


def _mothers(app: Any, count: int) -> list[f.Signer]:
    subjects: dict[str, Any] = {}
    serial = 1000
    while len(subjects) < count:
        subject = f.person(serial)
        subjects[subject.iin] = subject
        serial += 1
    return [f.issue_person(app, subject) for subject in subjects.values()]


def _submissions(app: Any, client: Any, count: int) -> list[str]:
    """`count` dossiers of different mothers, children born the same day with the same sex (so
    that their IINs share one prefix and compete for its serials)."""
    seal = f.facility_seal(app)
    born = now() - timedelta(days=2)
    ids = []
    for mother in _mothers(app, count):
        response = client.post(
            SUBMISSIONS, json=f.good_dossier(app, mother, seal=seal, born_at=born)
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _count(db: Session, model: Any) -> int:
    return db.exec(select(func.count()).select_from(model)).one()


def test_parallel_clerks_get_gapless_numbers_and_unique_iins(
    app: Any, client: Any, db: Session
) -> None:
    ids = _submissions(app, client, PARALLEL)
    clerk = f.staff_headers(app)
    barrier = threading.Barrier(PARALLEL)

    def register(submission_id: str) -> Any:
        barrier.wait()
        return client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        responses = list(pool.map(register, ids))
    assert [r.status_code for r in responses] == [201] * PARALLEL, [r.text for r in responses]
    results = [r.json() for r in responses]
    assert sorted(r["act_record_number"] for r in results) == list(range(1, PARALLEL + 1))
    iins = [r["child_iin"] for r in results]
    assert len(set(iins)) == PARALLEL
    assert all(is_valid_iin(iin) for iin in iins)
    assert len({iin[:7] for iin in iins}) == 1
    assert len({r["certificate_id"] for r in results}) == PARALLEL

    assert _count(db, Registration) == PARALLEL
    assert _count(db, BirthCertificate) == PARALLEL
    counter = db.exec(select(ActRecordCounter)).one()
    assert counter.last_number == PARALLEL


def test_the_same_submission_registered_at_once_makes_one_registration(
    app: Any, client: Any, db: Session
) -> None:
    (submission_id,) = _submissions(app, client, 1)
    clerks = [f.staff_headers(app) for _ in range(2)]
    callers = 8
    barrier = threading.Barrier(callers)

    def register(index: int) -> Any:
        barrier.wait()
        return client.post(
            f"{SUBMISSIONS}/{submission_id}/register", headers=clerks[index % 2]
        )

    with ThreadPoolExecutor(max_workers=callers) as pool:
        responses = list(pool.map(register, range(callers)))
    assert Counter(r.status_code for r in responses) == {201: 1, 200: callers - 1}
    assert len({r.text for r in responses}) == 1
    assert _count(db, Registration) == 1
    assert _count(db, BirthCertificate) == 1
    assert db.exec(select(ActRecordCounter)).one().last_number == 1


def test_parallel_sessions_in_the_service(app: Any, client: Any, db: Session) -> None:
    """The same, one level down: each thread its own Session and transaction."""
    ids = _submissions(app, client, 6)
    registry = registry_for(app_services(app))
    work = [*ids, *ids]  # every submission twice
    barrier = threading.Barrier(len(work))

    def register(submission_id: str) -> RegistrationOutcome:
        barrier.wait()
        with Session(app.state.services.engine) as session:
            outcome = register_submission(
                session, registry, submission_id, actor="system", role="system", staff_id=None
            )
            session.commit()
            return outcome

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        outcomes = list(pool.map(register, work))
    assert sum(o.created for o in outcomes) == len(ids)
    by_id: dict[str, set[int]] = {}
    for submission_id, outcome in zip(work, outcomes, strict=True):
        by_id.setdefault(submission_id, set()).add(outcome.result.act_record_number)
    assert all(len(numbers) == 1 for numbers in by_id.values())
    assert sorted(n for numbers in by_id.values() for n in numbers) == list(
        range(1, len(ids) + 1)
    )


def test_the_same_dossier_sent_at_once_is_stored_once(
    app: Any, client: Any, db: Session
) -> None:
    (mother,) = _mothers(app, 1)
    dossier = f.good_dossier(app, mother)
    senders = 6
    barrier = threading.Barrier(senders)

    def send(_: int) -> Any:
        barrier.wait()
        return client.post(SUBMISSIONS, json=dossier)

    with ThreadPoolExecutor(max_workers=senders) as pool:
        responses = list(pool.map(send, range(senders)))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 1, 200: senders - 1}
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(db, Submission) == 1


def test_different_applications_for_one_record_at_once_store_one(
    app: Any, client: Any, db: Session
) -> None:
    (mother,) = _mothers(app, 1)
    seal = f.facility_seal(app)
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    senders = 6
    dossiers = [
        f.dossier(seal, record, f.application(record, contact={"phone": f"+7 701 000 00 0{i}"}),
                  (mother,))
        for i in range(senders)
    ]
    barrier = threading.Barrier(senders)

    def send(dossier: dict[str, Any]) -> Any:
        barrier.wait()
        return client.post(SUBMISSIONS, json=dossier)

    with ThreadPoolExecutor(max_workers=senders) as pool:
        responses = list(pool.map(send, dossiers))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: senders - 1}
    assert _count(db, Submission) == 1

