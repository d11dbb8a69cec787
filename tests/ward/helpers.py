"""Plain factory functions for the ward's tests: staff with tokens, births, enrollments, keys."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from sqlalchemy import func
from sqlmodel import Session, select

from birthreg.auth import create_staff_user, issue_token
from birthreg.db import make_engine
from birthreg.models import (
    AuditEntry,
    Birth,
    Enrollment,
    Facility,
    IssuedCertificate,
    LoginThrottle,
    Role,
    StaffUser,
    now,
)
from signing.ca import enrollment_challenge

#: Valid TEST IINs (from tests/conftest.py): a woman born 1994, a man born 1991, another woman.
MOTHER_IIN = "940315400014"
FATHER_IIN = "910802300013"
OTHER_WOMAN_IIN = "940315400024"
PASSWORD = "correct horse battery"


def staff(
    app: Any,
    *,
    username: str = "midwife",
    role: Role = Role.WARD,
    facility_id: int | Literal["first"] | None = "first",
) -> tuple[StaffUser, dict[str, str]]:
    """A staff account (committed) and the Authorization header of an API token for it; of the
    first facility (`birthreg init`'s) unless `facility_id` says otherwise (None: of none)."""
    settings = app.state.services.settings
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            if facility_id == "first":
                facility_id = session.exec(select(Facility.id).order_by(Facility.id)).first()  # type: ignore[arg-type]
            user = create_staff_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                facility_id=facility_id,
            )
            session.commit()
            session.refresh(user)
            session.expunge(user)
    finally:
        engine.dispose()
    token = issue_token(settings, user, kind="api")
    return user, {"Authorization": f"Bearer {token}"}


def ward_headers(
    app: Any, username: str = "midwife", facility_id: int | Literal["first"] | None = "first"
) -> dict[str, str]:
    return staff(app, username=username, facility_id=facility_id)[1]


def birth_body(**changes: Any) -> dict[str, Any]:
    """A valid request body for POST /api/v1/ward/births; `changes` replaces parts of it,
    e.g. `child={"weight_g": 200}` merges into child."""
    born_at = (now() - timedelta(hours=2)).astimezone().replace(microsecond=0)
    body: dict[str, Any] = {
        "mother": {
            "iin": MOTHER_IIN,
            "surname": "Әбілқасымова",
            "given_name": "Гүлнұр",
            "patronymic": "Серікқызы",
        },
        "child": {
            "sex": "F",
            "born_at": born_at.isoformat(),
            "weight_g": 3400,
            "length_cm": 51,
            "plurality": 1,
            "birth_order": 1,
        },
        "attendant": "Сейітова Ж. Қ.",
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


def record_birth(client: Any, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/ward/births", json=birth_body(**changes), headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def father_body(**changes: Any) -> dict[str, Any]:
    return {
        "role": "father",
        "iin": FATHER_IIN,
        "surname": "Әбілқасымов",
        "given_name": "Ерлан",
        "patronymic": "Болатұлы",
        **changes,
    }


def start_enrollment(
    client: Any, headers: dict[str, str], birth_id: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/ward/births/{birth_id}/enrollments",
        json=body or {"role": "mother"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    iin: str = MOTHER_IIN,
    common_name: str = "ANYONE",
) -> str:
    """A PKCS#10 request whose subject claims whatever the caller says."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IIN{iin}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


def spki_and_proof(key: ec.EllipticCurvePrivateKey, code: str) -> dict[str, str]:
    """What the phone page sends: base64 DER SPKI and base64url raw r‖s over the challenge."""
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    r, s = decode_dss_signature(key.sign(enrollment_challenge(code), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {
        "public_key": base64.b64encode(spki).decode("ascii"),
        "proof": base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"),
    }


def enroll_with_csr(
    client: Any, code: str, key: ec.EllipticCurvePrivateKey | None = None
) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key = key or new_key()
    response = client.post("/api/v1/enroll", json={"code": code, "csr_pem": csr_pem(key)})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return key, result


def counts(db: Session) -> dict[str, int]:
    """Rows in every table the ward writes (to assert that a refusal stored nothing)."""
    return {
        table.__tablename__: db.exec(select(func.count()).select_from(table)).one()
        for table in (Birth, Enrollment, IssuedCertificate, AuditEntry, LoginThrottle)
    }


def audit_actions(db: Session) -> list[tuple[str, str, str, str]]:
    """(action, actor, object_type, object_id) of every audit entry, in order."""
    return [
        (e.action, e.actor, e.object_type, e.object_id)
        for e in db.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()  # type: ignore[arg-type]
    ]


def facility(db: Session) -> Facility:
    return db.exec(select(Facility)).one()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
