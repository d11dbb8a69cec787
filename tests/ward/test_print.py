"""The certificate printed at the ward: once the registry registered the birth, the birth's page
offers the signed PDF; printing it is in the registry's issuance log as "printed at the ward"
with the facility, and in both audit trails. The registry counts it only on the facility's sealed
claim: another facility, or a BIN in the address, is refused."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from parents.helpers import (
    Phone,
    browser,
    clerk_headers,
    draft,
    new_birth,
    sign_application,
    signed_in_mother,
    ward_headers,
)
from pyhanko.pdf_utils.reader import PdfFileReader
from registry.factories import facility_seal
from sqlmodel import Session, select

from birthreg.models import AuditEntry, Birth, Facility, ParentApplication, Progress, now
from birthreg.ward_print_claim import seal_ward_print
from ward.helpers import staff
from ward.test_pages import HTML, log_in


@pytest.fixture
def mother(app: Any, client: TestClient) -> Phone:
    ward = ward_headers(app)
    return signed_in_mother(app, client, ward, new_birth(client, ward))


def _registered(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> tuple[str, dict[str, Any]]:
    application_id = draft(mother)
    assert sign_application(mother, application_id).json()["submitted"] is True
    row = db.get(ParentApplication, application_id)
    assert row is not None and row.submission_id
    registered = client.post(
        f"/api/v1/registry/submissions/{row.submission_id}/register", headers=clerk_headers(app)
    )
    assert registered.status_code in (200, 201), registered.text
    return row.birth_id, registered.json()


def _issuance_kinds(client: TestClient, app: Any, certificate_id: str) -> list[str]:
    log = client.get(
        f"/api/v1/registry/certificates/{certificate_id}/issuances",
        headers=clerk_headers(app, "clerk2"),
    )
    assert log.status_code == 200, log.text
    return [entry["kind"] for entry in log.json()["issuances"]]


def test_the_ward_prints_the_registered_certificate(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    birth_id, registered = _registered(app, client, db, mother)
    desk = browser(app)
    token = log_in(desk)
    page = desk.get(f"/ward/births/{birth_id}", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="ward-certificate"' in page.text
    number = client.get(f"/api/v1/registry/certificates/{registered['certificate_id']}").json()[
        "certificate_number"
    ]
    assert number in page.text
    db.expire_all()
    birth = db.get(Birth, birth_id)
    assert birth is not None and birth.progress == Progress.REGISTERED.value
    assert birth.certificate_issued_at is not None
    hours = (birth.certificate_issued_at - birth.born_at).total_seconds() / 3600
    assert 1.9 < hours < 2.5  # born two hours before the test registered it
    db.rollback()  # no read transaction of the test's own in the registry's way (SQLite)
    listed = desk.get("/ward", headers={**HTML, "Accept-Language": "en"})
    shown = re.search(
        r'data-testid="hours-to-certificate">certificate ([0-9.]+) h after', listed.text
    )
    assert shown is not None and float(shown.group(1)) == round(hours, 1)

    printed = desk.post(
        f"/ward/births/{birth_id}/certificate.pdf", data={"csrf_token": token}, headers=HTML
    )
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    signatures = PdfFileReader(io.BytesIO(printed.content)).embedded_signatures
    assert len(signatures) == 1

    certificate_id = registered["certificate_id"]
    assert _issuance_kinds(client, app, certificate_id) == ["original", "printed_at_ward"]
    facility = db.exec(select(Facility)).first()
    assert facility is not None
    log = client.get(
        f"/api/v1/registry/certificates/{certificate_id}/issuances",
        headers=clerk_headers(app, "clerk3"),
    ).json()["issuances"]
    assert log[-1]["actor"] == f"facility:{facility.bin}" and log[-1]["role"] == "ward"
    actions = set(db.exec(select(AuditEntry.action)).all())
    # Both sides audit it: the ward (who printed which birth) and the registry (the issuance).
    assert {"birth.certificate_printed", "certificate.printed_at_ward"} <= actions


def test_the_mothers_page_tells_the_ward_when_the_certificate_was_issued(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    birth_id, _ = _registered(app, client, db, mother)
    assert db.get(Birth, birth_id).certificate_issued_at is None  # type: ignore[union-attr]
    db.rollback()
    assert mother.client.get("/parents").status_code == 200
    db.expire_all()
    birth = db.get(Birth, birth_id)
    assert birth is not None and birth.progress == Progress.REGISTERED.value
    assert birth.certificate_issued_at is not None and birth.certificate_issued_at > birth.born_at
    db.rollback()
    births = client.get("/api/v1/ward/births", headers=ward_headers(app, "midwife2"))
    assert births.status_code == 200
    listed = [b for b in births.json()["births"] if b["id"] == birth_id]
    assert listed and listed[0]["certificate_issued_at"]


def test_the_clerks_record_page_names_the_ward_that_printed(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    from registry.test_pages import add_staff
    from registry.test_pages import log_in as clerk_log_in

    birth_id, registered = _registered(app, client, db, mother)
    submission_id = db.exec(
        select(ParentApplication.submission_id).where(ParentApplication.birth_id == birth_id)
    ).one()
    facility = db.exec(select(Facility)).one()
    db.rollback()
    seal = facility_seal(app)
    claim = seal_ward_print(
        registered["certificate_id"], facility.bin, moment=now(), certificate=seal.certificate,
        key=seal.key, chain=seal.chain,
    )  # fmt: skip
    printed = client.post(
        f"/api/v1/registry/certificates/{registered['certificate_id']}/ward-print", json=claim
    )
    assert printed.status_code == 200, printed.text
    add_staff(app, "clerk-log")
    clerk = browser(app)
    clerk_log_in(clerk, "clerk-log")
    page = clerk.get(
        f"/registry/submissions/{submission_id}", headers={**HTML, "Accept-Language": "ru"}
    )
    assert page.status_code == 200
    row = page.text.split('data-kind="printed_at_ward"', 1)[1].split("</tr>", 1)[0]
    assert "Распечатано в роддоме" in row and facility.name in row and "(роддом)" in row


def test_another_facilitys_staff_cannot_print(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    birth_id, registered = _registered(app, client, db, mother)
    other = Facility(bin="050140000031", name="Басқа (TEST)", seal_serial="1", created_at=now())
    db.add(other)
    db.commit()
    staff(app, username="stranger", facility_id=other.id)
    desk = browser(app)
    token = log_in(desk, "stranger")
    assert desk.get(f"/ward/births/{birth_id}", headers=HTML).status_code == 404
    refused = desk.post(
        f"/ward/births/{birth_id}/certificate.pdf", data={"csrf_token": token}, headers=HTML
    )
    assert refused.status_code == 404
    assert _issuance_kinds(client, app, registered["certificate_id"]) == ["original"]


def test_a_forged_print_without_the_csrf_token_is_refused(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    birth_id, registered = _registered(app, client, db, mother)
    desk = browser(app)
    log_in(desk)
    forged = desk.post(f"/ward/births/{birth_id}/certificate.pdf", data={}, headers=HTML)
    assert forged.status_code == 403
    assert _issuance_kinds(client, app, registered["certificate_id"]) == ["original"]


def test_the_registry_refuses_a_print_claimed_by_the_link_alone(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    """The claim is the facility's sealed one (tests/registry/test_ward_print.py has every
    refusal); a BIN in the address, the birth facility's or another's, claims nothing."""
    _, registered = _registered(app, client, db, mother)
    certificate_id = registered["certificate_id"]
    facility = db.exec(select(Facility)).one()
    db.rollback()
    for bin_ in (facility.bin, "990101300122", "x"):
        refused = client.get(
            f"/api/v1/registry/certificates/{certificate_id}.pdf", params={"printed_at_ward": bin_}
        )
        assert refused.status_code == 400 and refused.json()["error"] == "ward_print_unsealed"
    assert _issuance_kinds(client, app, certificate_id) == ["original"]


def test_before_registration_the_page_offers_nothing_and_printing_is_refused(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    application_id = draft(mother)
    sign_application(mother, application_id)
    row = db.get(ParentApplication, application_id)
    assert row is not None
    desk = browser(app)
    token = log_in(desk)
    page = desk.get(f"/ward/births/{row.birth_id}", headers=HTML)
    assert page.status_code == 200 and 'data-testid="ward-certificate"' not in page.text
    refused = desk.post(
        f"/ward/births/{row.birth_id}/certificate.pdf", data={"csrf_token": token}, headers=HTML
    )
    assert refused.status_code == 409
