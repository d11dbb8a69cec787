"""The public verification API: a QR text's verdict, and a certificate's status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from birthreg.db import ReadSessionDep
from birthreg.verify.service import MAX_REFERENCE, certificate_standing, verify_qr
from signing.seal import MAX_SEAL_TEXT

router = APIRouter(prefix="/api/v1/verify", tags=["verify"])


class VerifyRequest(BaseModel):
    qr: str = Field(min_length=1, max_length=2 * MAX_SEAL_TEXT, description="The QR code's text")


class VerifyResponse(BaseModel):
    valid: bool
    fields: dict[str, Any] | None
    status: str = Field(description="valid, revoked, superseded or unknown")
    superseded_by: str | None = Field(
        default=None, description="for a superseded certificate: the number of the new one"
    )
    error: str | None = None
    detail: str | None = None


class StatusResponse(BaseModel):
    status: str = Field(description="valid, revoked, superseded or unknown")
    superseded_by: str | None = Field(
        default=None, description="for a superseded certificate: the number of the new one"
    )


@router.post("", response_model=VerifyResponse)
def verify(request: VerifyRequest, session: ReadSessionDep) -> dict[str, Any]:
    """Check a certificate's QR seal against the registry's seal certificate; with its status."""
    return verify_qr(session, request.qr).to_json()


@router.get("/status/{certificate}", response_model=StatusResponse)
def status(
    session: ReadSessionDep,
    certificate: Annotated[str, Path(max_length=MAX_REFERENCE, description=(
        "The certificate number, as sealed in the QR code (or the certificate id)"
    ))],
) -> JSONResponse:
    """Whether a certificate still stands: valid, revoked, superseded or unknown."""
    status, superseded_by = certificate_standing(session, certificate)
    body: dict[str, Any] = {"status": status}
    if superseded_by:
        body["superseded_by"] = superseded_by
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
