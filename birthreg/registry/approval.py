"""Who may approve: a registrar (a senior clerk), and never the one who asked.

Every approval of the record's life (a correction; a late registration) goes through
`check_approver` before anything changes, so that the refusal is the same everywhere: 403 with
the machine-readable code `registrar_required` or `own_request`.
"""

from __future__ import annotations

from birthreg.errors import DomainError
from birthreg.models import Role, StaffUser


class ApprovalRefused(DomainError):
    """The user may not approve this request (403)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail, 403)


def check_approver(staff: StaffUser, requested_by: int | None) -> None:
    """Refuse unless `staff` is an active registrar other than `requested_by` (the staff id
    of whoever asked; None when a parent asked)."""
    if staff.role != Role.REGISTRAR.value or staff.disabled:
        raise ApprovalRefused("registrar_required", "only a registrar approves")
    if requested_by is not None and staff.id == requested_by:
        raise ApprovalRefused("own_request", "nobody approves their own request")
