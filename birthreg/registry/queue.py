"""The clerk's queue: the list of submissions, opening one, its detail; the sender's status."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from birthreg import audit
from birthreg.dates import parse_moment
from birthreg.errors import DomainError
from birthreg.models import AuditEntry, Submission, SubmissionStatus
from birthreg.notify import tracking
from birthreg.registry import stored
from birthreg.registry.numbering import LOCAL_TIME_ZONE
from birthreg.registry.registration import certificate_of, registration_of, registration_result
from birthreg.registry.schemas import (
    ChildSummary,
    HistoryEntry,
    OfficePublic,
    Person,
    RegistrationDetail,
    SubmissionDetail,
    SubmissionPage,
    SubmissionStatusPublic,
    SubmissionSummary,
)
from birthreg.registry.service import OBJECT_TYPE, locked_submission, not_found

#: The queue's page size: default and largest.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def summarise(
    submission: Submission, dossier: Mapping[str, Any] | None = None
) -> SubmissionSummary:
    """The queue's line for a submission (names taken from its verified dossier)."""
    if dossier is None:
        dossier = json.loads(stored.dossier_text(submission))
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    child = record["child"]
    father = application.get("father")
    names = ("surname", "given_name", "patronymic")
    return SubmissionSummary(
        id=submission.id,
        status=submission.status,
        received_at=submission.received_at,
        facility=OfficePublic(bin=submission.facility_bin, name=record["facility"]["name"]),
        mother=Person(iin=submission.mother_iin, **{k: record["mother"].get(k) for k in names}),
        father=Person(iin=father.get("iin"), **{k: father.get(k) for k in names})
        if isinstance(father, Mapping)
        else None,
        child=ChildSummary(
            **{k: application["child"].get(k) for k in names},
            sex=submission.child_sex,
            born_at=submission.child_born_at,
            plurality=child.get("plurality"),
            birth_order=submission.birth_order,
        ),
        medical_record_id=submission.medical_record_id,
        application_id=submission.application_id,
        duplicate_candidates=json.loads(submission.duplicate_candidates),
        previous_id=submission.previous_id,
        decided_at=submission.decided_at,
        rejection_reason=submission.rejection_reason,
        tracking_number=tracking.format_tracking_number(submission.tracking_number),
    )


def _encode_cursor(submission: Submission) -> str:
    raw = json.dumps([submission.received_at.isoformat(), submission.id]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment_text, submission_id = json.loads(raw)
        # Within the years the service computes with: a year-1 or year-9999 time is refused here,
        # not by an OverflowError when it is stored as UTC.
        moment = parse_moment(moment_text)
        if not isinstance(submission_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise DomainError("invalid_cursor", "the cursor is not one this queue gave") from None
    return moment, submission_id


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_TIME_ZONE).astimezone(UTC)


def list_submissions(
    session: Session,
    *,
    status: SubmissionStatus | None = None,
    facility: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    after: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> SubmissionPage:
    """The queue, oldest first (received_at, then id), a page at a time.

    Filters: status; facility (its BIN); the dates of receipt, `date_from` to `date_to`
    inclusive, as dates in Kazakhstan. `after` is the previous page's `next` cursor. Raises 400
    invalid_cursor.
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    statement = select(Submission)
    if status is not None:
        statement = statement.where(Submission.status == SubmissionStatus(status).value)
    if facility:
        statement = statement.where(Submission.facility_bin == facility)
    if date_from is not None:
        statement = statement.where(col(Submission.received_at) >= _local_midnight(date_from))
    if date_to is not None:
        statement = statement.where(
            col(Submission.received_at) < _local_midnight(date_to + timedelta(days=1))
        )
    if after:
        moment, last_id = _decode_cursor(after)
        # A row comparison: one range on the queue's indexes (an OR of the two is none).
        statement = statement.where(
            tuple_(col(Submission.received_at), col(Submission.id)) > tuple_(moment, last_id)
        )
    rows = session.exec(
        statement.order_by(col(Submission.received_at), col(Submission.id)).limit(limit + 1)
    ).all()
    page = rows[:limit]
    return SubmissionPage(
        items=[summarise(row) for row in page],
        next=_encode_cursor(page[-1]) if len(rows) > limit else None,
    )


def open_submission(
    session: Session, submission_id: str, *, actor: str, role: str
) -> SubmissionDetail:
    """A clerk opens a submission: received becomes in review (audited), and everything the
    clerk needs to decide comes back. Raises 404 submission_not_found."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise not_found()
    if submission.status == SubmissionStatus.RECEIVED.value:
        submission = locked_submission(session, submission_id)
        if submission.status == SubmissionStatus.RECEIVED.value:
            submission.status = SubmissionStatus.IN_REVIEW.value
            session.add(submission)
            audit.record(
                session,
                actor=actor,
                role=role,
                action="submission.opened",
                object_type=OBJECT_TYPE,
                object_id=submission.id,
            )
            session.flush()
    return submission_detail(session, submission)


def submission_detail(session: Session, submission: Submission) -> SubmissionDetail:
    """Everything about one submission, without changing it."""
    dossier = json.loads(stored.dossier_text(submission))
    candidate_ids: list[str] = json.loads(submission.duplicate_candidates)
    candidates = _by_ids(session, candidate_ids)
    history = session.exec(
        select(AuditEntry)
        .where(AuditEntry.object_type == OBJECT_TYPE, AuditEntry.object_id == submission.id)
        .order_by(col(AuditEntry.seq))
    ).all()
    next_ids = session.exec(
        select(Submission.id)
        .where(Submission.previous_id == submission.id)
        .order_by(col(Submission.received_at))
    ).all()
    registration = registration_of(session, submission.id)
    registration_detail = None
    if registration is not None:
        certificate = certificate_of(session, registration)
        registration_detail = RegistrationDetail(
            act_record_number=registration.act_record_number,
            child_iin=registration.child_iin,
            certificate_id=certificate.id if certificate else "",
            year=registration.year,
            registered_at=registration.registered_at,
            registered_by=registration.registered_by,
        )
    return SubmissionDetail(
        **summarise(submission, dossier).model_dump(),
        dossier=dossier,
        report=json.loads(stored.report_text(submission)),
        receipt=json.loads(stored.receipt_text(submission)),
        candidates=[summarise(c) for c in candidates],
        history=[
            HistoryEntry(seq=e.seq, at=e.at, actor=e.actor, role=e.role, action=e.action)
            for e in history
        ],
        next_ids=list(next_ids),
        registration=registration_detail,
    )


def _by_ids(session: Session, ids: Sequence[str]) -> list[Submission]:
    if not ids:
        return []
    found = {
        s.id: s for s in session.exec(select(Submission).where(col(Submission.id).in_(ids))).all()
    }
    return [found[i] for i in ids if i in found]


def submission_status(session: Session, submission_id: str) -> SubmissionStatusPublic:
    """What the sender may follow with the submission id the registry gave them (an unguessable
    UUID4, known only to the sender and the clerks). Raises 404 submission_not_found."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        raise not_found()
    certificate_id = None
    if submission.status == SubmissionStatus.REGISTERED.value:
        certificate_id = registration_result(session, submission.id).certificate_id or None
    return SubmissionStatusPublic(
        id=submission.id,
        status=submission.status,
        received_at=submission.received_at,
        decided_at=submission.decided_at,
        rejection_reason=submission.rejection_reason,
        certificate_id=certificate_id,
        tracking_number=tracking.format_tracking_number(submission.tracking_number),
    )
