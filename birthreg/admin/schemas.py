"""What the admin's JSON API takes and gives."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from birthreg.auth.passwords import MAX_PASSWORD_LENGTH
from birthreg.models import Role, StaffUser


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Input):
    """A new staff account (the service checks the username and the password: 400)."""

    username: Annotated[str, Field(max_length=200, examples=["nurse.aigerim"])]
    password: Annotated[str, Field(max_length=MAX_PASSWORD_LENGTH + 1)]
    role: Role
    display_name: Annotated[str, Field(max_length=256)] = ""
    facility_id: int | None = None


class UserChange(_Input):
    """What to change: `disabled`, `role` and `password`, any of them (at least one)."""

    disabled: StrictBool | None = None
    role: Role | None = None
    password: Annotated[str | None, Field(max_length=MAX_PASSWORD_LENGTH + 1)] = None


class UserPublic(BaseModel):
    username: str
    role: Role
    display_name: str
    facility_id: int | None
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: StaffUser) -> UserPublic:
        return cls(
            username=user.username,
            role=Role(user.role),
            display_name=user.display_name,
            facility_id=user.facility_id,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class UserList(BaseModel):
    users: list[UserPublic]
