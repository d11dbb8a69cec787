"""The clerk's queue page, and the check of a dossier that stores nothing."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from birthreg.auth import ClerkStaff
from birthreg.dates import InvalidDate, parse_day
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.models import SubmissionStatus, now
from birthreg.registry import queue, service
from birthreg.registry.page_kit import FormFields, message_for, render
from birthreg.registry.plain_report import report_view
from birthreg.services import services
from signing.dossier import (
    MAX_DOSSIER_BYTES,
    DossierError,
    DossierTooLarge,
    parse_dossier,
    verify_dossier,
)

router = APIRouter(prefix="/registry", include_in_schema=False)

_BIN: Final = re.compile(r"^[0-9]{12}$")


def _filters(
    values: dict[str, str],
) -> tuple[dict[str, str], SubmissionStatus | None, dict[str, date | None]]:
    """The queue's filters read from the form: errors by field, the status, the days."""
    errors: dict[str, str] = {}
    chosen_status: SubmissionStatus | None = None
    if values["status"]:
        try:
            chosen_status = SubmissionStatus(values["status"])
        except ValueError:
            errors["status"] = message_for("invalid_status")
    if values["facility"] and not _BIN.match(values["facility"]):
        errors["facility"] = message_for("invalid_bin")
    days: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        days[name] = None
        if values[name]:
            try:
                days[name] = parse_day(values[name])
            except InvalidDate:
                errors[name] = message_for("invalid_date")
    return errors, chosen_status, days


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    status: Annotated[str, Query(max_length=16)] = "",
    facility: Annotated[str, Query(max_length=32)] = "",
    date_from: Annotated[str, Query(max_length=32)] = "",
    date_to: Annotated[str, Query(max_length=32)] = "",
    after: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=queue.MAX_PAGE_SIZE)] = queue.DEFAULT_PAGE_SIZE,
) -> Response:
    """The queue of received dossiers, oldest first, with filters and keyset pages."""
    values = {
        "status": status,
        "facility": facility.strip(),
        "date_from": date_from,
        "date_to": date_to,
    }
    errors, chosen_status, days = _filters(values)
    flashes: list[tuple[str, str]] = []
    items: list[Any] = []
    next_cursor: str | None = None
    status_code = 200
    if errors:
        status_code = 400
    else:
        try:
            page = queue.list_submissions(
                session,
                status=chosen_status,
                facility=values["facility"] or None,
                date_from=days["date_from"],
                date_to=days["date_to"],
                after=after,
                limit=limit,
            )
        except DomainError as error:
            flashes.append(("error", message_for(error.code)))
            status_code = error.status
        else:
            items, next_cursor = page.items, page.next
    return render(
        request,
        "registry/queue.html",
        {
            "items": items,
            "values": values,
            "errors": errors,
            "flashes": flashes,
            "statuses": [s.value for s in SubmissionStatus],
            **_page_links(values, limit, after, next_cursor),
        },
        status_code=status_code,
    )


def _page_links(
    values: dict[str, str], limit: int, after: str | None, next_cursor: str | None
) -> dict[str, str | None]:
    """The next page's link and, past the first page, the first page's (filters kept)."""
    filters: dict[str, Any] = {name: value for name, value in values.items() if value}
    if limit != queue.DEFAULT_PAGE_SIZE:
        filters["limit"] = limit
    return {
        "next_url": "/registry?" + urlencode({**filters, "after": next_cursor})
        if next_cursor
        else None,
        "first_url": "/registry" + ("?" + urlencode(filters) if filters else "") if after else None,
    }


# -- checking a dossier without storing it ----------------------------------------------------


@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request, staff: ClerkStaff) -> Response:
    """A form to verify a dossier (pasted or uploaded) and read its report; nothing is stored."""
    return render(request, "registry/check.html", {"report": None, "errors": {}, "values": {}})


async def _dossier_bytes(form: FormFields) -> bytes:
    upload = form.get("dossier_file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(MAX_DOSSIER_BYTES + 1)
    text = form.get("dossier")
    return text.encode("utf-8") if isinstance(text, str) else b""


DossierBytes = Annotated[bytes, Depends(_dossier_bytes)]


@router.post("/check", response_class=HTMLResponse)
def check_dossier(
    request: Request, session: SessionDep, staff: ClerkStaff, body: DossierBytes
) -> Response:
    """Verify a dossier now, exactly as intake would, and show the report; nothing is stored."""
    pasted = body.decode("utf-8", "replace") if len(body) <= MAX_DOSSIER_BYTES else ""

    def refused(code: str, status: int) -> Response:
        return render(
            request,
            "registry/check.html",
            {
                "report": None,
                "errors": {"dossier": message_for(code)},
                "values": {"dossier": pasted},
            },
            status_code=status,
        )

    if len(body) > MAX_DOSSIER_BYTES:
        return refused("dossier_too_large", 413)
    if not body.strip():
        return refused("dossier_required", 400)
    try:
        parsed = parse_dossier(body)
        body.decode("utf-8")
    except DossierTooLarge:
        return refused("dossier_too_large", 413)
    except (DossierError, UnicodeDecodeError):
        return refused("malformed_dossier", 400)
    # Revocation data is read in a session of its own: on SQLite this request's transaction
    # (BEGIN IMMEDIATE) must not hold the write lock meanwhile.
    session.rollback()
    registry = service.registry_for(services(request))
    report = verify_dossier(parsed, validator=registry.validator, moment=now())
    return render(
        request,
        "registry/check.html",
        {
            "report": report_view(report.to_json()),
            "errors": {},
            "values": {"dossier": pasted},
        },
    )
