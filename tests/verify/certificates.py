"""Certificates issued straight into a service's database, without the registry's intake: a
submission and a registration row made by hand, then `issue_certificate` (the code under test)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from birthreg.config import Settings
from birthreg.models import BirthCertificate, Registration, RegistryOffice, Submission
from birthreg.packed import plain
from birthreg.registry.certificate import (
    CertificateContext,
    issue_certificate,
    load_certificate_context,
)

REGISTERED_AT = datetime(2026, 6, 1, 6, 30, tzinfo=UTC)  # 11:30 in Kazakhstan
CHILD = {"surname": "Әбілқасымова", "given_name": "Айару", "patronymic": "Ерланқызы"}
MOTHER = {"iin": "940315400014", "surname": "Әбілқасымова", "given_name": "Гүлнұр",
          "patronymic": "Серікқызы"}
FATHER = {"iin": "910802300013", "surname": "Әбілқасымов", "given_name": "Ерлан",
          "patronymic": "Болатұлы", "basis": "marriage"}
#: The longest names the registry accepts (64 letters each): a compressed seal.
LONG_CHILD = {
    "surname": "Нұрмұхамбетқалиева-Сейітжапарова-Әбдірахманова-Төлеуғалиқызы-Қай",
    "given_name": "Гүлмирахан-Ақбөпе-Әйгерім-Нұржамал-Құралайсұлу-Жансаяқызы-Ұлжаны",
    "patronymic": "Жанкелдіқызы-Әбдіғаппарқызы-Нұрсұлтанқызы-Серікбайқызы-Төреқызық",
}
FACILITY = {"bin": "050140000011", "name": "Өскемен қалалық перзентханасы (TEST)",
            "locality": "Өскемен / Усть-Каменогорск"}


def context_for(settings: Settings, session: Session) -> CertificateContext:
    return load_certificate_context(settings, session)


def dossier(child: dict[str, Any] | None = None, father: dict[str, Any] | None = FATHER,
            born_at: str = "2026-05-30T02:15:00+05:00",
            facility: dict[str, Any] = FACILITY) -> dict[str, Any]:
    record_id = str(uuid.uuid4())
    return {
        "medical_record": {
            "document": {
                "type": "birthreg.medical-record/1", "id": record_id, "facility": facility,
                "mother": MOTHER,
                "child": {"sex": "F", "born_at": born_at, "weight_g": 3400, "length_cm": 51,
                          "plurality": 1, "birth_order": 1},
                "attendant": "Сейітова Ж.", "recorded_at": "2026-05-30T03:00:00+05:00",
            },
            "signature": {"format": "cms", "value": "AA=="},
        },
        "application": {
            "document": {
                "type": "birthreg.application/1", "id": str(uuid.uuid4()),
                "medical_record_sha256": "0" * 64, "child": child or CHILD,
                "mother": {"iin": MOTHER["iin"]}, "father": father,
                "address": {"region": "Шығыс Қазақстан облысы", "locality": "Өскемен"},
                "contact": {"phone": "+7 701 234 5678"}, "language": "kk",
            },
            "signatures": [],
        },
    }


def issue(
    settings: Settings,
    session: Session,
    *,
    child_iin: str = "260530600011",
    act_record_number: int = 123,
    child: dict[str, Any] | None = None,
    father: dict[str, Any] | None = FATHER,
    born_at: str = "2026-05-30T02:15:00+05:00",
    facility: dict[str, Any] = FACILITY,
) -> BirthCertificate:
    """A registered birth and its certificate, committed."""
    office = session.exec(select(RegistryOffice).order_by(col(RegistryOffice.id))).first()
    assert office is not None and office.id is not None
    document = dossier(child, father, born_at, facility)
    record = document["medical_record"]["document"]
    text = json.dumps(document, ensure_ascii=False)
    submission = Submission(
        id=str(uuid.uuid4()), registry_office_id=office.id, dossier=plain(text),
        dossier_sha256=uuid.uuid4().hex * 2, medical_record_id=record["id"],
        medical_record_sha256="0" * 64, application_id=document["application"]["document"]["id"],
        facility_bin=facility["bin"], mother_iin=MOTHER["iin"],
        child_born_at=datetime.fromisoformat(record["child"]["born_at"]), child_sex="F",
        birth_order=1, status="registered", report=plain("{}"), receipt=plain("{}"),
        received_at=REGISTERED_AT,
    )
    session.add(submission)
    session.flush()
    registration = Registration(
        submission_id=submission.id, medical_record_id=record["id"],
        registry_office_id=office.id, year=2026, act_record_number=act_record_number,
        child_iin=child_iin, registered_at=REGISTERED_AT,
    )
    session.add(registration)
    session.flush()
    certificate = issue_certificate(
        session, context_for(settings, session), registration, submission, moment=REGISTERED_AT
    )
    session.commit()
    session.refresh(certificate)
    return certificate
