"""The whole ward flow through the API, ending in a dossier that the registry's checks pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from sqlmodel import Session

from birthreg.audit import verify_chain
from birthreg.models import now
from birthreg.pki.fetch import InProcessRevocationFetcher
from birthreg.services import app_services
from birthreg.ward import service
from signing import jws
from signing.canonical import canonicalize, sha256_hex
from signing.dossier import verify_dossier
from signing.trust import TrustAnchors, Validator
from ward.helpers import (
    FATHER_IIN,
    MOTHER_IIN,
    audit_actions,
    father_body,
    new_key,
    record_birth,
    spki_and_proof,
    start_enrollment,
    ward_headers,
)

DESK_PASSWORD = "father's desk password"


def test_ward_flow_gives_what_the_registry_accepts(
    app: Any, client: Any, db: Session, tmp_path: Path
) -> None:
    headers = ward_headers(app)
    birth = record_birth(client, headers)
    birth_id = birth["id"]

    # The mother: a WebCrypto-style key on her phone.
    mother_key = new_key()
    code = start_enrollment(client, headers, birth_id)["code"]
    response = client.post(
        "/api/v1/enroll", json={"code": code, **spki_and_proof(mother_key, code)}
    )
    assert response.status_code == 201, response.text
    mother = response.json()
    assert mother["medical_record"] == birth["medical_record"]
    mother_certificate = x509.load_pem_x509_certificate(mother["certificate_pem"].encode())
    chain = tuple(x509.load_pem_x509_certificates(mother["chain_pem"].encode()))

    # The father: a key file made at the desk.
    father_enrollment = start_enrollment(client, headers, birth_id, father_body())
    response = client.post(
        f"/api/v1/ward/enrollments/{father_enrollment['id']}/pkcs12",
        json={"password": DESK_PASSWORD},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    father_file = pkcs12.load_pkcs12(response.content, DESK_PASSWORD.encode())
    assert father_file.key is not None and father_file.cert is not None

    listed = client.get("/api/v1/ward/births", headers=headers).json()["births"]
    assert [(b["id"], b["progress"]) for b in listed] == [(birth_id, "key_issued")]
    assert sorted((e["role"], e["state"], e["key_path"]) for e in listed[0]["enrollments"]) == [
        ("father", "used", "pkcs12"),
        ("mother", "used", "webcrypto"),
    ]

    # A joint application on top of the sealed record, signed by both: the registry's checks.
    record = birth["medical_record"]["document"]
    application: dict[str, Any] = {
        "type": "birthreg.application/1",
        "id": "8f0e7c1a-4b7d-4c39-9d6e-2f1a3b5c7d9e",
        "medical_record_sha256": sha256_hex(record),
        "child": {"surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы"},
        "mother": {"iin": MOTHER_IIN},
        "father": {
            **{k: v for k, v in father_body().items() if k != "role"},
            "basis": "joint_application",
        },
        "address": {
            "region": "Шығыс Қазақстан облысы",
            "locality": "Өскемен",
            "street": "Қазақстан көшесі",
            "building": "12",
            "flat": "5",
        },
        "contact": {"phone": "+7 701 234 5678"},
        "language": "kk",
    }
    assert application["father"]["iin"] == FATHER_IIN
    content = canonicalize(application)
    signatures = [
        {
            "format": "jws",
            "value": jws.sign_detached(
                content, mother_certificate, mother_key, signing_time=now(), chain=chain
            ),
        },
        {
            "format": "jws",
            "value": jws.sign_detached(
                content,
                father_file.cert.certificate,
                father_file.key,  # type: ignore[arg-type]
                signing_time=now(),
                chain=chain,
            ),
        },
    ]
    dossier = {
        "medical_record": birth["medical_record"],
        "application": {"document": application, "signatures": signatures},
    }
    ca = service.ward_context(app_services(app)).ca
    validator = Validator(
        TrustAnchors([ca.root_certificate], [ca.issuing_certificate]),
        InProcessRevocationFetcher(app.state.services.engine, ca),
    )
    report = verify_dossier(dossier, validator=validator, moment=now())
    assert report.passed, report.to_text()

    actions = [a[0] for a in audit_actions(db)]
    assert actions[-5:] == [
        "birth.recorded",
        "enrollment.started",
        "certificate.issued",
        "enrollment.started",
        "certificate.issued",
    ]
    assert verify_chain(db).intact


@pytest.mark.openssl
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_an_issued_certificate(app: Any, client: Any, tmp_path: Path) -> None:
    headers = ward_headers(app)
    birth_id = record_birth(client, headers)["id"]
    code = start_enrollment(client, headers, birth_id)["code"]
    from ward.helpers import enroll_with_csr

    _, result = enroll_with_csr(client, code)
    (tmp_path / "root.pem").write_bytes(client.get("/pki/root.pem").content)
    (tmp_path / "ca.pem").write_text(result["chain_pem"])
    (tmp_path / "mother.pem").write_text(result["certificate_pem"])
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "ca.pem"),
            str(tmp_path / "mother.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip().endswith(": OK")
    # And for the signing purpose it is issued for (emailProtection).
    smime = subprocess.run(
        [
            "openssl",
            "verify",
            "-purpose",
            "smimesign",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "ca.pem"),
            str(tmp_path / "mother.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert smime.returncode == 0, smime.stdout + smime.stderr
    assert Encoding.PEM  # the PEM files above are exactly what the API returned
