"""A parent's correction request, signed with her key and verified like an application.

The parent signs the RFC 8785 form of a `birthreg.correction-request/1` document naming the
certificate, the changes and the reason. The registry verifies the signature as it verifies an
application's (chain to its roots, key usage and policy for individuals, validity and revocation
now) and that the signer's IIN is the mother's or the father's on the registered dossier; the
request is then a correction like a clerk's, which a registrar decides. The signed document and
its signature are kept with the request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Final

from pydantic import ValidationError
from sqlmodel import Session

from birthreg.errors import DomainError
from birthreg.models import Registration, Submission, now
from birthreg.registry import corrections, stored
from birthreg.registry.certificate import get_certificate
from birthreg.registry.record_models import Correction
from birthreg.registry.schemas import RejectRequest
from birthreg.registry.service import Registry, fresh_validator
from signing.canonical import canonicalize
from signing.dossier import verify_signature
from signing.errors import CanonicalizationError
from signing.report import SignatureReport

CORRECTION_REQUEST_TYPE: Final = "birthreg.correction-request/1"


class SignatureRefused(DomainError):
    """The request's signature did not pass (422 with the report)."""

    def __init__(self, report: SignatureReport) -> None:
        super().__init__("signature_refused", "the correction request's signature failed", 422)
        self.report = report


def _document(body: Mapping[str, Any], certificate_id: str) -> tuple[dict[str, Any], bytes]:
    document = body.get("document")
    if not isinstance(document, Mapping) or document.get("type") != CORRECTION_REQUEST_TYPE:
        raise DomainError("malformed_request", f"the document must be {CORRECTION_REQUEST_TYPE}")
    if document.get("certificate_id") != certificate_id:
        raise DomainError("malformed_request", "the document names another certificate")
    try:
        uuid.UUID(str(document.get("id")))
        content = canonicalize(document)
    except (ValueError, CanonicalizationError) as error:
        raise DomainError("malformed_request", "the document needs a UUID id, as JSON") from error
    if not isinstance(document.get("changes"), Mapping) or not isinstance(
        document.get("reason"), str
    ):
        raise DomainError("malformed_request", "the document needs changes and a reason")
    return dict(document), content


def _reason(text: str) -> str:
    try:
        return RejectRequest(reason=text).reason
    except ValidationError as error:
        detail = "the reason must be plain text, 1 to 1000 characters"
        raise DomainError("invalid_reason", detail, 422) from error


def _parent_role(session: Session, registration_id: int, iin: str | None) -> str:
    """The signer's role on the registered dossier: mother or father; 403 otherwise."""
    registration = session.get(Registration, registration_id)
    assert registration is not None
    submission = session.get(Submission, registration.submission_id)
    assert submission is not None
    dossier = json.loads(stored.dossier_text(submission))
    father = dossier["application"]["document"].get("father") or {}
    if iin and iin == submission.mother_iin:
        return "mother"
    if iin and isinstance(father, Mapping) and iin == father.get("iin"):
        return "father"
    raise DomainError("signer_not_parent", "only the child's mother or father may ask", 403)


def request_signed_correction(
    session: Session, registry: Registry, certificate_id: str, body: Mapping[str, Any]
) -> Correction:
    """Verify a parent's signed request and record it as a pending correction. Raises 400
    malformed_request, 422 SignatureRefused, 403 signer_not_parent, 409 duplicate_request, and
    what `corrections.request_correction` raises."""
    document, content = _document(body, certificate_id)
    certificate = get_certificate(session, certificate_id)
    if session.get(Correction, str(document["id"])) is not None:
        raise DomainError("duplicate_request", "this request was received already", 409)
    registration_id = certificate.registration_id
    session.rollback()  # revocation is read in a session of its own: hold no lock meanwhile
    moment = now()
    report = verify_signature(
        body.get("signature"),
        content,
        validator=fresh_validator(registry.services),
        moment=moment,
        purpose="individual",
        role="parent",
    )
    if not report.passed:
        raise SignatureRefused(report)
    role = _parent_role(session, registration_id, report.signer_iin)
    return corrections.request_correction(
        session,
        certificate_id,
        document["changes"],
        _reason(document["reason"]),
        actor=f"holder:{report.signer_serial}",
        role=role,
        staff_id=None,
        holder=report.signer_serial,
        signed_request=json.dumps(
            {"document": document, "signature": body.get("signature")}, ensure_ascii=False
        ),
        correction_id=str(document["id"]),
        moment=moment,
    )
