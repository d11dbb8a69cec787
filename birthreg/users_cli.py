"""`birthreg users ...`: staff accounts from the command line (add, list, disable, enable,
set-role, reset-password), through the same functions as the admin's pages and API, audited as
done by "system".

Passwords are read from standard input only (`--password-stdin`), never from an argument (which
other users of the machine can read in the process list). Exit status: 0 success, 2 bad usage
or input, with a one-line message on stderr and never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

from birthreg.models import Role

if TYPE_CHECKING:
    from sqlmodel import Session

    from birthreg.models import StaffUser

EXIT_USAGE = 2

users_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin.")
]
Username = Annotated[str, typer.Argument(help="The username: 3-64 of a-z 0-9 . _ -")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"birthreg: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        _fail("the password is read from standard input: pass --password-stdin")
    line = sys.stdin.readline()
    if not line:
        _fail("no password on standard input")
    return line.removesuffix("\n").removesuffix("\r")


@contextmanager
def _database(*, migrate_first: bool = False) -> Iterator[Session]:
    """A session on the configured database, committed when the block ends without error."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from birthreg.config import Settings
    from birthreg.db import display_url, make_engine, migrate

    try:
        settings = Settings()
    except ValidationError as exc:
        _fail(f"invalid settings: {exc.errors()[0]['msg']}")
    engine = make_engine(settings.database_url)
    where = display_url(settings.database_url)
    try:
        if migrate_first:
            try:
                migrate(engine)
            except Exception as exc:  # any driver error: say which database, not a traceback
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                _fail(f"cannot prepare the database {where}: {reason}")
        with Session(engine) as session:
            try:
                yield session
                session.commit()
            except SQLAlchemyError as exc:
                _fail(f"cannot use the database {where}: {type(exc).__name__} "
                      "(run `birthreg init` first?)")
    finally:
        engine.dispose()


def _change(username: str, change: Callable[[Session, StaffUser], str]) -> None:
    """Apply change to the account (DomainError → exit 2) and print what it says."""
    from birthreg.auth import accounts
    from birthreg.errors import DomainError

    with _database() as session:
        try:
            user = accounts.get_user(session, username, for_update=True)
            message = change(session, user)
        except DomainError as exc:
            _fail(exc.detail)
    typer.echo(message)


@users_app.command("add")
def users_add(
    name: Username,
    role: Annotated[Role, typer.Option(help="What the account may do.")],
    password_stdin: PasswordStdin = False,
    display_name: Annotated[str, typer.Option(help="The name shown on pages.")] = "",
) -> None:
    """Add a staff account (runs the database migrations first)."""
    from birthreg.auth import accounts
    from birthreg.errors import DomainError

    password = _read_password(password_stdin)
    with _database(migrate_first=True) as session:
        try:
            user = accounts.create_staff_user(
                session, username=name, password=password, role=role, display_name=display_name
            )
        except DomainError as exc:
            _fail(exc.detail)
        session.flush()
        typer.echo(f"added staff account {user.username!r} (role {user.role}, id {user.id})")


@users_app.command("list")
def users_list() -> None:
    """List the staff accounts: username, role, enabled or disabled, name."""
    from birthreg.auth import accounts

    with _database() as session:
        users = accounts.list_users(session)
        for user in users:
            state = "disabled" if user.disabled else "enabled"
            typer.echo(f"{user.username}\t{user.role}\t{state}\t{user.display_name}")
    if not users:
        typer.echo("no staff accounts", err=True)


@users_app.command("disable")
def users_disable(name: Username) -> None:
    """Disable an account: it cannot log in, its sessions and tokens stop at once."""
    from birthreg.auth import accounts

    def disable(session: Session, user: StaffUser) -> str:
        accounts.set_disabled(session, user, True, by=None)
        return f"disabled staff account {user.username!r}"

    _change(name, disable)


@users_app.command("enable")
def users_enable(name: Username) -> None:
    """Enable a disabled account again."""
    from birthreg.auth import accounts

    def enable(session: Session, user: StaffUser) -> str:
        accounts.set_disabled(session, user, False, by=None)
        return f"enabled staff account {user.username!r}"

    _change(name, enable)


@users_app.command("set-role")
def users_set_role(
    name: Username, role: Annotated[Role, typer.Argument(help="The new role.")]
) -> None:
    """Give an account another role (its tokens for the old role stop at once)."""
    from birthreg.auth import accounts

    def set_role(session: Session, user: StaffUser) -> str:
        accounts.change_role(session, user, role, by=None)
        return f"staff account {user.username!r} now has the role {role.value}"

    _change(name, set_role)


@users_app.command("reset-password")
def users_reset_password(name: Username, password_stdin: PasswordStdin = False) -> None:
    """Give an account a new password, read from stdin (its sessions end)."""
    from birthreg.auth import accounts

    password = _read_password(password_stdin)

    def reset(session: Session, user: StaffUser) -> str:
        accounts.reset_password(session, user, password, by=None)
        return f"new password set for staff account {user.username!r}"

    _change(name, reset)
