"""Signing with a key file (the PKCS#12 file from the ward's desk). The page opens the file with
its password in the browser (PKI.js, static/js/keyfile.js) and signs with WebCrypto through the
same JSON API as a phone key; the file and the key never reach the service. For those who prefer
the command line, a signature made elsewhere (`birthreg sign`) can be uploaded or pasted here."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from birthreg.db import SessionDep
from birthreg.i18n import gettext
from birthreg.models import ApplicationState, now
from birthreg.parents import api, service, sessions, views
from birthreg.parents.page_kit import (
    PageHolder,
    parents_next,
    render,
    to_sign_in,
    uploaded_text,
)
from birthreg.services import services

router = APIRouter(include_in_schema=False, tags=["parents"])

def _key_file_page(
    request: Request, challenge: dict[str, Any] | None = None, error: str | None = None,
    status_code: int = 200, next_path: str = "/parents",
) -> Response:
    challenge = challenge or sessions.new_challenge(services(request).settings, now())
    challenge_text = json.dumps(challenge, ensure_ascii=False, indent=2)
    response = render(
        request,
        "key_file.html",
        {
            "challenge_text": challenge_text,
            "challenge_link": "/parents/key-file/challenge.json?c="
            + quote(json.dumps(challenge, separators=(",", ":")), safe=""),
            "error": error,
            "next_path": next_path,
        },
        status_code,
    )
    api.set_challenge_cookie(response, request, challenge["nonce"])
    return response


@router.get("/parents/key-file", response_class=HTMLResponse)
def key_file_page(request: Request, next: str | None = None) -> Response:
    """Sign in with the key file from the ward's desk, opened in this page."""
    return _key_file_page(request, next_path=parents_next(next))


@router.get("/parents/key-file/challenge.json")
def key_file_challenge(request: Request, c: str = "") -> Response:
    """The challenge of the key-file page as a file (only a challenge this service made)."""
    try:
        challenge = json.loads(c) if len(c) < 2000 else None
    except ValueError:
        challenge = None
    if not isinstance(challenge, dict):
        raise sessions.ParentsError("invalid_challenge", "this is not a sign-in challenge")
    sessions.check_challenge(
        services(request).settings,
        challenge,
        request.cookies.get(sessions.CHALLENGE_COOKIE),
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
        text = await uploaded_text(signature_file, signature)
        token, _holder = sessions.open_session(
            session,
            sessions.parents_context(services(request)),
            challenge=parsed,
            signature=sessions.key_file_signature(text),
            cookie_nonce=request.cookies.get(sessions.CHALLENGE_COOKIE),
            moment=now(),
        )
    except sessions.ParentsError as refusal:
        session.rollback()
        message = (
            views.signature_error_text(refusal.code)
            if refusal.code in ("key_revoked", "invalid_signature")
            else gettext("This did not work. Start again with a new challenge.")
        )
        return _key_file_page(request, error=message, status_code=refusal.status)
    response = RedirectResponse("/parents", status_code=303)
    api.set_session_cookie(response, request, token)
    return response



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
        return to_sign_in(request)
    sessions.check_csrf(holder, csrf_token)
    target = f"/parents/applications/{application_id}"
    try:
        text = await uploaded_text(signature_file, signature)
        application = service.add_signature(
            session,
            sessions.parents_context(services(request)),
            holder,
            application_id,
            sessions.key_file_signature(text),
            moment=now(),
        )
    except sessions.ParentsError as refusal:
        session.rollback()
        return RedirectResponse(f"{target}?error={refusal.code}", status_code=303)
    if application.state == ApplicationState.READY:
        api.submit_ready(request, session, holder, application_id)
    return RedirectResponse(target, status_code=303)
