"""Revocation is fresh (DESIGN.md): at intake a signer whose revocation status cannot be had
fresh makes the answer 503 `revocation_unavailable` (nothing stored, try again); at
registration every signer is checked again on information issued since that moment, so a key
revoked after intake stops it (409 `signer_revoked`).

The re-check runs before the registration takes any lock: it reads the stored dossier on a
connection of its own and asks the CA (in-process where the CA is, over HTTP at a registry of its
own) once per signer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session

from birthreg.db import reading
from birthreg.errors import DomainError
from birthreg.models import Submission, SubmissionStatus, now
from birthreg.registry import stored
from signing import cms, jws
from signing.canonical import canonicalize, parse_json
from signing.errors import SigningError
from signing.report import RevocationState, SubIndication, VerificationReport
from signing.trust import Purpose, Validator

#: Seconds a sender (or the clerk) is asked to wait before trying again.
RETRY_AFTER_SECONDS = 30


class RevocationUnavailable(DomainError):
    """No fresh revocation status for a signer (503 with Retry-After); nothing was stored."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            "revocation_unavailable", detail, 503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class SignerRevoked(DomainError):
    """A signer's certificate was revoked since the dossier was received (409)."""

    def __init__(self, role: str, serial: str) -> None:
        super().__init__(
            "signer_revoked",
            f"the {role or 'signer'}'s certificate {serial} has been revoked since the dossier "
            "was received: it cannot be registered; the parents sign again with a new key",
            409,
        )


def waits_for_revocation(report: VerificationReport) -> bool:
    """True when the report fails only because some signer's revocation status could not be had
    fresh (INDETERMINATE / TRY_LATER): trying again later may pass. A dossier that fails for any
    other reason as well is refused as it is."""
    if any(not check.passed for check in report.checks):
        return False
    waiting = False
    for document in report.documents:
        if any(not check.passed for check in document.checks):
            return False
        for signature in document.signatures:
            if signature.sub_indication is SubIndication.TRY_LATER:
                waiting = True
            elif not signature.passed:
                return False
    return waiting


_STATUS_AND_DOSSIER = (
    Submission.__table__.select()  # type: ignore[attr-defined]
    .with_only_columns(
        Submission.__table__.c.status,  # type: ignore[attr-defined]
        Submission.__table__.c.dossier,  # type: ignore[attr-defined]
    )
    .where(Submission.__table__.c.id == bindparam("submission"))  # type: ignore[attr-defined]
)
PENDING = (SubmissionStatus.RECEIVED.value, SubmissionStatus.IN_REVIEW.value)


def recheck_before_registering(session: Session, validator: Validator, submission_id: str) -> None:
    """`recheck_signers` at this moment, for a route about to register: the request's session
    has only read (the staff look-up), so its transaction ends first and no lock is held while
    the CA is asked (on SQLite that read holds the write lock that other clerks wait for)."""
    session.rollback()
    recheck_signers(session, validator, submission_id, now())


def recheck_signers(
    session: Session, validator: Validator, submission_id: str, moment: datetime
) -> None:
    """Every signer of a pending submission's dossier, on revocation information issued since
    `moment`. Raises SignerRevoked (409) or RevocationUnavailable (503); does nothing for a
    submission that is not pending or not there (registration says why)."""
    with reading(session.get_bind()) as connection:  # type: ignore[arg-type]
        row = connection.execute(_STATUS_AND_DOSSIER, {"submission": submission_id}).first()
        if row is None or row.status not in PENDING:
            return
        dossier = parse_json(stored.text(connection, row.dossier).encode("utf-8"))
    for role, signature, content, purpose in _signatures(dossier):
        verified = _verified(signature, content)
        if verified is None:
            continue  # it verified at intake; what it is now is the intake report's to say
        report = validator.validate(
            verified, moment=moment, purpose=purpose, role=role, fresh_since=moment
        )
        serial = format(verified.signer.serial_number, "x")
        if report.sub_indication is SubIndication.TRY_LATER:
            raise RevocationUnavailable(
                f"the revocation status of certificate {serial} cannot be had now; try again"
            )
        if report.revocation.state is RevocationState.REVOKED or report.sub_indication in (
            SubIndication.REVOKED, SubIndication.REVOKED_NO_POE
        ):
            raise SignerRevoked(role, serial)


def _signatures(dossier: Any) -> Iterator[tuple[str, Mapping[str, Any], bytes, Purpose]]:
    medical = dossier["medical_record"]
    yield "facility", medical["signature"], canonicalize(medical["document"]), "organisation"
    application = dossier["application"]
    content = canonicalize(application["document"])
    for signature in application["signatures"]:
        yield "parent", signature, content, "individual"


def _verified(signature: Mapping[str, Any], content: bytes) -> Any:
    try:
        if signature["format"] == "jws":
            return jws.verify_detached(signature["value"], content)
        return cms.verify_detached(base64.b64decode(signature["value"], validate=True), content)
    except (SigningError, binascii.Error, ValueError):
        return None
