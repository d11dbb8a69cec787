"""The /pki endpoints: the TEST CA's certificates (PEM). CRL and OCSP come with revocation."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Request, Response

from birthreg.pki.service import certification_authority

router = APIRouter(prefix="/pki", tags=["pki"])

PEM_MEDIA_TYPE = "application/x-pem-file"
PEM_RESPONSES: dict[int | str, dict[str, object]] = {200: {"content": {PEM_MEDIA_TYPE: {}}}}


@router.get("/root.pem", response_class=Response, responses=PEM_RESPONSES)
def root_certificate(request: Request) -> Response:
    """The TEST root CA certificate (PEM): the trust anchor to configure."""
    ca = certification_authority(request.app)
    return _pem(ca.root_certificate.public_bytes(Encoding.PEM), "birthreg-test-root.pem")


@router.get("/ca.pem", response_class=Response, responses=PEM_RESPONSES)
def issuing_certificate(request: Request) -> Response:
    """The TEST issuing CA certificate (PEM), as named by certificates' caIssuers pointer."""
    ca = certification_authority(request.app)
    return _pem(ca.issuing_certificate.public_bytes(Encoding.PEM), "birthreg-test-ca.pem")


def _pem(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type=PEM_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "public, max-age=300",
        },
    )
