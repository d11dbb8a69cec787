"""A submission's page (the dossier, its report in plain words, history), register and reject;
the certificate's printable page (its holder's: anyone with the certificate's unguessable id).

Thin routes over the same service functions the JSON API calls (see `page_kit`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from birthreg.auth import ClerkStaff, actor_of
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.i18n import gettext
from birthreg.models import Role, StaffUser, SubmissionStatus
from birthreg.registry import freshness, queue, record_view, registration, service, signer_names
from birthreg.registry.certificate import get_certificate
from birthreg.registry.certificate_pdf import render_certificate_html
from birthreg.registry.decisions_view import dossier_context
from birthreg.registry.page_kit import FormFields, flashes, message_for, render
from birthreg.registry.plain_report import moment_of, report_view
from birthreg.registry.schemas import MAX_REASON_LENGTH, RejectRequest, SubmissionDetail
from birthreg.services import services

router = APIRouter(prefix="/registry", include_in_schema=False)


# -- one dossier --------------------------------------------------------------------------------


def _staff_names(session: Session, detail: SubmissionDetail) -> dict[str, str]:
    """Usernames for the `staff:<id>` actors of the history (and the registering clerk)."""
    ids = {
        int(entry.actor.split(":", 1)[1])
        for entry in detail.history
        if entry.actor.startswith("staff:") and entry.actor.split(":", 1)[1].isdigit()
    }
    if detail.registration and detail.registration.registered_by is not None:
        ids.add(detail.registration.registered_by)
    if not ids:
        return {}
    rows = session.exec(
        select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(ids))
    ).all()
    return {f"staff:{user_id}": username for user_id, username in rows}


def _who(actor: str, staff_names: Mapping[str, str], holders: Mapping[str, str]) -> str:
    """Who did something, as the history shows it: a signer by name and role."""
    if actor in staff_names:
        return staff_names[actor]
    kind, _, value = actor.partition(":")
    if kind == "holder" and value.lower() in holders:
        return holders[value.lower()]
    if kind == "holder" and value:
        return gettext("the holder of certificate %(serial)s") % {"serial": value}
    if actor == "system":
        return gettext("the service")
    if actor == "anonymous":
        return gettext("the sender")
    return actor


def dossier_view(
    request: Request,
    session: Session,
    staff: StaffUser,
    submission_id: str,
    *,
    status_code: int = 200,
    flashes: list[tuple[str, str]] | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    detail = queue.open_submission(session, submission_id, actor=actor_of(staff), role=staff.role)
    dossier = detail.dossier
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    staff_names = _staff_names(session, detail)
    holders = signer_names.holders(detail.report)
    registered = registration.registration_of(session, submission_id)
    life = record_view.record_life(session, registered.id) if registered and registered.id else None
    return render(
        request,
        "registry/dossier.html",
        {
            "detail": detail,
            "record": record,
            "application": application,
            "born_at": moment_of(record.get("child", {}).get("born_at")),
            "recorded_at": moment_of(record.get("recorded_at")),
            "report": report_view(detail.report),
            "received_at": moment_of(detail.receipt.get("received_at")) or detail.received_at,
            "staff_names": staff_names,
            "history": [
                {
                    "at": entry.at,
                    "action": entry.action,
                    "role": entry.role,
                    "who": _who(entry.actor, staff_names, holders),
                }
                for entry in detail.history
            ],
            # A late dossier may be rejected; it is registered after a registrar's approval.
            "pending": detail.status in (*service.PENDING, SubmissionStatus.LATE.value),
            **dossier_context(
                session, detail, staff, services(request).settings.registration_deadline_days
            ),
            "flashes": flashes or [],
            "errors": errors or {},
            "values": values or {},
            "max_reason": MAX_REASON_LENGTH,
            "life": life,
            "is_registrar": staff.role == Role.REGISTRAR.value,
            "staff_id": staff.id,
        },
        status_code=status_code,
    )


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def dossier_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    submission_id: str,
    flash: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A dossier: the documents, each signature's report, duplicates, history (opens it)."""
    return dossier_view(request, session, staff, submission_id, flashes=flashes(flash))


def refused_view(
    request: Request,
    session: Session,
    staff: StaffUser,
    submission_id: str,
    error: DomainError,
    **form: Any,
) -> Response:
    session.rollback()
    return dossier_view(
        request,
        session,
        staff,
        submission_id,
        status_code=error.status,
        flashes=[("error", message_for(error.code))],
        **form,
    )


@router.post("/submissions/{submission_id}/register", response_class=HTMLResponse)
def register_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    submission_id: str,
    form: FormFields,
) -> Response:
    """Register: act record number, child IIN and certificate; back to the dossier."""
    if form.get("confirm") != "yes":
        return dossier_view(
            request,
            session,
            staff,
            submission_id,
            status_code=400,
            errors={"confirm": message_for("not_confirmed")},
        )
    registry = service.registry_for(services(request))
    try:
        freshness.recheck_before_registering(session, registry.validator, submission_id)
        registration.register_submission(
            session,
            registry,
            submission_id,
            actor=actor_of(staff),
            role=staff.role,
            staff_id=staff.id,
        )
    except DomainError as error:
        if error.status == 404:
            raise
        return refused_view(request, session, staff, submission_id, error)
    return RedirectResponse(
        f"/registry/submissions/{submission_id}?flash=registered", status_code=303
    )


def reason_error(error: ValidationError) -> str:
    """The refusal code of a reason that RejectRequest refused."""
    for problem in error.errors():
        if problem.get("type") == "string_too_long":
            return "reason_too_long"
        if "control characters" in str(problem.get("msg", "")):
            return "reason_not_plain"
    return "reason_required"


@router.post("/submissions/{submission_id}/reject", response_class=HTMLResponse)
def reject_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    submission_id: str,
    form: FormFields,
) -> Response:
    """Reject with a reason the mother will read; back to the dossier."""
    raw = form.get("reason")
    reason = raw if isinstance(raw, str) else ""
    # Browsers send a textarea's line breaks as CRLF; the mother reads plain lines.
    reason = reason.replace("\r\n", "\n").replace("\r", "\n")
    try:
        rejection = RejectRequest(reason=reason)
    except ValidationError as error:
        return dossier_view(
            request,
            session,
            staff,
            submission_id,
            status_code=400,
            errors={"reason": message_for(reason_error(error))},
            values={"reason": reason[: MAX_REASON_LENGTH * 2]},
        )
    try:
        registration.reject_submission(
            session,
            submission_id,
            rejection.reason,
            actor=actor_of(staff),
            role=staff.role,
            staff_id=staff.id,
        )
    except DomainError as error:
        if error.status == 404:
            raise
        return refused_view(
            request, session, staff, submission_id, error, values={"reason": reason}
        )
    return RedirectResponse(
        f"/registry/submissions/{submission_id}?flash=rejected", status_code=303
    )


# -- the certificate ----------------------------------------------------------------------------


@router.get("/certificates/{certificate_id}/print", response_class=HTMLResponse)
def certificate_print(
    request: Request,
    session: SessionDep,
    certificate_id: Annotated[str, Path(min_length=1, max_length=80)],
) -> Response:
    """The printable certificate (the same template as the PDF)."""
    certificate = get_certificate(session, certificate_id)
    html = render_certificate_html(
        json.loads(certificate.fields),
        certificate.qr,
        for_pdf=False,
        static_url=str(request.url_for("static", path="")),
        pdf_url=f"/api/v1/registry/certificates/{certificate.id}.pdf",
    )
    return HTMLResponse(html, headers={"Cache-Control": "private, no-store"})
