"""The clerk's API: roles, the queue, one dossier, register and reject; the sender's status."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.models import (
    AuditEntry,
    BirthCertificate,
    Registration,
    Role,
    Submission,
    now,
)
from birthreg.registry.numbering import local_date
from birthreg.services import app_services
from registry import factories as f
from signing.identity import iin_sex, is_valid_iin

SUBMISSIONS = "/api/v1/registry/submissions"


@pytest.fixture
def clerk(app: Any, client: Any) -> dict[str, str]:
    return f.staff_headers(app, Role.CLERK)


@pytest.fixture
def mother(app: Any, client: Any) -> f.Signer:
    return f.issue_person(app, f.person(100))


def submit(client: Any, dossier: dict[str, Any]) -> str:
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- who may call what ---------------------------------------------------------------------------


CLERK_ROUTES = [
    ("get", SUBMISSIONS, None),
    ("get", f"{SUBMISSIONS}/some-id", None),
    ("post", f"{SUBMISSIONS}/some-id/register", None),
    ("post", f"{SUBMISSIONS}/some-id/reject", {"reason": "no"}),
]


@pytest.mark.parametrize(("method", "path", "payload"), CLERK_ROUTES)
def test_clerk_routes_refuse_anonymous_and_other_roles(
    app: Any, client: Any, method: str, path: str, payload: Any
) -> None:
    anonymous = client.request(method.upper(), path, json=payload)
    assert anonymous.status_code == 401
    for role in (Role.WARD, Role.ADMIN):
        headers = f.staff_headers(app, role)
        other = client.request(method.upper(), path, json=payload, headers=headers)
        assert other.status_code == 403
        assert other.json()["error"] == "forbidden_role"


def test_routes_and_roles(app: Any) -> None:
    from birthreg.auth import route_table

    roles = {
        (method, path): allowed
        for method, path, allowed in route_table(app)
        if path.startswith(SUBMISSIONS)
    }
    assert roles == {
        ("POST", SUBMISSIONS): None,
        ("GET", f"{SUBMISSIONS}/{{submission_id}}/status"): None,
        # Clerks, and registrars (senior clerks).
        ("GET", SUBMISSIONS): {Role.CLERK, Role.REGISTRAR},
        ("GET", f"{SUBMISSIONS}/{{submission_id}}"): {Role.CLERK, Role.REGISTRAR},
        ("POST", f"{SUBMISSIONS}/{{submission_id}}/register"): {Role.CLERK, Role.REGISTRAR},
        ("POST", f"{SUBMISSIONS}/{{submission_id}}/reject"): {Role.CLERK, Role.REGISTRAR},
        ("POST", f"{SUBMISSIONS}/{{submission_id}}/duplicate-decision"): {
            Role.CLERK,
            Role.REGISTRAR,
        },
        # Only a registrar approves a late application.
        ("POST", f"{SUBMISSIONS}/{{submission_id}}/approve-late"): {Role.REGISTRAR},
    }


# -- the queue -----------------------------------------------------------------------------------


def test_queue_pages_oldest_first_with_filters(
    app: Any, client: Any, db: Session, clerk: dict[str, str], mother: f.Signer
) -> None:
    ids = [
        submit(client, f.good_dossier(app, mother, born_at=now() - timedelta(days=5 * i + 1)))
        for i in range(5)
    ]
    first = client.get(SUBMISSIONS, params={"limit": 2}, headers=clerk)
    assert first.status_code == 200
    page = first.json()
    assert [item["id"] for item in page["items"]] == ids[:2]
    item = page["items"][0]
    assert item["status"] == "received"
    assert item["mother"]["iin"] == mother.subject.iin  # type: ignore[union-attr]
    assert item["child"]["given_name"] == "Айару"
    assert "dossier" not in item and "report" not in item
    seen = [i["id"] for i in page["items"]]
    while page["next"]:
        page = client.get(
            SUBMISSIONS, params={"limit": 2, "after": page["next"]}, headers=clerk
        ).json()
        seen.extend(i["id"] for i in page["items"])
    assert seen == ids

    client.post(f"{SUBMISSIONS}/{ids[1]}/reject", json={"reason": "Қате"}, headers=clerk)
    rejected = client.get(SUBMISSIONS, params={"status": "rejected"}, headers=clerk).json()
    assert [i["id"] for i in rejected["items"]] == [ids[1]]
    assert rejected["items"][0]["rejection_reason"] == "Қате"
    received = client.get(SUBMISSIONS, params={"status": "received"}, headers=clerk).json()
    assert len(received["items"]) == 4

    facility = client.get(
        SUBMISSIONS, params={"facility": "050440000012"}, headers=clerk
    ).json()
    assert facility["items"] == []
    today = local_date(now())
    dated = client.get(
        SUBMISSIONS,
        params={"date_from": today.isoformat(), "date_to": today.isoformat()},
        headers=clerk,
    ).json()
    assert len(dated["items"]) == 5
    before = client.get(
        SUBMISSIONS, params={"date_to": (today - timedelta(days=1)).isoformat()}, headers=clerk
    ).json()
    assert before["items"] == []


@pytest.mark.parametrize(
    "params",
    [{"after": "garbage!"}, {"limit": 101}, {"limit": 0}, {"status": "lost"}, {"facility": "12"}],
)
def test_queue_refuses_bad_parameters(client: Any, clerk: dict[str, str], params: Any) -> None:
    response = client.get(SUBMISSIONS, params=params, headers=clerk)
    assert response.status_code in (400, 422)
    assert response.json()["error"] in ("invalid_cursor", "invalid_request")


# -- one dossier ---------------------------------------------------------------------------------


def test_opening_a_dossier_moves_it_to_review_and_shows_everything(
    app: Any, client: Any, db: Session, clerk: dict[str, str], mother: f.Signer
) -> None:
    born = now() - timedelta(days=2)
    first = submit(client, f.good_dossier(app, mother, born_at=born))
    second = submit(client, f.good_dossier(app, mother, born_at=born + timedelta(hours=30)))

    response = client.get(f"{SUBMISSIONS}/{second}", headers=clerk)
    assert response.status_code == 200
    detail = response.json()
    assert detail["status"] == "in_review"
    assert detail["dossier"]["medical_record"]["document"]["mother"]["iin"] == mother.subject.iin  # type: ignore[union-attr]
    assert detail["report"]["passed"] is True
    assert detail["receipt"]["submission_id"] == second
    assert detail["duplicate_candidates"] == [first]
    assert [c["id"] for c in detail["candidates"]] == [first]
    assert detail["candidates"][0]["child"]["born_at"]
    assert [h["action"] for h in detail["history"]] == ["submission.received", "submission.opened"]
    assert detail["history"][1]["actor"].startswith("staff:")
    assert detail["registration"] is None
    assert detail["previous_id"] is None and detail["next_ids"] == []

    # Opening again changes nothing more.
    again = client.get(f"{SUBMISSIONS}/{second}", headers=clerk).json()
    assert len(again["history"]) == 2
    assert client.get(f"{SUBMISSIONS}/nope", headers=clerk).status_code == 404
    assert client.get(f"{SUBMISSIONS}/nope", headers=clerk).json()["error"] == (
        "submission_not_found"
    )


# -- register ------------------------------------------------------------------------------------


def test_register_allocates_numbers_and_issues_the_certificate_once(
    app: Any, client: Any, db: Session, clerk: dict[str, str], mother: f.Signer
) -> None:
    born = now() - timedelta(days=2)
    submission_id = submit(client, f.good_dossier(app, mother, born_at=born, sex="M"))
    response = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["act_record_number"] == 1
    iin = result["child_iin"]
    assert is_valid_iin(iin)
    # YYMMDD, and the 7th digit 5 (a boy born in the 2000s)
    assert date(2000 + int(iin[:2]), int(iin[2:4]), int(iin[4:6])) == local_date(born)
    assert iin_sex(iin) == "M"
    assert iin[6] == "5"
    certificate = db.get(BirthCertificate, result["certificate_id"])
    assert certificate is not None
    assert len(certificate.id) >= 32

    again = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk)
    assert again.status_code == 200
    assert again.json() == result
    assert len(db.exec(select(Registration)).all()) == 1

    detail = client.get(f"{SUBMISSIONS}/{submission_id}", headers=clerk).json()
    assert detail["status"] == "registered"
    assert detail["registration"]["act_record_number"] == 1
    assert detail["registration"]["certificate_id"] == result["certificate_id"]
    assert [h["action"] for h in detail["history"]] == [
        "submission.received",
        "registration.registered",
    ]

    # The next one gets the next number and the next IIN of the same prefix.
    other_mother = f.issue_person(app, f.person(400))
    other = submit(
        client,
        f.good_dossier(
            app, other_mother, born_at=born, sex="M",
            application_changes={"child": {"given_name": "Нұрлан"}},
        ),
    )
    second = client.post(f"{SUBMISSIONS}/{other}/register", headers=clerk).json()
    assert second["act_record_number"] == 2
    assert second["child_iin"][:7] == iin[:7]
    assert second["child_iin"] != iin


def test_register_and_reject_refuse_the_wrong_state(
    app: Any, client: Any, clerk: dict[str, str], mother: f.Signer
) -> None:
    rejected = submit(client, f.good_dossier(app, mother, born_at=now() - timedelta(days=1)))
    registered = submit(client, f.good_dossier(app, mother, born_at=now() - timedelta(days=9)))
    assert client.post(
        f"{SUBMISSIONS}/{rejected}/reject", json={"reason": "Құжат толық емес"}, headers=clerk
    ).status_code == 200
    assert client.post(f"{SUBMISSIONS}/{registered}/register", headers=clerk).status_code == 201

    for path in (f"{rejected}/register", f"{rejected}/reject", f"{registered}/reject"):
        response = client.post(f"{SUBMISSIONS}/{path}", json={"reason": "x"}, headers=clerk)
        assert response.status_code == 409, path
        assert response.json()["error"] == "invalid_state"
    missing = client.post(f"{SUBMISSIONS}/missing/register", headers=clerk)
    assert missing.status_code == 404
    assert missing.json()["error"] == "submission_not_found"


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001, "bad\x00text"])
def test_reject_needs_a_plain_reason(
    app: Any, client: Any, clerk: dict[str, str], mother: f.Signer, reason: str
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    response = client.post(
        f"{SUBMISSIONS}/{submission_id}/reject", json={"reason": reason}, headers=clerk
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_reject_is_audited_and_shown_to_the_sender(
    app: Any, client: Any, db: Session, clerk: dict[str, str], mother: f.Signer
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    status = client.get(f"{SUBMISSIONS}/{submission_id}/status")
    assert status.status_code == 200
    assert status.json()["status"] == "received"
    assert status.json()["rejection_reason"] is None

    reason = "Әкесінің тегі қате. Please correct the father's surname."
    response = client.post(
        f"{SUBMISSIONS}/{submission_id}/reject", json={"reason": f"  {reason}\n"}, headers=clerk
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    stored = db.get(Submission, submission_id)
    assert stored is not None
    assert stored.rejection_reason == reason
    assert stored.decided_by is not None
    entries = db.exec(
        select(AuditEntry)
        .where(AuditEntry.object_id == submission_id)
        .order_by(col(AuditEntry.seq))
    ).all()
    assert [e.action for e in entries] == ["submission.received", "submission.rejected"]
    assert reason not in str([e.model_dump() for e in entries])  # only the details' digest

    status = client.get(f"{SUBMISSIONS}/{submission_id}/status").json()
    assert status["status"] == "rejected"
    assert status["rejection_reason"] == reason
    assert client.get(f"{SUBMISSIONS}/unknown/status").status_code == 404


def test_status_gives_the_certificate_once_registered(
    app: Any, client: Any, clerk: dict[str, str], mother: f.Signer
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    result = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk).json()
    status = client.get(f"{SUBMISSIONS}/{submission_id}/status").json()
    assert status["status"] == "registered"
    assert status["certificate_id"] == result["certificate_id"]
    assert status["decided_at"] is not None


def test_numbers_are_per_office_and_year(app: Any, client: Any, db: Session) -> None:
    from birthreg.models import ActRecordCounter, RegistryOffice
    from birthreg.registry.numbering import next_act_record_number

    with Session(app.state.services.engine) as session:
        office = session.exec(select(RegistryOffice)).one()
        assert office.id is not None
        numbers = [next_act_record_number(session, office.id, 2026) for _ in range(3)]
        numbers.append(next_act_record_number(session, office.id, 2027))
        session.commit()
    assert numbers == [1, 2, 3, 1]
    counters = db.exec(select(ActRecordCounter).order_by(col(ActRecordCounter.year))).all()
    assert [(c.year, c.last_number) for c in counters] == [(2026, 3), (2027, 1)]


def test_a_failed_registration_keeps_nothing_and_loses_no_number(
    app: Any, client: Any, db: Session, mother: f.Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from birthreg.errors import DomainError
    from birthreg.registry import registration, service

    submission_id = submit(client, f.good_dossier(app, mother))
    registry = service.registry_for(app_services(app))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise DomainError("certificate_failed", "the certificate could not be made", 500)

    monkeypatch.setattr(registration, "issue_certificate", broken)
    with Session(app.state.services.engine) as session, pytest.raises(DomainError):
        registration.register_submission(
            session, registry, submission_id, actor="system", role="system", staff_id=None
        )
    assert db.exec(select(Registration)).all() == []
    stored = db.get(Submission, submission_id)
    assert stored is not None and stored.status == "received"

    monkeypatch.undo()
    with Session(app.state.services.engine) as session:
        outcome = registration.register_submission(
            session, registry, submission_id, actor="system", role="system", staff_id=None
        )
        session.commit()
    assert outcome.created
    assert outcome.result.act_record_number == 1
