"""A parent's correction request signed with her key: verified like an application, refused
when forged, tampered, replayed, signed by a revoked key or by someone who is not a parent."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography import x509
from sqlmodel import Session

from birthreg.models import Role, now
from birthreg.pki.service import revoke
from registry import factories as f

SUBMISSIONS = "/api/v1/registry/submissions"
CERTIFICATES = "/api/v1/registry/certificates"


@pytest.fixture
def mother(app: Any, client: Any) -> f.Signer:
    return f.issue_person(app, f.person(100))


@pytest.fixture
def certificate_id(app: Any, client: Any, mother: f.Signer) -> str:
    clerk = f.staff_headers(app, Role.CLERK)
    submission_id = client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).json()["id"]
    result = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk).json()
    return str(result["certificate_id"])


def request(certificate_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "birthreg.correction-request/1",
        "id": str(uuid.uuid4()),
        "certificate_id": certificate_id,
        "changes": changes or {"child.given_name": "Аяжан"},
        "reason": "Менің қызымның аты қате жазылған.",
    }


def send(client: Any, certificate_id: str, document: Any, signature: Any) -> Any:
    return client.post(
        f"{CERTIFICATES}/{certificate_id}/corrections/signed",
        json={"document": document, "signature": signature},
    )


def test_the_mothers_signed_request_is_decided_by_a_registrar(
    app: Any, client: Any, mother: f.Signer, certificate_id: str
) -> None:
    document = request(certificate_id)
    for fmt in ("jws",):
        response = send(client, certificate_id, document, f.sign(mother, document, fmt=fmt))
        assert response.status_code == 201, response.text
    correction = response.json()
    assert correction["id"] == document["id"] and correction["status"] == "pending"
    replay = send(client, certificate_id, document, f.sign(mother, document))
    assert replay.status_code == 409 and replay.json()["error"] == "duplicate_request"
    registrar = f.staff_headers(app, Role.REGISTRAR)
    approved = client.post(
        f"/api/v1/registry/corrections/{correction['id']}/approve", headers=registrar
    )
    assert approved.status_code == 201, approved.text
    new = client.get(f"{CERTIFICATES}/{approved.json()['certificate_id']}").json()
    assert new["fields"]["child"]["given_name"] == "Аяжан"


def test_a_cms_signature_from_the_key_file_is_accepted_too(
    app: Any, client: Any, mother: f.Signer, certificate_id: str
) -> None:
    document = request(certificate_id, **{"mother.patronymic": "Серікқызы-Ахметқызы"})
    response = send(client, certificate_id, document, f.sign(mother, document, fmt="cms"))
    assert response.status_code == 201, response.text


def test_refused_requests_leave_nothing(
    app: Any, client: Any, mother: f.Signer, certificate_id: str
) -> None:
    document = request(certificate_id)
    signature = f.sign(mother, document)
    tampered = {**document, "changes": {"child.given_name": "Басқа"}}
    refused = send(client, certificate_id, tampered, signature)
    assert refused.status_code == 422 and refused.json()["error"] == "signature_refused"
    assert refused.json()["report"]["indication"] == "TOTAL_FAILED"

    stranger = f.issue_person(app, f.person(555))
    other = send(client, certificate_id, document, f.sign(stranger, document))
    assert other.status_code == 403 and other.json()["error"] == "signer_not_parent"

    elsewhere = request("another-certificate-id-xxxxx")
    wrong = send(client, certificate_id, elsewhere, f.sign(mother, elsewhere))
    assert wrong.status_code == 400 and wrong.json()["error"] == "malformed_request"

    medical = request(certificate_id, **{"child.sex": "M"})
    facts = send(client, certificate_id, medical, f.sign(mother, medical))
    assert facts.status_code == 422 and facts.json()["error"] == "not_correctable"

    with Session(app.state.services.engine) as session:
        revoke(session, mother.certificate.serial_number, x509.ReasonFlags.key_compromise,
               now(), actor="system", role="system")
        session.commit()
    revoked = send(client, certificate_id, document, signature)
    assert revoked.status_code == 422 and revoked.json()["error"] == "signature_refused"
    assert client.get(f"{CERTIFICATES}/{certificate_id}").json()["status"] == "valid"
