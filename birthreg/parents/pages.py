"""The parents' pages, phone first: enrollment, sign-in (phone key or key file), the application
form, review and signing, the father's invitation, status and certificate.

Pages call the same service functions as the JSON API. A page that needs a key-holder session and
finds none sends the browser to the sign-in page (which signs in with the key on the phone and
comes back). Every form that changes something carries the session's CSRF value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlmodel import Session

from birthreg.db import SessionDep
from birthreg.i18n import DISPLAY_TIMEZONE, LANGUAGE_NAMES
from birthreg.models import ApplicationState, now
from birthreg.parents import api, service, sessions, status, validation, views
from birthreg.parents.key_file_pages import router as key_file_router
from birthreg.parents.page_kit import (
    SIGN_IN_PATH,
    PageHolder,
    holder_context,
    parents_next,
    record_context,
    render,
    to_sign_in,
)
from birthreg.parents.rows import document_in_words, document_rows, grouped, technical_rows
from birthreg.parents.schemas import ApplicationForm
from birthreg.registry.client import RegistryClient
from birthreg.services import services
from birthreg.ward.codes import qr_svg, qr_svg_image

T = TypeVar("T")

router = APIRouter(include_in_schema=False, tags=["parents"])
router.include_router(key_file_router)


# -- public pages ------------------------------------------------------------------------------


@router.get("/enroll", response_class=HTMLResponse)
def enroll_page(request: Request) -> Response:
    """The phone page of the QR code: make a key in the browser and get its TEST certificate."""
    return render(request, "enroll.html", {})


@router.get(SIGN_IN_PATH, response_class=HTMLResponse)
def sign_in_page(
    request: Request, next: str | None = None, reason: str | None = None
) -> Response:
    """Sign in with the key kept in this browser."""
    return render(
        request,
        "sign_in.html",
        {"next_path": parents_next(next), "revoked": reason == "key_revoked"},
    )


@router.get("/parents/lost-key", response_class=HTMLResponse)
def lost_key_page(request: Request) -> Response:
    """What to do when the phone or the key is lost (with the ward's phone when it is set)."""
    phone = services(request).settings.facility_phone
    dial = "".join(c for c in phone if c.isdigit() or c == "+") if phone else None
    return render(request, "lost_key.html", {"facility_phone": phone, "facility_dial": dial})


@router.get("/parents/join", response_class=HTMLResponse)
def join_page(request: Request) -> Response:
    """The father's page of the invitation link (the token stays in the fragment)."""
    return render(request, "join.html", {})



# -- the holder's pages ------------------------------------------------------------------------


@router.get("/parents", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, holder: PageHolder) -> Response:
    """The key holder's page: whose key, the application and what to do next."""
    if holder is None:
        return to_sign_in(request)
    applications = service.list_applications(session, holder)
    current = service.current_application(session, holder)
    context = {
        **holder_context(session, holder),
        "applications": applications,
        "current": current,
        "registry": None,
        "timeline": None,
    }
    if current is not None:
        context["registry"], context["timeline"] = status.where_it_stands(
            request, session, views.view(session, services(request).settings, current),
            is_mother=holder.is_mother,
        )
    return render(request, "home.html", context)


@router.post("/parents/sign-out")
def sign_out(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the key-holder session in this browser (the key stays on the phone)."""
    if holder is not None:
        sessions.check_csrf(holder, csrf_token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path="/", samesite="strict")
    return response


def _late(request: Request, session: Session, holder: sessions.Holder) -> bool:
    """Whether the registration deadline from the birth has passed (a reason is asked)."""
    born_at: datetime = record_context(session, holder)["born_at"]
    deadline = timedelta(days=services(request).settings.registration_deadline_days)
    return now() > born_at + deadline


def _form_context(
    request: Request, session: Session, holder: sessions.Holder, form: ApplicationForm,
    errors: dict[str, str], *, application_id: str, previous_id: str,
) -> dict[str, Any]:
    father = service.father_enrollment(session, holder.birth_id)
    return {
        "late": _late(request, session, holder),
        **holder_context(session, holder),
        "form": form,
        "errors": errors,
        **record_context(session, holder),
        "application_id": application_id,
        "previous_id": previous_id,
        "father_enrolled": father is not None,
        "language_names": LANGUAGE_NAMES,
    }


@router.get("/parents/application", response_class=HTMLResponse)
def application_form(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    previous: str | None = None,
    edit: str | None = None,
) -> Response:
    """The application form: the sealed medical record read-only, the rest to fill in."""
    if holder is None:
        return to_sign_in(request)
    if not holder.is_mother:
        return RedirectResponse("/parents", status_code=303)
    form = ApplicationForm(language=getattr(request.state, "language", "kk"))
    application_id = ""
    previous_id = ""
    if edit:
        application = service.get_application(session, holder, edit)
        if application.state != ApplicationState.DRAFT:
            return RedirectResponse(f"/parents/applications/{application.id}", status_code=303)
        form = ApplicationForm.from_document(service.document_of(application))
        application_id = application.id
    elif previous:
        application = service.get_application(session, holder, previous)
        form = ApplicationForm.from_document(service.document_of(application))
        previous_id = application.id
    else:
        current = service.current_application(session, holder)
        if current is not None:
            return RedirectResponse(f"/parents/applications/{current.id}", status_code=303)
        father = service.father_enrollment(session, holder.birth_id)
        if father is not None:
            form = form.model_copy(
                update={
                    "father_basis": "joint_application",
                    "father_iin": father.iin,
                    "father_surname": father.surname,
                    "father_given_name": father.given_name,
                    "father_patronymic": father.patronymic or "",
                }
            )
    return render(
        request,
        "application_form.html",
        _form_context(
            request, session, holder, form, {},
            application_id=application_id, previous_id=previous_id,
        ),
    )


@router.post("/parents/application", response_class=HTMLResponse)
async def save_application(request: Request, session: SessionDep, holder: PageHolder) -> Response:
    """Check the form; a valid one is stored as a draft and shown for review."""
    if holder is None:
        return to_sign_in(request)
    form_data = await request.form()
    csrf_value = form_data.get(sessions.CSRF_FIELD)
    sessions.check_csrf(holder, csrf_value if isinstance(csrf_value, str) else None)
    raw = {key: value for key, value in form_data.items() if isinstance(value, str)}
    form = ApplicationForm.model_validate(
        {key: value[:256] for key, value in raw.items() if key in ApplicationForm.model_fields}
    )
    application_id = raw.get("application_id", "")[:36]
    previous_id = raw.get("previous_id", "")[:36]
    father = service.father_enrollment(session, holder.birth_id)
    result = validation.validate_application_form(
        form,
        mother_iin=holder.iin,
        enrolled_father_iin=father.iin if father is not None else None,
        today=now().astimezone(DISPLAY_TIMEZONE).date(),
        late=_late(request, session, holder),
    )
    if not result.valid:
        return render(
            request,
            "application_form.html",
            _form_context(
                request, session, holder, form, result.errors,
                application_id=application_id, previous_id=previous_id,
            ),
            status_code=400,
        )
    application = service.save_draft(
        session,
        holder,
        parts=result.parts,
        application_id=application_id or None,
        previous_id=previous_id or None,
        moment=now(),
    )
    return RedirectResponse(f"/parents/applications/{application.id}", status_code=303)


@router.get("/parents/applications/{application_id}", response_class=HTMLResponse)
def application_page(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    application_id: str,
    error: str | None = None,
) -> Response:
    """One application: what is signed, who signed, the invitation, the registry's answer."""
    if holder is None:
        return to_sign_in(request)
    application = service.get_application(session, holder, application_id)
    current = views.view(session, services(request).settings, application)
    record = record_context(session, holder)
    context = {
        **holder_context(session, holder),
        **record,
        "in_words": document_in_words(current.document, record["record"]),
        "application": current,
        "rows": document_rows(current.document),
        "technical_rows": technical_rows(current.document),
        "fingerprint_grouped": grouped(current.fingerprint),
        "invitation_qr": Markup(qr_svg(current.invitation_url))  # noqa: S704 (our own SVG)
        if current.invitation_url and holder.is_mother
        else None,
        "error_text": views.signature_error_text(error)
        if error in views.KNOWN_REFUSALS
        else (
            views.signature_error_text(current.submission_error.split(":")[0])
            if current.submission_error
            else None
        ),
        "can_sign": (holder.is_mother and current.state == ApplicationState.DRAFT)
        or (not holder.is_mother and current.state == ApplicationState.AWAITING_FATHER),
    }
    context["registry"], context["timeline"] = status.where_it_stands(
        request, session, current, is_mother=holder.is_mother
    )
    return render(request, "application.html", context)



@router.post("/parents/applications/{application_id}/submit")
def submit_again(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    application_id: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Send a signed application again (after the registry could not be reached)."""
    if holder is None:
        return to_sign_in(request)
    sessions.check_csrf(holder, csrf_token)
    target = f"/parents/applications/{application_id}"
    try:
        api.submit_ready(request, session, holder, application_id)
    except sessions.ParentsError as refusal:
        session.rollback()
        return RedirectResponse(f"{target}?error={refusal.code}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.get("/parents/applications/{application_id}/certificate.pdf")
def certificate_pdf(
    request: Request, session: SessionDep, holder: api.HolderDep, application_id: str
) -> Response:
    """The birth certificate's PDF (PAdES-signed by the registry), from the registry."""
    pdf = _from_certificate(
        request, session, holder, application_id, None,
        lambda registry, certificate_id: registry.certificate_pdf(certificate_id),
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="birth-certificate-TEST.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/parents/applications/{application_id}/certificates/{certificate_id}/qr.svg")
def certificate_qr(
    request: Request,
    session: SessionDep,
    holder: api.HolderDep,
    application_id: str,
    certificate_id: str,
) -> Response:
    """The registered certificate's QR code, an SVG image of its own, so that the application
    page does not wait for it to be made (16 ms on a quiet core, 40-60 ms on a busy one, for the
    version-14 or 15 code of a sealed certificate). Like every page it is not kept by the browser
    (the edge's no-store): the code carries the child's particulars."""

    def qr_of(registry: RegistryClient, certificate_id: str) -> str | None:
        qr = (registry.certificate(certificate_id) or {}).get("qr")
        return qr if isinstance(qr, str) and qr else None

    qr = _from_certificate(request, session, holder, application_id, certificate_id, qr_of)
    return Response(qr_svg_image(qr), media_type="image/svg+xml")


def _from_certificate(
    request: Request,
    session: Session,
    holder: sessions.Holder,
    application_id: str,
    certificate_id: str | None,
    fetch: Callable[[RegistryClient, str], T | None],
) -> T:
    """What `fetch` gets from the registry about the application's certificate (404
    not_registered until it is registered, or when `certificate_id` is given and is not its
    certificate's; 503 registry_unavailable when the registry cannot be reached, 502 when it
    gives nothing)."""
    application = service.get_application(session, holder, application_id)
    submission_id = application.submission_id
    session.commit()
    if submission_id is None:
        raise sessions.ParentsError("not_registered", "this application is not registered", 404)
    try:
        with RegistryClient.for_app(request.app) as registry:
            answer = registry.status(submission_id)
            if answer.status != "registered" or not answer.certificate_id or (
                certificate_id is not None and answer.certificate_id != certificate_id
            ):
                raise sessions.ParentsError(
                    "not_registered", "this application has no such certificate (yet)", 404
                )
            found = fetch(registry, answer.certificate_id)
    except httpx.HTTPError:
        raise sessions.ParentsError(
            "registry_unavailable", "the registry could not be reached; try again", 503
        ) from None
    if found is None:
        raise sessions.ParentsError(
            "registry_unavailable", "the registry did not give the certificate", 502
        )
    return found
