"""`birthreg audit checkpoint|verify`: the audit trail's signed checkpoints and its walk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from birthreg.cli_common import EXIT_FAILED
from birthreg.cli_common import fail as _fail
from birthreg.cli_common import load_settings as _settings
from birthreg.config import Settings

if TYPE_CHECKING:
    from birthreg.audit import Progress
    from birthreg.pki.seals import Seal

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


def _registry_seal(settings: Settings, engine: Any) -> Seal:
    """The seal that signs and is trusted for audit checkpoints (the registry office's; the
    facility's at the ward)."""
    from sqlmodel import Session

    from birthreg.db import reading
    from birthreg.errors import DomainError
    from birthreg.pki.service_seal import service_seal
    from signing.errors import SigningError

    try:
        with reading(engine) as connection, Session(bind=connection) as session:
            return service_seal(settings, session)
    except SigningError as exc:
        _fail(f"the TEST CA in {settings.ca_directory} cannot be opened: {exc.detail}")
    except DomainError as exc:
        _fail(exc.detail)


def _unreadable_trail(settings: Settings, exc: Exception) -> NoReturn:
    from birthreg.db import display_url

    _fail(
        f"cannot read the audit trail in {display_url(settings.database_url)}: "
        f"{type(exc).__name__} (run `birthreg init` first?)"
    )


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the audit chain's head with the registry seal, keep it and print it (a JWS)."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from birthreg.audit import make_checkpoint
    from birthreg.db import make_engine

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        seal = _registry_seal(settings, engine)
        with Session(engine) as session:
            checkpoint = make_checkpoint(session, seal)
            session.commit()
    except SQLAlchemyError as exc:
        _unreadable_trail(settings, exc)
    finally:
        engine.dispose()
    if checkpoint is None:
        _fail("the audit trail is empty: there is nothing to sign")
    signed = f"{checkpoint.signed_at:%Y-%m-%d %H:%M:%SZ}"
    typer.echo(f"audit checkpoint of entry {checkpoint.seq}, signed {signed}", err=True)
    typer.echo(checkpoint.jws)


#: The walk says how far it got at most this often (seconds), on stderr.
PROGRESS_EVERY = 2.0


def _progress(started: float) -> Progress:
    last = started

    def show(walked: int, to_walk: int) -> None:
        nonlocal last
        moment = time.monotonic()
        if moment - last >= PROGRESS_EVERY:
            last = moment
            typer.echo(f"audit verify: {walked:,} of {to_walk:,} entries walked", err=True)

    return show


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint kept elsewhere (the JWS that GET /api/v1/audit/checkpoints/latest "
            "gave): the chain must still hold it.",
        ),
    ] = None,
    since_checkpoint: Annotated[
        bool,
        typer.Option(
            "--since-checkpoint",
            help="Walk only the entries after the newest kept checkpoint that holds; the ones "
            "before are checked at the checkpoints only.",
        ),
    ] = False,
) -> None:
    """Check the audit hash chain and its signed checkpoints; exit 0 only when intact."""
    from sqlalchemy.exc import SQLAlchemyError

    from birthreg.audit import CheckpointInvalid, read_checkpoint, verify_chain
    from birthreg.db import make_engine

    settings = _settings()
    text = None
    if checkpoint is not None:
        try:
            text = checkpoint.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read {checkpoint}: {exc}")
    engine = make_engine(settings.database_url)
    try:
        seal = _registry_seal(settings, engine)
        try:
            anchor = None if text is None else read_checkpoint(text, seal.certificate)
        except CheckpointInvalid as exc:
            typer.echo(f"audit chain NOT VERIFIED: the given checkpoint is refused: {exc.detail}")
            raise typer.Exit(EXIT_FAILED) from exc
        started = time.monotonic()
        check = verify_chain(
            engine,
            seal_certificate=seal.certificate,
            anchor=anchor,
            since_checkpoint=since_checkpoint,
            progress=_progress(started),
        )
    except SQLAlchemyError as exc:
        _unreadable_trail(settings, exc)
    finally:
        engine.dispose()
    elapsed = time.monotonic() - started
    typer.echo(f"audit verify: {check.entries:,} entries walked in {elapsed:.1f} s", err=True)
    typer.echo(check.to_text(anchor))
    if not check.intact:
        raise typer.Exit(EXIT_FAILED)

