"""What the API of a record's life takes and gives: search, corrections, copies, issuances."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from birthreg.registry.schemas import ChildSummary, Person, RejectRequest

#: At most this many fields in one correction (there are eleven that may be corrected).
MAX_CHANGES = 11


class SearchResult(BaseModel):
    """A submission found: where it stands, the names, and its registration if any."""

    submission_id: str
    status: str
    received_at: datetime
    tracking_number: str
    act_record_number: int | None
    act_record_year: int | None
    child: ChildSummary
    mother: Person
    certificate_id: str | None


class SearchResults(BaseModel):
    results: list[SearchResult]


class CorrectionRequest(RejectRequest):
    """A clerk's request: `{"changes": {"child.surname": "Новая"}, "reason"}` (the reason, plain
    text, is read by the registrar)."""

    changes: dict[str, str | None] = Field(max_length=MAX_CHANGES)


class CorrectionRejection(RejectRequest):
    """A registrar's rejection of a correction, with the reason."""


class CorrectionPublic(BaseModel):
    id: str
    status: str
    certificate_id: str
    changes: dict[str, str | None]
    reason: str
    requested_at: datetime
    decided_at: datetime | None = None
    decision_reason: str | None = None
    new_certificate_id: str | None = None


class CorrectionApproved(BaseModel):
    """The new certificate, and the one it supersedes."""

    certificate_id: str
    certificate_number: str
    supersedes: str


class IssuancePublic(BaseModel):
    """One line of the issuance log: which certificate, how, when, by whom, to whom."""

    certificate_id: str
    certificate_number: str
    kind: str  # original, corrected, copy, pdf_download, printed_at_ward
    at: datetime
    actor: str
    role: str
    collector_name: str | None = None
    collector_iin: str | None = None
    document_checked: bool | None = None
    reason: str | None = None


class IssuanceLog(BaseModel):
    issuances: list[IssuancePublic]


class Collector(BaseModel):
    """Who collects a copy: the name and IIN as on the identity document the clerk checked."""

    iin: str = Field(min_length=1, max_length=12)
    name: str = Field(min_length=1, max_length=200)
    document_checked: bool


class CopyRequest(RejectRequest):
    """A copy's request: the reason (plain text) and the collector."""

    collector: Collector


class CopyIssued(BaseModel):
    certificate_id: str
    certificate_number: str
