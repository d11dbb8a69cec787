"""The dossier page's forms for the decisions before registration: a registrar approves a late
application; a clerk decides whether the dossier is a duplicate of a likely duplicate. Thin
routes over `birthreg.registry.decisions`; a refusal is shown on the dossier page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from birthreg.auth import ClerkStaff, RegistrarStaff
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.registry import decisions
from birthreg.registry.decisions_api import DuplicateDecisionRequest
from birthreg.registry.page_kit import FormFields, message_for
from birthreg.registry.schemas import MAX_REASON_LENGTH
from birthreg.registry.submission_pages import reason_error, refused_view

router = APIRouter(prefix="/registry", include_in_schema=False)


def _back(submission_id: str, flash: str) -> RedirectResponse:
    return RedirectResponse(f"/registry/submissions/{submission_id}?flash={flash}", 303)


@router.post("/submissions/{submission_id}/approve-late", response_class=HTMLResponse)
def approve_late_page(
    request: Request, session: SessionDep, staff: RegistrarStaff, submission_id: str
) -> Response:
    """Approve a late application (a registrar); back to the dossier."""
    try:
        decisions.approve_late(session, submission_id, staff=staff)
    except DomainError as error:
        if error.status == 404:
            raise
        return refused_view(request, session, staff, submission_id, error)
    return _back(submission_id, "late_approved")


def _decision_error(error: ValidationError) -> str:
    for problem in error.errors():
        where = problem.get("loc", ("",))[0]
        if where == "decision":
            return "decision_required"
        if where == "of":
            return "not_a_candidate"
    return reason_error(error)


@router.post("/submissions/{submission_id}/duplicate-decision", response_class=HTMLResponse)
def duplicate_decision_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    submission_id: str,
    form: FormFields,
) -> Response:
    """Record whether this dossier is a duplicate of a likely duplicate; back to the dossier."""
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    other = fields.get("of", "")
    # Browsers send a textarea's line breaks as CRLF; the history shows plain lines.
    reason = fields.get("reason", "").replace("\r\n", "\n").replace("\r", "\n")
    try:
        body = DuplicateDecisionRequest.model_validate(
            {"of": other, "decision": fields.get("decision"), "reason": reason}
        )
    except ValidationError as problem:
        code = _decision_error(problem)
        return refused_view(
            request, session, staff, submission_id, DomainError(code, message_for(code)),
            errors={f"duplicate-{other}": message_for(code)},
            values={
                f"duplicate-{other}": reason[: MAX_REASON_LENGTH * 2],
                f"duplicate-{other}-decision": fields.get("decision", "")[:20],
            },  # nothing chosen or typed is lost
        )
    try:
        decisions.decide_duplicate(
            session, submission_id, body.of, body.decision, body.reason, staff=staff
        )
    except DomainError as error:
        if error.status == 404:
            raise
        return refused_view(request, session, staff, submission_id, error)
    return _back(submission_id, "duplicate_decided")
