"""A birth's page, shared by the routes that show it (again, with their errors)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from birthreg.models import Progress, StaffUser, now
from birthreg.parents.ward_print import registered_certificate
from birthreg.ward import forms, service

#: The births whose application went to the registry: their page asks it for the outcome.
_SENT = (Progress.APPLICATION_SIGNED, Progress.REJECTED, Progress.REGISTERED)


def render_birth(
    request: Request,
    session: Session,
    staff: StaffUser,
    birth_id: str,
    *,
    status_code: int = 200,
    flashes: list[tuple[str, str]] | None = None,
    father_values: Mapping[str, str] | None = None,
    father_errors: Mapping[str, str] | None = None,
    revoke_errors: Mapping[str, str] | None = None,
    revoke_values: Mapping[str, str] | None = None,
) -> Response:
    view = service.get_birth(session, staff=staff, birth_id=birth_id, moment=now())
    certificate = None
    if view.progress in _SENT:
        # Learn the registry's outcome as the parents' pages do; a registration moves the
        # birth's progress, so the view is read again.
        registry = registered_certificate(request, session, view.birth.id)
        if registry is not None:
            certificate = registry.certificate
            view = service.get_birth(session, staff=staff, birth_id=birth_id, moment=now())
    facility = service.staff_facility(session, staff)
    document = view.document
    return forms.render(
        request,
        "ward/birth.html",
        {
            "view": view,
            "record": document,
            "mother_name": forms.full_name(document["mother"]),
            "born_at": datetime.fromisoformat(document["child"]["born_at"]),
            "recorded_at": datetime.fromisoformat(document["recorded_at"]),
            "facility": facility,
            "certificate": certificate,
            "reasons": forms.REVOCATION_REASONS,
            "flashes": (flashes or [])
            + forms.error_banner({**(father_errors or {}), **(revoke_errors or {})}),
            "father_values": father_values or {},
            "father_errors": father_errors or {},
            "revoke_errors": revoke_errors or {},
            "revoke_values": revoke_values or {},
        },
        status_code=status_code,
    )
