"""The verdict on a QR seal, shared by the API, the page's status check and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlmodel import Session, col, select

from birthreg.models import BirthCertificate, IssuedCertificate, RegistryOffice
from signing.seal import SealError, read_seal

#: What the status check answers besides the stored statuses (valid, revoked, superseded).
UNKNOWN = "unknown"
#: Longest certificate number or id the status check looks up.
MAX_REFERENCE = 80


@dataclass(frozen=True)
class SealVerdict:
    """Whether a seal verified, its fields if so, the reason if not, and the status the
    registry holds for the certificate ("unknown" offline or when it has no such certificate)."""

    valid: bool
    fields: dict[str, Any] | None = None
    error: str | None = None
    detail: str | None = None
    status: str = UNKNOWN
    superseded_by: str | None = None  # the number of the certificate that replaced it

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"valid": self.valid, "fields": self.fields, "status": self.status}
        if self.superseded_by:
            body["superseded_by"] = self.superseded_by
        if self.error:
            body["error"] = self.error
            body["detail"] = self.detail
        return body


def seal_certificates(session: Session) -> list[x509.Certificate]:
    """Every registry office's seal certificate (what seals are checked against)."""
    serials = session.exec(
        select(RegistryOffice.seal_serial).order_by(col(RegistryOffice.id))
    ).all()
    certificates = []
    for serial in serials:
        row = session.get(IssuedCertificate, serial)
        if row is not None:
            certificates.append(x509.load_der_x509_certificate(row.der))
    return certificates


def registry_office_names(session: Session) -> dict[str, str]:
    """Each registry office's name by its code (a seal carries the code only)."""
    rows = session.exec(select(RegistryOffice.code, RegistryOffice.name)).all()
    return {code: name for code, name in rows}


def check_seal(qr: str, certificates: list[x509.Certificate]) -> SealVerdict:
    """The verdict on a QR text (the URL, or the Base45 seal alone), offline."""
    try:
        contents = read_seal(qr, certificates)
    except SealError as exc:
        return SealVerdict(valid=False, error=exc.code, detail=exc.detail)
    return SealVerdict(valid=True, fields=contents.fields())


def certificate_standing(session: Session, reference: str) -> tuple[str, str | None]:
    """The status of the certificate with that number (as sealed and printed) or id, and for
    a superseded one the number of the certificate that replaced it."""
    if not reference or len(reference) > MAX_REFERENCE:
        return UNKNOWN, None
    certificate = session.exec(
        select(BirthCertificate).where(BirthCertificate.certificate_number == reference)
    ).first() or session.get(BirthCertificate, reference)
    if certificate is None:
        return UNKNOWN, None
    newer = session.get(BirthCertificate, certificate.superseded_by or "")
    return certificate.status, newer.certificate_number if newer is not None else None


def certificate_status(session: Session, reference: str) -> str:
    """The status of the certificate with that number (as sealed and printed) or id."""
    return certificate_standing(session, reference)[0]


def verify_qr(session: Session, qr: str) -> SealVerdict:
    """The verdict on a QR text, with the registry's status of a valid seal's certificate."""
    verdict = check_seal(qr, seal_certificates(session))
    if not verdict.valid or verdict.fields is None:
        return verdict
    status, superseded_by = certificate_standing(session, verdict.fields["certificate_number"])
    return SealVerdict(
        valid=True, fields=verdict.fields, status=status, superseded_by=superseded_by
    )
