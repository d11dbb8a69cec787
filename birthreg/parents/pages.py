"""The parents' pages, phone first: enrollment, sign-in (phone key or key file), the application
form, review and signing, the father's invitation, status and certificate.

Pages call the same service functions as the JSON API. A page that needs a key-holder session and
finds none sends the browser to the sign-in page (which signs in with the key on the phone and
comes back). Every form that changes something carries the session's CSRF value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlmodel import Session

from birthreg.db import SessionDep
from birthreg.i18n import LANGUAGE_NAMES, gettext, safe_next
from birthreg.models import ApplicationState, now
from birthreg.parents import api, service
from birthreg.parents.schemas import ApplicationForm
from birthreg.registry.client import RegistryClient
from birthreg.ward.codes import qr_svg
from birthreg.ward.service import note_rejected
from signing.identity import signer_iin

router = APIRouter(include_in_schema=False, tags=["parents"])

SIGN_IN_PATH = "/parents/sign-in"


def _render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        f"parents/{template}",
        context,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def page_holder(request: Request, session: SessionDep) -> service.Holder | None:
    """The key holder of the session, or None (then `request.state.sign_in_reason` says why)."""
    try:
        return api.signed_in_holder(request, session)
    except service.NotSignedIn as refusal:
        request.state.sign_in_reason = refusal.code
        return None


PageHolder = Annotated[service.Holder | None, Depends(page_holder)]


def _to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    reason = getattr(request.state, "sign_in_reason", "not_signed_in")
    response = RedirectResponse(
        f"{SIGN_IN_PATH}?next={quote(target, safe='/')}&reason={reason}", status_code=303
    )
    if service.SESSION_COOKIE in request.cookies:
        response.delete_cookie(service.SESSION_COOKIE, path="/", samesite="strict")
    return response


def _holder_context(session: Session, holder: service.Holder) -> dict[str, Any]:
    certificate = service.holder_certificate(session, holder)
    return {
        "holder": holder,
        "holder_iin": signer_iin(certificate) or holder.iin,
        "holder_name": " ".join(
            part for part in (holder.surname, holder.given_name, holder.patronymic) if part
        ),
    }


def _record_context(session: Session, holder: service.Holder) -> dict[str, Any]:
    record = service.medical_record_summary(session, holder)
    return {"record": record, "born_at": datetime.fromisoformat(record["child"]["born_at"])}


# -- public pages ------------------------------------------------------------------------------


@router.get("/enroll", response_class=HTMLResponse)
def enroll_page(request: Request) -> Response:
    """The phone page of the QR code: make a key in the browser and get its TEST certificate."""
    return _render(request, "enroll.html", {})


@router.get(SIGN_IN_PATH, response_class=HTMLResponse)
def sign_in_page(
    request: Request, next: str | None = None, reason: str | None = None
) -> Response:
    """Sign in with the key kept in this browser."""
    target = safe_next(next)
    if not target.startswith(("/parents", "/enroll")):
        target = "/parents"
    return _render(
        request,
        "sign_in.html",
        {"next_path": target, "revoked": reason == "key_revoked"},
    )


@router.get("/parents/lost-key", response_class=HTMLResponse)
def lost_key_page(request: Request) -> Response:
    """What to do when the phone or the key is lost."""
    return _render(request, "lost_key.html", {})


@router.get("/parents/join", response_class=HTMLResponse)
def join_page(request: Request) -> Response:
    """The father's page of the invitation link (the token stays in the fragment)."""
    return _render(request, "join.html", {})


def _key_file_page(
    request: Request, challenge: dict[str, Any] | None = None, error: str | None = None,
    status_code: int = 200,
) -> Response:
    challenge = challenge or service.new_challenge(request.app.state.settings, now())
    challenge_text = json.dumps(challenge, ensure_ascii=False, indent=2)
    response = _render(
        request,
        "key_file.html",
        {
            "challenge_text": challenge_text,
            "challenge_link": "/parents/key-file/challenge.json?c="
            + quote(json.dumps(challenge, separators=(",", ":")), safe=""),
            "error": error,
        },
        status_code,
    )
    api.set_challenge_cookie(response, request, challenge["nonce"])
    return response


@router.get("/parents/key-file", response_class=HTMLResponse)
def key_file_page(request: Request) -> Response:
    """Sign in with a key file: sign a challenge with `birthreg sign` and upload the result."""
    return _key_file_page(request)


@router.get("/parents/key-file/challenge.json")
def key_file_challenge(request: Request, c: str = "") -> Response:
    """The challenge of the key-file page as a file (only a challenge this service made)."""
    try:
        challenge = json.loads(c) if len(c) < 2000 else None
    except ValueError:
        challenge = None
    if not isinstance(challenge, dict):
        raise service.ParentsError("invalid_challenge", "this is not a sign-in challenge")
    service.check_challenge(
        request.app.state.settings,
        challenge,
        request.cookies.get(service.CHALLENGE_COOKIE),
        now(),
    )
    return Response(
        json.dumps(challenge, ensure_ascii=False, indent=2).encode("utf-8") + b"\n",
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="birthreg-sign-in.json"',
            "Cache-Control": "no-store",
        },
    )


async def _uploaded_text(upload: UploadFile | None, pasted: str) -> str:
    if upload is not None and upload.filename:
        return service.decode_signature_upload(await upload.read(64 * 1024 + 1))
    return pasted


@router.post("/parents/key-file", response_class=HTMLResponse)
async def key_file_sign_in(
    request: Request,
    session: SessionDep,
    challenge: Annotated[str, Form(max_length=4000)] = "",
    signature: Annotated[str, Form(max_length=64 * 1024)] = "",
    signature_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Open a key-holder session with a CMS signature over the challenge (a key file's)."""
    try:
        parsed = json.loads(challenge)
        if not isinstance(parsed, dict):
            raise ValueError
    except ValueError:
        return _key_file_page(request, error=gettext("Start again: the challenge was lost."),
                              status_code=400)
    try:
        text = await _uploaded_text(signature_file, signature)
        token, _holder = service.open_session(
            session,
            service.parents_context(request.app),
            challenge=parsed,
            signature=service.key_file_signature(text),
            cookie_nonce=request.cookies.get(service.CHALLENGE_COOKIE),
            moment=now(),
        )
    except service.ParentsError as refusal:
        session.rollback()
        message = (
            service.signature_error_text(refusal.code)
            if refusal.code in ("key_revoked", "invalid_signature")
            else gettext("This did not work. Start again with a new challenge.")
        )
        return _key_file_page(request, error=message, status_code=refusal.status)
    response = RedirectResponse("/parents", status_code=303)
    api.set_session_cookie(response, request, token)
    return response


# -- the holder's pages ------------------------------------------------------------------------


@router.get("/parents", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, holder: PageHolder) -> Response:
    """The key holder's page: whose key, the application and what to do next."""
    if holder is None:
        return _to_sign_in(request)
    applications = service.list_applications(session, holder)
    current = service.current_application(session, holder)
    return _render(
        request,
        "home.html",
        {
            **_holder_context(session, holder),
            "applications": applications,
            "current": current,
        },
    )


@router.post("/parents/sign-out")
def sign_out(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the key-holder session in this browser (the key stays on the phone)."""
    if holder is not None:
        service.check_csrf(holder, csrf_token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(service.SESSION_COOKIE, path="/", samesite="strict")
    return response


def _form_context(
    session: Session, holder: service.Holder, form: ApplicationForm, errors: dict[str, str],
    *, application_id: str, previous_id: str,
) -> dict[str, Any]:
    father = service.father_enrollment(session, holder.birth_id)
    return {
        **_holder_context(session, holder),
        "form": form,
        "errors": errors,
        **_record_context(session, holder),
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
        return _to_sign_in(request)
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
    return _render(
        request,
        "application_form.html",
        _form_context(
            session, holder, form, {}, application_id=application_id, previous_id=previous_id
        ),
    )


@router.post("/parents/application", response_class=HTMLResponse)
async def save_application(request: Request, session: SessionDep, holder: PageHolder) -> Response:
    """Check the form; a valid one is stored as a draft and shown for review."""
    if holder is None:
        return _to_sign_in(request)
    form_data = await request.form()
    csrf_value = form_data.get(service.CSRF_FIELD)
    service.check_csrf(holder, csrf_value if isinstance(csrf_value, str) else None)
    raw = {key: value for key, value in form_data.items() if isinstance(value, str)}
    form = ApplicationForm.model_validate(
        {key: value[:256] for key, value in raw.items() if key in ApplicationForm.model_fields}
    )
    application_id = raw.get("application_id", "")[:36]
    previous_id = raw.get("previous_id", "")[:36]
    father = service.father_enrollment(session, holder.birth_id)
    result = service.validate_application_form(
        form,
        mother_iin=holder.iin,
        enrolled_father_iin=father.iin if father is not None else None,
    )
    if not result.valid:
        return _render(
            request,
            "application_form.html",
            _form_context(
                session, holder, form, result.errors,
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


@dataclass(frozen=True)
class RegistryView:
    """What the registry says about a submission (from its status API, through the client)."""

    reachable: bool
    status: str | None = None
    rejection_reason: str | None = None
    certificate: dict[str, Any] | None = None
    qr_svg: Markup | None = None
    tracking_number: str | None = None


def registry_view(request: Request, submission_id: str) -> RegistryView:
    """Ask the registry (the caller's session holds no transaction: see the client's notes)."""
    try:
        with RegistryClient.for_app(request.app) as registry:
            status = registry.status(submission_id)
            if not status.found:
                return RegistryView(reachable=False)
            certificate = None
            if status.status == "registered" and status.certificate_id:
                certificate = registry.certificate(status.certificate_id)
    except httpx.HTTPError:
        return RegistryView(reachable=False)
    return RegistryView(
        reachable=True,
        status=status.status,
        rejection_reason=status.rejection_reason,
        tracking_number=status.tracking_number,
        certificate=certificate,
        qr_svg=Markup(qr_svg(certificate["qr"])) if certificate and certificate.get("qr") else None,  # noqa: S704 (our own SVG)
    )


def document_rows(document: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The application as labelled rows, group by group: every field of the document, in the
    order of DESIGN.md, nothing added."""
    child = document.get("child") or {}
    father = document.get("father")
    address = document.get("address") or {}
    contact = document.get("contact") or {}
    names = (
        ("surname", gettext("Surname")),
        ("given_name", gettext("Given name")),
        ("patronymic", gettext("Patronymic")),
    )
    groups: list[tuple[str, list[tuple[str, str]]]] = [
        (
            gettext("Document"),
            [
                (gettext("Document type"), document.get("type", "")),
                (gettext("Application number"), document.get("id", "")),
                (
                    gettext("Medical record fingerprint (SHA-256)"),
                    document.get("medical_record_sha256", ""),
                ),
            ],
        ),
        (gettext("Child"), [(label, child[key]) for key, label in names if key in child]),
        (gettext("Mother"), [(gettext("IIN"), (document.get("mother") or {}).get("iin", ""))]),
    ]
    if father is None:
        groups.append((gettext("Father"), [(gettext("Father"), gettext("Not on the application"))]))
    else:
        bases = {
            "marriage": gettext("Marriage certificate"),
            "joint_application": gettext("Joint application of the parents"),
        }
        rows = [(gettext("IIN"), father.get("iin", ""))]
        rows += [(label, father[key]) for key, label in names if key in father]
        rows.append((gettext("Basis"), bases.get(father.get("basis", ""), father.get("basis", ""))))
        groups.append((gettext("Father"), rows))
    address_labels = (
        ("region", gettext("Region")),
        ("locality", gettext("City, town or village")),
        ("street", gettext("Street")),
        ("building", gettext("Building")),
        ("flat", gettext("Flat")),
    )
    groups.append(
        (
            gettext("Address"),
            [(label, address[key]) for key, label in address_labels if key in address],
        )
    )
    contact_labels = (("phone", gettext("Phone")), ("email", gettext("E-mail")))
    groups.append(
        (
            gettext("Contact"),
            [(label, contact[key]) for key, label in contact_labels if key in contact],
        )
    )
    language = document.get("language", "")
    groups.append(
        (
            gettext("Language"),
            [(gettext("Language of the documents"), LANGUAGE_NAMES.get(language, language))],
        )
    )
    return groups


def _grouped(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


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
        return _to_sign_in(request)
    application = service.get_application(session, holder, application_id)
    current = service.view(session, request.app.state.settings, application)
    context = {
        **_holder_context(session, holder),
        **_record_context(session, holder),
        "application": current,
        "rows": document_rows(current.document),
        "fingerprint_grouped": _grouped(current.fingerprint),
        "invitation_qr": Markup(qr_svg(current.invitation_url))  # noqa: S704 (our own SVG)
        if current.invitation_url and holder.is_mother
        else None,
        "error_text": service.signature_error_text(error)
        if error in service.KNOWN_REFUSALS
        else (
            service.signature_error_text(current.submission_error.split(":")[0])
            if current.submission_error
            else None
        ),
        "registry": None,
        "can_sign": (holder.is_mother and current.state == ApplicationState.DRAFT)
        or (not holder.is_mother and current.state == ApplicationState.AWAITING_FATHER),
    }
    if current.submission_id:
        session.commit()  # the registry's request (in one process) needs the database
        registry = registry_view(request, current.submission_id)
        context["registry"] = registry
        if registry.status == "registered":
            service.note_registered(session, current.birth_id)
        elif registry.status == "rejected":
            note_rejected(session, current.birth_id)  # the ward's list shows it
    return _render(request, "application.html", context)


@router.get("/parents/applications/{application_id}/document.json")
def application_document(
    request: Request, session: SessionDep, holder: api.HolderDep, application_id: str
) -> Response:
    """The application's canonical JSON (RFC 8785): what a key file signs (`birthreg sign`)."""
    application = service.get_application(session, holder, application_id)
    return Response(
        service.canonical_bytes(application),
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="application.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/parents/applications/{application_id}/key-file-signature")
async def key_file_signature(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    application_id: str,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    signature: Annotated[str, Form(max_length=64 * 1024)] = "",
    signature_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Add a key file's signature (`birthreg sign --format cms` over document.json)."""
    if holder is None:
        return _to_sign_in(request)
    service.check_csrf(holder, csrf_token)
    target = f"/parents/applications/{application_id}"
    try:
        text = await _uploaded_text(signature_file, signature)
        application = service.add_signature(
            session,
            service.parents_context(request.app),
            holder,
            application_id,
            service.key_file_signature(text),
            moment=now(),
        )
    except service.ParentsError as refusal:
        session.rollback()
        return RedirectResponse(f"{target}?error={refusal.code}", status_code=303)
    if application.state == ApplicationState.READY:
        api.submit_ready(request, session, holder, application_id)
    return RedirectResponse(target, status_code=303)


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
        return _to_sign_in(request)
    service.check_csrf(holder, csrf_token)
    target = f"/parents/applications/{application_id}"
    try:
        api.submit_ready(request, session, holder, application_id)
    except service.ParentsError as refusal:
        session.rollback()
        return RedirectResponse(f"{target}?error={refusal.code}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.get("/parents/applications/{application_id}/certificate.pdf")
def certificate_pdf(
    request: Request, session: SessionDep, holder: api.HolderDep, application_id: str
) -> Response:
    """The birth certificate's PDF (PAdES-signed by the registry), from the registry."""
    application = service.get_application(session, holder, application_id)
    submission_id = application.submission_id
    session.commit()
    if submission_id is None:
        raise service.ParentsError("not_registered", "this application is not registered", 404)
    try:
        with RegistryClient.for_app(request.app) as registry:
            status = registry.status(submission_id)
            if status.status != "registered" or not status.certificate_id:
                raise service.ParentsError(
                    "not_registered", "this application is not registered (yet)", 404
                )
            pdf = registry.certificate_pdf(status.certificate_id)
    except httpx.HTTPError:
        raise service.ParentsError(
            "registry_unavailable", "the registry could not be reached; try again", 503
        ) from None
    if pdf is None:
        raise service.ParentsError(
            "registry_unavailable", "the registry did not give the certificate", 502
        )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="birth-certificate-TEST.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
