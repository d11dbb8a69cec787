"""Copies and the issuance log: a repeat certificate for a checked collector, PDF downloads."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.models import AuditEntry, OutboxMessage, Role
from registry import factories as f

SUBMISSIONS = "/api/v1/registry/submissions"
CERTIFICATES = "/api/v1/registry/certificates"


@pytest.fixture
def registered(app: Any, client: Any) -> dict[str, Any]:
    clerk = f.staff_headers(app, Role.CLERK)
    mother = f.issue_person(app, f.person(100))
    submission_id = client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).json()["id"]
    result = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk).json()
    return {"submission_id": submission_id, "certificate_id": result["certificate_id"],
            "clerk": clerk}


def copy_body(**collector: Any) -> dict[str, Any]:
    return {
        "reason": "The original was lost.",
        "collector": {"iin": f.person(100).iin, "name": "Әбілқасымова Гүлнұр",
                      "document_checked": True, **collector},
    }


def test_a_copy_and_the_issuance_log(
    app: Any, client: Any, db: Session, registered: dict[str, Any]
) -> None:
    original_id, clerk = registered["certificate_id"], registered["clerk"]
    original = client.get(f"{CERTIFICATES}/{original_id}").json()
    issued = client.post(f"{CERTIFICATES}/{original_id}/copies", json=copy_body(), headers=clerk)
    assert issued.status_code == 201, issued.text
    copy_id = issued.json()["certificate_id"]
    assert issued.json()["certificate_number"] == original["certificate_number"] + "-2"
    copy = client.get(f"{CERTIFICATES}/{copy_id}").json()
    assert copy["fields"]["act_record"] == original["fields"]["act_record"]
    assert copy["fields"]["child"] == original["fields"]["child"]
    assert copy["qr"] != original["qr"]
    assert client.post("/api/v1/verify", json={"qr": copy["qr"]}).json()["status"] == "valid"
    pdf = client.get(f"{CERTIFICATES}/{copy_id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    log = client.get(f"{CERTIFICATES}/{original_id}/issuances", headers=clerk)
    assert log.status_code == 200, log.text
    entries = log.json()["issuances"]
    assert [(e["kind"], e["certificate_id"]) for e in entries] == [
        ("original", original_id), ("copy", copy_id), ("pdf_download", copy_id)
    ]
    assert entries[0]["actor"].startswith("staff:")
    assert entries[1]["collector_name"] == "Әбілқасымова Гүлнұр"
    assert entries[1]["collector_iin"] == f.person(100).iin
    assert entries[1]["document_checked"] is True
    assert entries[2]["role"] == "holder"
    actions = db.exec(
        select(AuditEntry.action)
        .where(AuditEntry.object_id == registered["submission_id"])
        .order_by(col(AuditEntry.seq))
    ).all()
    assert actions[-2:] == ["certificate.copied", "certificate.downloaded"]
    told = db.exec(select(OutboxMessage.kind, OutboxMessage.params)).all()
    assert any(kind == "copy_issued" and copy_id in params for kind, params in told)
    assert client.get(f"{CERTIFICATES}/{original_id}/issuances").status_code == 401


@pytest.mark.parametrize(
    ("collector", "code"),
    [
        ({"document_checked": False}, "identity_not_checked"),
        ({"iin": "123456789012"}, "invalid_iin"),
        ({"name": "   "}, "collector_name_required"),
    ],
)
def test_a_copy_needs_a_checked_collector(
    app: Any, client: Any, registered: dict[str, Any], collector: dict[str, Any], code: str
) -> None:
    certificate_id = registered["certificate_id"]
    response = client.post(
        f"{CERTIFICATES}/{certificate_id}/copies", json=copy_body(**collector),
        headers=registered["clerk"],
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code
    log = client.get(f"{CERTIFICATES}/{certificate_id}/issuances", headers=registered["clerk"])
    assert [e["kind"] for e in log.json()["issuances"]] == ["original"]


def test_a_correction_supersedes_the_copies_too(
    app: Any, client: Any, registered: dict[str, Any]
) -> None:
    original_id, clerk = registered["certificate_id"], registered["clerk"]
    copy_id = client.post(
        f"{CERTIFICATES}/{original_id}/copies", json=copy_body(), headers=clerk
    ).json()["certificate_id"]
    asked = client.post(
        f"{CERTIFICATES}/{copy_id}/corrections",
        json={"changes": {"child.given_name": "Аяжан"}, "reason": "Misspelt."}, headers=clerk,
    )
    registrar = f.staff_headers(app, Role.REGISTRAR)
    approved = client.post(
        f"/api/v1/registry/corrections/{asked.json()['id']}/approve", headers=registrar
    ).json()
    assert approved["certificate_number"].endswith("-3")
    for old in (original_id, copy_id):
        assert client.get(f"{CERTIFICATES}/{old}").json()["status"] == "superseded"


def test_the_record_page_issues_a_copy_and_shows_the_log(app: Any, client: Any) -> None:
    from registry.test_pages import HTML, add_staff, log_in

    add_staff(app, "clerk-copy")
    mother = f.issue_person(app, f.person(100))
    submission_id = client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).json()["id"]
    csrf = log_in(client, "clerk-copy")
    page = f"/registry/submissions/{submission_id}"
    client.post(f"{page}/register", data={"csrf_token": csrf, "confirm": "yes"}, headers=HTML)
    dossier = client.get(page, headers=HTML).text
    action = dossier.split('data-testid="copy-form"')[0].rsplit('action="', 1)[1].split('"')[0]
    form = {"csrf_token": csrf, "collector_name": "Әбілқасымова Гүлнұр",
            "collector_iin": f.person(100).iin, "copy_reason": "Lost."}
    unchecked = client.post(action, data=form, headers=HTML)
    assert unchecked.status_code == 422 and 'id="copy-error"' in unchecked.text
    # Each refusal beside its own field, which is marked invalid (and focused by form-errors.js).
    bad_iin = client.post(
        action, data={**form, "collector_iin": "123456789012", "document_checked": "yes"},
        headers=HTML,
    )
    assert bad_iin.status_code == 422 and 'id="collector-iin-error"' in bad_iin.text
    assert 'aria-describedby="collector-iin-error"' in bad_iin.text
    assert 'value="123456789012"' in bad_iin.text and "form-errors.js" in bad_iin.text
    issued = client.post(action, data={**form, "document_checked": "yes"}, headers=HTML)
    assert issued.status_code == 200 and str(issued.url).endswith("flash=copy_issued")
    assert issued.text.count('data-testid="issuance"') == 2
    assert 'data-kind="copy"' in issued.text and "Әбілқасымова Гүлнұр" in issued.text
    assert issued.text.count('data-testid="certificate-version"') == 2
