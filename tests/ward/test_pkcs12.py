"""The ward desk path: a PKCS#12 key file made on the server, handed over once, kept nowhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlmodel import Session

from birthreg.models import Birth, Enrollment, Facility, IssuedCertificate, Role, now
from birthreg.services import app_services
from birthreg.ward import service
from ward.helpers import (
    MOTHER_IIN,
    audit_actions,
    counts,
    csr_pem,
    new_key,
    record_birth,
    staff,
    start_enrollment,
)

PASSWORD = "desk password 2026"


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


@pytest.fixture
def desk(app: Any, client: Any) -> tuple[Any, dict[str, str], str, dict[str, Any]]:
    user, headers = staff(app)
    birth_id = record_birth(client, headers)["id"]
    return user, headers, birth_id, start_enrollment(client, headers, birth_id)


def test_desk_key_file(
    app: Any, client: Any, db: Session, desk: tuple[Any, dict[str, str], str, dict[str, Any]]
) -> None:
    user, headers, birth_id, started = desk
    data_dir = app.state.services.settings.data_dir
    # Not a word of the key or the file goes to disk (SQLite's own files aside).
    before = {k: v for k, v in _files(data_dir).items() if "sqlite" not in k}
    response = client.post(
        f"/api/v1/ward/enrollments/{started['id']}/pkcs12",
        json={"password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/x-pkcs12"
    assert response.headers["content-disposition"] == (
        'attachment; filename="birthreg-test-mother.p12"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert {k: v for k, v in _files(data_dir).items() if "sqlite" not in k} == before

    loaded = pkcs12.load_pkcs12(response.content, PASSWORD.encode())
    assert loaded.key is not None and loaded.cert is not None
    certificate = loaded.cert.certificate
    assert loaded.cert.friendly_name == b"birthreg TEST mother"
    assert loaded.key.public_key() == certificate.public_key()
    assert [
        str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    ] == [f"IIN{MOTHER_IIN}"]
    assert [c.certificate for c in loaded.additional_certs] == [
        service.ward_context(app_services(app)).ca.issuing_certificate
    ]

    serial = format(certificate.serial_number, "x")
    enrollment = db.get(Enrollment, started["id"])
    assert enrollment is not None
    assert (enrollment.key_path, enrollment.certificate_serial) == ("pkcs12", serial)
    assert db.get(IssuedCertificate, serial) is not None
    assert db.get(Birth, birth_id).progress == "key_issued"  # type: ignore[union-attr]
    assert audit_actions(db)[-1] == (
        "certificate.issued",
        f"staff:{user.id}",
        "certificate",
        serial,
    )

    # Once: neither the desk nor the code can be used again.
    after = counts(db)
    again = client.post(
        f"/api/v1/ward/enrollments/{started['id']}/pkcs12",
        json={"password": PASSWORD},
        headers=headers,
    )
    assert (again.status_code, again.json()["error"]) == (409, "code_used")
    code = client.post(
        "/api/v1/enroll", json={"code": started["code"], "csr_pem": csr_pem(new_key())}
    )
    assert (code.status_code, code.json()["error"]) == (409, "code_used")
    assert counts(db) == after


def test_desk_refusals(
    app: Any, client: Any, db: Session, desk: tuple[Any, dict[str, str], str, dict[str, Any]]
) -> None:
    _, headers, _, started = desk
    other = Facility(bin="050140000031", name="Басқа (TEST)", seal_serial="1", created_at=now())
    db.add(other)
    db.commit()
    _, stranger = staff(app, username="stranger", facility_id=other.id)
    _, clerk = staff(app, username="clerk", role=Role.CLERK)
    before = counts(db)
    path = f"/api/v1/ward/enrollments/{started['id']}/pkcs12"
    cases = [
        (path, {"password": "short pw"}, headers, 400, "weak_password"),
        (path, {"password": "x" * 1025}, headers, 422, "invalid_request"),
        (path, {}, headers, 422, "invalid_request"),
        (
            "/api/v1/ward/enrollments/nope/pkcs12",
            {"password": PASSWORD},
            headers,
            404,
            "enrollment_not_found",
        ),
        (path, {"password": PASSWORD}, stranger, 404, "enrollment_not_found"),
        (path, {"password": PASSWORD}, clerk, 403, "forbidden_role"),
        (path, {"password": PASSWORD}, {}, 401, "not_authenticated"),
    ]
    for url, body, who, status, error in cases:
        response = client.post(url, json=body, headers=who)
        assert (response.status_code, response.json()["error"]) == (status, error), (url, body)
    assert counts(db) == before


def test_expired_enrollment_at_the_desk(
    app: Any, client: Any, db: Session, desk: tuple[Any, dict[str, str], str, dict[str, Any]]
) -> None:
    user, _, _, started = desk
    with Session(app.state.services.engine) as session:
        with pytest.raises(service.WardError) as refusal:
            service.issue_pkcs12(
                session,
                service.ward_context(app_services(app)),
                staff=session.get(type(user), user.id),  # type: ignore[arg-type]
                enrollment_id=started["id"],
                password=PASSWORD,
                moment=now() + service.ENROLLMENT_LIFETIME,
            )
        session.rollback()
    assert (refusal.value.status, refusal.value.code) == (410, "code_expired")


@pytest.mark.openssl
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_reads_the_desk_file(
    app: Any, client: Any, tmp_path: Path, desk: tuple[Any, dict[str, str], str, dict[str, Any]]
) -> None:
    _, headers, _, started = desk
    response = client.post(
        f"/api/v1/ward/enrollments/{started['id']}/pkcs12",
        json={"password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 201
    path = tmp_path / "mother.p12"
    path.write_bytes(response.content)
    result = subprocess.run(
        ["openssl", "pkcs12", "-info", "-nokeys", "-in", str(path), "-passin", f"pass:{PASSWORD}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = result.stdout + result.stderr
    assert "PBES2" in report and "AES-256-CBC" in report
    assert "Iteration 600000" in report or "iteration 600000" in report.lower()
    certificates = x509.load_pem_x509_certificates(result.stdout.encode())
    assert len(certificates) == 2
    wrong = subprocess.run(
        ["openssl", "pkcs12", "-info", "-nokeys", "-in", str(path), "-passin", "pass:wrong one!"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode != 0
