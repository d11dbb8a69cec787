"""Intake: a dossier is received, verified at the moment of receipt, stored and receipted.

Each function works in the caller's session (see `birthreg.registry.service`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, text, update
from sqlmodel import Session

from birthreg import audit
from birthreg.db import reading
from birthreg.errors import DomainError
from birthreg.models import EventKind, Submission, SubmissionStatus, now
from birthreg.notify import outbox, tracking
from birthreg.packed import Packer
from birthreg.registry import search_keys, stored
from birthreg.registry.duplicates import child_name_key, likely_duplicates
from birthreg.registry.freshness import RevocationUnavailable, waits_for_revocation
from birthreg.registry.registration import (
    Registered,
    ToRegister,
    allocate,
    complete_registration,
)
from birthreg.registry.service import OBJECT_TYPE, Office, Registry
from signing import jws
from signing.canonical import canonicalize
from signing.dossier import DossierError, DossierTooLarge, parse_dossier, verify_dossier
from signing.errors import CanonicalizationError
from signing.report import VerificationReport

RECEIPT_TYPE = "birthreg.receipt/1"


class DossierRefused(DomainError):
    """The dossier failed verification (422 with the report). Nothing was stored, but the
    refusal was audited in the caller's session: the route returns this error, it does not
    raise it, so that the audit entry is committed."""

    def __init__(self, report: VerificationReport) -> None:
        names = sorted({check.name for check in report.failed_checks}) or ["dossier"]
        if report.late and names == ["late_reason"]:
            # Only the reason is missing: the parent gives it and signs again (DESIGN.md).
            super().__init__(
                "late_reason_required",
                "the application came after the registration deadline: it must give the "
                "parent's late_reason",
                422,
            )
        else:
            super().__init__(
                "dossier_refused",
                "the dossier failed verification: " + ", ".join(names),
                422,
            )
        self.report = report


class DuplicateMedicalRecord(DomainError):
    """Another application for the medical record is registered or pending (409)."""

    def __init__(self, existing_status: str) -> None:
        super().__init__(
            "duplicate_medical_record",
            "an application for this medical record is already "
            + existing_status.replace("_", " "),
            409,
        )
        self.existing_status = existing_status


@dataclass(frozen=True)
class Intake:
    """A received dossier: `created` is False when the same dossier was already here.

    `report_text` and `receipt_text` are the JSON texts as stored, so that the answer is
    written without serialising the report again."""

    submission_id: str
    status: str
    created: bool
    report_text: str
    receipt_text: str
    duplicate_candidates: list[str]

    def body(self) -> bytes:
        """The API's answer (UTF-8 JSON): id, status, receipt, report, duplicate_candidates."""
        return (
            f'{{"id":{json.dumps(self.submission_id)},"status":{json.dumps(self.status)},'
            f'"receipt":{self.receipt_text},"report":{self.report_text},'
            f'"duplicate_candidates":{json.dumps(self.duplicate_candidates)}}}'
        ).encode()


def dossier_sha256(dossier: Any) -> str:
    """The SHA-256 of the dossier's RFC 8785 form: the same dossier however it was spaced."""
    return hashlib.sha256(canonicalize(dossier)).hexdigest()


def receive_dossier(
    session: Session, registry: Registry, body: bytes, *, moment: datetime | None = None
) -> Intake:
    """Take a dossier (JSON bytes): verify it at the moment of receipt and store it.

    The same dossier again (however spaced) returns the stored submission unchanged, with the
    report made when it first arrived. Raises DomainError 413 dossier_too_large, 400
    malformed_dossier, 409 DuplicateMedicalRecord, 503 RevocationUnavailable (a signer's
    revocation status cannot be had fresh; nothing kept), and DossierRefused (422) after auditing
    the refusal in `session` (commit it).

    The session must hold nothing pending. Verification runs outside any transaction (revocation
    data is read in a session of its own), and everything that needs no lock (the receipt's
    signature, the report's JSON) is made before the write transaction starts, so that the
    write lock (SQLite) or the mother's lock (PostgreSQL) is held only for the few statements
    that need it.
    """
    try:
        parsed = parse_dossier(body)
        text_body = body.decode("utf-8")
        sha = dossier_sha256(parsed)
    except DossierTooLarge as error:
        raise DomainError("dossier_too_large", error.detail, 413) from error
    except (DossierError, CanonicalizationError) as error:
        raise DomainError("malformed_dossier", error.detail) from error
    except UnicodeDecodeError as error:
        raise DomainError("malformed_dossier", "the dossier is not UTF-8") from error

    # A look-up that takes no write lock; the answer is checked again under the lock.
    with reading(session.get_bind()) as connection:  # type: ignore[arg-type]
        known = connection.execute(_STORED_BY_SHA256, {"sha": sha}).first()
        if known is not None:
            return _stored_intake(connection, known)
    session.rollback()

    moment = moment or now()
    deadline = timedelta(days=registry.services.settings.registration_deadline_days)
    report = verify_dossier(
        parsed, validator=registry.validator, moment=moment, registration_deadline=deadline
    )
    if waits_for_revocation(report):
        # Not the sender's fault and not final: nothing is stored or audited; try again.
        raise RevocationUnavailable("a signer's revocation status cannot be had now; try again")
    if not report.passed:
        refusal = DossierRefused(report)
        audit.record(
            session,
            actor="anonymous",
            role="public",
            action="submission.refused",
            object_type="dossier",
            object_id=hashlib.sha256(body).hexdigest(),
            details={"failed": refusal.detail},
            at=moment,
        )
        raise refusal
    return _store(session, registry, parsed, text_body, sha, report, moment)


_SUBMISSIONS = Submission.__table__  # type: ignore[attr-defined]
_STORED_BY_SHA256 = (
    _SUBMISSIONS.select()
    .with_only_columns(
        _SUBMISSIONS.c.id,
        _SUBMISSIONS.c.status,
        _SUBMISSIONS.c.report,
        _SUBMISSIONS.c.receipt,
        _SUBMISSIONS.c.duplicate_candidates,
    )
    .where(_SUBMISSIONS.c.dossier_sha256 == bindparam("sha"))
)


# The intake's look-ups, built once (building a statement costs more than running it).
_EARLIER = (
    _SUBMISSIONS.select()
    .with_only_columns(_SUBMISSIONS.c.id, _SUBMISSIONS.c.status)
    .where(_SUBMISSIONS.c.medical_record_id == bindparam("record"))
    .order_by(_SUBMISSIONS.c.received_at.desc(), _SUBMISSIONS.c.id)
)


def _stored_intake(connection: Connection, submission: Any) -> Intake:
    """The Intake of a stored submission (a row of _STORED_BY_SHA256)."""
    return Intake(
        submission_id=submission.id,
        status=submission.status,
        created=False,
        report_text=stored.text(connection, submission.report),
        receipt_text=stored.text(connection, submission.receipt),
        duplicate_candidates=json.loads(submission.duplicate_candidates),
    )


_MOTHER_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def _lock_mother(connection: Connection, mother_iin: str) -> None:
    """Serialise intakes of one mother's dossiers (duplicate checks read then write).

    PostgreSQL: a transaction-scoped advisory lock keyed by the IIN's digest. SQLite: the
    transaction is BEGIN IMMEDIATE, so writers are serialised already.
    """
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(b"birthreg.registry.mother\x00" + mother_iin.encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    connection.execute(_MOTHER_LOCK, {"key": key})


def _store(
    session: Session,
    registry: Registry,
    dossier: Mapping[str, Any],
    text_body: str,
    sha: str,
    report: VerificationReport,
    moment: datetime,
) -> Intake:
    # Made before the transaction: none of it needs the database's locks.
    office = registry.office(session)
    values = _submission_values(office, dossier, text_body, sha, report, moment)
    packing = _packed(session, values)
    actor, role = _sender(report)
    submission_id = values["id"]
    session.rollback()  # the office's look-up (first call only) must not hold the lock
    # The transaction: the mother's lock (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises all
    # writers), then plain Core statements. Under that lock no other intake of this dossier (the
    # same dossier has the same mother) can insert between the check and the insert below.
    # Core statements go to the session's connection: its execute costs less than the session's.
    connection = session.connection()
    _lock_mother(connection, values["mother_iin"])
    existing = connection.execute(_STORED_BY_SHA256, {"sha": sha}).first()
    if existing is not None:  # the same dossier arrived while this one was being verified
        return _stored_intake(connection, existing)
    previous_id, candidate_ids = _insert_submission(connection, office, values, moment, packing)
    search_keys.add_keys(
        connection, submission_id, search_keys.submission_keys(dossier, values["tracking_number"])
    )
    # Numbers are allocated before the audit entry: every transaction takes the locks in the
    # order submission row, act record counter, IIN counter, audit head (last), so no two wait
    # for each other.
    registered = None
    status = values["status"]  # received, or late (a registrar approves it first)
    if registry.auto_register and not candidate_ids and status == SubmissionStatus.RECEIVED:
        registered = _allocate_at_once(session, office, values, text_body, moment)
    details = {"dossier_sha256": sha, "previous_id": previous_id, "candidates": candidate_ids}
    _record_receipt(session, submission_id, actor, role, details, moment, late=report.late)
    if registered is not None:
        submission, registration = registered
        complete_registration(
            session,
            registry,
            submission,
            registration,
            actor="system",
            role="system",
            staff_id=None,
            moment=moment,
        )
        status = SubmissionStatus.REGISTERED.value
    return Intake(
        submission_id=submission_id,
        status=status,
        created=True,
        report_text=packing[1]["report"],
        receipt_text=packing[1]["receipt"],
        duplicate_candidates=candidate_ids,
    )


def _packed(session: Session, values: dict[str, Any]) -> tuple[Packer, dict[str, str]]:
    """Pack the new submission's texts in `values` (before the transaction: dictionaries are
    read on a connection of their own); the packer and the texts, which the answer gives."""
    texts = {"report": values["report"], "receipt": values["receipt"]}
    with reading(session.get_bind()) as reader:  # type: ignore[arg-type]
        packer = Packer(reader)
        stored.pack_values(packer, values)
    return packer, texts


def _record_receipt(
    session: Session,
    submission_id: str,
    actor: str,
    role: str,
    details: dict[str, Any],
    moment: datetime,
    *,
    late: bool = False,
) -> None:
    """The audit entry and the parents' notice of a new submission (a late one waits for a
    registrar's approval, and the notice says so)."""
    audit.record(
        session,
        actor=actor,
        role=role,
        action="submission.received",
        object_type=OBJECT_TYPE,
        object_id=submission_id,
        details=details,
        at=moment,
    )
    outbox.record(
        session, EventKind.LATE if late else EventKind.RECEIVED, submission_id, moment=moment
    )


def _sender(report: VerificationReport) -> tuple[str, str]:
    """Who sent the dossier, for the audit: the mother's certificate if she signed."""
    mother = next((s for s in report.documents[1].signatures if s.role == "mother"), None)
    if mother is None:
        return "anonymous", "public"
    return (f"holder:{mother.signer_serial}" if mother.signer_serial else "anonymous"), "mother"


def _submission_values(
    office: Office,
    dossier: Mapping[str, Any],
    text_body: str,
    sha: str,
    report: VerificationReport,
    moment: datetime,
) -> dict[str, Any]:
    """The new submission's columns, receipt included (signed here, outside the transaction)."""
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    child = record["child"]
    submission_id = str(uuid.uuid4())
    tracking_number = tracking.new_tracking_number()
    return {
        "id": submission_id,
        "registry_office_id": office.id,
        "dossier": text_body,
        "dossier_sha256": sha,
        "medical_record_id": str(record["id"]),
        "medical_record_sha256": str(application["medical_record_sha256"]),
        "application_id": str(application["id"]),
        "facility_bin": str(record["facility"]["bin"]),
        "mother_iin": str(record["mother"]["iin"]),
        "child_born_at": datetime.fromisoformat(child["born_at"]),
        "child_sex": str(child["sex"]),
        "birth_order": int(child["birth_order"]),
        "status": (SubmissionStatus.LATE if report.late else SubmissionStatus.RECEIVED).value,
        "child_name_key": child_name_key(application),
        "report": json.dumps(report.to_json(), ensure_ascii=False),
        "receipt": _receipt_text(office, submission_id, sha, moment, tracking_number),
        "received_at": moment,
        "tracking_number": tracking_number,
    }


def _previous_submission(connection: Connection, medical_record_id: str) -> str | None:
    """The latest earlier (rejected) submission of the medical record; 409 if one is pending or
    registered."""
    earlier = connection.execute(_EARLIER, {"record": medical_record_id}).all()
    for _other_id, other_status in earlier:
        if other_status != SubmissionStatus.REJECTED.value:
            raise DuplicateMedicalRecord(other_status)
    return earlier[0][0] if earlier else None


def _likely_duplicates(connection: Connection, values: Mapping[str, Any]) -> list[Any]:
    return likely_duplicates(
        connection,
        mother_iin=values["mother_iin"],
        medical_record_id=values["medical_record_id"],
        born_at=values["child_born_at"],
        birth_order=values["birth_order"],
        name_key=values["child_name_key"],
        facility_bin=values["facility_bin"],
    )


def _insert_submission(
    connection: Connection,
    office: Office,
    values: dict[str, Any],
    moment: datetime,
    packing: tuple[Packer, dict[str, str]],
) -> tuple[str | None, list[str]]:
    """Insert the submission after the checks (under the mother's lock): the previous
    submission of its medical record and the likely duplicates' ids. `packing`: the packer of
    the values, and their texts (a new receipt's text goes there)."""
    packer, texts = packing
    packer.connection = connection
    packer.write(connection)  # a dictionary made for these values, in their transaction
    previous_id = _previous_submission(connection, values["medical_record_id"])
    candidates = _likely_duplicates(connection, values)
    candidate_ids = [candidate_id for candidate_id, _ in candidates]
    values["duplicate_candidates"] = json.dumps(candidate_ids)
    values["previous_id"] = previous_id
    while not tracking.insert_unless_taken(connection, _SUBMISSIONS, values):
        # Another submission has this tracking number (rare): a new one, on a new receipt.
        values["tracking_number"] = tracking_number = tracking.new_tracking_number()
        values["receipt"] = texts["receipt"] = _receipt_text(
            office, values["id"], values["dossier_sha256"], moment, tracking_number
        )
        stored.pack_values(packer, values)
        packer.write(connection)
    _tell_candidates(connection, values["id"], candidates)
    return previous_id, candidate_ids


def _tell_candidates(connection: Connection, submission_id: str, candidates: list[Any]) -> None:
    """Duplicates are shown from both sides: the earlier submissions learn of this one."""
    for candidate_id, known_ids in candidates:
        ids = json.loads(known_ids)
        if submission_id not in ids:
            connection.execute(
                update(_SUBMISSIONS)
                .where(_SUBMISSIONS.c.id == candidate_id)
                .values(duplicate_candidates=json.dumps([*ids, submission_id]))
            )


def _allocate_at_once(
    session: Session,
    office: Office,
    values: Mapping[str, Any],
    dossier_text: str,
    moment: datetime,
) -> tuple[ToRegister, Registered] | None:
    """Auto-registration's numbers, or None if none is to be had now (the IIN range is full):
    a clerk registers it later."""
    submission = ToRegister(
        id=values["id"],
        status=SubmissionStatus.RECEIVED.value,
        medical_record_id=values["medical_record_id"],
        child_born_at=values["child_born_at"],
        child_sex=values["child_sex"],
        dossier=dossier_text,
    )
    try:
        return submission, allocate(session, office.id, submission, moment, staff_id=None)
    except DomainError:
        return None


def receipt_payload(receipt: Mapping[str, Any]) -> bytes:
    """The bytes a receipt's signature covers: the RFC 8785 form without `signature`."""
    return canonicalize({k: v for k, v in receipt.items() if k != "signature"})


def _receipt_text(
    office: Office, submission_id: str, sha: str, moment: datetime, tracking_number: str
) -> str:
    receipt = _signed_receipt(office, submission_id, sha, moment, tracking_number)
    return json.dumps(receipt, ensure_ascii=False)


def _signed_receipt(
    office: Office, submission_id: str, sha: str, moment: datetime, tracking_number: str
) -> dict[str, Any]:
    receipt: dict[str, Any] = {
        "type": RECEIPT_TYPE,
        "submission_id": submission_id,
        "tracking_number": tracking.format_tracking_number(tracking_number),
        "dossier_sha256": sha,
        "received_at": moment.astimezone(UTC).isoformat(),
        "registry_office": {"bin": office.bin, "name": office.name},
    }
    receipt["signature"] = jws.sign_detached(
        receipt_payload(receipt),
        office.seal.certificate,
        office.seal.key,
        signing_time=moment,
        chain=office.seal.chain,
    )
    return receipt
