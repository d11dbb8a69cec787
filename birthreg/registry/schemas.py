"""What the registry's JSON API takes and gives (also what the clerk's pages render)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

MAX_REASON_LENGTH = 1000


class RejectRequest(BaseModel):
    """A clerk's rejection: the mother reads the reason, corrects and signs again."""

    reason: str = Field(min_length=1, max_length=MAX_REASON_LENGTH)

    @field_validator("reason")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the reason must not be blank")
        if any(ord(c) < 32 and c not in "\n\t" for c in value) or "\x7f" in value:
            raise ValueError("the reason must be plain text (no control characters)")
        return value


class OfficePublic(BaseModel):
    bin: str
    name: str


class Receipt(BaseModel):
    """The registry's signed receipt (`birthreg.receipt/1`): `signature` is a detached JWS
    (ES256, x5c = the registry seal's chain, sigT) over the RFC 8785 form of the other fields."""

    type: str
    submission_id: str
    tracking_number: str | None = None  # receipts made before tracking numbers have none
    dossier_sha256: str
    received_at: str
    registry_office: OfficePublic
    signature: str


class SubmissionReceived(BaseModel):
    """The answer to a dossier: 201 when it was stored now, 200 when the same dossier was already
    here (the stored submission, its receipt and the report made when it arrived)."""

    id: str
    status: str
    receipt: Receipt
    report: dict[str, Any]
    duplicate_candidates: list[str]


class DossierRefusedBody(BaseModel):
    error: str
    detail: str
    report: dict[str, Any]


class DuplicateMedicalRecordBody(BaseModel):
    error: str
    detail: str
    existing_status: str


class Person(BaseModel):
    iin: str | None = None
    surname: str | None = None
    given_name: str | None = None
    patronymic: str | None = None


class ChildSummary(BaseModel):
    surname: str | None = None
    given_name: str | None = None
    patronymic: str | None = None
    sex: str
    born_at: datetime
    plurality: int | None = None
    birth_order: int


class RegistrationPublic(BaseModel):
    """The result of registering: the same on the first call and every later one."""

    act_record_number: int
    child_iin: str
    certificate_id: str


class RegistrationDetail(RegistrationPublic):
    year: int
    registered_at: datetime
    registered_by: int | None


class SubmissionSummary(BaseModel):
    """One line of the clerk's queue (no dossier)."""

    id: str
    status: str
    received_at: datetime
    facility: OfficePublic
    mother: Person
    father: Person | None
    child: ChildSummary
    medical_record_id: str
    application_id: str
    duplicate_candidates: list[str]
    previous_id: str | None
    decided_at: datetime | None
    rejection_reason: str | None
    tracking_number: str  # grouped, as people read it: K7M-4QX-9RT


class SubmissionPage(BaseModel):
    """A page of the queue, oldest first; `next` is the cursor for the following page (the
    `after` parameter), null on the last page."""

    items: list[SubmissionSummary]
    next: str | None


class HistoryEntry(BaseModel):
    """An audit entry about the submission (who, in which role, what, when)."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str


class SubmissionDetail(SubmissionSummary):
    """One dossier for the clerk: the documents, the report, the receipt, the duplicate
    candidates side by side, the history and the links to earlier and later attempts."""

    dossier: dict[str, Any]
    report: dict[str, Any]
    receipt: dict[str, Any]
    candidates: list[SubmissionSummary]
    history: list[HistoryEntry]
    next_ids: list[str]
    registration: RegistrationDetail | None


class SubmissionStatusPublic(BaseModel):
    """What the holder of a submission id (the sender) may follow: the status, the clerk's reason
    when rejected, the certificate when registered."""

    id: str
    status: str
    received_at: datetime
    decided_at: datetime | None
    rejection_reason: str | None
    certificate_id: str | None
    tracking_number: str
