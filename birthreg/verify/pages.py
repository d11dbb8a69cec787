"""The public /verify page: the seal is checked in the browser (static/verify.js)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from birthreg import i18n
from birthreg.db import SessionDep
from birthreg.verify.service import registry_office_names

router = APIRouter(include_in_schema=False)


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, session: SessionDep) -> Response:
    """The page a certificate's QR code opens; the seal stays in the URL fragment."""
    return i18n.templates.TemplateResponse(
        request, "verify/verify.html", {"offices": registry_office_names(session)}
    )
