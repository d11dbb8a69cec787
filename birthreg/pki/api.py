"""The /pki endpoints: the TEST CA's certificates, the registry seal, the CRLs and OCSP.

All public: they are what relying parties (the registry, `openssl`, anyone checking a
certificate) need. Answers come from the CA's records in the database, so a revocation shows in
the next CRL and OCSP answer at once. Certificates come as PEM for people (root.pem, ca.pem) and
as DER where certificates point (ca.cer, root.cer: caIssuers, RFC 5280 section 4.2.2.1).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from datetime import datetime
from typing import Annotated

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, col, select

from birthreg.db import SessionDep
from birthreg.errors import NotFound, ServiceNotInitialised
from birthreg.models import IssuedCertificate, RegistryOffice, now
from birthreg.pki.partitions import partition_exists
from birthreg.pki.service import (
    certification_authority,
    current_arl,
    current_crl,
    ocsp_answer,
    published_crl,
)
from birthreg.services import Services, ServicesDep, app_services
from signing.ca import LEGACY_PARTITION
from signing.ocsp import MAX_REQUEST_BYTES, unsuccessful

router = APIRouter(prefix="/pki", tags=["pki"])
#: What the registry serves under /pki (it holds no CA): its own seal certificate.
seal_router = APIRouter(prefix="/pki", tags=["pki"])

PEM_MEDIA_TYPE = "application/x-pem-file"
PEM_RESPONSES: dict[int | str, dict[str, object]] = {200: {"content": {PEM_MEDIA_TYPE: {}}}}


@router.get("/root.pem", response_class=Response, responses=PEM_RESPONSES)
def root_certificate(services: ServicesDep) -> Response:
    """The TEST root CA certificate (PEM): the trust anchor to configure."""
    ca = certification_authority(services)
    return _pem(ca.root_certificate.public_bytes(Encoding.PEM), "birthreg-test-root.pem")


@router.get("/ca.pem", response_class=Response, responses=PEM_RESPONSES)
def issuing_certificate(services: ServicesDep) -> Response:
    """The TEST issuing CA certificate (PEM), as named by certificates' caIssuers pointer."""
    ca = certification_authority(services)
    return _pem(ca.issuing_certificate.public_bytes(Encoding.PEM), "birthreg-test-ca.pem")


CERTIFICATE_MEDIA_TYPE = "application/pkix-cert"
DER_RESPONSES: dict[int | str, dict[str, object]] = {200: {"content": {CERTIFICATE_MEDIA_TYPE: {}}}}


@router.get("/ca.cer", response_class=Response, responses=DER_RESPONSES)
def issuing_certificate_der(services: ServicesDep) -> Response:
    """The TEST issuing CA certificate (DER), where end-entity certificates' caIssuers point."""
    ca = certification_authority(services)
    return _der(ca.issuing_certificate, "birthreg-test-ca.cer")


@router.get("/root.cer", response_class=Response, responses=DER_RESPONSES)
def root_certificate_der(services: ServicesDep) -> Response:
    """The TEST root CA certificate (DER), where the issuing CA certificate's caIssuers points."""
    ca = certification_authority(services)
    return _der(ca.root_certificate, "birthreg-test-root.cer")


def _der(certificate: x509.Certificate, filename: str) -> Response:
    return Response(
        certificate.public_bytes(Encoding.DER),
        media_type=CERTIFICATE_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "public, max-age=300",
        },
    )


def _pem(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type=PEM_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "public, max-age=300",
        },
    )


@seal_router.get("/seal.pem", response_class=Response, responses=PEM_RESPONSES)
def registry_seal_certificate(request: Request, session: SessionDep) -> Response:
    """The registry office's seal certificate (PEM): what QR seals and receipts are checked with."""
    office = session.exec(select(RegistryOffice).order_by(col(RegistryOffice.id))).first()
    if office is None:
        raise ServiceNotInitialised("no registry office yet: run `birthreg init`")
    row = session.get(IssuedCertificate, office.seal_serial)
    if row is None:
        raise ServiceNotInitialised("the registry seal certificate is missing: run `birthreg init`")
    pem = x509.load_der_x509_certificate(row.der).public_bytes(Encoding.PEM)
    return _pem(pem, "birthreg-test-registry-seal.pem")


CRL_MEDIA_TYPE = "application/pkix-crl"
OCSP_REQUEST_MEDIA_TYPE = "application/ocsp-request"
OCSP_RESPONSE_MEDIA_TYPE = "application/ocsp-response"


@router.get("/crl", response_class=Response, responses={200: {"content": {CRL_MEDIA_TYPE: {}}}})
def certificate_revocation_list(session: SessionDep, services: ServicesDep) -> Response:
    """The TEST issuing CA's current CRL (DER) of the certificates issued before CRL partitions
    (partition 0: they name this address), served as stored: issued again soon after a
    revocation (by the publisher where `birthreg serve` runs it, else at the next request).
    Certificates issued since name their partition's CRL, /pki/crl/{partition}."""
    return _partition_crl(session, services, LEGACY_PARTITION, "birthreg-test.crl")


@router.get(
    "/crl/{partition}",
    response_class=Response,
    responses={200: {"content": {CRL_MEDIA_TYPE: {}}}, 404: {"description": "no such partition"}},
)
def partition_revocation_list(
    session: SessionDep, services: ServicesDep, partition: Annotated[int, Path(ge=1, le=10**8)]
) -> Response:
    """*extension*: the CRL (DER) of one partition of the TEST issuing CA's certificates, where
    their CRL distribution point points; its issuingDistributionPoint names this address."""
    if not partition_exists(session, partition):
        raise NotFound("crl_partition_not_found", "no CRL partition with that number")
    return _partition_crl(session, services, partition, f"birthreg-test-{partition}.crl")


def _partition_crl(session: Session, services: Services, partition: int, filename: str) -> Response:
    ca, moment = certification_authority(services), now()
    if services.settings.crl_publisher:
        crl = published_crl(session, ca, moment, partition)
    else:
        crl = current_crl(session, ca, moment, partition)
    return _crl(crl.der, crl.next_update, filename)


@router.get(
    "/root.crl", response_class=Response, responses={200: {"content": {CRL_MEDIA_TYPE: {}}}}
)
def authority_revocation_list(session: SessionDep, services: ServicesDep) -> Response:
    """The TEST root's current CRL of CA certificates (the ARL, DER), where the issuing CA
    certificate's CRL distribution point points."""
    arl = current_arl(session, certification_authority(services), now())
    return _crl(arl.der, arl.next_update, "birthreg-test-root.crl")


def _crl(der: bytes, next_update: datetime, filename: str) -> Response:
    seconds = max(0, int((next_update - now()).total_seconds()))
    return Response(
        der,
        media_type=CRL_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            # Short, so that a revocation is seen soon even through caches.
            "Cache-Control": f"public, max-age={min(seconds, 60)}",
        },
    )


@router.post(
    "/ocsp",
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE_MEDIA_TYPE: {}}}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                OCSP_REQUEST_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def ocsp_post(request: Request) -> Response:
    """RFC 6960 OCSP over HTTP POST: a DER OCSPRequest in, a DER OCSPResponse out."""
    body = await _read_limited(request, MAX_REQUEST_BYTES)
    if body is None:
        return _ocsp(unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST))
    return await run_in_threadpool(_answer, app_services(request.app), body)


@router.get(
    "/ocsp/{encoded:path}",
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE_MEDIA_TYPE: {}}}},
)
def ocsp_get(services: ServicesDep, encoded: str) -> Response:
    """RFC 6960 appendix A.1: the base64 of the DER request, URL-encoded, in the path."""
    body = ocsp_request_from_get_path(encoded)
    if body is None:
        return _ocsp(unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST))
    return _answer(services, body)


def _answer(services: Services, body: bytes) -> Response:
    ca = certification_authority(services)
    engine = services.engine
    with Session(engine) as session:
        answer = ocsp_answer(session, ca, body, now())
        session.rollback()  # nothing to keep: answering changes no state
    return _ocsp(answer)


def _ocsp(body: bytes) -> Response:
    # RFC 5019 section 6: a client or proxy may cache a signed answer until its nextUpdate; no
    # caching of error answers.
    return Response(
        body, media_type=OCSP_RESPONSE_MEDIA_TYPE, headers={"Cache-Control": "no-cache"}
    )


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than limit (read no further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def ocsp_request_from_get_path(path_component: str) -> bytes | None:
    """The DER request in the last part of an OCSP GET URL (RFC 6960 appendix A.1), not yet
    parsed (that is `signing.ocsp.respond`'s), or None when it is not base64 of something. Lenient
    where clients differ: a space (a '+' some layer read as form data) is read as '+', missing
    padding is restored, the URL-safe alphabet is accepted."""
    if len(path_component) > 4 * MAX_REQUEST_BYTES:
        return None
    try:
        text = urllib.parse.unquote_to_bytes(path_component).decode("ascii")
        text = text.replace(" ", "+").strip().replace("-", "+").replace("_", "/").rstrip("=")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True) or None
    except (UnicodeError, binascii.Error, ValueError):
        return None
