"""The `birthreg` command line: init, serve, sign, verify.

Exit status: 0 success, 1 a verification that failed, 2 bad usage or input (a one-line message on
stderr, never a traceback). Nothing here prints a private key, a password or a passphrase.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from birthreg.config import ConfigurationError, Settings

app = typer.Typer(
    name="birthreg",
    help="Maternity-ward e-birth-registration with a TEST PKI (not for production).",
    no_args_is_help=True,
    add_completion=False,
    # Locals in a traceback could hold a password or a key: never show them.
    pretty_exceptions_show_locals=False,
)

EXIT_FAILED = 1
EXIT_USAGE = 2


class SignatureFormat(StrEnum):
    cms = "cms"
    jws = "jws"


def _fail(message: str) -> NoReturn:
    typer.echo(f"birthreg: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"BIRTHREG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        _fail(f"invalid settings: {problems}")


def _initialise(settings: Settings) -> bool:
    """Run init, print what it made or found; True when something was made."""
    from birthreg.bootstrap import initialise
    from signing.errors import SigningError

    try:
        result = initialise(settings)
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
                "The CA passphrase and the session secret were generated into the data dir "
                "(development only; production takes them from the environment)."
            )
    else:
        typer.echo("Everything exists already; nothing was changed.")
    return result.changed


@app.command()
def init() -> None:
    """Create the data dir, the development secrets and the TEST CA (changes nothing if done)."""
    _initialise(_settings())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Serve the web pages and the HTTP API (runs `init` first: migrations, CA, seals)."""
    settings = _settings()
    try:
        settings.check_secrets()
    except ConfigurationError as exc:
        _fail(str(exc))
    # Every start brings the schema up to date and makes whatever is missing; idempotent.
    _initialise(settings)

    import uvicorn

    typer.echo(f"birthreg (TEST) on http://{host}:{port} (public address {settings.base_url})")
    uvicorn.run(
        "birthreg.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
    )


@app.command()
def sign(
    file: Annotated[Path, typer.Argument(help="The JSON document to sign.")],
    p12: Annotated[Path, typer.Option("--p12", help="The PKCS#12 key file.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the key file's password from stdin.")
    ] = False,
    signature_format: Annotated[
        SignatureFormat, typer.Option("--format", help="CMS (detached, base64 DER) or JWS.")
    ] = SignatureFormat.cms,
) -> None:
    """Print the signature object {"format", "value"} for the RFC 8785 canonical form of FILE."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from signing import cms, jws
    from signing.ca import load_pkcs12
    from signing.canonical import canonicalize, parse_json
    from signing.errors import SigningError

    if not password_stdin:
        _fail("the key file's password is read from standard input: pass --password-stdin")
    try:
        document_text = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        key_file = p12.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {p12}: {exc.strerror or exc}")
    line = sys.stdin.readline()
    if not line:
        _fail("no password on standard input")
    password = line.removesuffix("\n").removesuffix("\r").encode("utf-8")

    try:
        document = parse_json(document_text)
        content = canonicalize(document)
    except SigningError as exc:
        _fail(f"{file} is not an acceptable JSON document: {exc.detail}")
    except ValueError as exc:
        _fail(f"{file} is not an acceptable JSON document: {exc}")
    if not isinstance(document, dict):
        _fail(f"{file} must hold a JSON object")

    try:
        private_key, certificate, chain = load_pkcs12(key_file, password)
    except (SigningError, ValueError, TypeError):
        _fail(f"cannot open {p12}: wrong password or not a PKCS#12 key file")
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        _fail(f"{p12} holds a {type(private_key).__name__}; ECDSA or RSA keys only")

    # The signer's claimed signing time (CMS signingTime, JWS sigT): this machine's clock.
    signing_time = datetime.now(UTC)
    try:
        if signature_format is SignatureFormat.cms:
            value = base64.b64encode(
                cms.sign_detached(
                    content, certificate, private_key, signing_time=signing_time, chain=chain
                )
            ).decode("ascii")
        else:
            value = jws.sign_detached(
                content, certificate, private_key, signing_time=signing_time, chain=chain
            )
    except SigningError as exc:
        _fail(f"cannot sign: {exc.detail}")
    typer.echo(json.dumps({"format": signature_format.value, "value": value}))


@app.command()
def verify(
    dossier: Annotated[Path, typer.Argument(help="The dossier JSON file.")],
    roots: Annotated[
        Path | None,
        typer.Option(help="PEM file of trusted root (and intermediate) CA certificates. "
                     "Default: the TEST CA in the data dir."),
    ] = None,
    crl: Annotated[
        list[str] | None,
        typer.Option(help="Offline: a CRL file (DER or PEM), or URL=FILE; repeatable. "
                     "Without it, CRL and OCSP are fetched over HTTP."),
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Validation time, RFC 3339 with an offset. Default: now.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify a dossier's documents and signatures; exit 0 only when it passes."""
    from birthreg.pki.fetch import FileCRLFetcher, HTTPRevocationFetcher
    from signing.errors import SigningError
    from signing.trust import RevocationFetcher, TrustAnchors, Validator
    from signing.verify import parse_dossier, verify_dossier

    moment = _parse_moment(at) if at else datetime.now(UTC)
    try:
        dossier_text = dossier.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {dossier}: {exc.strerror or exc}")
    try:
        document = parse_dossier(dossier_text)
    except SigningError as exc:
        _fail(f"{dossier} cannot be read as a dossier: {exc.detail}")

    anchors = TrustAnchors(*_trust_certificates(roots))
    fetcher: RevocationFetcher
    if crl:
        try:
            fetcher = FileCRLFetcher.from_paths(crl)
        except OSError as exc:
            _fail(f"cannot read a CRL file: {exc}")
        except ValueError:
            _fail("a --crl file is not a CRL (DER or PEM)")
    else:
        fetcher = HTTPRevocationFetcher()
    report = verify_dossier(document, validator=Validator(anchors, fetcher), moment=moment)
    typer.echo(report.to_json_text() if json_output else report.to_text())
    if not report.passed:
        raise typer.Exit(EXIT_FAILED)


def _parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--at {text!r} is not an RFC 3339 time")
    if moment.tzinfo is None:
        _fail(f"--at {text!r} needs an offset (Z or +hh:mm)")
    return moment


def _trust_certificates(roots: Path | None) -> tuple[list[Any], list[Any]]:
    """(roots, intermediates): self-issued CA certificates are roots, other CAs intermediates."""
    from cryptography import x509

    if roots is None:
        from birthreg.errors import DomainError
        from birthreg.pki.service import load_certification_authority
        from signing.errors import SigningError

        settings = _settings()
        try:
            ca = load_certification_authority(settings)
        except SigningError as exc:
            _fail(f"the TEST CA in {settings.ca_directory} cannot be opened: {exc.detail}")
        except DomainError as exc:
            _fail(f"no --roots given and {exc.detail}")
        return [ca.root_certificate], [ca.issuing_certificate]

    try:
        certificates = x509.load_pem_x509_certificates(roots.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {roots}: {exc.strerror or exc}")
    except ValueError:
        _fail(f"{roots} holds no PEM certificates")
    found_roots, intermediates = [], []
    for certificate in certificates:
        if certificate.subject == certificate.issuer:
            found_roots.append(certificate)
        else:
            intermediates.append(certificate)
    if not found_roots:
        _fail(f"{roots} holds no self-issued root certificate")
    return found_roots, intermediates


if __name__ == "__main__":  # pragma: no cover
    app()
