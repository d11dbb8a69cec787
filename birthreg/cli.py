"""The `birthreg` command line: init, serve, demo, sign, verify, users (birthreg.users_cli), audit.

Exit status: 0 success, 1 a verification that failed, 2 bad usage or input (a one-line message on
stderr, never a traceback). Nothing here prints a private key, a password or a passphrase.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from birthreg.config import ConfigurationError, Settings
from birthreg.notify.cli import notify_app
from birthreg.public_address import settle_base_url
from birthreg.users_cli import users_app

if TYPE_CHECKING:
    from birthreg.audit import Progress
    from birthreg.pki.seals import Seal

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
    settings = settle_base_url(_settings(), host=host, port=port, tls=tls, tls_host=tls_host)
    try:
        settings.check_secrets()
    except ConfigurationError as exc:
        _fail(str(exc))
    # Every start brings the schema up to date and makes whatever is missing; idempotent.
    _initialise(settings)

    import uvicorn

    # The workers (new processes, which read their settings from the environment) send the
    # parents' messages unless the operator said otherwise (birthreg.notify.sender).
    os.environ.setdefault("BIRTHREG_NOTIFY_SENDER", "1")
    ssl_options = _tls_options(settings, tls, tls_host, tls_cert, tls_key)
    scheme = "https" if ssl_options else "http"
    typer.echo(f"birthreg (TEST) on {scheme}://{host}:{port} (public address {settings.base_url})")
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


# --- HTTPS for a phone on the ward's network (serve --tls) --------------------------------------

TLS_DIRECTORY = "tls"
#: A server certificate is made again when it expires within this many days.
TLS_RENEW_DAYS = 30


def _tls_options(
    settings: Settings,
    tls: bool,
    tls_host: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> dict[str, Any]:
    """uvicorn's ssl_* arguments for `serve`, or {} without --tls."""
    if not tls:
        if tls_cert or tls_key or tls_host:
            _fail("--tls-host, --tls-cert and --tls-key go with --tls")
        return {}
    if tls_cert or tls_key:
        if not (tls_cert and tls_key and tls_cert.is_file() and tls_key.is_file()):
            _fail("--tls-cert and --tls-key name two existing PEM files, together")
        return {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)}
    from urllib.parse import urlsplit

    host = tls_host or urlsplit(settings.base_url).hostname or ""
    if not settings.base_url.startswith("https://"):
        typer.echo(
            f"note: BIRTHREG_BASE_URL is {settings.base_url}; set it to the https:// address "
            "phones use, or QR codes and links will point to plain HTTP",
            err=True,
        )
    try:
        certificate_path, key_path = ensure_tls_certificate(settings, host)
    except ValueError as exc:
        _fail(f"cannot make a TLS certificate for {host!r}: {exc}")
    typer.echo(f"TLS certificate for {host} from the TEST CA: {certificate_path}")
    return {
        "ssl_certfile": str(certificate_path),
        "ssl_keyfile": str(key_path),
        "ssl_keyfile_password": settings.ca_passphrase_bytes().decode("utf-8"),
    }


def ensure_tls_certificate(
    settings: Settings, host: str, *, moment: datetime | None = None
) -> tuple[Path, Path]:
    """(certificate chain, key) PEM files of a TLS server certificate for `host` from the TEST CA
    (Profile.TLS_SERVER), in <data dir>/tls; the key is encrypted under the CA passphrase, like
    the seals'. Made on first use, and again when it names another host or expires within
    TLS_RENEW_DAYS; recorded in the CA's issued list (OCSP, CRL). Raises ValueError for a host
    that is neither a DNS name nor an IP address."""
    import os
    import tempfile
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from sqlmodel import Session

    from birthreg.db import make_engine
    from birthreg.pki.service import load_certification_authority, record_issued
    from signing.ca import Profile, TLSServer
    from signing.errors import CAError

    moment = moment or datetime.now(UTC)
    directory = settings.data_dir / TLS_DIRECTORY
    certificate_path = directory / "server.pem"
    key_path = directory / "server.key.pem"
    if certificate_path.is_file() and key_path.is_file():
        current = x509.load_pem_x509_certificates(certificate_path.read_bytes())[0]
        names = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        named = [str(n) for n in names.get_values_for_type(x509.DNSName)] + [
            str(a) for a in names.get_values_for_type(x509.IPAddress)
        ]
        if host.lower().strip("[]") in named and current.not_valid_after_utc > moment + timedelta(
            days=TLS_RENEW_DAYS
        ):
            return certificate_path, key_path

    ca = load_certification_authority(settings)
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        certificate = ca.issue(
            key.public_key(), TLSServer((host,)), profile=Profile.TLS_SERVER, moment=moment
        )
    except CAError as exc:
        raise ValueError(exc.detail) from exc
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            record_issued(session, certificate, Profile.TLS_SERVER, moment)
            session.commit()
    finally:
        engine.dispose()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = (
        (
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(settings.ca_passphrase_bytes()),
            ),
        ),
        (
            certificate_path,
            b"".join(
                c.public_bytes(serialization.Encoding.PEM)
                for c in (certificate, ca.issuing_certificate)
            ),
        ),
    )
    for path, data in files:
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
        os.replace(temporary, path)
    return certificate_path, key_path


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
    from signing.dossier import parse_dossier, verify_dossier
    from signing.errors import SigningError
    from signing.revocation import RevocationFetcher
    from signing.trust import TrustAnchors, Validator

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


# --- staff accounts and the audit trail ---------------------------------------------------------

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(notify_app, name="notify")


def _registry_seal(settings: Settings, engine: Any) -> Seal:
    """The registry office's seal (what signs and is trusted for audit checkpoints)."""
    from sqlmodel import Session

    from birthreg.db import reading
    from birthreg.errors import DomainError
    from birthreg.pki.service import load_certification_authority
    from birthreg.registry.service import load_office
    from signing.errors import SigningError

    try:
        ca = load_certification_authority(settings)
        with reading(engine) as connection, Session(bind=connection) as session:
            return load_office(session, settings, ca).seal
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


# -- verify-certificate: a birth certificate's QR seal -----------------------------------------


@app.command("verify-certificate")
def verify_certificate(
    qr_text: Annotated[str, typer.Argument(metavar="QR-TEXT", help="The QR code's text.")],
    seal: Annotated[
        Path | None,
        typer.Option(help="PEM file of the registry seal certificate(s). Default: the data "
                     "dir's registry seal."),
    ] = None,
    online: Annotated[
        str | None,
        typer.Option(help="Ask the registry at this base URL instead (POST /api/v1/verify), "
                     "which also says whether the certificate was revoked."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check a birth certificate's QR seal; exit 0 when valid, 1 when not."""
    from birthreg.verify.service import SealVerdict, check_seal

    verdict: SealVerdict
    if online:
        verdict = _online_verdict(online, qr_text)
    else:
        verdict = check_seal(qr_text, _seal_certificates(seal))
    if json_output:
        typer.echo(json.dumps(verdict.to_json(), ensure_ascii=False))
    elif verdict.valid and verdict.fields is not None:
        typer.echo(f"VALID (status: {verdict.status})")
        for name, value in verdict.fields.items():
            typer.echo(f"  {name}: {'—' if value is None else value}")
    else:
        typer.echo(f"NOT VALID: {verdict.error}: {verdict.detail}")
    if not verdict.valid:
        raise typer.Exit(EXIT_FAILED)


def _seal_certificates(seal: Path | None) -> list[Any]:
    from cryptography import x509

    if seal is None:
        from birthreg.pki.seals import SEALS_DIRECTORY

        settings = _settings()
        paths = sorted((settings.data_dir / SEALS_DIRECTORY).glob("registry-*.pem"))
        paths = [path for path in paths if not path.name.endswith(".key.pem")]
        if not paths:
            _fail(f"no --seal given and no registry seal in {settings.data_dir}: run "
                  "`birthreg init`, or fetch /pki/seal.pem")
    else:
        paths = [seal]
    certificates = []
    for path in paths:
        try:
            certificates += x509.load_pem_x509_certificates(path.read_bytes())
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror or exc}")
        except ValueError:
            _fail(f"{path} holds no PEM certificate")
    return certificates


def _online_verdict(base_url: str, qr_text: str) -> Any:
    import httpx

    from birthreg.verify.service import SealVerdict

    try:
        response = httpx.post(
            base_url.rstrip("/") + "/api/v1/verify", json={"qr": qr_text}, timeout=15
        )
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {base_url}: {exc}")
    if response.status_code != 200:
        _fail(f"{base_url} answered {response.status_code}: {response.text[:200]}")
    body = response.json()
    return SealVerdict(
        valid=bool(body.get("valid")),
        fields=body.get("fields"),
        error=body.get("error"),
        detail=body.get("detail"),
        status=body.get("status", "unknown"),
    )


if __name__ == "__main__":  # pragma: no cover
    app()
