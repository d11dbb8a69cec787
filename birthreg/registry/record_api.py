"""The JSON API of a record's life after registration: search, corrections, copies, issuances
(DESIGN.md, "HTTP endpoints of the record's life"). Thin routes over the service functions the
pages call too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from birthreg.auth import ClerkStaff, actor_of
from birthreg.db import SessionDep
from birthreg.registry import search
from birthreg.registry.record_schemas import SearchResults

#: Included by `birthreg.registry.api` under its prefix (`/api/v1/registry`).
router = APIRouter()

_ERROR = {"description": '`{"error": CODE, "detail": text}`'}


@router.get("/search", response_model=SearchResults, responses={400: _ERROR})
def search_records(
    session: SessionDep,
    user: ClerkStaff,
    q: Annotated[str, Query(min_length=1, max_length=search.MAX_QUERY)],
) -> Any:
    """Find records by any IIN (mother, father, child), act record number (`15` or
    `2026/15`), certificate number, tracking number, or the start of a surname (case and ё/е
    do not matter); newest first, at most 50."""
    return search.search_records(session, q, actor=actor_of(user), role=user.role)
