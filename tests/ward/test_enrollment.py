"""Enrollment codes and the CSR / WebCrypto key paths: one certificate per code, the ward's
identity in it whatever the request claims, and every refusal with its code."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from birthreg.models import (
    AuditEntry,
    Birth,
    Enrollment,
    IssuedCertificate,
    KeyPath,
    LoginThrottle,
    now,
)
from birthreg.services import app_services
from birthreg.ward import codes, service
from birthreg.ward.schemas import EnrollIn
from ward.helpers import (
    FATHER_IIN,
    MOTHER_IIN,
    OTHER_WOMAN_IIN,
    audit_actions,
    counts,
    csr_pem,
    enroll_with_csr,
    father_body,
    new_key,
    record_birth,
    spki_and_proof,
    start_enrollment,
    ward_headers,
)

CODE = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")


@pytest.fixture
def ward(app: Any, client: Any) -> tuple[dict[str, str], str]:
    """Ward staff's headers and a recorded birth's id."""
    headers = ward_headers(app)
    return headers, record_birth(client, headers)["id"]


def _subject(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in certificate.subject.get_attributes_for_oid(oid)]


def test_start_enrollment_shows_the_code_once(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    response = client.post(
        f"/api/v1/ward/births/{birth_id}/enrollments", json={"role": "mother"}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    started = response.json()
    code = started["code"]
    assert CODE.match(code) and not set(code) & set("01OIL")
    assert started["url"] == f"http://testserver/enroll#code={code}"
    assert started["qr_svg"].startswith("<svg") and "<?xml" not in started["qr_svg"]
    expires_at = datetime.fromisoformat(started["expires_at"])
    assert timedelta(minutes=29) < expires_at - now() <= timedelta(minutes=30)

    enrollment = db.get(Enrollment, started["id"])
    assert enrollment is not None
    assert enrollment.lookup == code[:4]
    assert (enrollment.role, enrollment.iin, enrollment.surname) == (
        "mother",
        MOTHER_IIN,
        "Әбілқасымова",
    )
    secret = code[5:].replace("-", "")
    assert secret not in enrollment.secret_hmac and len(enrollment.secret_hmac) == 64
    assert audit_actions(db)[-1][0::2] == ("enrollment.started", "enrollment")
    assert audit_actions(db)[-1][3] == started["id"]

    # The ward's views show the enrollment, never its code.
    detail = client.get(f"/api/v1/ward/births/{birth_id}", headers=headers).json()
    assert [e["state"] for e in detail["enrollments"]] == ["pending"]
    assert code[5:] not in str(detail) and code[:4] not in str(detail["enrollments"])


def test_father_enrollment(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    started = start_enrollment(client, headers, birth_id, father_body(patronymic=None))
    enrollment = db.get(Enrollment, started["id"])
    assert enrollment is not None
    assert (enrollment.role, enrollment.iin, enrollment.patronymic) == ("father", FATHER_IIN, None)
    _, result = enroll_with_csr(client, started["code"])
    certificate = x509.load_pem_x509_certificate(result["certificate_pem"].encode())
    assert _subject(certificate, NameOID.SERIAL_NUMBER) == [f"IIN{FATHER_IIN}"]
    assert _subject(certificate, NameOID.GIVEN_NAME) == []
    # The father sees what he co-signs; the mother's progress does not move for his key.
    assert result["medical_record"]["document"]["id"] == birth_id
    assert db.get(Birth, birth_id).progress == "recorded"  # type: ignore[union-attr]


FATHER_REFUSALS = [
    (father_body(iin="910802300014"), 400, "invalid_iin"),
    (father_body(iin=MOTHER_IIN), 400, "iin_sex_mismatch"),
    (father_body(iin=OTHER_WOMAN_IIN), 400, "iin_sex_mismatch"),
    (father_body(surname="Ivanov!"), 400, "invalid_name"),
    (father_body(given_name="Ерлан  Болат"), 400, "invalid_name"),
    (father_body(extra=1), 422, "invalid_request"),
    ({"role": "mother", "iin": FATHER_IIN}, 422, "invalid_request"),
    ({"role": "grandmother"}, 422, "invalid_request"),
    ({"role": "father"}, 422, "invalid_request"),
]


@pytest.mark.parametrize(("body", "status", "code"), FATHER_REFUSALS)
def test_bad_enrollments_are_refused(
    app: Any,
    client: Any,
    db: Session,
    ward: tuple[dict[str, str], str],
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers, birth_id = ward
    before = counts(db)
    response = client.post(
        f"/api/v1/ward/births/{birth_id}/enrollments", json=body, headers=headers
    )
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert counts(db) == before


def test_unknown_birth(app: Any, client: Any, db: Session) -> None:
    headers = ward_headers(app)
    response = client.post(
        "/api/v1/ward/births/nope/enrollments", json={"role": "mother"}, headers=headers
    )
    assert (response.status_code, response.json()["error"]) == (404, "birth_not_found")


def test_a_new_code_supersedes_the_unused_one(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    first = start_enrollment(client, headers, birth_id)
    father = start_enrollment(client, headers, birth_id, father_body())
    second = start_enrollment(client, headers, birth_id)
    response = client.post(
        "/api/v1/enroll", json={"code": first["code"], "csr_pem": csr_pem(new_key())}
    )
    assert (response.status_code, response.json()["error"]) == (410, "code_expired")
    states = {
        e["id"]: e["state"]
        for e in client.get(f"/api/v1/ward/births/{birth_id}", headers=headers).json()[
            "enrollments"
        ]
    }
    assert states == {first["id"]: "expired", father["id"]: "pending", second["id"]: "pending"}
    enroll_with_csr(client, second["code"])
    enroll_with_csr(client, father["code"])


def test_csr_cannot_choose_the_identity(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    started = start_enrollment(client, headers, birth_id)
    key = new_key()
    request = csr_pem(key, iin=OTHER_WOMAN_IIN, common_name="SOMEONE ELSE")
    before = counts(db)
    response = client.post("/api/v1/enroll", json={"code": started["code"], "csr_pem": request})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    result = response.json()
    certificate = x509.load_pem_x509_certificate(result["certificate_pem"].encode())
    assert _subject(certificate, NameOID.SERIAL_NUMBER) == [f"IIN{MOTHER_IIN}"]
    assert _subject(certificate, NameOID.COMMON_NAME) == ["Әбілқасымова Гүлнұр"]
    assert _subject(certificate, NameOID.GIVEN_NAME) == ["Серікқызы"]
    assert certificate.public_key() == key.public_key()
    chain = x509.load_pem_x509_certificates(result["chain_pem"].encode())
    certificate.verify_directly_issued_by(chain[0])
    assert (
        result["medical_record"]
        == client.get(f"/api/v1/ward/births/{birth_id}", headers=headers).json()["medical_record"]
    )

    serial = format(certificate.serial_number, "x")
    enrollment = db.get(Enrollment, started["id"])
    assert enrollment is not None and enrollment.used_at is not None
    assert (enrollment.key_path, enrollment.certificate_serial) == ("csr", serial)
    issued = db.get(IssuedCertificate, serial)
    assert issued is not None and issued.profile == "individual" and issued.revoked_at is None
    assert db.get(Birth, birth_id).progress == "key_issued"  # type: ignore[union-attr]
    after = counts(db)
    assert after["pki_certificate"] == before["pki_certificate"] + 1
    assert audit_actions(db)[-1] == (
        "certificate.issued",
        f"enrollment:{started['id']}",
        "certificate",
        serial,
    )
    last = db.exec(select(AuditEntry).order_by(col(AuditEntry.seq).desc())).first()
    assert last is not None and last.role == "holder"

    # The code works once.
    again = client.post(
        "/api/v1/enroll", json={"code": started["code"], "csr_pem": csr_pem(new_key())}
    )
    assert (again.status_code, again.json()["error"]) == (409, "code_used")
    assert counts(db) == after
    listed = client.get("/api/v1/ward/births", headers=headers).json()["births"][0]
    assert listed["progress"] == "key_issued"
    assert listed["enrollments"][0]["state"] == "used"
    assert listed["enrollments"][0]["certificate_serial"] == serial


def test_codes_are_read_leniently(app: Any, client: Any, ward: tuple[dict[str, str], str]) -> None:
    headers, birth_id = ward
    code = start_enrollment(client, headers, birth_id)["code"]
    typed = " ".join(code.replace("-", "").lower())
    enroll_with_csr(client, typed)


def test_webcrypto_key_with_proof(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    started = start_enrollment(client, headers, birth_id)
    code = started["code"]
    key = new_key()
    before = counts(db)

    bad = [
        (
            spki_and_proof(new_key(), code)
            | {"public_key": spki_and_proof(key, code)["public_key"]},
            "proof_of_possession_failed",
        ),
        (spki_and_proof(key, code.lower()), "proof_of_possession_failed"),
        (spki_and_proof(key, code.replace("-", "")), "proof_of_possession_failed"),
        (spki_and_proof(key, code) | {"proof": "AAAA"}, "proof_of_possession_failed"),
        (spki_and_proof(key, code) | {"proof": "***"}, "proof_of_possession_failed"),
        (spki_and_proof(key, code) | {"public_key": "bm90IGEga2V5"}, "invalid_certificate_request"),
        (spki_and_proof(key, code) | {"public_key": "%%%"}, "invalid_certificate_request"),
    ]
    for body, error in bad:
        response = client.post("/api/v1/enroll", json={"code": code, **body})
        assert (response.status_code, response.json()["error"]) == (400, error), body
    assert counts(db) == before

    response = client.post("/api/v1/enroll", json={"code": code, **spki_and_proof(key, code)})
    assert response.status_code == 201, response.text
    certificate = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    assert certificate.public_key() == key.public_key()
    assert _subject(certificate, NameOID.SERIAL_NUMBER) == [f"IIN{MOTHER_IIN}"]
    assert db.get(Enrollment, started["id"]).key_path == "webcrypto"  # type: ignore[union-attr]


def test_weak_and_broken_requests_issue_nothing(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    code = start_enrollment(client, headers, birth_id)["code"]
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    before = counts(db)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"csr_pem": csr_pem(weak)}, 400, "weak_key"),
        (
            {"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"},
            400,
            "invalid_certificate_request",
        ),
        ({"csr_pem": "hello"}, 400, "invalid_certificate_request"),
        ({}, 400, "invalid_request"),
        (
            {"csr_pem": csr_pem(new_key()), **spki_and_proof(new_key(), code)},
            400,
            "invalid_request",
        ),
        ({"public_key": spki_and_proof(new_key(), code)["public_key"]}, 400, "invalid_request"),
        ({"proof": "AAAA"}, 400, "invalid_request"),
        ({"csr_pem": csr_pem(new_key()), "proof": "AAAA"}, 400, "invalid_request"),
        ({"csr_pem": csr_pem(new_key()), "extra": 1}, 422, "invalid_request"),
    ]
    for body, status, error in cases:
        response = client.post("/api/v1/enroll", json={"code": code, **body})
        assert (response.status_code, response.json()["error"]) == (status, error), body
    assert counts(db) == before
    enroll_with_csr(client, code)


def test_wrong_codes(app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]) -> None:
    headers, birth_id = ward
    code = start_enrollment(client, headers, birth_id)["code"]
    before = counts(db)
    for malformed in ("", "ABCD-EFGH", code + "A", code.replace(code[6], "0"), "ABCD-EFGH-IJK1"):
        response = client.post(
            "/api/v1/enroll", json={"code": malformed, "csr_pem": csr_pem(new_key())}
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_code")
    assert counts(db) == before
    unknown = ("ZZZZ" if code[:4] != "ZZZZ" else "YYYY") + code[4:]
    response = client.post("/api/v1/enroll", json={"code": unknown, "csr_pem": csr_pem(new_key())})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_code")
    after = counts(db)
    # Counted against the address (a digest of it), and nothing else stored.
    assert after == {**before, "login_throttle": before["login_throttle"] + 1}


def _wrong_secret(code: str) -> str:
    last = code[-1]
    return code[:-1] + ("A" if last != "A" else "B")


def test_an_unknown_code_and_a_wrong_secret_get_the_same_answer(
    app: Any, client: Any, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    code = start_enrollment(client, headers, birth_id)["code"]
    unknown = ("ZZZZ" if code[:4] != "ZZZZ" else "YYYY") + code[4:]
    answers = [
        client.post("/api/v1/enroll", json={"code": guess, "csr_pem": csr_pem(new_key())})
        for guess in (unknown, _wrong_secret(code))
    ]
    assert answers[0].status_code == answers[1].status_code == 400
    assert answers[0].json() == answers[1].json() == {
        "error": "invalid_code",
        "detail": "this code is not valid: check it, or ask the ward for a new one",
        "field": "code",
    }
    assert answers[0].headers.get("content-length") == answers[1].headers.get("content-length")


def test_wrong_secrets_never_lock_the_mothers_code(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    """A stranger who learnt the lookup tries secrets from another address: the mother's own
    code still works from hers."""
    headers, birth_id = ward
    started = start_enrollment(client, headers, birth_id)
    code = started["code"]
    stranger = TestClient(app, base_url="http://testserver", client=("203.0.113.66", 40000))
    answers = [
        stranger.post(
            "/api/v1/enroll", json={"code": _wrong_secret(code), "csr_pem": csr_pem(new_key())}
        ).status_code
        for _ in range(service.ENROLL_ADDRESS.free + 5)
    ]
    assert answers == [400] * service.ENROLL_ADDRESS.free + [429] * 5
    enrollment = db.get(Enrollment, started["id"])
    assert enrollment is not None and enrollment.locked_at is None
    assert enrollment.failed_attempts == 0
    detail = client.get(f"/api/v1/ward/births/{birth_id}", headers=headers).json()
    assert detail["enrollments"][0]["state"] == "pending"
    mother = TestClient(app, base_url="http://testserver", client=("10.1.2.3", 50000))
    enroll_with_csr(mother, code)


def test_an_address_with_many_wrong_codes_is_throttled(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    code = start_enrollment(client, headers, birth_id)["code"]
    unknown = ("ZZZZ" if code[:4] != "ZZZZ" else "YYYY") + code[4:]
    body = {"code": unknown, "csr_pem": csr_pem(new_key())}
    for _ in range(service.ENROLL_ADDRESS.free):
        assert client.post("/api/v1/enroll", json=body).status_code == 400
    before = counts(db)
    response = client.post("/api/v1/enroll", json={**body, "code": code})
    assert (response.status_code, response.json()["error"]) == (429, "too_many_attempts")
    assert 14 * 60 <= int(response.headers["retry-after"]) <= 15 * 60
    assert counts(db) == before


def test_right_codes_do_not_add_up(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    """A ward's phones may share an address: codes that open an enrollment never count."""
    headers, birth_id = ward
    for _ in range(3):
        enroll_with_csr(client, start_enrollment(client, headers, birth_id)["code"])
    assert db.exec(select(LoginThrottle)).all() == []


def test_expired_codes(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    code = start_enrollment(client, headers, birth_id)["code"]
    context = service.ward_context(app_services(app))
    request = EnrollIn(code=code, csr_pem=csr_pem(new_key()))
    with Session(app.state.services.engine) as session:
        with pytest.raises(service.WardError) as refusal:
            service.enroll(
                session,
                context,
                request=request,
                client_address="testclient",
                moment=now() + service.ENROLLMENT_LIFETIME,
            )
        session.rollback()
    assert (refusal.value.status, refusal.value.code) == (410, "code_expired")
    # A moment before expiry still works.
    with Session(app.state.services.engine) as session:
        service.enroll(
            session,
            context,
            request=request,
            client_address="testclient",
            moment=now() + service.ENROLLMENT_LIFETIME - timedelta(minutes=1),
        )
        session.commit()
    assert db.exec(select(Enrollment)).one().key_path == "csr"


def test_two_requests_racing_with_one_code_get_one_certificate(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    headers, birth_id = ward
    code = start_enrollment(client, headers, birth_id)["code"]
    bodies = [{"code": code, "csr_pem": csr_pem(new_key())} for _ in range(4)]
    before = counts(db)
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def attempt(body: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(client.post("/api/v1/enroll", json=body).status_code)

    threads = [threading.Thread(target=attempt, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [201, 409, 409, 409]
    assert counts(db)["pki_certificate"] == before["pki_certificate"] + 1
    issued = [a for a in audit_actions(db) if a[0] == "certificate.issued"]
    assert len(issued) == 1


def test_spending_is_a_conditional_update(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str]
) -> None:
    """Whatever a request read before, the UPDATE that spends the code changes the row only
    while it is unused: a second spender is refused and its transaction rolled back."""
    headers, birth_id = ward
    started = start_enrollment(client, headers, birth_id)
    context = service.ward_context(app_services(app))
    with Session(app.state.services.engine) as first:
        enrollment = first.get(Enrollment, started["id"])
        assert enrollment is not None
        certificate = context.ca.issue_from_csr(
            csr_pem(new_key()).encode(), service._identity(enrollment), moment=now()
        )
        service._issued(
            first,
            enrollment,
            certificate,
            KeyPath.CSR,
            actor="test",
            role="holder",
            moment=now(),
        )
        first.commit()
    with Session(app.state.services.engine) as second:
        late = second.get(Enrollment, started["id"])
        assert late is not None
        with pytest.raises(service.WardError) as refusal:
            service._mark_used(second, late, KeyPath.CSR, "abc", now())
        second.rollback()
    assert refusal.value.code == "code_used"
    assert db.get(Enrollment, started["id"]).certificate_serial == format(  # type: ignore[union-attr]
        certificate.serial_number, "x"
    )


def _lookups(monkeypatch: pytest.MonkeyPatch, *drawn: str) -> None:
    """The lookups new codes draw, in this order (then the last one again and again)."""
    queue = list(drawn)
    monkeypatch.setattr(
        codes, "random_lookup", lambda: queue.pop(0) if len(queue) > 1 else queue[0]
    )


def test_a_lookup_goes_to_a_new_code_once_its_old_code_cannot_be_redeemed(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers, birth_id = ward
    _lookups(monkeypatch, "AAAA")
    mother = start_enrollment(client, headers, birth_id)
    # While the mother's code can be redeemed, its lookup is hers: the father's draws again.
    _lookups(monkeypatch, "AAAA", "BBBB")
    father = start_enrollment(client, headers, birth_id, father_body())
    assert (mother["code"][:4], father["code"][:4]) == ("AAAA", "BBBB")

    enroll_with_csr(client, mother["code"])  # spent: its lookup may go to a new code
    _lookups(monkeypatch, "AAAA")
    again = start_enrollment(client, headers, birth_id, father_body())  # supersedes BBBB
    assert again["code"][:4] == "AAAA"
    db.expire_all()
    assert db.get(Enrollment, mother["id"]).lookup is None  # type: ignore[union-attr]
    # The spent code now reads as a wrong code, and the new one works.
    refused = client.post(
        "/api/v1/enroll", json={"code": mother["code"], "csr_pem": csr_pem(new_key())}
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_code")
    enroll_with_csr(client, again["code"])

    # An expired (superseded) code's lookup goes too: the father's BBBB expired just now.
    _lookups(monkeypatch, "BBBB")
    other_birth = record_birth(client, headers)["id"]
    reused = start_enrollment(client, headers, other_birth)
    assert reused["code"][:4] == "BBBB"
    enroll_with_csr(client, reused["code"])


def test_when_every_drawn_lookup_is_held_by_a_live_code_the_ward_is_told(
    app: Any, client: Any, db: Session, ward: tuple[dict[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers, birth_id = ward
    _lookups(monkeypatch, "CCCC")
    live = start_enrollment(client, headers, birth_id, father_body())
    refused = client.post(
        f"/api/v1/ward/births/{birth_id}/enrollments", json={"role": "mother"}, headers=headers
    )
    assert (refused.status_code, refused.json()["error"]) == (503, "no_code_available")
    db.expire_all()
    assert db.get(Enrollment, live["id"]).lookup == "CCCC"  # type: ignore[union-attr]
    assert len(db.exec(select(Enrollment)).all()) == 1
    enroll_with_csr(client, live["code"])
