"""Dossier intake through the API: every check of DESIGN.md, passing and failing, the receipt,
size limits, idempotency, duplicates and resubmission, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from sqlmodel import Session, col, func, select

from birthreg.bootstrap import DEFAULT_REGISTRY_OFFICE
from birthreg.config import Settings
from birthreg.models import AuditEntry, Registration, Submission, now
from birthreg.pki.service import certification_authority, revoke
from birthreg.registry.intake import receipt_payload
from birthreg.registry.service import registry_for
from birthreg.services import app_services
from registry import factories as f
from signing import jws
from signing.ca import CertificationAuthority
from signing.dossier import MAX_DOSSIER_BYTES
from signing.errors import SignatureFailure

SUBMISSIONS = "/api/v1/registry/submissions"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app(service_settings: Settings) -> Any:
    # A CA made three years ago, so that an expired certificate still chains to it.
    return f.app_with_backdated_ca(service_settings)


@pytest.fixture
def mother(app: Any, client: Any) -> f.Signer:
    return f.issue_person(app, f.person(100))


def submissions(db: Session) -> int:
    return db.exec(select(func.count()).select_from(Submission)).one()


def failed_checks(report: dict[str, Any]) -> set[str]:
    names = {c["name"] for c in report["checks"] if not c["passed"]}
    for document in report["documents"]:
        names |= {c["name"] for c in document["checks"] if not c["passed"]}
        for signature in document["signatures"]:
            names |= {c["name"] for c in signature["checks"] if not c["passed"]}
    return names


def signature_reports(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    document = next(d for d in report["documents"] if d["kind"] == kind)
    return list(document["signatures"])


# -- a good dossier ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jws", "cms"])
def test_good_dossier_is_received_with_a_signed_receipt(
    app: Any, client: Any, db: Session, mother: f.Signer, fmt: str
) -> None:
    dossier = f.good_dossier(app, mother, fmt=fmt)
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "received"
    assert body["report"]["passed"] is True
    assert body["report"]["indication"] == "TOTAL_PASSED"
    assert body["duplicate_candidates"] == []

    receipt = body["receipt"]
    assert receipt["type"] == "birthreg.receipt/1"
    assert receipt["submission_id"] == body["id"]
    assert receipt["registry_office"] == {
        "bin": DEFAULT_REGISTRY_OFFICE.bin,
        "name": DEFAULT_REGISTRY_OFFICE.name,
    }
    # Anyone can check it: the JWS over the canonical receipt, signed by the published seal.
    verified = jws.verify_detached(receipt["signature"], receipt_payload(receipt))
    seal = x509.load_pem_x509_certificate(client.get("/pki/seal.pem").content)
    assert verified.signer == seal
    assert verified.algorithm == "ES256"
    issuing = certification_authority(app_services(app)).issuing_certificate
    assert verified.certificates[1] == issuing
    seal.verify_directly_issued_by(issuing)
    tampered = {**receipt, "dossier_sha256": "0" * 64}
    with pytest.raises(SignatureFailure):
        jws.verify_detached(receipt["signature"], receipt_payload(tampered))

    stored = db.get(Submission, body["id"])
    assert stored is not None
    assert stored.status == "received"
    assert stored.dossier_sha256 == receipt["dossier_sha256"]
    assert stored.mother_iin == mother.subject.iin  # type: ignore[union-attr]
    assert stored.medical_record_id == dossier["medical_record"]["document"]["id"]
    actions = db.exec(
        select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.object_id == body["id"])
    ).all()
    assert list(actions) == [("submission.received", f"holder:{mother.serial}")]


def test_joint_application_signed_by_both_parents_is_received(
    app: Any, client: Any, mother: f.Signer
) -> None:
    father = f.issue_person(app, f.person(200, sex="M"))
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    document = f.application(record, father=father.subject, joint=True)
    dossier = f.dossier(f.facility_seal(app), record, document, (mother, father))
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 201, response.text
    roles = [s["role"] for s in signature_reports(response.json()["report"], "application")]
    assert roles == ["mother", "father"]


# -- every check, failing ------------------------------------------------------------------------


def _tampered_record(app: Any, mother: f.Signer) -> dict[str, Any]:
    dossier = f.good_dossier(app, mother)
    dossier["medical_record"]["document"]["child"]["weight_g"] = 4100
    return dossier


def _wrong_mother(app: Any, mother: f.Signer) -> dict[str, Any]:
    stranger = f.issue_person(app, f.person(300))
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    return f.dossier(f.facility_seal(app), record, f.application(record), (stranger,))


def _revoked_key(app: Any, mother: f.Signer) -> dict[str, Any]:
    dossier = f.good_dossier(app, mother)
    with Session(app.state.services.engine) as session:
        revoke(
            session, mother.certificate.serial_number,
            x509.ReasonFlags.key_compromise, now(), actor="system", role="system",
        )
        session.commit()
    return dossier


def _untrusted_ca(app: Any, mother: f.Signer) -> dict[str, Any]:
    other = CertificationAuthority.create(base_url="http://other-ca.test", moment=now())
    impostor = f.issue_person(app, mother.subject, ca=other)  # type: ignore[arg-type]
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    return f.dossier(f.facility_seal(app), record, f.application(record), (impostor,))


def _expired(app: Any, mother: f.Signer) -> dict[str, Any]:
    expired = f.issue_person(
        app, mother.subject,  # type: ignore[arg-type]
        moment=now() - timedelta(days=40), validity=timedelta(days=20),
    )
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    return f.dossier(f.facility_seal(app), record, f.application(record), (expired,))


def _missing_father_signature(app: Any, mother: f.Signer) -> dict[str, Any]:
    father = f.person(200, sex="M")
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    document = f.application(record, father=father, joint=True)
    return f.dossier(f.facility_seal(app), record, document, (mother,))


def _birth_order_beyond_plurality(app: Any, mother: f.Signer) -> dict[str, Any]:
    return f.good_dossier(app, mother, plurality=1, birth_order=2)


def _birth_in_the_future(app: Any, mother: f.Signer) -> dict[str, Any]:
    return f.good_dossier(app, mother, born_at=now() + timedelta(hours=2))


def _wrong_facility(app: Any, mother: f.Signer) -> dict[str, Any]:
    # A valid BIN, but not the one in the facility seal's certificate.
    return f.good_dossier(app, mother, facility={"bin": DEFAULT_REGISTRY_OFFICE.bin})


def _bad_name_letters(app: Any, mother: f.Signer) -> dict[str, Any]:
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    document = f.application(record, child={"given_name": "Ай@ру"})
    return f.dossier(f.facility_seal(app), record, document, (mother,))


def _application_for_another_record(app: Any, mother: f.Signer) -> dict[str, Any]:
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    document = f.application(record, medical_record_sha256="ab" * 32)
    return f.dossier(f.facility_seal(app), record, document, (mother,))


FAILURES = {
    "tampered record": (_tampered_record, "medical_record_binding"),
    "wrong mother": (_wrong_mother, "mother_signature"),
    "revoked key": (_revoked_key, "revocation"),
    "untrusted CA": (_untrusted_ca, "certificate_chain"),
    "expired certificate": (_expired, "validity_period"),
    "missing father signature": (_missing_father_signature, "father_signature"),
    "birth order beyond plurality": (_birth_order_beyond_plurality, "business_rules"),
    "birth in the future": (_birth_in_the_future, "business_rules"),
    "facility BIN not the seal's": (_wrong_facility, "facility_binding"),
    "letters outside the alphabets": (_bad_name_letters, "names"),
    "application names another record": (_application_for_another_record, "medical_record_binding"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_failing_check_is_refused_with_the_report_and_nothing_stored(
    app: Any, client: Any, db: Session, mother: f.Signer, case: str
) -> None:
    make, check = FAILURES[case]
    response = client.post(SUBMISSIONS, json=make(app, mother))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "dossier_refused"
    assert check in body["detail"]
    assert body["report"]["passed"] is False
    assert check in failed_checks(body["report"])
    assert submissions(db) == 0
    refused = db.exec(
        select(AuditEntry).where(AuditEntry.action == "submission.refused")
    ).all()
    assert len(refused) == 1
    assert refused[0].object_type == "dossier"


def test_signature_verdicts_name_the_sub_indication(
    app: Any, client: Any, mother: f.Signer
) -> None:
    tampered = client.post(SUBMISSIONS, json=_tampered_record(app, mother)).json()
    seal = signature_reports(tampered["report"], "medical_record")[0]
    assert seal["indication"] == "TOTAL_FAILED"
    assert seal["sub_indication"] == "HASH_FAILURE"

    untrusted = client.post(SUBMISSIONS, json=_untrusted_ca(app, mother)).json()
    signature = signature_reports(untrusted["report"], "application")[0]
    assert signature["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"


def test_revocation_is_checked_at_receipt(
    app: Any, client: Any, db: Session, mother: f.Signer
) -> None:
    # A first dossier is received; the key is revoked; the next one is refused. The registry
    # keeps a CRL for at most REVOCATION_CACHE_AGE (minutes): clearing its cache stands for
    # that time passing.
    assert client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).status_code == 201
    registry_for(app_services(app)).validator.cache.clear()
    response = client.post(SUBMISSIONS, json=_revoked_key(app, mother))
    assert response.status_code == 422
    signature = signature_reports(response.json()["report"], "application")[0]
    assert signature["sub_indication"] in ("REVOKED", "REVOKED_NO_POE")
    assert signature["revocation"]["state"] == "revoked"
    assert submissions(db) == 1


# -- reading the body ---------------------------------------------------------------------------


def test_dossier_above_the_limit_is_413(client: Any, db: Session) -> None:
    body = b'{"padding": "' + b"x" * MAX_DOSSIER_BYTES + b'"}'
    response = client.post(
        SUBMISSIONS, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "dossier_too_large"
    assert str(MAX_DOSSIER_BYTES) in response.json()["detail"]

    def chunks() -> Any:  # no Content-Length: the stream is cut at the limit
        for _ in range(MAX_DOSSIER_BYTES // 4096 + 2):
            yield b" " * 4096

    streamed = client.post(SUBMISSIONS, content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "dossier_too_large"
    assert submissions(db) == 0


def test_dossier_at_the_limit_is_read(client: Any) -> None:
    body = b"[" + b" " * (MAX_DOSSIER_BYTES - 2) + b"]"
    response = client.post(SUBMISSIONS, content=body, headers=JSON)
    assert response.status_code == 422  # read, parsed, refused as not a dossier
    assert "dossier_form" in failed_checks(response.json()["report"])


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b'{"a": 1, "a": 2}', b"[" * 40 + b"]" * 40, b"\xff\xfe{}"],
    ids=["empty", "truncated", "text", "duplicate key", "too deep", "not UTF-8"],
)
def test_malformed_json_is_400(client: Any, db: Session, body: bytes) -> None:
    response = client.post(SUBMISSIONS, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed_dossier"
    assert submissions(db) == 0


# -- idempotency, duplicates, resubmission -------------------------------------------------------


def test_the_same_dossier_again_returns_the_same_submission(
    app: Any, client: Any, db: Session, mother: f.Signer
) -> None:
    dossier = f.good_dossier(app, mother)
    first = client.post(SUBMISSIONS, json=dossier)
    assert first.status_code == 201
    # The same dossier, spaced and ordered differently: the same RFC 8785 form.
    respaced = json.dumps(dict(reversed(list(dossier.items()))), indent=3, ensure_ascii=True)
    again = client.post(SUBMISSIONS, content=respaced.encode(), headers=JSON)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert submissions(db) == 1


def test_another_application_for_a_pending_or_registered_record_is_409(
    app: Any, client: Any, db: Session, mother: f.Signer
) -> None:
    seal = f.facility_seal(app)
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    first = client.post(
        SUBMISSIONS, json=f.dossier(seal, record, f.application(record), (mother,))
    )
    assert first.status_code == 201
    second = f.dossier(seal, record, f.application(record, language="ru"), (mother,))
    response = client.post(SUBMISSIONS, json=second)
    assert response.status_code == 409
    assert response.json()["error"] == "duplicate_medical_record"
    assert response.json()["existing_status"] == "received"
    assert first.json()["id"] not in response.text

    clerk = f.staff_headers(app)
    registered = client.post(f"{SUBMISSIONS}/{first.json()['id']}/register", headers=clerk)
    assert registered.status_code == 201
    response = client.post(SUBMISSIONS, json=second)
    assert response.status_code == 409
    assert response.json()["existing_status"] == "registered"
    assert submissions(db) == 1


def test_likely_duplicates_are_flagged_on_both_sides(
    app: Any, client: Any, db: Session, mother: f.Signer
) -> None:
    born = now() - timedelta(days=3)
    first = client.post(SUBMISSIONS, json=f.good_dossier(app, mother, born_at=born))
    # Another medical record: same mother, sex and birth order, born a day later.
    second = client.post(
        SUBMISSIONS, json=f.good_dossier(app, mother, born_at=born + timedelta(days=1))
    )
    assert second.status_code == 201
    first_id, second_id = first.json()["id"], second.json()["id"]
    assert second.json()["duplicate_candidates"] == [first_id]
    assert second.json()["status"] == "received"
    flagged_back = db.get(Submission, first_id)
    assert flagged_back is not None
    assert json.loads(flagged_back.duplicate_candidates) == [second_id]

    # Not a duplicate: a twin (another birth order, the same delivery), or a child born more
    # than 270 days apart (tests/registry/test_decisions.py has the other rules).
    seal = f.facility_seal(app)
    for born_at, changes in (
        (born + timedelta(minutes=10), {"plurality": 2, "birth_order": 2}),
        (born - timedelta(days=300), {}),
    ):
        record = f.medical_record(mother.subject, born_at=born_at, **changes)  # type: ignore[arg-type]
        document = f.application(
            record, child={"given_name": "Дана"}, late_reason="We lived far from any registry."
        )
        other = client.post(SUBMISSIONS, json=f.dossier(seal, record, document, (mother,)))
        assert other.status_code == 201, other.text
        assert other.json()["duplicate_candidates"] == []


def test_resubmission_after_rejection_links_to_the_rejected_one(
    app: Any, client: Any, db: Session, mother: f.Signer
) -> None:
    seal = f.facility_seal(app)
    clerk = f.staff_headers(app)
    record = f.medical_record(mother.subject)  # type: ignore[arg-type]
    first = client.post(
        SUBMISSIONS, json=f.dossier(seal, record, f.application(record), (mother,))
    ).json()
    rejected = client.post(
        f"{SUBMISSIONS}/{first['id']}/reject",
        json={"reason": "Баланың әкесінің аты қате жазылған"},
        headers=clerk,
    )
    assert rejected.status_code == 200
    corrected = f.application(record, child={"given_name": "Айым"})
    second = client.post(SUBMISSIONS, json=f.dossier(seal, record, corrected, (mother,)))
    assert second.status_code == 201, second.text
    stored = db.get(Submission, second.json()["id"])
    assert stored is not None
    assert stored.previous_id == first["id"]

    detail = client.get(f"{SUBMISSIONS}/{second.json()['id']}", headers=clerk).json()
    assert detail["previous_id"] == first["id"]
    earlier = client.get(f"{SUBMISSIONS}/{first['id']}", headers=clerk).json()
    assert earlier["next_ids"] == [second.json()["id"]]


# -- auto-registration --------------------------------------------------------------------------


def test_auto_registration_registers_clean_dossiers_only(
    app: Any, client: Any, db: Session, mother: f.Signer
) -> None:
    born = now() - timedelta(days=2)
    registry_for(app_services(app)).auto_register = True
    clean = client.post(SUBMISSIONS, json=f.good_dossier(app, mother, born_at=born))
    assert clean.status_code == 201
    assert clean.json()["status"] == "registered"
    registration = db.exec(
        select(Registration).where(Registration.submission_id == clean.json()["id"])
    ).one()
    assert registration.act_record_number == 1
    assert registration.registered_by is None
    history = db.exec(
        select(AuditEntry.action, AuditEntry.actor)
        .where(AuditEntry.object_id == clean.json()["id"])
        .order_by(col(AuditEntry.seq))
    ).all()
    assert [a for a, _ in history] == ["submission.received", "registration.registered"]
    assert history[1][1] == "system"

    flagged = client.post(
        SUBMISSIONS, json=f.good_dossier(app, mother, born_at=born + timedelta(hours=20))
    )
    assert flagged.status_code == 201
    assert flagged.json()["duplicate_candidates"] == [clean.json()["id"]]
    assert flagged.json()["status"] == "received"


def test_auto_registration_is_off_by_default(
    app: Any, client: Any, mother: f.Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = client.post(SUBMISSIONS, json=f.good_dossier(app, mother))
    assert response.json()["status"] == "received"
    assert registry_for(app_services(app)).auto_register is False


def test_auto_registration_leaves_it_to_the_clerk_when_no_iin_is_left(
    app: Any, client: Any, db: Session, mother: f.Signer
) -> None:
    from birthreg.models import ChildIINCounter
    from birthreg.registry.numbering import iin_prefix, local_date

    born = now() - timedelta(days=2)
    with Session(app.state.services.engine) as session:
        session.add(ChildIINCounter(prefix=iin_prefix(local_date(born), "F"), last_serial=9999))
        session.commit()
    registry_for(app_services(app)).auto_register = True
    response = client.post(SUBMISSIONS, json=f.good_dossier(app, mother, born_at=born))
    assert response.status_code == 201
    assert response.json()["status"] == "received"
    assert db.exec(select(func.count()).select_from(Registration)).one() == 0
