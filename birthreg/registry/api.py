"""The registry's JSON API: dossier intake (public), the submission's status (its sender), the
clerk's queue, dossier, registration and rejection, and the certificate (its holder: anyone with
its unguessable id) as JSON and as the signed PDF."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from birthreg import throttle
from birthreg.auth import ClerkStaff, actor_of
from birthreg.dates import RequestDay
from birthreg.db import ReadSessionDep, SessionDep, one_writer_here
from birthreg.edge import client_address
from birthreg.errors import DomainError
from birthreg.models import SubmissionStatus, now
from birthreg.registry import (
    copies,
    freshness,
    intake,
    queue,
    record_api,
    registration,
    service,
    ward_print,
)
from birthreg.registry.certificate import (
    certificate_context,
    get_certificate,
    public_certificate,
)
from birthreg.registry.certificate_pdf import certificate_pdf
from birthreg.registry.schemas import (
    DossierRefusedBody,
    DuplicateMedicalRecordBody,
    RegistrationPublic,
    RejectRequest,
    SubmissionDetail,
    SubmissionPage,
    SubmissionReceived,
    SubmissionStatusPublic,
    SubmissionSummary,
)
from birthreg.services import ServicesDep, services
from signing.dossier import MAX_DOSSIER_BYTES

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

SubmissionId = Annotated[str, Path(min_length=1, max_length=36)]
CertificateId = Annotated[str, Path(min_length=1, max_length=80)]

_ERROR = {"description": "`{\"error\": CODE, \"detail\": text}`"}

_INTAKE_DESCRIPTION = f"""
The body is the dossier (`application/json`, version 1 of DESIGN.md), at most
{MAX_DOSSIER_BYTES} bytes ({MAX_DOSSIER_BYTES // 1024} KiB) and 16 levels deep. It is verified at
the moment of receipt: every signature (chain to the registry's configured roots, key usage and
policy, validity, revocation by CRL/OCSP), the bindings between the documents and their signers,
and the business rules.

- **201**: stored; the answer has the submission `id`, `status`, the full `report`, any likely
  `duplicate_candidates` (flagged for the clerk, not refused), and a `receipt` signed by the
  registry seal (detached JWS over the RFC 8785 form of the receipt without `signature`; check it
  with the chain in its `x5c` header and `/pki/seal.pem`).
- **200**: the same dossier (the same RFC 8785 form) was received before: the stored submission,
  its receipt and the report made then.
- **400** `malformed_dossier`: not JSON, duplicate keys, too deep.
- **409** `duplicate_medical_record`: another application for this medical record is registered
  or pending (`existing_status` says which); after a rejection a new dossier is accepted and links
  to the rejected one.
- **413** `dossier_too_large`: more than {MAX_DOSSIER_BYTES} bytes (reading stops there).
- **415** `unsupported_media_type`: the body is not sent as `application/json`.
- **422** `dossier_refused`: a check failed; `report` names every check. Nothing is stored.
- **429** `too_many_requests`: this address sent too many dossiers that were refused (400, 413,
  422) lately; `Retry-After` says when to try again. Accepted dossiers are not limited.
"""

#: Refused dossiers per client address: twenty within ten minutes, then a wait of a minute that
#: doubles with each further refusal (up to an hour). Each refusal is audited, so without this
#: anyone could fill the audit trail with garbage at the speed of the network. The address is
#: checked with a plain read before verifying and a refusal counted with its audit entry, so an
#: accepted dossier costs no write of the throttle's; dossiers already being verified when the
#: limit is reached are still answered (767 sent by 40 clients at once: 47 refused and audited,
#: 720 answered 429).
INTAKE_REFUSALS: Final = throttle.Policy(
    "intake-refused:address",
    free=20,
    window=timedelta(minutes=10),
    delay=timedelta(minutes=1),
    max_delay=timedelta(hours=1),
)


def _require_json(request: Request) -> None:
    """415 unsupported_media_type unless the body is declared `application/json`.

    A web page can make a visitor's browser POST `text/plain` (or a body with no type) to any
    address without a CORS preflight; `application/json` always needs one, so only it is read.
    """
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise DomainError(
            "unsupported_media_type", "send the dossier as Content-Type: application/json", 415
        )


async def _read_dossier(request: Request) -> bytes:
    """The body, read no further than MAX_DOSSIER_BYTES (413 dossier_too_large beyond)."""
    too_large = DomainError(
        "dossier_too_large", f"a dossier may have at most {MAX_DOSSIER_BYTES} bytes", 413
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DOSSIER_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DOSSIER_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _receive(session: Session, registry: service.Registry, body: bytes) -> intake.Intake:
    """Receive a dossier and commit in the same thread: the write lock (SQLite's, or the
    mother's on PostgreSQL) is held for the intake's few statements, not also for the trip back
    through the event loop to the request session's commit. On SQLite a process receives one
    dossier at a time (`birthreg.db.one_writer_here` says why)."""
    with one_writer_here(registry.services.engine):
        received = intake.receive_dossier(session, registry, body)
        session.commit()
    return received


@router.post(
    "/submissions",
    status_code=201,
    response_model=SubmissionReceived,
    description=_INTAKE_DESCRIPTION,
    responses={
        200: {"model": SubmissionReceived, "description": "the same dossier, received before"},
        400: _ERROR,
        409: {"model": DuplicateMedicalRecordBody},
        413: _ERROR,
        415: _ERROR,
        422: {"model": DossierRefusedBody},
        429: _ERROR,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def submit_dossier(request: Request, session: SessionDep) -> Response:
    """Submit a signed dossier: verified now, answered with a signed receipt or the report."""
    keys = [(INTAKE_REFUSALS, INTAKE_REFUSALS.key(client_address(request)))]
    # A plain read before anything is verified; refusals are counted with their audit entry.
    await run_in_threadpool(
        throttle.check,
        services(request).engine,
        keys,
        moment=now(),
        code="too_many_requests",
        detail="too many refused dossiers from this address; try again later",
    )
    _require_json(request)
    registry = service.registry_for(services(request))
    try:
        body = await _read_dossier(request)
        received = await run_in_threadpool(_receive, session, registry, body)
    except intake.DossierRefused as refusal:
        await run_in_threadpool(throttle.count, session, keys, moment=now())
        # Returned, not raised: the request session commits the audited refusal and its count.
        return JSONResponse(
            {"error": refusal.code, "detail": refusal.detail, "report": refusal.report.to_json()},
            refusal.status,
        )
    except intake.DuplicateMedicalRecord as duplicate:
        return JSONResponse(
            {
                "error": duplicate.code,
                "detail": duplicate.detail,
                "existing_status": duplicate.existing_status,
            },
            duplicate.status,
        )
    except DomainError as malformed:
        if malformed.status not in (400, 413):
            raise
        await run_in_threadpool(throttle.count, session, keys, moment=now())
        return JSONResponse({"error": malformed.code, "detail": malformed.detail}, malformed.status)
    status = 201 if received.created else 200
    return Response(received.body(), status, media_type="application/json")


@router.get(
    "/submissions/{submission_id}/status",
    response_model=SubmissionStatusPublic,
    responses={404: _ERROR},
)
def submission_status(submission_id: SubmissionId, session: ReadSessionDep) -> Any:
    """The status of a submission, for its sender (who holds its unguessable id)."""
    return queue.submission_status(session, submission_id)


@router.get("/submissions", response_model=SubmissionPage, responses={400: _ERROR})
def list_submissions(
    session: ReadSessionDep,
    user: ClerkStaff,
    status: SubmissionStatus | None = None,
    facility: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    date_from: RequestDay | None = None,
    date_to: RequestDay | None = None,
    after: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=queue.MAX_PAGE_SIZE)] = queue.DEFAULT_PAGE_SIZE,
) -> Any:
    """The queue, oldest first; filter by status, facility BIN and dates of receipt."""
    return queue.list_submissions(
        session,
        status=status,
        facility=facility,
        date_from=date_from,
        date_to=date_to,
        after=after,
        limit=limit,
    )


@router.get(
    "/submissions/{submission_id}", response_model=SubmissionDetail, responses={404: _ERROR}
)
def open_submission(submission_id: SubmissionId, session: SessionDep, user: ClerkStaff) -> Any:
    """One dossier with its report, duplicate candidates and history (received → in review)."""
    return queue.open_submission(session, submission_id, actor=actor_of(user), role=user.role)


@router.post(
    "/submissions/{submission_id}/register",
    status_code=201,
    response_model=RegistrationPublic,
    responses={
        200: {"model": RegistrationPublic, "description": "registered before: the same result"},
        404: _ERROR,
        409: _ERROR,
        503: _ERROR,
    },
)
def register_submission(
    submission_id: SubmissionId, session: SessionDep, services: ServicesDep, user: ClerkStaff
) -> JSONResponse:
    """Register: act record number, child IIN and certificate, all at once (idempotent); every
    signer is checked again first (409 signer_revoked, 503 revocation_unavailable)."""
    registry = service.registry_for(services)
    freshness.recheck_before_registering(session, registry.validator, submission_id)
    outcome = registration.register_submission(
        session,
        registry,
        submission_id,
        actor=actor_of(user),
        role=user.role,
        staff_id=user.id,
    )
    return JSONResponse(outcome.result.model_dump(), 201 if outcome.created else 200)


@router.post(
    "/submissions/{submission_id}/reject",
    response_model=SubmissionSummary,
    responses={404: _ERROR, 409: _ERROR},
)
def reject_submission(
    submission_id: SubmissionId, rejection: RejectRequest, session: SessionDep, user: ClerkStaff
) -> Any:
    """Reject with a reason the mother will read; she may correct and send a new dossier."""
    submission = registration.reject_submission(
        session,
        submission_id,
        rejection.reason,
        actor=actor_of(user),
        role=user.role,
        staff_id=user.id,
    )
    return queue.summarise(submission)


# -- the certificate ----------------------------------------------------------------------------


@router.get(
    "/certificates/{certificate_id}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, 400: _ERROR, 404: _ERROR},
)
def certificate_pdf_download(
    session: SessionDep,
    services: ServicesDep,
    certificate_id: CertificateId,
    printed_at_ward: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    """The certificate as a PDF signed PAdES by the registry seal (holder: anyone with the id),
    logged `pdf_download`. A print at the ward is claimed only by POST …/ward-print with the
    facility's sealed claim: `?printed_at_ward=` here is refused (400 ward_print_unsealed, no
    PDF, nothing logged), so that no link holder can claim one."""
    certificate = get_certificate(session, certificate_id)
    if printed_at_ward is not None:
        raise DomainError(
            "ward_print_unsealed",
            "a print at the ward is claimed by POST /api/v1/registry/certificates/{id}/ward-print "
            "with the facility's sealed claim",
            400,
        )
    pdf = certificate_pdf(session, certificate_context(services, session), certificate)
    copies.log_download(session, certificate)
    return _pdf_response(pdf, certificate.certificate_number)


@router.post(
    "/certificates/{certificate_id}/ward-print",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        400: _ERROR, 403: _ERROR, 404: _ERROR, 409: _ERROR,
    },
)  # fmt: skip
def certificate_printed_at_ward(
    session: SessionDep,
    services: ServicesDep,
    certificate_id: CertificateId,
    claim: Annotated[dict[str, Any], Body()],
) -> Response:
    """The ward where the child was born prints the signed PDF for the mother. The body is the
    claim sealed with the facility's seal (`birthreg.ward_print_claim`: {document: {type,
    certificate_id, facility_bin, at, nonce}, signature: {format: "cms", value}}): trusted by
    the registry's roots, the seal's BIN the claim's and the birth's facility, `at` within 5
    minutes, the nonce new. Logged `printed_at_ward` (actor `facility:BIN`). Refused, with
    nothing logged: 400 ward_print_malformed_claim / ward_print_claim_for_another_certificate, 403
    ward_print_stale_claim / ward_print_seal_not_trusted / ward_print_seal_of_another_facility /
    facility_mismatch, 409 ward_print_replayed."""
    certificate = get_certificate(session, certificate_id)
    validator = service.registry_for(services).validator
    ward_print.accept_ward_print(session, certificate, claim, validator=validator, moment=now())
    pdf = certificate_pdf(session, certificate_context(services, session), certificate)
    return _pdf_response(pdf, certificate.certificate_number)


def _pdf_response(pdf: bytes, certificate_number: str) -> Response:
    number = certificate_number.rsplit(" ", 1)[-1]
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="birth-certificate-TEST-{number}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/certificates/{certificate_id}", responses={404: _ERROR})
def certificate_json(session: SessionDep, certificate_id: CertificateId) -> JSONResponse:
    """The certificate's fields, QR text and status (holder: anyone with the unguessable id)."""
    certificate = get_certificate(session, certificate_id)
    return JSONResponse(
        public_certificate(certificate), headers={"Cache-Control": "private, no-store"}
    )


# The record's life after registration (search, corrections, copies): routes of their own.
router.include_router(record_api.router)
