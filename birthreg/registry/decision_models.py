"""The registry's recorded decisions before a registration: a registrar's approval of a late
application, and a clerk's decision on each likely duplicate. Kept beside `birthreg.models` in a
module of their own; Alembic migration 0010 makes them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from birthreg.models import utc_column


class LateApproval(SQLModel, table=True):
    """A registrar approved a late application (one received after the registry's deadline,
    with the parent's reason in it): it may be registered now."""

    __tablename__ = "registry_late_approval"

    submission_id: str = Field(
        primary_key=True, max_length=36, foreign_key="registry_submission.id"
    )
    approved_by: int = Field(foreign_key="staff_user.id")
    approved_at: datetime = utc_column()


class DuplicateVerdict(StrEnum):
    DUPLICATE = "duplicate"  # the submission repeats the other one: it is not registered
    NOT_DUPLICATE = "not_duplicate"  # a different birth: both may be registered


class DuplicateDecision(SQLModel, table=True):
    """A clerk's decision that `submission_id` is (or is not) a duplicate of `other_id`, with
    the reason. One decision per ordered pair; a later one replaces it (and is audited)."""

    __tablename__ = "registry_duplicate_decision"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: str = Field(max_length=36, foreign_key="registry_submission.id", index=True)
    other_id: str = Field(max_length=36, foreign_key="registry_submission.id", index=True)
    decision: str = Field(max_length=16)  # a DuplicateVerdict value
    reason: str = Field(max_length=1000)
    decided_by: int = Field(foreign_key="staff_user.id")
    decided_at: datetime = utc_column()

    __table_args__ = (sa.UniqueConstraint("submission_id", "other_id"),)
