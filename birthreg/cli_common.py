"""What every `birthreg` command shares: exit statuses, the one-line failure, the settings.

Exit status: 0 success, 1 a verification that failed, 2 bad usage or input (a one-line message on
stderr, never a traceback).
"""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError

from birthreg.config import Settings

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str) -> NoReturn:
    typer.echo(f"birthreg: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment (and `overrides`, the command line's), or exit 2."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"BIRTHREG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid settings: {problems}")
