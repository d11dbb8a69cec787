"""Copies: a repeat certificate for a registered record, handed to someone whose identity
document the clerk checked; and the issuance log's other entries (a PDF downloaded).

A copy has a new number and the same act record, and the fields of the certificate in force
(`reissue`); the certificates before it stay as they are. Who collected it (name, IIN, that the
document was checked) is in the issuance log beside every other issuance of the record.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from birthreg.errors import DomainError
from birthreg.models import (
    BirthCertificate,
    CertificateStatus,
    EventKind,
    Registration,
    Submission,
    now,
)
from birthreg.registry import reissue
from birthreg.registry.certificate import get_certificate
from birthreg.registry.record_models import IssuanceKind
from birthreg.services import Services
from signing.identity import is_valid_iin

MAX_COLLECTOR_NAME = 200


def check_collector(name: str, iin: str, document_checked: bool) -> tuple[str, str]:
    """The collector's name and IIN, checked: 422 identity_not_checked, invalid_iin,
    collector_name_required."""
    if document_checked is not True:
        raise DomainError(
            "identity_not_checked", "check the collector's identity document first", 422
        )
    iin = iin.strip()
    if not is_valid_iin(iin):
        raise DomainError("invalid_iin", "the collector's IIN is not a valid IIN", 422)
    name = " ".join(name.split())
    if not name or len(name) > MAX_COLLECTOR_NAME or not name.isprintable():
        raise DomainError("collector_name_required", "write the collector's full name", 422)
    return name, iin


def issue_copy(
    session: Session,
    services: Services,
    certificate_id: str,
    *,
    reason: str,
    collector_name: str,
    collector_iin: str,
    document_checked: bool,
    actor: str,
    role: str,
) -> BirthCertificate:
    """A copy of the certificate in force (its id given): new number, same act record, logged
    and audited. Raises 404 certificate_not_found, 409 certificate_not_current, 422 (see
    `check_collector`)."""
    moment = now()
    name, iin = check_collector(collector_name, collector_iin, document_checked)
    certificate = get_certificate(session, certificate_id)
    if certificate.status != CertificateStatus.VALID.value:
        raise DomainError(
            "certificate_not_current", f"this certificate is {certificate.status}", 409
        )
    copy = reissue.reissue(session, services, certificate, changes=None, moment=moment)
    reissue.log_issuance(
        session, copy, IssuanceKind.COPY.value, actor=actor, role=role, moment=moment,
        collector_name=name, collector_iin=iin, document_checked=True, reason=reason,
    )  # fmt: skip
    reissue.tell_parents(
        session, copy.registration_id, EventKind.COPY_ISSUED, object_id=copy.id, moment=moment,
        certificate_id=copy.id,
    )  # fmt: skip
    _audit(session, copy, "certificate.copied", actor, role, moment)
    return copy


def log_download(session: Session, certificate: BirthCertificate) -> None:
    """A PDF download by the certificate's holder, in the issuance log and the audit trail."""
    moment = now()
    reissue.log_issuance(
        session, certificate, IssuanceKind.PDF_DOWNLOAD.value, actor="holder", role="holder",
        moment=moment,
    )  # fmt: skip
    _audit(session, certificate, "certificate.downloaded", "holder", "holder", moment)


def check_ward(session: Session, certificate: BirthCertificate, facility_bin: str) -> None:
    """Only the facility whose sealed record the registration rests on prints its certificate
    "at the ward": 403 facility_mismatch for any other BIN."""
    registration = session.get(Registration, certificate.registration_id)
    submission = session.get(Submission, registration.submission_id) if registration else None
    if submission is None or submission.facility_bin != facility_bin:
        raise DomainError(
            "facility_mismatch", "the child was not born in the facility with this BIN", 403
        )


def log_ward_print(session: Session, certificate: BirthCertificate, facility_bin: str) -> None:
    """The PDF printed at the ward (`check_ward` first) for the mother before she leaves, in the
    issuance log and the audit trail."""
    moment = now()
    actor = f"facility:{facility_bin}"
    reissue.log_issuance(
        session, certificate, IssuanceKind.PRINTED_AT_WARD.value, actor=actor, role="ward",
        moment=moment,
    )  # fmt: skip
    _audit(session, certificate, "certificate.printed_at_ward", actor, "ward", moment)


def _audit(
    session: Session,
    certificate: BirthCertificate,
    action: str,
    actor: str,
    role: str,
    at: datetime,
) -> None:
    details = {"certificate_id": certificate.id, "number": certificate.certificate_number}
    reissue.audit_on_record(
        session, certificate.registration_id, action, actor=actor, role=role, details=details,
        at=at,
    )  # fmt: skip
