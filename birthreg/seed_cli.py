"""The `birthreg seed` command (the work is `birthreg.seed`, imported when the command runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from birthreg.config import Settings


def seed_command(
    births: Annotated[int, typer.Option("--births", help="How many births to add.", min=1)],
    days: Annotated[
        int, typer.Option("--days", help="Spread over this many days before now.", min=1)
    ] = 365,
) -> None:
    """Fill the database with N realistic births in every state (development only)."""
    settings = Settings()
    if settings.is_production:
        typer.echo("birthreg: birthreg seed runs only in development, never in production",
                   err=True)
        raise typer.Exit(2)
    from birthreg.seed import SeedRefused, run_seed

    try:
        with typer.progressbar(length=births, label="seeding births") as bar:
            result = run_seed(settings, births, days, progress=bar.update)
    except SeedRefused as exc:
        typer.echo(f"birthreg: {exc}", err=True)
        raise typer.Exit(2) from exc
    rate = result.births / result.seconds if result.seconds else 0.0
    typer.echo(f"seed   {result.births:,} births in {result.seconds:.0f} s ({rate:,.0f}/s)")
    if result.indexes:
        typer.echo(f"seed   {result.indexes} indexes set aside and made again at the end, "
                   f"in {result.index_seconds:.0f} s of those")
    for table, count in result.rows.items():
        typer.echo(f"seed   {table}: {count:,} rows")
    typer.echo(f"seed   audit_entry: {result.audit_entries:,} rows on the chain")
