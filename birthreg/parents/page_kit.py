"""What the parents' pages share: rendering, the key holder of the page (or the way to the sign-in
page), and the context every holder's page shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from birthreg.db import SessionDep
from birthreg.i18n import safe_next
from birthreg.parents import api, sessions, views
from birthreg.services import services
from signing.identity import signer_iin

SIGN_IN_PATH = "/parents/sign-in"


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    templates: Jinja2Templates = services(request).templates
    return templates.TemplateResponse(
        request,
        f"parents/{template}",
        context,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def parents_next(next_path: str | None) -> str:
    """Where a sign-in goes on: a parents' page of this site, else the holder's page."""
    target = safe_next(next_path)
    return target if target.startswith(("/parents", "/enroll")) else "/parents"


def page_holder(request: Request, session: SessionDep) -> sessions.Holder | None:
    """The key holder of the session, or None (then `request.state.sign_in_reason` says why)."""
    try:
        return api.signed_in_holder(request, session)
    except sessions.NotSignedIn as refusal:
        request.state.sign_in_reason = refusal.code
        return None


PageHolder = Annotated[sessions.Holder | None, Depends(page_holder)]


def to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    reason = getattr(request.state, "sign_in_reason", "not_signed_in")
    response = RedirectResponse(
        f"{SIGN_IN_PATH}?next={quote(target, safe='/')}&reason={reason}", status_code=303
    )
    if sessions.SESSION_COOKIE in request.cookies:
        response.delete_cookie(sessions.SESSION_COOKIE, path="/", samesite="strict")
    return response


def holder_context(session: Session, holder: sessions.Holder) -> dict[str, Any]:
    certificate = views.holder_certificate(session, holder)
    return {
        "holder": holder,
        "holder_iin": signer_iin(certificate) or holder.iin,
        "holder_name": " ".join(
            part for part in (holder.surname, holder.given_name, holder.patronymic) if part
        ),
    }


def record_context(session: Session, holder: sessions.Holder) -> dict[str, Any]:
    record = views.medical_record_summary(session, holder)
    return {"record": record, "born_at": datetime.fromisoformat(record["child"]["born_at"])}



async def uploaded_text(upload: UploadFile | None, pasted: str) -> str:
    if upload is not None and upload.filename:
        return views.decode_signature_upload(await upload.read(64 * 1024 + 1))
    return pasted
