"""A new certificate for a registered record: a corrected one, or a copy.

It keeps the act record and takes a new number, the registration's original number with the
next suffix (`TEST-I № 000123-2`, `-3`, …), and its own sealed QR code. Its fields are the
current certificate's, with a correction's changes applied: never the dossier again, so that an
earlier correction carries over. The registration's row is locked first (numbers are counted
under it), and the new certificate's keys go to the search table.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlmodel import Session, col

from birthreg import audit
from birthreg.models import BirthCertificate, EventKind, Registration
from birthreg.notify import outbox
from birthreg.registry import search_keys
from birthreg.registry.certificate import certificate_context, certificate_number, sealed_values
from birthreg.registry.record_models import Issuance
from birthreg.registry.service import OBJECT_TYPE
from birthreg.services import Services

_CERTIFICATES = BirthCertificate.__table__  # type: ignore[attr-defined]
_ISSUANCES = Issuance.__table__  # type: ignore[attr-defined]


def locked_registration(session: Session, registration_id: int) -> Registration:
    registration = session.exec(
        select(Registration)  # type: ignore[call-overload]
        .where(col(Registration.id) == registration_id)
        .with_for_update()
    ).scalar_one()
    assert isinstance(registration, Registration)
    return registration


def apply_changes(fields: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The fields with each `person.field` change applied (a missing father is added)."""
    result = copy.deepcopy(dict(fields))
    for path, value in changes.items():
        person, name = path.split(".", 1)
        if result.get(person) is None:
            result[person] = {
                "surname": None,
                "given_name": None,
                "patronymic": None,
                "nationality": None,
            }
        result[person][name] = value
    return result


def reissue(
    session: Session,
    services: Services,
    current: BirthCertificate,
    *,
    changes: Mapping[str, Any] | None,
    moment: datetime,
) -> BirthCertificate:
    """Insert the registration's next certificate (the caller has checked that `current` is in
    force) and return it; the caller marks `current` if it is replaced."""
    registration = locked_registration(session, current.registration_id)
    context = certificate_context(services, session)
    count = session.execute(
        select(func.count()).where(_CERTIFICATES.c.registration_id == registration.id)
    ).scalar_one()
    number = f"{certificate_number(registration)}-{count + 1}"
    fields = apply_changes(json.loads(current.fields), changes or {})
    issued_at = moment.replace(microsecond=0)
    fields["certificate_number"] = number
    fields["issued_at"] = issued_at.isoformat()
    assert registration.id is not None
    values = sealed_values(context, registration.id, fields, issued_at)
    connection = session.connection()
    connection.execute(insert(_CERTIFICATES), values)
    keys = {search_keys.certificate_key(number)}
    changed = {path.split(".", 1)[0] for path in changes or {}}
    keys |= search_keys.name_keys(fields.get(person) for person in sorted(changed))
    search_keys.add_keys(connection, registration.submission_id, sorted(keys))
    certificate = session.get(BirthCertificate, values["id"])
    assert certificate is not None
    return certificate


def log_issuance(
    session: Session,
    certificate: BirthCertificate,
    kind: str,
    *,
    actor: str,
    role: str,
    moment: datetime,
    **collector: Any,
) -> None:
    """An entry in the issuance log (in the caller's transaction)."""
    session.connection().execute(
        insert(_ISSUANCES),
        {
            "certificate_id": certificate.id,
            "registration_id": certificate.registration_id,
            "kind": kind,
            "at": moment,
            "actor": actor,
            "role": role,
            "collector_name": collector.get("collector_name"),
            "collector_iin": collector.get("collector_iin"),
            "document_checked": collector.get("document_checked"),
            "reason": collector.get("reason"),
        },
    )


def tell_parents(
    session: Session, registration_id: int, kind: EventKind, *, object_id: str, moment: datetime,
    **params: Any,
) -> None:
    """Queue the parents' message about a step of the record's life (before the audit entry:
    the audit head is the last lock a transaction takes)."""
    registration = session.get(Registration, registration_id)
    assert registration is not None
    outbox.record(
        session, kind, registration.submission_id, moment=moment, object_id=object_id, **params
    )


def audit_on_record(
    session: Session,
    registration_id: int,
    action: str,
    *,
    actor: str,
    role: str,
    details: dict[str, Any],
    at: datetime,
) -> None:
    """Audit a step of the record's life on its submission, whose history shows it."""
    registration = session.get(Registration, registration_id)
    assert registration is not None
    audit.record(
        session,
        actor=actor,
        role=role,
        action=action,
        object_type=OBJECT_TYPE,
        object_id=registration.submission_id,
        details=details,
        at=at,
    )
