"""Corrections: a clerk asks, a registrar (not the one who asked) approves or rejects; approval
issues a new certificate and the old one says it is superseded, in the QR check too."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.models import AuditEntry, OutboxMessage, Role, StaffUser
from birthreg.registry.approval import ApprovalRefused, check_approver
from registry import factories as f

SUBMISSIONS = "/api/v1/registry/submissions"
CERTIFICATES = "/api/v1/registry/certificates"
CORRECTIONS = "/api/v1/registry/corrections"


@pytest.fixture
def registered(app: Any, client: Any) -> dict[str, Any]:
    """A registered birth: its submission id and its certificate (as the API gives it)."""
    clerk = f.staff_headers(app, Role.CLERK)
    mother = f.issue_person(app, f.person(100))
    response = client.post(SUBMISSIONS, json=f.good_dossier(app, mother))
    submission_id = response.json()["id"]
    result = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk).json()
    certificate = client.get(f"{CERTIFICATES}/{result['certificate_id']}").json()
    return {"submission_id": submission_id, "certificate": certificate, "clerk": clerk}


def ask(client: Any, headers: dict[str, str], certificate_id: str, **body: Any) -> Any:
    body.setdefault("reason", "The surname was misspelt on the application.")
    return client.post(f"{CERTIFICATES}/{certificate_id}/corrections", json=body, headers=headers)


def test_the_approval_rule() -> None:
    registrar = StaffUser(id=7, username="r", password_hash="x", role=Role.REGISTRAR.value)
    clerk = StaffUser(id=8, username="c", password_hash="x", role=Role.CLERK.value)
    check_approver(registrar, 8)
    check_approver(registrar, None)  # a parent asked
    with pytest.raises(ApprovalRefused) as own:
        check_approver(registrar, 7)
    assert (own.value.code, own.value.status) == ("own_request", 403)
    with pytest.raises(ApprovalRefused) as not_registrar:
        check_approver(clerk, 7)
    assert not_registrar.value.code == "registrar_required"


def test_a_correction_supersedes_the_certificate(
    app: Any, client: Any, db: Session, registered: dict[str, Any]
) -> None:
    old = registered["certificate"]
    asked = ask(client, registered["clerk"], old["id"], changes={"child.given_name": "Аяжан"})
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending"
    # One pending correction at a time.
    again = ask(client, registered["clerk"], old["id"], changes={"child.surname": "Серікова"})
    assert again.status_code == 409 and again.json()["error"] == "correction_pending"

    registrar = f.staff_headers(app, Role.REGISTRAR)
    approved = client.post(f"{CORRECTIONS}/{asked.json()['id']}/approve", headers=registrar)
    assert approved.status_code == 201, approved.text
    body = approved.json()
    assert body["supersedes"] == old["id"]
    new = client.get(f"{CERTIFICATES}/{body['certificate_id']}").json()
    assert new["certificate_number"] == old["certificate_number"] + "-2"
    assert new["fields"]["child"]["given_name"] == "Аяжан"
    assert new["fields"]["act_record"] == old["fields"]["act_record"]
    assert new["fields"]["child"]["iin"] == old["fields"]["child"]["iin"]
    assert new["status"] == "valid"
    assert client.get(f"{CERTIFICATES}/{old['id']}").json()["status"] == "superseded"

    # The old QR: the seal is still intact, and the registry says what replaced it.
    verdict = client.post("/api/v1/verify", json={"qr": old["qr"]}).json()
    assert verdict["valid"] is True
    assert verdict["status"] == "superseded"
    assert verdict["superseded_by"] == new["certificate_number"]
    status = client.get(f"/api/v1/verify/status/{old['certificate_number']}").json()
    assert status == {"status": "superseded", "superseded_by": new["certificate_number"]}
    assert client.post("/api/v1/verify", json={"qr": new["qr"]}).json()["status"] == "valid"

    # The old certificate cannot be corrected again; the new one can.
    stale = ask(client, registered["clerk"], old["id"], changes={"child.surname": "Серікова"})
    assert stale.status_code == 409 and stale.json()["error"] == "certificate_not_current"
    # Search finds it by the new number; the submission's status names the certificate in force.
    clerk = registered["clerk"]
    found = client.get("/api/v1/registry/search", params={"q": new["certificate_number"]},
                       headers=clerk).json()["results"]
    assert [r["certificate_id"] for r in found] == [new["id"]]
    followed = client.get(f"{SUBMISSIONS}/{registered['submission_id']}/status").json()
    assert followed["certificate_id"] == new["id"]
    actions = db.exec(
        select(AuditEntry.action)
        .where(AuditEntry.object_id == registered["submission_id"])
        .order_by(col(AuditEntry.seq))
    ).all()
    assert actions[-2:] == ["correction.requested", "correction.approved"]
    told = db.exec(
        select(OutboxMessage.kind).where(
            OutboxMessage.submission_id == registered["submission_id"]
        )
    ).all()
    assert "correction_approved" in told  # the parents are told, in the same transaction


def test_nobody_approves_their_own_request(
    app: Any, client: Any, registered: dict[str, Any]
) -> None:
    certificate_id = registered["certificate"]["id"]
    registrar = f.staff_headers(app, Role.REGISTRAR)
    asked = ask(client, registrar, certificate_id, changes={"mother.given_name": "Гүлнар"})
    assert asked.status_code == 201, asked.text
    correction = asked.json()["id"]
    own = client.post(f"{CORRECTIONS}/{correction}/approve", headers=registrar)
    assert own.status_code == 403 and own.json()["error"] == "own_request"
    refused = client.post(f"{CORRECTIONS}/{correction}/approve", headers=registered["clerk"])
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden_role"
    other = f.staff_headers(app, Role.REGISTRAR)
    rejected = client.post(
        f"{CORRECTIONS}/{correction}/reject", json={"reason": "No document shows it."},
        headers=other,
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    with Session(app.state.engine) as session:
        kinds = session.exec(select(OutboxMessage.kind)).all()
    assert "correction_rejected" in kinds
    late = client.post(f"{CORRECTIONS}/{correction}/approve", headers=other)
    assert late.status_code == 409 and late.json()["error"] == "invalid_state"
    assert client.get(f"{CERTIFICATES}/{certificate_id}").json()["status"] == "valid"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"child.date_of_birth": "2026-01-01"}, "not_correctable"),
        ({"child.sex": "M"}, "not_correctable"),
        ({"child.place_of_birth": "Алматы"}, "not_correctable"),
        ({"child.weight_g": "4000"}, "not_correctable"),
        ({"child.iin": "000000000000"}, "not_correctable"),
        ({"child.surname": "<script>"}, "invalid_value"),
        ({"child.surname": ""}, "invalid_value"),
        ({}, "no_change"),
        ({"child.given_name": "Айару"}, "no_change"),
    ],
)
def test_medical_facts_and_bad_values_are_refused(
    app: Any, client: Any, registered: dict[str, Any], changes: dict[str, Any], code: str
) -> None:
    certificate_id = registered["certificate"]["id"]
    response = ask(client, registered["clerk"], certificate_id, changes=changes)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    assert client.get(f"{CERTIFICATES}/{certificate_id}").json()["status"] == "valid"


def test_a_father_can_be_added(app: Any, client: Any, registered: dict[str, Any]) -> None:
    old = registered["certificate"]
    assert old["fields"]["father"] is None
    changes = {"father.surname": "Серіков", "father.given_name": "Болат"}
    asked = ask(client, registered["clerk"], old["id"], changes=changes)
    registrar = f.staff_headers(app, Role.REGISTRAR)
    approved = client.post(f"{CORRECTIONS}/{asked.json()['id']}/approve", headers=registrar)
    new = client.get(f"{CERTIFICATES}/{approved.json()['certificate_id']}").json()
    assert new["fields"]["father"]["surname"] == "Серіков"
    found = client.get("/api/v1/registry/search", params={"q": "серік"},
                       headers=registered["clerk"]).json()["results"]
    assert [r["submission_id"] for r in found] == [registered["submission_id"]]


def test_the_pages_ask_approve_and_show_both_versions(app: Any, client: Any) -> None:
    from registry.test_pages import HTML, add_staff, csrf_of, log_in, text_of

    add_staff(app, "clerk-c")
    add_staff(app, "registrar-r", Role.REGISTRAR)
    mother = f.issue_person(app, f.person(100))
    submission_id = client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).json()["id"]
    csrf = log_in(client, "clerk-c")
    page = f"/registry/submissions/{submission_id}"
    client.post(f"{page}/register", data={"csrf_token": csrf, "confirm": "yes"}, headers=HTML)
    dossier = client.get(page, headers=HTML).text
    assert 'data-testid="correction-form"' in dossier
    action = dossier.split('data-testid="correction-form"')[0].rsplit('action="', 1)[1]
    action = action.split('"', 1)[0]
    form = {"csrf_token": csrf, "child.given_name": "Аяжан", "child.surname": "Әбілқасымова"}
    missing_reason = client.post(action, data=form, headers=HTML)
    assert missing_reason.status_code == 400
    assert 'id="correction-error"' in missing_reason.text
    medical = client.post(action, data={**form, "child.given_name": "Айару",
                                        "correction_reason": "x"}, headers=HTML)
    assert medical.status_code == 422  # nothing changed: no_change
    asked = client.post(action, data={**form, "correction_reason": "Misspelt."}, headers=HTML)
    assert asked.status_code == 200 and str(asked.url).endswith("flash=correction_requested")
    assert "/approve" not in asked.text  # a clerk sees no approval button

    client.post("/logout", data={"csrf_token": csrf_of(asked.text)}, headers=HTML)
    csrf = log_in(client, "registrar-r")
    listing = client.get("/registry/corrections", headers=HTML).text
    assert listing.count('data-testid="pending-correction"') == 1
    assert f'href="{page}#versions-heading"' in listing
    waiting = client.get(page, headers=HTML).text
    approve = waiting.split('/approve"')[0].rsplit('action="', 1)[1] + "/approve"
    approved = client.post(approve, data={"csrf_token": csrf}, headers=HTML)
    assert approved.status_code == 200, approved.text
    assert str(approved.url).endswith("flash=correction_approved")
    text = text_of(approved.text)
    assert approved.text.count('data-testid="certificate-version"') == 2
    assert 'data-status="superseded"' in approved.text
    assert "Айару → Аяжан" in text  # the history shows both versions
    listing = client.get("/registry/corrections", headers=HTML).text
    assert 'data-testid="no-corrections"' in listing
