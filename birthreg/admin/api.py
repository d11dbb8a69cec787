"""The admin's JSON API: list, add and change staff accounts (DESIGN.md, "HTTP endpoints")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from birthreg.admin.schemas import UserChange, UserCreate, UserList, UserPublic
from birthreg.auth import AdminStaff, accounts
from birthreg.db import SessionDep
from birthreg.errors import DomainError

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Username = Annotated[str, Path(min_length=1, max_length=200)]
_ERROR = {"description": '`{"error": CODE, "detail": text}`'}


@router.get("/users", response_model=UserList)
def list_users(session: SessionDep, admin: AdminStaff) -> Any:
    """Every staff account (no password hashes)."""
    return UserList(users=[UserPublic.of(user) for user in accounts.list_users(session)])


@router.post(
    "/users",
    status_code=201,
    response_model=UserPublic,
    responses={400: _ERROR, 409: _ERROR},
)
def add_user(body: UserCreate, session: SessionDep, admin: AdminStaff) -> Any:
    """Add a staff account: 400 invalid_username / weak_password / invalid_facility, 409
    username_taken."""
    user = accounts.create_staff_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        facility_id=body.facility_id,
        by=admin,
    )
    return UserPublic.of(user)


@router.patch(
    "/users/{username}",
    response_model=UserPublic,
    responses={400: _ERROR, 404: _ERROR, 409: _ERROR},
)
def change_user(
    username: Username, body: UserChange, session: SessionDep, admin: AdminStaff
) -> Any:
    """Disable or enable (`disabled`), change the `role`, or reset the `password` of an account;
    its tokens and sessions stop at once where that matters. 409 last_admin: the last enabled
    admin cannot be disabled or demoted."""
    if body.disabled is None and body.role is None and body.password is None:
        raise DomainError("nothing_to_change", "send disabled, role or password")
    user = accounts.get_user(session, username, for_update=True)
    if body.password is not None:
        accounts.reset_password(session, user, body.password, by=admin)
    if body.role is not None:
        accounts.change_role(session, user, body.role, by=admin)
    if body.disabled is not None:
        accounts.set_disabled(session, user, body.disabled, by=admin)
    return UserPublic.of(user)
