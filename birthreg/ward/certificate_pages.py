"""The birth certificate printed at the desk: once the registry registered the birth, the ward
fetches the signed PDF for the mother before she leaves, and the registry's issuance log says
"printed at the ward" (with this facility's BIN)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from birthreg import audit
from birthreg.auth import WardStaff, actor_of
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.models import now
from birthreg.parents.ward_print import print_at_ward, registered_certificate
from birthreg.services import ServicesDep
from birthreg.ward import service
from birthreg.ward.context import ward_context

router = APIRouter()


@router.post("/births/{birth_id}/certificate.pdf", response_class=Response)
def print_certificate(
    request: Request, session: SessionDep, services: ServicesDep, staff: WardStaff, birth_id: str
) -> Response:
    """The registered birth's signed certificate (PDF) to print for the mother."""
    view = service.get_birth(session, staff=staff, birth_id=birth_id, moment=now())
    facility = service.staff_facility(session, staff)
    facility_bin, seal = facility.bin, ward_context(services).facility_seal(facility)
    registry = registered_certificate(request, session, view.birth.id)
    if registry is None or registry.certificate is None:
        raise DomainError("not_registered", "the registry has not registered this birth", 409)
    certificate = registry.certificate
    session.commit()  # the registry's request (in one process) needs the database
    pdf = print_at_ward(request, str(certificate["id"]), facility_bin, seal)
    audit.record(
        session, actor=actor_of(staff), role=staff.role, action="birth.certificate_printed",
        object_type="birth", object_id=view.birth.id,
        details={"certificate_number": certificate.get("certificate_number")}, at=now(),
    )  # fmt: skip
    number = str(certificate.get("certificate_number", "")).rsplit(" ", 1)[-1]
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="birth-certificate-TEST-{number}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
