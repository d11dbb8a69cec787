"""What the API of a record's life takes and gives: search, corrections, copies, issuances."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from birthreg.registry.schemas import ChildSummary, Person


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
