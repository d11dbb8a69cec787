"""Registration when its insert is refused: the medical record registered through another
submission, the child IIN carried already, the IIN range full. The act record number is given
back in each case, so no number is lost even when the caller commits (as intake does, when it
registers automatically and a clerk is to register later)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.errors import DomainError
from birthreg.models import (
    ActRecordCounter,
    ChildIINCounter,
    Registration,
    Submission,
    now,
)
from birthreg.registry import registration, service
from birthreg.registry.numbering import iin_prefix, local_date
from birthreg.services import app_services
from registry import factories as f
from signing.identity import make_iin

SUBMISSIONS = "/api/v1/registry/submissions"


def submit(client: Any, dossier: dict[str, Any]) -> str:
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def register_in(session: Session, app: Any, submission_id: str) -> registration.RegistrationOutcome:
    return registration.register_submission(
        session,
        service.registry_for(app_services(app)),
        submission_id,
        actor="system",
        role="system",
        staff_id=None,
    )


def register(app: Any, submission_id: str) -> registration.RegistrationOutcome:
    """Register in a session of its own and commit, whatever happens (a DomainError too)."""
    with Session(app.state.services.engine) as session:
        try:
            return register_in(session, app, submission_id)
        finally:
            session.commit()


def act_counters(db: Session) -> list[int]:
    db.expire_all()
    return [counter.last_number for counter in db.exec(select(ActRecordCounter)).all()]


def copy_of(db: Session, submission_id: str, number: int) -> str:
    """A second pending submission of the same medical record, stored by hand (intake refuses
    one, so this stands for whatever might slip past it). Its id and digest are out of the
    range `factories.registration_by_hand` uses."""
    original = db.get(Submission, submission_id)
    assert original is not None
    values = original.model_dump(exclude={"tracking_number"})  # a copy draws its own
    values.update(
        id=f"00000000-0000-4000-9000-{number:012d}",
        dossier_sha256=f"{number + 10**6:064d}",
        status="received",
        decided_at=None,
        decided_by=None,
    )
    db.add(Submission(**values))
    db.commit()
    return str(values["id"])


def test_a_record_registered_through_another_submission_is_refused_and_loses_no_number(
    app: Any, client: Any, db: Session
) -> None:
    first = submit(client, f.good_dossier(app, f.issue_person(app, f.person(110))))
    assert register(app, first).result.act_record_number == 1
    second = copy_of(db, first, 1)

    with pytest.raises(DomainError) as refused:
        register(app, second)  # commits after the refusal
    assert refused.value.status == 409
    assert refused.value.code == "invalid_state"
    assert "already registered" in refused.value.detail
    assert act_counters(db) == [1]
    assert len(db.exec(select(Registration)).all()) == 1
    db.expire_all()
    stored = db.get(Submission, second)
    assert stored is not None and stored.status == "received"

    third = submit(client, f.good_dossier(app, f.issue_person(app, f.person(120))))
    assert register(app, third).result.act_record_number == 2


def test_an_iin_carried_already_is_skipped_at_registration(
    app: Any, client: Any, db: Session
) -> None:
    born = now() - timedelta(days=1)
    day = local_date(born)
    taken = [iin for serial in range(1, 6) if (iin := make_iin(day, "F", serial))][:2]
    for number, iin in enumerate(taken, start=1):
        f.registration_by_hand(db, iin, number, year=1999)
    db.commit()

    dossier = f.good_dossier(app, f.issue_person(app, f.person(130)), born_at=born, sex="F")
    outcome = register(app, submit(client, dossier))
    assert outcome.result.act_record_number == 1
    assert outcome.result.child_iin[:7] == iin_prefix(day, "F")
    assert outcome.result.child_iin not in taken
    registration = db.exec(
        select(Registration).where(col(Registration.child_iin) == outcome.result.child_iin)
    ).one()
    assert registration.year == local_date(now()).year


def test_a_full_iin_range_gives_the_act_record_number_back(
    app: Any, client: Any, db: Session
) -> None:
    born = now() - timedelta(days=1)
    prefix = iin_prefix(local_date(born), "M")
    db.add(ChildIINCounter(prefix=prefix, last_serial=9999))
    db.commit()
    dossier = f.good_dossier(app, f.issue_person(app, f.person(140)), born_at=born, sex="M")
    submission_id = submit(client, dossier)

    with pytest.raises(DomainError) as refused:
        register(app, submission_id)  # commits after the refusal
    assert refused.value.status == 503
    assert refused.value.code == "iin_range_exhausted"
    assert act_counters(db) in ([], [0])
    assert db.exec(select(Registration)).all() == []

    girl = f.good_dossier(app, f.issue_person(app, f.person(150)), born_at=born, sex="F")
    assert register(app, submit(client, girl)).result.act_record_number == 1


def test_an_act_record_number_taken_behind_the_counter_is_an_error_not_a_loop(
    app: Any, client: Any, db: Session
) -> None:
    iin = make_iin(local_date(now()) - timedelta(days=4000), "F", 5)
    assert iin is not None
    f.registration_by_hand(db, iin, 1, year=local_date(now()).year)
    db.commit()
    submission_id = submit(client, f.good_dossier(app, f.issue_person(app, f.person(160))))
    with pytest.raises(RuntimeError, match="act record number taken"):
        register(app, submission_id)
    db.expire_all()
    stored = db.get(Submission, submission_id)
    assert stored is not None and stored.status == "received"


def test_registration_reads_what_the_caller_changed_in_its_session(
    app: Any, client: Any, db: Session
) -> None:
    # Registration reads the submission with a plain statement on the session's connection; a
    # change the caller made in the same session (not yet flushed) must be what it reads.
    submission_id = submit(client, f.good_dossier(app, f.issue_person(app, f.person(170))))
    with Session(app.state.services.engine) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        submission.status = "rejected"
        submission.rejection_reason = "the name is misspelt"
        with pytest.raises(DomainError) as refused:
            register_in(session, app, submission_id)
        session.rollback()
    assert refused.value.status == 409
    assert db.exec(select(Registration)).all() == []
