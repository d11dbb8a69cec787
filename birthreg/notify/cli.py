"""`birthreg notify …`: the outbox from the command line.

`birthreg notify send-pending` runs one sending pass over the configured database and exits: for
a deployment that sends from cron or a timer instead of the serving process
(BIRTHREG_NOTIFY_SENDER=0), for operators, and for tests. Exit status 0 whatever was delivered
(retries are normal); 2 for settings that cannot be used.
"""

from __future__ import annotations

from typing import NoReturn

import typer

notify_app = typer.Typer(help="Messages to parents (the outbox).", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"birthreg: {message}", err=True)
    raise typer.Exit(2)


@notify_app.command("send-pending")
def send_pending() -> None:
    """Deliver every message that is due (one pass), then exit."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from birthreg.config import ConfigurationError, Settings
    from birthreg.notify.sender import send_pending as run_pass

    try:
        settings = Settings()
        result = run_pass(settings)
    except ValidationError as error:
        _fail(f"invalid settings: {error.error_count()} problem(s); see BIRTHREG_* variables")
    except ConfigurationError as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(f"cannot read the outbox ({type(error).__name__}): run `birthreg init` first?")
    typer.echo(
        f"{result.claimed} due: {result.sent} sent, {result.retrying} to retry, "
        f"{result.failed} failed"
    )
    for line in result.errors:
        typer.echo(f"  {line}")
