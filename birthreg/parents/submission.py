"""Sending a signed application to the registry: its dossier, and what the registry answered."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from birthreg import audit
from birthreg.models import (
    ApplicationState,
    Birth,
    ParentApplication,
    Progress,
)
from birthreg.packed import text_of
from birthreg.parents.service import certificate_revoked, document_of, get_application
from birthreg.parents.sessions import Holder, ParentsError
from birthreg.ward.service import (
    advance_progress,
    note_certificate_issued,
    signed_medical_record,
)

# -- submission ----------------------------------------------------------------------------------


def dossier(session: Session, application: ParentApplication) -> dict[str, Any]:
    """The dossier of DESIGN.md for a signed application."""
    birth = session.get(Birth, application.birth_id)
    assert birth is not None
    signatures = [json.loads(text_of(application, "mother_signature") or "null")]
    father = text_of(application, "father_signature")
    if father:
        signatures.append(json.loads(father))
    return {
        "medical_record": signed_medical_record(birth).to_json(),
        "application": {"document": document_of(application), "signatures": signatures},
    }


def prepare_submission(
    session: Session, holder: Holder, application_id: str
) -> tuple[str, dict[str, Any]]:
    """(birth id, dossier) of a ready application. Refuses (403 key_revoked) when a signer's key
    was revoked since it signed: the registry would refuse it, so she signs again instead."""
    application = get_application(session, holder, application_id)
    if application.state != ApplicationState.READY:
        raise ParentsError("wrong_state", "this application is not ready to send", 409)
    for serial in (application.mother_serial, application.father_serial):
        if certificate_revoked(session, serial):
            raise ParentsError(
                "key_revoked",
                "a key that signed this application was revoked; sign a new one",
                403,
            )
    return application.birth_id, dossier(session, application)


def record_submission(
    session: Session,
    holder: Holder,
    application_id: str,
    *,
    accepted: bool,
    submission_id: str | None,
    receipt: Mapping[str, Any] | None,
    error: str | None,
    moment: datetime,
) -> ParentApplication:
    """Keep what the registry answered: its receipt (state submitted, the ward's progress
    application_signed) or the reason it refused (the application stays ready)."""
    application = get_application(session, holder, application_id, for_update=True)
    if application.state != ApplicationState.READY:
        return application
    if accepted and submission_id:
        application.state = ApplicationState.SUBMITTED.value
        application.submission_id = submission_id
        application.receipt = json.dumps(receipt or {}, ensure_ascii=False)
        application.submission_error = None
        application.submitted_at = moment
        advance_progress(session, application.birth_id, Progress.APPLICATION_SIGNED)
        audit.record(
            session,
            actor=holder.actor,
            role=holder.role,
            action="application.submitted",
            object_type="application",
            object_id=application.id,
            details={"submission_id": submission_id},
            at=moment,
        )
    else:
        application.submission_error = (error or "registry_unavailable")[:1000]
    application.updated_at = moment
    session.add(application)
    session.flush()
    return application


def note_registered(
    session: Session, birth_id: str, certificate_issued_at: datetime | None = None
) -> None:
    """The registry registered the birth: the ward's list says so, with the hours from birth to
    certificate when the certificate's time of issue is known."""
    advance_progress(session, birth_id, Progress.REGISTERED)
    if certificate_issued_at is not None:
        note_certificate_issued(session, birth_id, certificate_issued_at)
