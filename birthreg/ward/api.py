"""The ward's JSON API: births, enrollments, the three key paths and revocation.

Thin routes over `birthreg.ward.service` (the pages call the same functions). Refusals are
`{"error": CODE, "detail": text}`; those about one input field also say which (`"field"`), and a
failed signature carries its verification `"report"`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from birthreg.auth import WardStaff
from birthreg.dates import RequestDay
from birthreg.db import SessionDep
from birthreg.edge import client_address
from birthreg.models import now
from birthreg.services import ServicesDep
from birthreg.ward import service
from birthreg.ward.schemas import (
    BirthCreated,
    BirthDetail,
    BirthIn,
    BirthList,
    EnrollIn,
    EnrollmentIn,
    EnrollmentStarted,
    EnrollResult,
    HolderRevocationIn,
    PKCS12In,
    Revoked,
    StaffRevocationIn,
)

PKCS12_MEDIA_TYPE = "application/x-pkcs12"


router = APIRouter(prefix="/api/v1", tags=["ward"])


def _error_responses(*codes: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {}
    for status, text in codes:
        responses[status] = {"description": text}
    return responses


@router.post(
    "/ward/births",
    status_code=201,
    response_model=BirthCreated,
    responses=_error_responses(
        (
            400,
            "invalid_iin, iin_sex_mismatch, invalid_name, birth_in_future, birth_too_old, "
            "weight_out_of_range, length_out_of_range, invalid_birth_order, invalid_attendant",
        ),
    ),
)
def record_birth(
    session: SessionDep, services: ServicesDep, staff: WardStaff, body: BirthIn
) -> dict[str, Any]:
    """Record a birth: the medical record, validated and sealed by the facility (CMS detached)."""
    ward = service.ward_context(services)
    birth = service.record_birth(session, ward, staff=staff, record=body, moment=now())
    return {"id": birth.id, "medical_record": service.signed_medical_record(birth).to_json()}


@router.get("/ward/births", response_model=BirthList)
def list_births(
    session: SessionDep,
    staff: WardStaff,
    day: Annotated[
        RequestDay | None,
        Query(alias="date", description="YYYY-MM-DD (Almaty); today by default"),
    ] = None,
) -> dict[str, Any]:
    """The facility's births born or recorded on a day, in the order they were born."""
    moment = now()
    day = day or service.ward_day(moment)
    births = service.list_births(session, staff=staff, day=day, moment=moment)
    return {"date": day.isoformat(), "births": [b.to_json() for b in births]}


@router.get(
    "/ward/births/{birth_id}",
    response_model=BirthDetail,
    responses=_error_responses((404, "birth_not_found")),
)
def get_birth(session: SessionDep, staff: WardStaff, birth_id: str) -> dict[str, Any]:
    """One birth: its sealed medical record, progress and enrollments (never their codes)."""
    view = service.get_birth(session, staff=staff, birth_id=birth_id, moment=now())
    return view.to_json(with_record=True)


@router.post(
    "/ward/births/{birth_id}/enrollments",
    status_code=201,
    response_model=EnrollmentStarted,
    responses=_error_responses(
        (400, "invalid_iin, iin_sex_mismatch, invalid_name"),
        (404, "birth_not_found"),
    ),
)
def start_enrollment(
    session: SessionDep,
    services: ServicesDep,
    staff: WardStaff,
    birth_id: str,
    body: EnrollmentIn,
) -> JSONResponse:
    """Start an enrollment for the mother or the father: a one-time code, shown once."""
    ward = service.ward_context(services)
    started = service.start_enrollment(
        session, ward, staff=staff, birth_id=birth_id, request=body, moment=now()
    )
    payload = EnrollmentStarted.model_validate(started.to_json())
    return JSONResponse(payload.model_dump(mode="json"), 201, headers={"Cache-Control": "no-store"})


@router.post(
    "/enroll",
    status_code=201,
    response_model=EnrollResult,
    responses=_error_responses(
        (
            400,
            "invalid_request, invalid_code (malformed or wrong), weak_key, "
            "invalid_certificate_request, proof_of_possession_failed",
        ),
        (404, "invalid_code (unknown)"),
        (409, "code_used"),
        (410, "code_expired"),
        (423, "code_locked"),
        (429, "too_many_attempts"),
    ),
)
def enroll(
    request: Request, session: SessionDep, services: ServicesDep, body: EnrollIn
) -> JSONResponse:
    """Spend a one-time code on a TEST certificate for a CSR's key or a WebCrypto key."""
    ward = service.ward_context(services)
    issued = service.enroll(
        session,
        ward,
        request=body,
        client_address=client_address(request),
        moment=now(),
    )
    return JSONResponse(issued.to_json(), 201, headers={"Cache-Control": "no-store"})


@router.post(
    "/ward/enrollments/{enrollment_id}/pkcs12",
    status_code=201,
    response_class=Response,
    responses={
        201: {"content": {PKCS12_MEDIA_TYPE: {}}, "description": "the key file, once"},
        400: {"description": "weak_password"},
        404: {"description": "enrollment_not_found"},
        409: {"description": "code_used"},
        410: {"description": "code_expired"},
        423: {"description": "code_locked"},
    },
)
def issue_pkcs12(
    session: SessionDep,
    services: ServicesDep,
    staff: WardStaff,
    enrollment_id: str,
    body: PKCS12In,
) -> Response:
    """Make a key at the desk and hand it over once as a PKCS#12 file (no copy is kept)."""
    ward = service.ward_context(services)
    key_file = service.issue_pkcs12(
        session,
        ward,
        staff=staff,
        enrollment_id=enrollment_id,
        password=body.password,
        moment=now(),
    )
    return Response(
        key_file.data,
        201,
        media_type=PKCS12_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{key_file.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/ward/certificates/{serial}/revoke",
    response_model=Revoked,
    responses=_error_responses(
        (400, "invalid_serial, invalid_reason"),
        (404, "certificate_not_found"),
        (409, "already_revoked"),
    ),
)
def revoke_by_staff(
    session: SessionDep, staff: WardStaff, serial: str, body: StaffRevocationIn
) -> dict[str, Any]:
    """Revoke a certificate this ward issued (lost_phone, wrong_person, key_compromise)."""
    revocation = service.revoke_by_staff(
        session, staff=staff, serial=serial, reason=body.reason, moment=now()
    )
    return revocation.to_json()


@router.post(
    "/certificates/{serial}/revoke",
    tags=["certificates"],
    response_model=Revoked,
    responses=_error_responses(
        (
            400,
            "invalid_serial, invalid_request, serial_mismatch, invalid_reason, stale_request, "
            "invalid_signature (with report)",
        ),
        (403, "signer_mismatch"),
        (404, "certificate_not_found"),
        (409, "already_revoked"),
    ),
)
def revoke_by_holder(
    session: SessionDep,
    services: ServicesDep,
    serial: str,
    body: HolderRevocationIn,
) -> dict[str, Any]:
    """Revoke your own certificate with a signature of its key over a revocation request."""
    ward = service.ward_context(services)
    revocation = service.revoke_by_holder(
        session,
        ward,
        serial=serial,
        request=body.request,
        signature=body.signature.model_dump(),
        moment=now(),
    )
    return revocation.to_json()
