"""What a registered record's page and API show of its life: the certificates (every version,
with the fields that changed), the corrections and the issuance log."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from birthreg.models import BirthCertificate, Registration, StaffUser, Submission
from birthreg.registry import stored
from birthreg.registry.corrections import CORRECTABLE, corrections_of, field_value
from birthreg.registry.record_models import Issuance
from birthreg.registry.record_schemas import IssuancePublic


def certificates_of(session: Session, registration_id: int) -> list[BirthCertificate]:
    """Every certificate of the registration, oldest first."""
    return list(
        session.exec(
            select(BirthCertificate)
            .where(BirthCertificate.registration_id == registration_id)
            .order_by(col(BirthCertificate.issued_at), col(BirthCertificate.certificate_number))
        ).all()
    )


def issuances_of(session: Session, registration_id: int) -> list[IssuancePublic]:
    """The registration's issuance log, oldest first, with each certificate's number."""
    numbers = {c.id: c.certificate_number for c in certificates_of(session, registration_id)}
    rows = session.exec(
        select(Issuance)
        .where(Issuance.registration_id == registration_id)
        .order_by(col(Issuance.at), col(Issuance.id))
    ).all()
    return [
        IssuancePublic(
            certificate_id=row.certificate_id,
            certificate_number=numbers.get(row.certificate_id, ""),
            kind=row.kind,
            at=row.at,
            actor=row.actor,
            role=row.role,
            collector_name=row.collector_name,
            collector_iin=row.collector_iin,
            document_checked=row.document_checked,
            reason=row.reason,
        )
        for row in rows
    ]


def _facility_names(
    session: Session, registration_id: int, issuances: list[IssuancePublic]
) -> dict[str, str]:
    """`facility:BIN` (a ward that printed the certificate) → the facility's name as its sealed
    record gives it."""
    if not any(i.actor.startswith("facility:") for i in issuances):
        return {}
    registration = session.get(Registration, registration_id)
    submission = session.get(Submission, registration.submission_id) if registration else None
    if submission is None:
        return {}
    facility = json.loads(stored.dossier_text(submission))["medical_record"]["document"]["facility"]
    return {f"facility:{submission.facility_bin}": str(facility["name"])}


def record_life(session: Session, registration_id: int) -> dict[str, Any]:
    """The page's view: versions with their changes, corrections, issuances, who is who."""
    certificates = certificates_of(session, registration_id)
    numbers = {c.id: c.certificate_number for c in certificates}
    versions = []
    previous: dict[str, Any] | None = None
    for certificate in certificates:
        fields = json.loads(certificate.fields)
        changed = [
            {"path": path, "old": field_value(previous, path), "new": field_value(fields, path)}
            for path in sorted(CORRECTABLE)
            if previous is not None and field_value(previous, path) != field_value(fields, path)
        ]
        versions.append(
            {
                "certificate": certificate,
                "fields": fields,
                "changed": changed,
                "superseded_by": numbers.get(certificate.superseded_by or ""),
            }
        )
        previous = fields
    corrections = [
        {"correction": c, "changes": json.loads(c.changes), "number": numbers.get(c.certificate_id)}
        for c in corrections_of(session, registration_id)
    ]
    current = next((v for v in reversed(versions) if v["certificate"].status == "valid"), None)
    ids = {c["correction"].requested_by for c in corrections} | {
        c["correction"].decided_by for c in corrections
    }
    issuances = issuances_of(session, registration_id)
    ids |= {
        int(i.actor.removeprefix("staff:"))
        for i in issuances
        if i.actor.startswith("staff:") and i.actor.removeprefix("staff:").isdigit()
    }
    names = dict(
        session.exec(
            select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(ids - {None}))
        ).all()
    )
    return {
        "versions": versions,
        "current": current,
        "corrections": corrections,
        "issuances": issuances,
        "staff_by_id": names,
        "actor_names": {f"staff:{staff_id}": name for staff_id, name in names.items()}
        | _facility_names(session, registration_id, issuances),
        "correctable": sorted(CORRECTABLE),
    }
