"""What must be decided before a submission is registered (DESIGN.md, "A record's life after
registration"): a registrar's approval of a late application, and a clerk's decision on every
likely duplicate.

- A dossier received more than the registry's deadline after the birth carries the parent's
  reason and waits as `late`; `approve_late` (a registrar) makes it `received`, so that a clerk
  may register it. The approval is kept (`LateApproval`) and audited.
- For each likely duplicate a clerk records `duplicate` or `not_duplicate` with a reason
  (`decide_duplicate`): the submission is, or is not, a duplicate of the other one.
  `check_registrable` refuses a registration while any candidate that is still pending or
  registered has no decision (409 `duplicate_undecided`), and a submission decided to be a
  duplicate of another (409 `decided_duplicate`: reject it instead). A decision on the pair in
  the other direction ("the other one is a duplicate of this") counts as decided.

Every decision is one audited action in the caller's transaction; routes are thin.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlmodel import Session, col, or_, select

from birthreg import audit
from birthreg.errors import DomainError
from birthreg.models import StaffUser, Submission, SubmissionStatus, now
from birthreg.registry.approval import check_approver
from birthreg.registry.decision_models import DuplicateDecision, DuplicateVerdict, LateApproval
from birthreg.registry.service import locked_submission

OBJECT_TYPE: Final = "submission"


def _actor(staff: StaffUser) -> str:
    return f"staff:{staff.id}"


# -- late registration ---------------------------------------------------------------------------


def approve_late(
    session: Session, submission_id: str, *, staff: StaffUser, moment: datetime | None = None
) -> Submission:
    """A registrar approves a late application: `late` becomes `received` (then a clerk may
    register it). Raises 403 registrar_required (birthreg.registry.approval), 404
    submission_not_found, 409 not_late (not waiting for approval)."""
    moment = moment or now()
    # A parent asked (her signed application), so any active registrar may approve.
    check_approver(staff, requested_by=None)
    submission = locked_submission(session, submission_id)
    if submission.status != SubmissionStatus.LATE.value:
        raise DomainError(
            "not_late", "this submission is not a late application waiting for approval", 409
        )
    assert staff.id is not None
    submission.status = SubmissionStatus.RECEIVED.value
    session.add(submission)
    session.add(LateApproval(submission_id=submission.id, approved_by=staff.id, approved_at=moment))
    audit.record(
        session,
        actor=_actor(staff),
        role=staff.role,
        action="submission.late_approved",
        object_type=OBJECT_TYPE,
        object_id=submission.id,
        at=moment,
    )
    session.flush()
    return submission


def late_approval(session: Session, submission_id: str) -> LateApproval | None:
    return session.get(LateApproval, submission_id)


# -- duplicates ----------------------------------------------------------------------------------


def candidates_of(submission: Submission) -> list[str]:
    ids = json.loads(submission.duplicate_candidates)
    return [str(other) for other in ids]


def decide_duplicate(
    session: Session,
    submission_id: str,
    other_id: str,
    decision: DuplicateVerdict,
    reason: str,
    *,
    staff: StaffUser,
    moment: datetime | None = None,
) -> DuplicateDecision:
    """Record that `submission_id` is (or is not) a duplicate of `other_id`, one of its likely
    duplicates; a new decision on the same pair replaces the old one. Raises 404
    submission_not_found, 409 not_a_candidate, 409 invalid_state (decided already)."""
    moment = moment or now()
    submission = locked_submission(session, submission_id)
    if other_id not in candidates_of(submission):
        raise DomainError(
            "not_a_candidate", "the other submission is not a likely duplicate of this one", 409
        )
    if submission.status in (SubmissionStatus.REGISTERED.value, SubmissionStatus.REJECTED.value):
        raise DomainError(
            "invalid_state", f"a submission that is {submission.status} is decided already", 409
        )
    assert staff.id is not None
    row = session.exec(
        select(DuplicateDecision).where(
            DuplicateDecision.submission_id == submission_id,
            DuplicateDecision.other_id == other_id,
        )
    ).one_or_none() or DuplicateDecision(
        submission_id=submission_id,
        other_id=other_id,
        decision=decision.value,
        reason=reason,
        decided_by=staff.id,
        decided_at=moment,
    )
    row.decision, row.reason, row.decided_by, row.decided_at = (
        decision.value, reason, staff.id, moment,
    )
    session.add(row)
    audit.record(
        session,
        actor=_actor(staff),
        role=staff.role,
        action="submission.duplicate_decided",
        object_type=OBJECT_TYPE,
        object_id=submission_id,
        details={"of": other_id, "decision": decision.value, "reason": reason},
        at=moment,
    )
    session.flush()
    return row


def decisions_about(session: Session, submission_id: str) -> list[DuplicateDecision]:
    """Every decision on a pair that includes this submission, in either direction."""
    return list(
        session.exec(
            select(DuplicateDecision).where(
                or_(
                    col(DuplicateDecision.submission_id) == submission_id,
                    col(DuplicateDecision.other_id) == submission_id,
                )
            )
        ).all()
    )


@dataclass(frozen=True)
class Undecided:
    """Why a submission cannot be registered yet (empty: nothing stands in the way)."""

    undecided: Sequence[str]
    duplicate_of: Sequence[str]


def _open_candidates(session: Session, ids: Sequence[str]) -> list[str]:
    """Of these submissions, the ones still pending or registered (a rejected one needs no
    decision: it will never be registered)."""
    if not ids:
        return []
    rows = session.exec(
        select(Submission.id).where(
            col(Submission.id).in_(ids),
            col(Submission.status) != SubmissionStatus.REJECTED.value,
        )
    ).all()
    return [str(row) for row in rows]


def outstanding(session: Session, submission_id: str, candidates: Sequence[str]) -> Undecided:
    """What is left to decide about this submission's likely duplicates (`candidates`)."""
    open_ids = _open_candidates(session, [str(other) for other in candidates])
    decided: set[str] = set()
    duplicate_of: list[str] = []
    for row in decisions_about(session, submission_id):
        other = row.other_id if row.submission_id == submission_id else row.submission_id
        decided.add(other)
        if row.submission_id == submission_id and row.decision == DuplicateVerdict.DUPLICATE:
            duplicate_of.append(other)
    return Undecided(
        undecided=[other for other in open_ids if other not in decided],
        duplicate_of=[other for other in duplicate_of if other in open_ids],
    )


def check_registrable(session: Session, submission_id: str) -> None:
    """Raise 409 duplicate_undecided or decided_duplicate when a likely duplicate stands in the
    way of registering this submission (see the module's docstring)."""
    candidates = session.exec(
        select(Submission.duplicate_candidates).where(Submission.id == submission_id)
    ).one_or_none()
    if candidates is None or candidates in ("", "[]"):
        return
    left = outstanding(session, submission_id, json.loads(candidates))
    if left.duplicate_of:
        raise DomainError(
            "decided_duplicate",
            "this submission was decided to be a duplicate of another: reject it instead",
            409,
        )
    if left.undecided:
        raise DomainError(
            "duplicate_undecided",
            f"decide first whether this is a duplicate of {len(left.undecided)} likely "
            "duplicate submission(s)",
            409,
        )
