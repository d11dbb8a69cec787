"""The decisions before registration, as JSON: a registrar approves a late application; a clerk
decides whether a submission is a duplicate of a likely duplicate (birthreg.registry.decisions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from birthreg.auth import ClerkStaff, RegistrarStaff
from birthreg.db import SessionDep
from birthreg.registry import decisions
from birthreg.registry.decision_models import DuplicateVerdict
from birthreg.registry.schemas import RejectRequest

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

SubmissionId = Annotated[str, Path(min_length=1, max_length=36)]
_ERROR = {"description": "`{\"error\": CODE, \"detail\": text}`"}


class LateApproved(BaseModel):
    """The approved late application: it is `received` now, and a clerk may register it."""

    id: str
    status: str
    approved_by: int
    approved_at: datetime


class DuplicateDecisionRequest(RejectRequest):
    """Whether this submission is a duplicate of `of` (one of its likely duplicates), and why
    (`reason`: plain text, as a rejection's)."""

    of: str = Field(min_length=1, max_length=36)
    decision: DuplicateVerdict


class DuplicateDecisionPublic(BaseModel):
    submission_id: str
    of: str
    decision: DuplicateVerdict
    reason: str
    decided_by: int
    decided_at: datetime


@router.post(
    "/submissions/{submission_id}/approve-late",
    response_model=LateApproved,
    responses={404: _ERROR, 409: _ERROR},
)
def approve_late(submission_id: SubmissionId, session: SessionDep, user: RegistrarStaff) -> Any:
    """Approve a late application (a registrar): it may be registered then."""
    submission = decisions.approve_late(session, submission_id, staff=user)
    approval = decisions.late_approval(session, submission.id)
    assert approval is not None
    return LateApproved(
        id=submission.id,
        status=submission.status,
        approved_by=approval.approved_by,
        approved_at=approval.approved_at,
    )


@router.post(
    "/submissions/{submission_id}/duplicate-decision",
    response_model=DuplicateDecisionPublic,
    responses={404: _ERROR, 409: _ERROR},
)
def decide_duplicate(
    submission_id: SubmissionId,
    body: DuplicateDecisionRequest,
    session: SessionDep,
    user: ClerkStaff,
) -> Any:
    """Record whether this submission is a duplicate of one of its likely duplicates."""
    row = decisions.decide_duplicate(
        session, submission_id, body.of, body.decision, body.reason, staff=user
    )
    return DuplicateDecisionPublic(
        submission_id=row.submission_id,
        of=row.other_id,
        decision=DuplicateVerdict(row.decision),
        reason=row.reason,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )
