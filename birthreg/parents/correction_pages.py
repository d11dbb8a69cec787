"""A parent asks the registry to correct her child's certificate, signing the request with her
key file (`birthreg sign`, as the key-file page signs an application). Small on purpose: the
parent writes the corrected names and why, downloads the request's canonical JSON, signs it,
and uploads the signature; the registry verifies it and a registrar decides
(`birthreg.registry.signed_corrections`)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from birthreg.db import SessionDep
from birthreg.parents import service, sessions
from birthreg.parents.page_kit import PageHolder, render, to_sign_in, uploaded_text
from birthreg.registry.client import RegistryClient
from signing.canonical import canonicalize

router = APIRouter(include_in_schema=False, tags=["parents"])

CORRECTION_REQUEST_TYPE = "birthreg.correction-request/1"
#: The names a parent may ask to correct here (a clerk can correct the others).
FIELDS = ("child.surname", "child.given_name", "child.patronymic")
Text = Annotated[str, Form(max_length=1000)]


def _certificate(request: Request, session: Any, holder: Any, application_id: str) -> Any:
    """The certificate in force of the holder's registered application, from the registry."""
    application = service.get_application(session, holder, application_id)
    submission_id = application.submission_id
    session.commit()
    try:
        with RegistryClient.for_app(request.app) as registry:
            status = registry.status(submission_id) if submission_id else None
            if status is None or status.status != "registered" or not status.certificate_id:
                raise sessions.ParentsError("not_registered", "this birth is not registered", 404)
            certificate = registry.certificate(status.certificate_id)
    except httpx.HTTPError:
        raise sessions.ParentsError(
            "registry_unavailable", "the registry could not be reached; try again", 503
        ) from None
    if certificate is None:
        raise sessions.ParentsError("not_registered", "the registry has no such certificate", 404)
    return certificate


def _page(request: Request, holder: Any, application_id: str, **context: Any) -> Response:
    status = context.pop("status_code", 200)
    return render(
        request,
        "correction.html",
        {"holder": holder, "csrf_token": holder.csrf, "application_id": application_id,
         "fields": FIELDS, "document": None, "error": None, "done": False, **context},
        status,
    )  # fmt: skip


@router.get("/parents/applications/{application_id}/correction", response_class=HTMLResponse)
def correction_form(
    request: Request, session: SessionDep, holder: PageHolder, application_id: str
) -> Response:
    """The form: the names as the certificate has them, and the reason."""
    if holder is None:
        return to_sign_in(request)
    certificate = _certificate(request, session, holder, application_id)
    child = certificate["fields"]["child"]
    values = {path: child.get(path.split(".")[1]) or "" for path in FIELDS}
    return _page(request, holder, application_id, values=values)


@router.post("/parents/applications/{application_id}/correction", response_class=HTMLResponse)
async def correction_document(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    application_id: str,
    csrf_token: Text = "",
    reason: Text = "",
) -> Response:
    """The request to sign: its canonical JSON, to sign with the key file and upload."""
    if holder is None:
        return to_sign_in(request)
    sessions.check_csrf(holder, csrf_token)
    form = await request.form()
    certificate = _certificate(request, session, holder, application_id)
    child = certificate["fields"]["child"]
    changes = {
        path: str(form.get(path) or "").strip()
        for path in FIELDS
        if path in form and str(form.get(path)).strip() != (child.get(path.split(".")[1]) or "")
    }
    document = {
        "type": CORRECTION_REQUEST_TYPE,
        "id": str(uuid.uuid4()),
        "certificate_id": certificate["id"],
        "changes": changes,
        "reason": reason.strip(),
    }
    return _page(
        request, holder, application_id, document=canonicalize(document).decode("utf-8")
    )


@router.post("/parents/applications/{application_id}/correction/signed")
async def correction_signed(
    request: Request,
    session: SessionDep,
    holder: PageHolder,
    application_id: str,
    csrf_token: Text = "",
    document: Annotated[str, Form(max_length=16 * 1024)] = "",
    signature: Annotated[str, Form(max_length=64 * 1024)] = "",
    signature_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Send the signed request to the registry; say what it answered."""
    if holder is None:
        return to_sign_in(request)
    sessions.check_csrf(holder, csrf_token)
    service.get_application(session, holder, application_id)  # hers, or 404
    session.commit()
    try:
        signed = sessions.key_file_signature(await uploaded_text(signature_file, signature))
        parsed = json.loads(document)
        with RegistryClient.for_app(request.app) as registry:
            status, answer = registry.signed_correction(
                str(parsed.get("certificate_id", "")), {"document": parsed, "signature": signed}
            )
    except (ValueError, AttributeError, sessions.ParentsError):
        status, answer = 400, {"error": "invalid_signature"}
    except httpx.HTTPError:
        status, answer = 503, {"error": "registry_unavailable"}
    if status == 201:
        return _page(request, holder, application_id, done=True)
    return _page(
        request, holder, application_id, document=document, error=answer.get("error"),
        status_code=status if 400 <= status < 600 else 502,
    )  # fmt: skip
