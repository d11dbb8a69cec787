"""The `birthreg` command line: init, serve, demo, sign, verify (birthreg.cli_signatures), users
(birthreg.users_cli), audit (birthreg.cli_audit), ca (birthreg.cli_ca), notify.

Exit status: 0 success, 1 a verification that failed, 2 bad usage or input (a one-line message on
stderr, never a traceback). Nothing here prints a private key, a password or a passphrase.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from birthreg.cli_audit import audit_app
from birthreg.cli_ca import ca_app
from birthreg.cli_common import EXIT_FAILED, EXIT_USAGE, fail, load_settings
from birthreg.cli_signatures import sign, verify, verify_certificate
from birthreg.cli_tls import ensure_tls_certificate, tls_options
from birthreg.config import ConfigurationError, Settings
from birthreg.notify.cli import notify_app
from birthreg.public_address import settle_base_url
from birthreg.seed_cli import seed_command
from birthreg.users_cli import users_app

if TYPE_CHECKING:
    from birthreg.bootstrap import InitResult

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "app", "ensure_tls_certificate"]

app = typer.Typer(
    name="birthreg",
    help="Maternity-ward e-birth-registration with a TEST PKI (not for production).",
    no_args_is_help=True,
    add_completion=False,
    # Locals in a traceback could hold a password or a key: never show them.
    pretty_exceptions_show_locals=False,
)
_fail = fail


class Role(StrEnum):
    all = "all"
    ward = "ward"
    registry = "registry"


RoleOption = Annotated[
    Role | None,
    typer.Option(help="What this process is: everything (default), the ward (the CA, births, "
                 "the parents) or the registry (no CA key). Default: BIRTHREG_ROLE, else all."),
]


def _settings(role: Role | None = None) -> Settings:
    return load_settings() if role is None else load_settings(role=role.value)


def _initialise(
    settings: Settings, roots: Path | None = None, seal_cert: Path | None = None
) -> InitResult:
    """Run init, print what it made or found and what awaits."""
    from birthreg.bootstrap import initialise
    from signing.errors import SigningError

    try:
        result = initialise(settings, roots=roots, seal_cert=seal_cert)
    except ConfigurationError as exc:
        _fail(str(exc))
    except SigningError as exc:
        _fail(f"the TEST CA in {settings.ca_directory} cannot be opened: {exc.detail}")
    except OSError as exc:
        _fail(f"cannot initialise {settings.data_dir}: {exc}")
    for line in result.made:
        typer.echo(f"made   {line}")
    for line in result.found:
        typer.echo(f"exists {line}")
    if result.changed:
        if not settings.is_production:
            typer.echo(
                "The key passphrase and the session secret were generated into the data dir "
                "(development only; production takes them from the environment)."
            )
    else:
        typer.echo("Everything exists already; nothing was changed.")
    if result.awaiting_seal is not None:
        typer.echo(_awaiting(result.awaiting_seal))
    return result


def _awaiting(request: Path) -> str:
    return (
        f"The registry's seal awaits its certificate. At the ward run\n"
        f"  birthreg ca issue-seal {request} --kind registry > registry-seal.pem\n"
        f"then here\n"
        f"  birthreg init --role registry --seal-cert registry-seal.pem"
    )


@app.command()
def init(
    role: RoleOption = None,
    roots: Annotated[
        Path | None,
        typer.Option(help="Role registry: the PEM bundle of the roots it trusts (kept in the "
                     "data dir)."),
    ] = None,
    seal_cert: Annotated[
        Path | None,
        typer.Option(help="Role registry: the seal certificate (and chain) that `birthreg ca "
                     "issue-seal` printed at the ward."),
    ] = None,
) -> None:
    """Create the data dir, the development secrets and what the role holds: the TEST CA and
    the seals (ward, all), or the registry's seal key and request (registry). Idempotent."""
    _initialise(_settings(role), roots, seal_cert)


@app.command()
def serve(
    role: RoleOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    tls: Annotated[
        bool,
        typer.Option("--tls", help="Serve HTTPS (phones need it for WebCrypto) with a server "
                     "certificate from the TEST CA, made on first use and renewed when due."),
    ] = False,
    tls_host: Annotated[
        str | None,
        typer.Option(help="The host name or IP address the certificate names. Default: the "
                     "host of BIRTHREG_BASE_URL."),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Use this PEM certificate (chain) instead.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="The unencrypted PEM key of --tls-cert.")
    ] = None,
) -> None:
    """Serve the web pages and the HTTP API (runs `init` first: migrations, CA, seals)."""
    settings = settle_base_url(_settings(role), host=host, port=port, tls=tls, tls_host=tls_host)
    try:
        settings.check_secrets()
    except ConfigurationError as exc:
        _fail(str(exc))
    # Every start brings the schema up to date and makes whatever is missing; idempotent.
    _refuse_what_cannot_serve(settings, _initialise(settings), tls)

    import uvicorn

    # The workers (new processes, which read their settings from the environment) send the
    # parents' messages unless the operator said otherwise (birthreg.notify.sender).
    os.environ.setdefault("BIRTHREG_NOTIFY_SENDER", "1")
    os.environ.setdefault("BIRTHREG_CRL_PUBLISHER", "1")
    # The app factory reads its settings from the environment: the role too.
    os.environ["BIRTHREG_ROLE"] = settings.role
    ssl_options = tls_options(settings, tls, tls_host, tls_cert, tls_key)
    scheme = "https" if ssl_options else "http"
    typer.echo(
        f"birthreg (TEST, role {settings.role}) on {scheme}://{host}:{port} "
        f"(public address {settings.base_url})"
    )
    uvicorn.run(
        "birthreg.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # The app reads X-Forwarded-For itself, from BIRTHREG_TRUSTED_PROXIES only (birthreg.edge);
        # uvicorn's own copy would believe any client on 127.0.0.1.
        proxy_headers=False,
        server_header=False,
        **ssl_options,
    )



def _refuse_what_cannot_serve(settings: Settings, result: InitResult, tls: bool) -> None:
    if result.awaiting_seal is not None:
        _fail("not serving: the registry's seal awaits its certificate (see above)")
    if settings.role == "ward" and not settings.registry_url:
        _fail("role ward sends dossiers to the registry: set BIRTHREG_REGISTRY_URL")
    if tls and not settings.holds_ca:
        _fail("--tls makes its certificate from the CA: serve the registry behind a proxy")


@app.command()
def demo() -> None:
    """Seed demo accounts and a few of today's births, and print the logins (development only)."""
    settings = _settings()
    if settings.is_production:
        _fail(
            "birthreg demo runs only in development (BIRTHREG_ENV=development), "
            "never in production"
        )
    _initialise(settings)
    from birthreg.demo import LOGINS_FILE, DemoRefused, run_demo

    try:
        result = run_demo(settings)
    except DemoRefused as exc:
        _fail(str(exc))
    for note in result.notes:
        typer.echo(f"demo   {note}")
    if result.births_made:
        typer.echo(f"demo   recorded {result.births_made} demo births today")
    else:
        typer.echo(f"demo   {result.births_today} demo births today already; nothing was changed")
    # The one place that prints passwords, on purpose: the demo accounts' (development only).
    typer.echo("")
    typer.echo(f"birthreg (TEST) at {result.base_url}/login")
    typer.echo(f"Demo logins (development only; kept in {settings.data_dir / LOGINS_FILE}):")
    for name, password in result.logins.items():
        typer.echo(f"  {name:<6} {password}")


# --- the other commands --------------------------------------------------------------------------

app.command()(sign)
app.command()(verify)
app.command("verify-certificate")(verify_certificate)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(ca_app, name="ca")
app.add_typer(notify_app, name="notify")
app.command("seed")(seed_command)

if __name__ == "__main__":  # pragma: no cover
    app()
