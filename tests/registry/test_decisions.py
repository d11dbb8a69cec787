"""Decisions before registration: late applications (the parent's reason, a registrar's
approval) and likely duplicates (a clerk's recorded decision, 409 duplicate_undecided)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.models import AuditEntry, OutboxMessage, Role, Submission, now
from registry import factories as f
from registry.test_pages import HTML, add_staff, in_language, log_in

SUBMISSIONS = "/api/v1/registry/submissions"
REASON = "Мы жили на отгонном пастбище, до ЗАГСа 300 км."


@pytest.fixture
def clerk(app: Any, client: Any) -> dict[str, str]:
    return f.staff_headers(app, Role.CLERK)


@pytest.fixture
def registrar(app: Any, client: Any) -> dict[str, str]:
    return f.staff_headers(app, Role.REGISTRAR)


@pytest.fixture
def mother(app: Any, client: Any) -> f.Signer:
    return f.issue_person(app, f.person(100))


def late_dossier(app: Any, mother: f.Signer, *, days: int = 100, **changes: Any) -> dict[str, Any]:
    assert mother.subject is not None
    record = f.medical_record(mother.subject, born_at=now() - timedelta(days=days))
    document = f.application(record, **changes)
    return f.dossier(f.facility_seal(app), record, document, (mother,))


def actions(session: Session, submission_id: str) -> list[str]:
    return list(
        session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.object_id == submission_id)
            .order_by(col(AuditEntry.seq))
        ).all()
    )


# -- late registration ---------------------------------------------------------------------------


def test_a_late_application_without_a_reason_is_refused(
    app: Any, client: Any, mother: f.Signer, db: Session
) -> None:
    response = client.post(SUBMISSIONS, json=late_dossier(app, mother))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "late_reason_required"
    assert body["report"]["late"] is True
    assert db.exec(select(Submission)).all() == []


def test_a_late_application_waits_for_a_registrar(
    app: Any, client: Any, mother: f.Signer, clerk: dict[str, str], registrar: dict[str, str],
    db: Session,
) -> None:
    response = client.post(SUBMISSIONS, json=late_dossier(app, mother, late_reason=REASON))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "late"
    submission_id = response.json()["id"]
    kinds = db.exec(select(OutboxMessage.kind).where(OutboxMessage.submission_id == submission_id))
    assert list(kinds) == ["late"]
    queue = client.get(SUBMISSIONS, params={"status": "late"}, headers=clerk).json()["items"]
    assert [item["id"] for item in queue] == [submission_id]
    # Opening it leaves it late; neither a clerk's registration nor a clerk's approval passes.
    detail = client.get(f"{SUBMISSIONS}/{submission_id}", headers=clerk).json()
    assert detail["status"] == "late"
    refused = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk)
    assert refused.status_code == 409 and refused.json()["error"] == "late_unapproved"
    forbidden = client.post(f"{SUBMISSIONS}/{submission_id}/approve-late", headers=clerk)
    assert forbidden.status_code == 403

    approved = client.post(f"{SUBMISSIONS}/{submission_id}/approve-late", headers=registrar)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "received"
    again = client.post(f"{SUBMISSIONS}/{submission_id}/approve-late", headers=registrar)
    assert again.status_code == 409 and again.json()["error"] == "not_late"
    registered = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk)
    assert registered.status_code == 201, registered.text
    assert actions(db, submission_id) == [
        "submission.received",
        "submission.late_approved",  # opening a late dossier changes nothing
        "registration.registered",
    ]


def test_a_late_application_may_be_rejected(
    app: Any, client: Any, mother: f.Signer, clerk: dict[str, str]
) -> None:
    response = client.post(SUBMISSIONS, json=late_dossier(app, mother, late_reason=REASON))
    submission_id = response.json()["id"]
    rejected = client.post(
        f"{SUBMISSIONS}/{submission_id}/reject", json={"reason": "Нет справки."}, headers=clerk
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"


def test_the_deadline_is_the_registry_s_setting(service_settings: Any) -> None:
    """BIRTHREG_REGISTRATION_DEADLINE_DAYS moves the deadline (here: 10 days)."""
    from fastapi.testclient import TestClient

    from birthreg.bootstrap import initialise
    from birthreg.main import create_app

    service_settings.registration_deadline_days = 10
    initialise(service_settings)
    app = create_app(service_settings)
    with TestClient(app, base_url="http://testserver") as client:
        mother = f.issue_person(app, f.person(100))
        on_time = client.post(SUBMISSIONS, json=late_dossier(app, mother, days=9))
        assert on_time.status_code == 201, on_time.text
        assert on_time.json()["status"] == "received"
        other = f.issue_person(app, f.person(101))
        late = client.post(SUBMISSIONS, json=late_dossier(app, other, days=11))
        assert late.status_code == 422 and late.json()["error"] == "late_reason_required"


def test_nothing_is_refused_for_time_alone(
    app: Any, client: Any, mother: f.Signer
) -> None:
    """Ten years late, with a reason: received, waiting for approval."""
    response = client.post(
        SUBMISSIONS, json=late_dossier(app, mother, days=3650, late_reason=REASON)
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "late"


# -- likely duplicates ---------------------------------------------------------------------------

OTHER = {"surname": "Серікова", "given_name": "Дана"}


def dossier_of(
    app: Any,
    mother: f.Signer,
    *,
    days: float = 2,
    names: dict[str, str] | None = None,
    elsewhere: bool = False,
) -> dict[str, Any]:
    """A dossier of a birth `days` ago, its child named `names` (the factory's name else), at
    the default facility or `elsewhere` (another one)."""
    assert mother.subject is not None
    seal, facility = f.facility_seal(app), {}
    if elsewhere:
        seal = f.other_facility_seal(app)
        facility = {"bin": f.OTHER_FACILITY.bin, "name": f.OTHER_FACILITY.name}
    record = f.medical_record(mother.subject, born_at=now() - timedelta(days=days), **(
        {"facility": facility} if facility else {}
    ))
    changes: dict[str, Any] = {"child": names} if names else {}
    if days > 92:
        changes["late_reason"] = REASON
    return f.dossier(seal, record, f.application(record, **changes), (mother,))


def submit(client: Any, dossier: dict[str, Any]) -> str:
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("days", "names", "other_mother", "elsewhere", "flagged"),
    [
        (200, OTHER, False, False, True),  # the same mother, 198 days apart
        (290, OTHER, False, True, False),  # the same mother, 288 days apart: another birth
        (4.5, None, True, True, True),  # the same child's names, 2.5 days apart, another ward
        (6, None, True, True, False),  # the same names, 4 days apart
        (2, None, True, False, False),  # the same names, another mother, the same ward
        (2, OTHER, True, True, False),  # another mother, another name
    ],
)
def test_likely_duplicates(
    app: Any, client: Any, mother: f.Signer, days: float, names: dict[str, str] | None,
    other_mother: bool, elsewhere: bool, flagged: bool,
) -> None:
    first = submit(client, dossier_of(app, mother))
    second_mother = f.issue_person(app, f.person(101)) if other_mother else mother
    second = dossier_of(app, second_mother, days=days, names=names, elsewhere=elsewhere)
    response = client.post(SUBMISSIONS, json=second)
    assert response.status_code == 201, response.text
    assert response.json()["duplicate_candidates"] == ([first] if flagged else [])


def test_names_are_compared_case_folded_with_yo_as_ye(
    app: Any, client: Any, mother: f.Signer
) -> None:
    names = {"surname": "Фёдорова", "given_name": "Анна"}
    first = submit(client, dossier_of(app, mother, names=names))
    other = f.issue_person(app, f.person(101))
    second = dossier_of(
        app, other, names={"surname": "ФЕДОРОВА", "given_name": "анна"}, elsewhere=True
    )
    assert client.post(SUBMISSIONS, json=second).json()["duplicate_candidates"] == [first]


def two_of_a_mother(app: Any, client: Any, mother: f.Signer) -> tuple[str, str]:
    ids = []
    for _ in range(2):
        response = client.post(SUBMISSIONS, json=f.good_dossier(app, mother))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids[0], ids[1]


def decide(
    client: Any, headers: dict[str, str], submission_id: str, other: str, decision: str
) -> Any:
    return client.post(
        f"{SUBMISSIONS}/{submission_id}/duplicate-decision",
        json={"of": other, "decision": decision, "reason": "Разные медицинские записи."},
        headers=headers,
    )


def test_registration_waits_for_a_duplicate_decision(
    app: Any, client: Any, mother: f.Signer, clerk: dict[str, str], db: Session
) -> None:
    first, second = two_of_a_mother(app, client, mother)
    refused = client.post(f"{SUBMISSIONS}/{first}/register", headers=clerk)
    assert refused.status_code == 409 and refused.json()["error"] == "duplicate_undecided"

    decided = decide(client, clerk, first, second, "not_duplicate")
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"] == "not_duplicate" and decided.json()["of"] == second
    assert client.post(f"{SUBMISSIONS}/{first}/register", headers=clerk).status_code == 201
    # The decision on the pair counts from the other side too.
    assert client.post(f"{SUBMISSIONS}/{second}/register", headers=clerk).status_code == 201
    assert "submission.duplicate_decided" in actions(db, first)


def test_a_duplicate_is_not_registered_but_its_original_is(
    app: Any, client: Any, mother: f.Signer, clerk: dict[str, str]
) -> None:
    first, second = two_of_a_mother(app, client, mother)
    assert decide(client, clerk, second, first, "duplicate").status_code == 200
    refused = client.post(f"{SUBMISSIONS}/{second}/register", headers=clerk)
    assert refused.status_code == 409 and refused.json()["error"] == "decided_duplicate"
    assert client.post(f"{SUBMISSIONS}/{first}/register", headers=clerk).status_code == 201
    # A new decision replaces the old one.
    assert decide(client, clerk, second, first, "not_duplicate").status_code == 200
    assert client.post(f"{SUBMISSIONS}/{second}/register", headers=clerk).status_code == 201


def test_a_rejected_candidate_needs_no_decision(
    app: Any, client: Any, mother: f.Signer, clerk: dict[str, str]
) -> None:
    first, second = two_of_a_mother(app, client, mother)
    client.post(f"{SUBMISSIONS}/{second}/reject", json={"reason": "Повтор."}, headers=clerk)
    assert client.post(f"{SUBMISSIONS}/{first}/register", headers=clerk).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"decision": "maybe", "reason": "x"}, 422, "invalid_request"),
        ({"decision": "duplicate", "reason": "   "}, 422, "invalid_request"),
        ({"decision": "duplicate", "reason": "a\x00b"}, 422, "invalid_request"),
    ],
)
def test_bad_decisions_are_refused(
    app: Any, client: Any, mother: f.Signer, clerk: dict[str, str],
    body: dict[str, str], status: int, code: str,
) -> None:
    first, second = two_of_a_mother(app, client, mother)
    response = client.post(
        f"{SUBMISSIONS}/{first}/duplicate-decision", json={"of": second, **body}, headers=clerk
    )
    assert response.status_code == status and response.json()["error"] == code


def test_only_candidates_are_decided(
    app: Any, client: Any, mother: f.Signer, clerk: dict[str, str]
) -> None:
    first, _second = two_of_a_mother(app, client, mother)
    unrelated = submit(client, dossier_of(app, f.issue_person(app, f.person(101)), names=OTHER))
    response = decide(client, clerk, first, unrelated, "duplicate")
    assert response.status_code == 409 and response.json()["error"] == "not_a_candidate"
    missing = decide(client, clerk, "no-such-id", unrelated, "duplicate")
    assert missing.status_code == 404
    assert decide(client, {}, first, unrelated, "duplicate").status_code == 401
    ward = f.staff_headers(app, Role.WARD)
    assert decide(client, ward, first, unrelated, "duplicate").status_code == 403


# -- the dossier page ----------------------------------------------------------------------------


def test_a_registrar_approves_a_late_application_on_its_page(
    app: Any, client: Any, mother: f.Signer, db: Session
) -> None:
    response = client.post(SUBMISSIONS, json=late_dossier(app, mother, late_reason=REASON))
    submission_id = response.json()["id"]
    page_url = f"/registry/submissions/{submission_id}"
    add_staff(app, "clerk")
    add_staff(app, "senior", Role.REGISTRAR)

    csrf = log_in(client, "clerk")
    page = client.get(page_url, headers={**HTML, "Accept-Language": "en"})
    assert REASON in page.text and 'data-testid="approve-late-form"' not in page.text
    assert 'data-testid="register-form"' not in page.text  # rejecting stays possible
    assert 'data-testid="reject-form"' in page.text
    forbidden = client.post(f"{page_url}/approve-late", data={"csrf_token": csrf}, headers=HTML)
    assert forbidden.status_code == 403

    client.cookies.clear()
    csrf = log_in(client, "senior")
    page = client.get(page_url, headers={**HTML, "Accept-Language": "ru"})
    assert 'data-testid="approve-late-form"' in page.text
    assert in_language("ru", "Late, awaiting approval") in page.text
    approved = client.post(
        f"{page_url}/approve-late", data={"csrf_token": csrf}, headers=HTML,
        follow_redirects=False,
    )
    assert approved.status_code == 303
    assert approved.headers["location"].endswith("?flash=late_approved")
    page = client.get(approved.headers["location"], headers={**HTML, "Accept-Language": "en"})
    assert "The late registration is approved" in page.text
    assert 'data-testid="late-approved"' in page.text and "senior" in page.text
    assert 'data-testid="register-form"' in page.text
    again = client.post(
        f"{page_url}/approve-late", data={"csrf_token": csrf},
        headers={**HTML, "Accept-Language": "en"},
    )
    assert again.status_code == 409
    assert "not a late application waiting for approval" in again.text
    # Approved, then opened again by the registrar: in review, ready to register.
    assert db.get(Submission, submission_id).status == "in_review"  # type: ignore[union-attr]


def test_a_clerk_decides_a_duplicate_on_the_dossier_page(
    app: Any, client: Any, mother: f.Signer
) -> None:
    first, second = two_of_a_mother(app, client, mother)
    add_staff(app, "clerk")
    csrf = log_in(client, "clerk")
    page_url = f"/registry/submissions/{first}"
    english = {**HTML, "Accept-Language": "en"}
    page = client.get(page_url, headers=english)
    assert page.text.count('data-testid="duplicate-form"') == 1

    refused = client.post(
        f"{page_url}/register", data={"csrf_token": csrf, "confirm": "yes"}, headers=english
    )
    assert refused.status_code == 409
    assert "Decide first, for each likely duplicate" in refused.text

    blank = client.post(
        f"{page_url}/duplicate-decision",
        data={"csrf_token": csrf, "of": second, "decision": "not_duplicate", "reason": " "},
        headers=english,
    )
    assert blank.status_code == 400 and 'aria-invalid="true"' in blank.text
    assert 'value="not_duplicate" required checked' in blank.text  # the choice is kept
    decided = client.post(
        f"{page_url}/duplicate-decision",
        data={"csrf_token": csrf, "of": second, "decision": "not_duplicate",
              "reason": "Другая медицинская запись,\r\nдругой вес."},
        headers=english,
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    page = client.get(decided.headers["location"], headers=english)
    assert "The decision on the likely duplicate is recorded." in page.text
    assert 'data-decision="not_duplicate"' in page.text and "другой вес." in page.text
    # The other dossier shows the same decision, from its side.
    other = client.get(f"/registry/submissions/{second}", headers=english)
    assert 'data-decision="not_duplicate"' in other.text
    registered = client.post(
        f"{page_url}/register", data={"csrf_token": csrf, "confirm": "yes"}, headers=english,
        follow_redirects=False,
    )
    assert registered.status_code == 303
