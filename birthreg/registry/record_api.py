"""The JSON API of a record's life after registration: search, corrections, copies, issuances
(DESIGN.md, "HTTP endpoints of the record's life"). Thin routes over the service functions the
pages call too."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse

from birthreg.auth import ClerkStaff, RegistrarStaff, actor_of
from birthreg.db import SessionDep
from birthreg.registry import copies, corrections, record_view, search, signed_corrections
from birthreg.registry.certificate import get_certificate
from birthreg.registry.record_models import Correction
from birthreg.registry.record_schemas import (
    CopyIssued,
    CopyRequest,
    CorrectionApproved,
    CorrectionPublic,
    CorrectionRejection,
    CorrectionRequest,
    IssuanceLog,
    SearchResults,
)
from birthreg.registry.service import registry_for
from birthreg.services import ServicesDep

#: Included by `birthreg.registry.api` under its prefix (`/api/v1/registry`).
router = APIRouter()

_ERROR = {"description": '`{"error": CODE, "detail": text}`'}
CertificateId = Annotated[str, Path(min_length=1, max_length=80)]
CorrectionId = Annotated[str, Path(min_length=1, max_length=36)]


@router.get("/search", response_model=SearchResults, responses={400: _ERROR})
def search_records(
    session: SessionDep,
    user: ClerkStaff,
    q: Annotated[str, Query(min_length=1, max_length=search.MAX_QUERY)],
) -> Any:
    """Find records by any IIN (mother, father, child), act record number (`15` or
    `2026/15`), certificate number, tracking number, or the start of a surname (case and ё/е
    do not matter); newest first, at most 50."""
    return search.search_records(session, q, actor=actor_of(user), role=user.role)


def correction_public(correction: Correction) -> CorrectionPublic:
    return CorrectionPublic(
        id=correction.id,
        status=correction.status,
        certificate_id=correction.certificate_id,
        changes=json.loads(correction.changes),
        reason=correction.reason,
        requested_at=correction.requested_at,
        decided_at=correction.decided_at,
        decision_reason=correction.decision_reason,
        new_certificate_id=correction.new_certificate_id,
    )


@router.post(
    "/certificates/{certificate_id}/corrections",
    status_code=201,
    response_model=CorrectionPublic,
    responses={404: _ERROR, 409: _ERROR, 422: _ERROR},
)
def request_correction(
    certificate_id: CertificateId, body: CorrectionRequest, session: SessionDep, user: ClerkStaff
) -> Any:
    """Ask for a correction of the certificate in force (names, the parents' nationality, the
    father; never the medical facts: 422 `not_correctable`); a registrar decides."""
    correction = corrections.request_correction(
        session,
        certificate_id,
        body.changes,
        body.reason,
        actor=actor_of(user),
        role=user.role,
        staff_id=user.id,
    )
    return correction_public(correction)


@router.post(
    "/certificates/{certificate_id}/corrections/signed",
    status_code=201,
    response_model=CorrectionPublic,
    responses={400: _ERROR, 403: _ERROR, 404: _ERROR, 409: _ERROR, 422: _ERROR},
)
def request_signed_correction(
    certificate_id: CertificateId,
    session: SessionDep,
    services: ServicesDep,
    body: Annotated[dict[str, Any], Body()],
) -> Any:
    """A parent's request, signed with her key: `{"document": {"type":
    "birthreg.correction-request/1", "id": UUID, "certificate_id", "changes", "reason"},
    "signature": {"format": "cms"|"jws", "value"}}`, the signature over the document's RFC 8785
    form. Verified as an application is (422 `signature_refused` with the report); the signer
    must be the child's mother or father (403 `signer_not_parent`). A registrar decides."""
    try:
        correction = signed_corrections.request_signed_correction(
            session, registry_for(services), certificate_id, body
        )
    except signed_corrections.SignatureRefused as refusal:
        return JSONResponse(
            {"error": refusal.code, "detail": refusal.detail, "report": refusal.report.to_json()},
            refusal.status,
        )
    return correction_public(correction)


@router.post(
    "/corrections/{correction_id}/approve",
    status_code=201,
    response_model=CorrectionApproved,
    responses={403: _ERROR, 404: _ERROR, 409: _ERROR},
)
def approve_correction(
    correction_id: CorrectionId, session: SessionDep, services: ServicesDep, user: RegistrarStaff
) -> Any:
    """Approve (a registrar who did not ask: 403 `own_request`): a new certificate, new number,
    same act record; the old one becomes `superseded`."""
    correction = corrections.approve_correction(
        session, services, correction_id, staff=user, actor=actor_of(user)
    )
    assert correction.new_certificate_id is not None
    new = get_certificate(session, correction.new_certificate_id)
    return CorrectionApproved(
        certificate_id=new.id,
        certificate_number=new.certificate_number,
        supersedes=correction.certificate_id,
    )


@router.post(
    "/corrections/{correction_id}/reject",
    response_model=CorrectionPublic,
    responses={403: _ERROR, 404: _ERROR, 409: _ERROR},
)
def reject_correction(
    correction_id: CorrectionId,
    body: CorrectionRejection,
    session: SessionDep,
    user: RegistrarStaff,
) -> Any:
    """Reject with a reason (a registrar who did not ask)."""
    correction = corrections.reject_correction(
        session, correction_id, body.reason, staff=user, actor=actor_of(user)
    )
    return correction_public(correction)


# -- copies and the issuance log ----------------------------------------------------------------


@router.post(
    "/certificates/{certificate_id}/copies",
    status_code=201,
    response_model=CopyIssued,
    responses={404: _ERROR, 409: _ERROR, 422: _ERROR},
)
def issue_copy(
    certificate_id: CertificateId,
    body: CopyRequest,
    session: SessionDep,
    services: ServicesDep,
    user: ClerkStaff,
) -> Any:
    """A repeat certificate (new number, same act record) for the collector whose identity
    document was checked (`document_checked` must be true: 422 `identity_not_checked`)."""
    copy = copies.issue_copy(
        session,
        services,
        certificate_id,
        reason=body.reason,
        collector_name=body.collector.name,
        collector_iin=body.collector.iin,
        document_checked=body.collector.document_checked,
        actor=actor_of(user),
        role=user.role,
    )
    return CopyIssued(certificate_id=copy.id, certificate_number=copy.certificate_number)


@router.get(
    "/certificates/{certificate_id}/issuances",
    response_model=IssuanceLog,
    responses={404: _ERROR},
)
def issuances(certificate_id: CertificateId, session: SessionDep, user: ClerkStaff) -> Any:
    """The record's issuance log (every certificate of its registration): the original,
    corrected certificates, copies with their collectors, PDF downloads; oldest first."""
    certificate = get_certificate(session, certificate_id)
    return IssuanceLog(issuances=record_view.issuances_of(session, certificate.registration_id))
