"""What the parents' pages show: an application as plain data, and sentences about refusals."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlmodel import Session

from birthreg.config import Settings
from birthreg.i18n import gettext
from birthreg.models import (
    ApplicationState,
    IssuedCertificate,
    ParentApplication,
)
from birthreg.parents.service import (
    birth_of,
    canonical_bytes,
    certificate_revoked,
    document_of,
    invitation_url,
    is_joint,
)
from birthreg.parents.sessions import Holder, ParentsError

# -- what pages show ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationView:
    """An application as plain data (safe after the session's transaction ended)."""

    id: str
    birth_id: str
    state: str
    previous_id: str | None
    document: dict[str, Any]
    canonical: bytes
    fingerprint: str
    joint: bool
    mother_signed: bool
    father_signed: bool
    father_joined: bool
    submission_id: str | None
    receipt: dict[str, Any] | None
    submission_error: str | None
    submitted_at: datetime | None
    created_at: datetime
    invitation_url: str | None
    signer_revoked: bool


def view(session: Session, settings: Settings, application: ParentApplication) -> ApplicationView:
    content = canonical_bytes(application)
    return ApplicationView(
        id=application.id,
        birth_id=application.birth_id,
        state=application.state,
        previous_id=application.previous_id,
        document=document_of(application),
        canonical=content,
        fingerprint=hashlib.sha256(content).hexdigest(),
        joint=is_joint(application),
        mother_signed=application.mother_signature is not None,
        father_signed=application.father_signature is not None,
        father_joined=application.father_serial is not None,
        submission_id=application.submission_id,
        receipt=json.loads(application.receipt) if application.receipt else None,
        submission_error=application.submission_error,
        submitted_at=application.submitted_at,
        created_at=application.created_at,
        invitation_url=invitation_url(settings, application),
        signer_revoked=application.state != ApplicationState.SUBMITTED
        and any(
            certificate_revoked(session, serial)
            for serial in (application.mother_serial, application.father_serial)
            if serial
        ),
    )


def medical_record_summary(session: Session, holder: Holder) -> dict[str, Any]:
    """The sealed medical record's fields that the form shows read-only."""
    document: dict[str, Any] = json.loads(birth_of(session, holder).medical_record)
    return document


def holder_certificate(session: Session, holder: Holder) -> x509.Certificate:
    row = session.get(IssuedCertificate, holder.serial)
    assert row is not None
    return x509.load_der_x509_certificate(row.der)



#: Refusals a page may name in its `error` parameter (anything else is not shown).
KNOWN_REFUSALS = frozenset(
    {"key_revoked", "invalid_signature", "signer_mismatch", "wrong_state", "registry_unavailable"}
)


def signature_error_text(code: str) -> str:
    """A sentence for people about a refused signature or submission (in their language)."""
    messages = {
        "key_revoked": gettext(
            "Your key was revoked, so it cannot sign. Ask the ward for a new key and sign again."
        ),
        "invalid_signature": gettext(
            "The signature does not match the document shown. Nothing was sent."
        ),
        "signer_mismatch": gettext("This signature was made with someone else's key."),
        "wrong_state": gettext("This application is not waiting for this signature."),
        "registry_unavailable": gettext(
            "The registry could not be reached. Your signed application is kept: try again."
        ),
    }
    return messages.get(code, gettext("The registry refused the application: %(reason)s") % {
        "reason": code
    })


def decode_signature_upload(data: bytes) -> str:
    """An uploaded signature file as text (UTF-8); refuses binaries and huge files."""
    if len(data) > 64 * 1024:
        raise ParentsError("invalid_signature", "the signature file is too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParentsError(
            "invalid_signature", "upload the text that `birthreg sign` printed"
        ) from None
