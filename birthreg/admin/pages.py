"""The admin's pages: the staff accounts, adding one, and per account: role, disable or enable,
a new password.

Thin routes over `birthreg.auth.accounts`, the same functions the JSON API and `birthreg users`
call. Forms carry the session's CSRF token (checked by `AdminStaff` before a route runs). A
refusal is shown on the page it came from, translated, with the service's status; nothing is
stored then. Flashes after a redirect are a fixed message key in the query (`?flash=...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final
from urllib.parse import quote

from babel.support import LazyProxy
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from birthreg import i18n
from birthreg.auth import AdminStaff, accounts
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.i18n import gettext, lazy_gettext
from birthreg.models import Role, StaffUser

router = APIRouter(prefix="/admin", include_in_schema=False)

#: Form text longer than this is refused before it reaches the service.
MAX_TEXT: Final = 1100

FLASHES: Final[dict[str, LazyProxy]] = {
    "user_added": lazy_gettext("The account is added."),
    "role_changed": lazy_gettext("The role is changed; the account's open sessions have ended."),
    "disabled": lazy_gettext("The account is disabled; its sessions have ended."),
    "enabled": lazy_gettext("The account is enabled again."),
    "password_reset": lazy_gettext("The password is changed; the account's sessions have ended."),
}

MESSAGES: Final[dict[str, LazyProxy]] = {
    "required": lazy_gettext("Fill in this field."),
    "too_long": lazy_gettext("This is too long."),
    "invalid_username": lazy_gettext(
        "A username has 3 to 64 characters: lower-case Latin letters, digits, '.', '_', '-'."
    ),
    "username_taken": lazy_gettext("This username is taken."),
    "invalid_display_name": lazy_gettext("A name has at most 128 printable characters."),
    "weak_password": lazy_gettext(
        "A password has 10 to 1024 characters and no control characters."
    ),
    "password_mismatch": lazy_gettext("The two passwords are not the same."),
    "invalid_role": lazy_gettext("Choose a role."),
    "invalid_facility": lazy_gettext("Choose a facility from the list."),
    "last_admin": lazy_gettext(
        "This is the last enabled admin account: add or enable another admin first."
    ),
    "user_not_found": lazy_gettext("There is no staff account with that username."),
}


def message_for(code: str) -> str:
    message = MESSAGES.get(code)
    if message is not None:
        return str(message)
    return gettext("This could not be done (%(code)s).") % {"code": code}


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the CSRF check has read it already; Starlette keeps it)."""
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


FormFields = Annotated[dict[str, str], Depends(_form)]


def _render(
    request: Request, template: str, context: Mapping[str, Any], *, status_code: int = 200
) -> Response:
    return i18n.templates.TemplateResponse(
        request, template, {"roles": list(Role), **context}, status_code=status_code
    )


def _flashes(flash: str | None) -> list[tuple[str, str]]:
    message = FLASHES.get(flash or "")
    return [("ok", str(message))] if message is not None else []


def _user_path(user: StaffUser) -> str:
    return f"/admin/users/{quote(user.username, safe='')}"


# -- the list, and adding an account ------------------------------------------------------------


def _users_page(
    request: Request,
    session: Session,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    flashes: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    return _render(
        request,
        "admin/users.html",
        {
            "users": accounts.list_users(session),
            "facilities": accounts.facility_choices(session),
            "values": values or {"role": Role.WARD.value},
            "errors": errors or {},
            "flashes": flashes or [],
        },
        status_code=status_code,
    )


@router.get("", response_class=HTMLResponse)
def users_page(
    request: Request,
    session: SessionDep,
    admin: AdminStaff,
    flash: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The staff accounts, and the form to add one."""
    return _users_page(request, session, flashes=_flashes(flash))


def _new_user_errors(form: Mapping[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name in ("username", "password", "password_repeat"):
        if not form.get(name):
            errors[name] = message_for("required")
    for name, value in form.items():
        if len(value) > MAX_TEXT:
            errors[name] = message_for("too_long")
    if form.get("role") not in {role.value for role in Role}:
        errors["role"] = message_for("invalid_role")
    facility = form.get("facility_id", "")
    if facility and not facility.isdigit():
        errors["facility_id"] = message_for("invalid_facility")
    if not errors and form.get("password") != form.get("password_repeat"):
        errors["password_repeat"] = message_for("password_mismatch")
    return errors


_FIELD_OF_CODE: Final = {
    "invalid_username": "username",
    "username_taken": "username",
    "invalid_display_name": "display_name",
    "weak_password": "password",
    "invalid_facility": "facility_id",
}


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request, session: SessionDep, admin: AdminStaff, form: FormFields
) -> Response:
    """Add a staff account; back to the list."""
    values = {
        name: form.get(name, "")[:MAX_TEXT]
        for name in ("username", "display_name", "role", "facility_id")
    }
    errors = _new_user_errors(form)
    if not errors:
        facility = form.get("facility_id", "")
        try:
            accounts.create_staff_user(
                session,
                username=form["username"],
                password=form["password"],
                role=Role(form["role"]),
                display_name=form.get("display_name", ""),
                facility_id=int(facility) if facility else None,
                by=admin,
            )
        except DomainError as error:
            session.rollback()
            field = _FIELD_OF_CODE.get(error.code, "username")
            errors = {field: message_for(error.code)}
            return _users_page(
                request, session, values=values, errors=errors, status_code=error.status
            )
        return RedirectResponse("/admin?flash=user_added", status_code=303)
    return _users_page(request, session, values=values, errors=errors, status_code=400)


# -- one account --------------------------------------------------------------------------------


def _user_page(
    request: Request,
    session: Session,
    username: str,
    *,
    errors: Mapping[str, str] | None = None,
    flashes: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    user = accounts.get_user(session, username)
    return _render(
        request,
        "admin/user.html",
        {
            "user": user,
            "user_path": _user_path(user),
            "facility": accounts.facility_of(session, user),
            "errors": errors or {},
            "flashes": flashes or [],
        },
        status_code=status_code,
    )


@router.get("/users/{username}", response_class=HTMLResponse)
def user_page(
    request: Request,
    session: SessionDep,
    admin: AdminStaff,
    username: str,
    flash: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One account: its role, whether it is enabled, a new password."""
    return _user_page(request, session, username, flashes=_flashes(flash))


def _refused(
    request: Request, session: Session, username: str, error: DomainError, field: str | None
) -> Response:
    session.rollback()
    message = message_for(error.code)
    if field is None or error.code == "last_admin":
        return _user_page(
            request, session, username, flashes=[("error", message)], status_code=error.status
        )
    return _user_page(
        request, session, username, errors={field: message}, status_code=error.status
    )


@router.post("/users/{username}/role", response_class=HTMLResponse)
def change_role(
    request: Request, session: SessionDep, admin: AdminStaff, username: str, form: FormFields
) -> Response:
    """Give the account another role."""
    user = accounts.get_user(session, username, for_update=True)
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        return _refused(request, session, username, DomainError("invalid_role", ""), "role")
    try:
        accounts.change_role(session, user, role, by=admin)
    except DomainError as error:
        return _refused(request, session, username, error, "role")
    return RedirectResponse(f"{_user_path(user)}?flash=role_changed", status_code=303)


@router.post("/users/{username}/disabled", response_class=HTMLResponse)
def set_disabled(
    request: Request, session: SessionDep, admin: AdminStaff, username: str, form: FormFields
) -> Response:
    """Disable (`disabled=1`) or enable (`disabled=0`) the account."""
    user = accounts.get_user(session, username, for_update=True)
    disabled = form.get("disabled") == "1"
    try:
        accounts.set_disabled(session, user, disabled, by=admin)
    except DomainError as error:
        return _refused(request, session, username, error, None)
    flash = "disabled" if disabled else "enabled"
    return RedirectResponse(f"{_user_path(user)}?flash={flash}", status_code=303)


@router.post("/users/{username}/password", response_class=HTMLResponse)
def reset_password(
    request: Request, session: SessionDep, admin: AdminStaff, username: str, form: FormFields
) -> Response:
    """Give the account a new password (its sessions end)."""
    user = accounts.get_user(session, username, for_update=True)
    password, repeat = form.get("password", ""), form.get("password_repeat", "")
    if not password:
        return _refused(request, session, username, DomainError("required", ""), "password")
    if password != repeat:
        error = DomainError("password_mismatch", "")
        return _refused(request, session, username, error, "password_repeat")
    try:
        accounts.reset_password(session, user, password, by=admin)
    except DomainError as error:
        return _refused(request, session, username, error, "password")
    return RedirectResponse(f"{_user_path(user)}?flash=password_reset", status_code=303)
