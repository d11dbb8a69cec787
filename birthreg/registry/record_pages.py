"""The clerk's and registrar's pages of a record's life: search, corrections, copies and the
issuance log. Thin routes over the service functions the JSON API calls too (see `page_kit`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from birthreg.auth import ClerkStaff, actor_of
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.registry import search
from birthreg.registry.page_kit import message_for, render

router = APIRouter(prefix="/registry", include_in_schema=False)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    q: Annotated[str, Query(max_length=search.MAX_QUERY * 2)] = "",
) -> Response:
    """Search by any IIN, act record, certificate or tracking number, or a surname's start."""
    results: list[Any] | None = None
    errors: dict[str, str] = {}
    status_code = 200
    if q.strip():
        try:
            results = search.search_records(
                session, q, actor=actor_of(staff), role=staff.role
            ).results
        except DomainError as error:
            session.rollback()
            errors["q"] = message_for(error.code)
            status_code = error.status
    return render(
        request,
        "registry/search.html",
        {"q": q, "results": results, "errors": errors},
        status_code=status_code,
    )
