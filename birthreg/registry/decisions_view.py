"""What the dossier page shows of the decisions before registration: a late application (its
reason, how late, who approved it) and the decision on each likely duplicate."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from birthreg.models import Role, StaffUser, SubmissionStatus
from birthreg.registry import decisions
from birthreg.registry.schemas import SubmissionDetail


def _usernames(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(
        select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(ids))
    ).all()
    return {int(user_id): username for user_id, username in rows if user_id is not None}


def dossier_context(
    session: Session, detail: SubmissionDetail, staff: StaffUser, deadline_days: int
) -> dict[str, Any]:
    """The dossier page's `late` and `duplicate_decisions` (by candidate id), and whether this
    staff member may approve a late application."""
    application = detail.dossier.get("application", {}).get("document", {})
    approval = decisions.late_approval(session, detail.id)
    waited = detail.received_at - detail.child.born_at
    rows = decisions.decisions_about(session, detail.id) if detail.candidates else []
    names = _usernames(
        session,
        {row.decided_by for row in rows} | ({approval.approved_by} if approval else set()),
    )
    late: dict[str, Any] | None = None
    if approval is not None or detail.status == SubmissionStatus.LATE.value:
        late = {
            "reason": application.get("late_reason") or "",
            "days": waited.days,
            "deadline_days": deadline_days,
            "approved_by": names.get(approval.approved_by, "") if approval else None,
            "approved_at": approval.approved_at if approval else None,
        }
    duplicate_decisions: dict[str, dict[str, Any]] = {}
    for row in rows:
        this_side = row.submission_id == detail.id
        other = row.other_id if this_side else row.submission_id
        duplicate_decisions[other] = {
            "decision": row.decision,
            # "this": this dossier is (not) a duplicate of the other; "other": the reverse.
            "side": "this" if this_side else "other",
            "reason": row.reason,
            "who": names.get(row.decided_by, ""),
            "at": row.decided_at,
        }
    return {
        "late": late,
        "may_approve_late": staff.role == Role.REGISTRAR.value
        and detail.status == SubmissionStatus.LATE.value,
        "duplicate_decisions": duplicate_decisions,
    }
