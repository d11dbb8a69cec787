"""The certificate the ward prints for the mother before she leaves (DESIGN.md, "Issued at the
ward"): the ward learns the registry's outcome the way the parents' pages do (the application's
submission, its status through the one registry client) and fetches the signed PDF by the
certificate's unguessable id, with a claim that the facility prints it sealed by the facility's
own seal (`birthreg.ward_print_claim`): the registry counts a print at the ward only on that
seal, never on the link alone.
"""

from __future__ import annotations

import httpx
from fastapi import Request
from sqlmodel import Session, col, select

from birthreg.errors import DomainError
from birthreg.models import ParentApplication, now
from birthreg.parents.status import RegistryView, registry_view
from birthreg.parents.submission import note_registered
from birthreg.pki.seals import Seal
from birthreg.registry.client import RegistryClient
from birthreg.ward_print_claim import seal_ward_print


def registered_certificate(
    request: Request, session: Session, birth_id: str
) -> RegistryView | None:
    """What the registry says about the birth's latest sent application when it registered it
    (None otherwise, or when the registry cannot be reached). Ends the session's transaction
    first: in one process the registry's request needs the database."""
    submission_id = session.exec(
        select(ParentApplication.submission_id)
        .where(ParentApplication.birth_id == birth_id)
        .where(col(ParentApplication.submission_id).is_not(None))
        .order_by(col(ParentApplication.submitted_at).desc())
        .limit(1)
    ).first()
    if submission_id is None:
        return None
    session.commit()
    registry = registry_view(request, submission_id)
    if registry.status != "registered" or not registry.certificate:
        return None
    note_registered(session, birth_id, registry.certificate_issued_at)
    return registry


def print_at_ward(request: Request, certificate_id: str, facility_bin: str, seal: Seal) -> bytes:
    """The signed PDF, logged by the registry as printed at the ward by this facility: the
    claim is sealed with the facility's `seal`. Raises 502 registry_unavailable when the
    registry cannot be reached or refuses."""
    claim = seal_ward_print(
        certificate_id, facility_bin, moment=now(), certificate=seal.certificate, key=seal.key,
        chain=seal.chain,
    )  # fmt: skip
    try:
        with RegistryClient.for_app(request.app) as registry:
            pdf = registry.ward_print_pdf(certificate_id, claim)
    except httpx.HTTPError as error:
        raise DomainError(
            "registry_unavailable", "the registry did not give the PDF", 502
        ) from error
    if pdf is None:
        raise DomainError("certificate_not_found", "the registry knows no such certificate", 404)
    return pdf
