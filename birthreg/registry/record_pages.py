"""The clerk's and registrar's pages of a record's life: search, corrections, copies and the
issuance log. Thin routes over the service functions the JSON API calls too (see `page_kit`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from birthreg.auth import ClerkStaff, RegistrarStaff, actor_of
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.models import Registration, StaffUser
from birthreg.registry import copies, corrections, search
from birthreg.registry.certificate import get_certificate
from birthreg.registry.page_kit import FormFields, message_for, render
from birthreg.registry.record_models import Correction
from birthreg.registry.record_schemas import CorrectionRejection
from birthreg.registry.submission_pages import dossier_view, reason_error, refused_view
from birthreg.services import ServicesDep

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


# -- corrections ----------------------------------------------------------------------------------


@router.get("/corrections", response_class=HTMLResponse)
def corrections_page(request: Request, session: SessionDep, staff: ClerkStaff) -> Response:
    """The corrections waiting for a registrar, oldest first."""
    rows = [
        {"correction": correction, "submission_id": submission_id,
         "changes": json.loads(correction.changes)}
        for correction, submission_id in corrections.pending_corrections(session)
    ]  # fmt: skip
    return render(request, "registry/corrections.html", {"rows": rows})


CertificateId = Annotated[str, Path(min_length=1, max_length=80)]
CorrectionId = Annotated[str, Path(min_length=1, max_length=36)]


def _submission_of(session: Session, registration_id: int) -> str:
    registration = session.get(Registration, registration_id)
    assert registration is not None
    return registration.submission_id


def _back(submission_id: str, flash: str) -> Response:
    return RedirectResponse(f"/registry/submissions/{submission_id}?flash={flash}", 303)


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


@router.post("/certificates/{certificate_id}/corrections", response_class=HTMLResponse)
def request_correction_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    certificate_id: CertificateId,
    form: FormFields,
) -> Response:
    """Ask for a correction: the fields that differ from the certificate, and the reason."""
    certificate = get_certificate(session, certificate_id)
    submission_id = _submission_of(session, certificate.registration_id)
    fields = json.loads(certificate.fields)
    changes = {
        path: _text(form, path)
        for path in sorted(corrections.CORRECTABLE)
        if path in form and _text(form, path) != (corrections.field_value(fields, path) or "")
    }
    values = {path: _text(form, path) for path in corrections.CORRECTABLE if path in form}
    values["correction_reason"] = _text(form, "correction_reason")
    try:
        reason = CorrectionRejection(reason=values["correction_reason"]).reason
        corrections.request_correction(
            session, certificate_id, changes, reason,
            actor=actor_of(staff), role=staff.role, staff_id=staff.id,
        )  # fmt: skip
    except ValidationError as error:
        return dossier_view(
            request, session, staff, submission_id, status_code=400,
            errors={"correction": message_for(reason_error(error))}, values=values,
        )  # fmt: skip
    except DomainError as error:
        return refused_view(request, session, staff, submission_id, error, values=values)
    return _back(submission_id, "correction_requested")


def _decided(
    request: Request, session: Session, staff: StaffUser, correction_id: str, decide: Any
) -> Response:
    """Run a registrar's decision; back to the record, or the record with the refusal."""
    correction = session.get(Correction, correction_id)
    if correction is None:
        raise DomainError("correction_not_found", "no correction with that id", 404)
    submission_id = _submission_of(session, correction.registration_id)
    try:
        decided = decide()
    except DomainError as error:
        return refused_view(request, session, staff, submission_id, error)
    return _back(submission_id, f"correction_{decided.status}")


@router.post("/corrections/{correction_id}/approve", response_class=HTMLResponse)
def approve_correction_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: RegistrarStaff,
    correction_id: CorrectionId,
) -> Response:
    """Approve: the corrected certificate is issued and the old one superseded."""
    return _decided(
        request, session, staff, correction_id,
        lambda: corrections.approve_correction(
            session, services, correction_id, staff=staff, actor=actor_of(staff)
        ),
    )  # fmt: skip


@router.post("/corrections/{correction_id}/reject", response_class=HTMLResponse)
def reject_correction_page(
    request: Request,
    session: SessionDep,
    staff: RegistrarStaff,
    correction_id: CorrectionId,
    form: FormFields,
) -> Response:
    """Reject with a reason."""

    def decide() -> Correction:
        try:
            reason = CorrectionRejection(reason=_text(form, "reason")).reason
        except ValidationError as error:
            raise DomainError(reason_error(error), "the reason is needed", 400) from None
        return corrections.reject_correction(
            session, correction_id, reason, staff=staff, actor=actor_of(staff)
        )

    return _decided(request, session, staff, correction_id, decide)


# -- copies -------------------------------------------------------------------------------------


@router.post("/certificates/{certificate_id}/copies", response_class=HTMLResponse)
def issue_copy_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    staff: ClerkStaff,
    certificate_id: CertificateId,
    form: FormFields,
) -> Response:
    """Issue a copy to a collector whose identity document was checked; back to the record."""
    certificate = get_certificate(session, certificate_id)
    submission_id = _submission_of(session, certificate.registration_id)
    names = ("collector_name", "collector_iin", "copy_reason")
    values = {name: _text(form, name) for name in names}
    try:
        reason = CorrectionRejection(reason=values["copy_reason"]).reason
        copies.issue_copy(
            session, services, certificate_id, reason=reason,
            collector_name=values["collector_name"], collector_iin=values["collector_iin"],
            document_checked=form.get("document_checked") == "yes",
            actor=actor_of(staff), role=staff.role,
        )  # fmt: skip
    except (ValidationError, DomainError) as error:
        code = reason_error(error) if isinstance(error, ValidationError) else error.code
        status = 400 if isinstance(error, ValidationError) else error.status
        session.rollback()
        return dossier_view(
            request, session, staff, submission_id, status_code=status,
            errors={_COPY_ERROR_FIELDS.get(code, "copy"): message_for(code)}, values=values,
        )  # fmt: skip
    return _back(submission_id, "copy_issued")


#: The copy form's field each refusal is shown beside (else beside the checkbox, "copy").
_COPY_ERROR_FIELDS = {
    "collector_name_required": "collector_name",
    "invalid_iin": "collector_iin",
    "reason_required": "copy_reason",
    "reason_too_long": "copy_reason",
    "reason_not_plain": "copy_reason",
}
