"""`birthreg sign`, `verify` and `verify-certificate`: signatures and seals on the command line."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from birthreg.cli_common import EXIT_FAILED
from birthreg.cli_common import fail as _fail
from birthreg.cli_common import load_settings as _settings

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa


class SignatureFormat(StrEnum):
    cms = "cms"
    jws = "jws"


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

    from signing.ca import load_pkcs12
    from signing.errors import SigningError

    if not password_stdin:
        _fail("the key file's password is read from standard input: pass --password-stdin")
    document_text = _read_file(file)
    key_file = _read_file(p12)
    line = sys.stdin.readline()
    if not line:
        _fail("no password on standard input")
    password = line.removesuffix("\n").removesuffix("\r").encode("utf-8")
    content = _canonical_object(file, document_text)

    try:
        private_key, certificate, chain = load_pkcs12(key_file, password)
    except (SigningError, ValueError, TypeError):
        _fail(f"cannot open {p12}: wrong password or not a PKCS#12 key file")
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        _fail(f"{p12} holds a {type(private_key).__name__}; ECDSA or RSA keys only")

    try:
        value = _signature_value(signature_format, content, certificate, private_key, chain)
    except SigningError as exc:
        _fail(f"cannot sign: {exc.detail}")
    typer.echo(json.dumps({"format": signature_format.value, "value": value}))


def _read_file(path: Path) -> bytes:
    """The bytes of `path`, or a failure naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")


def _canonical_object(file: Path, document_text: bytes) -> bytes:
    """The RFC 8785 canonical form of the JSON object in `document_text` (read from `file`)."""
    from signing.canonical import canonicalize, parse_json
    from signing.errors import SigningError

    try:
        document = parse_json(document_text)
        content = canonicalize(document)
    except SigningError as exc:
        _fail(f"{file} is not an acceptable JSON document: {exc.detail}")
    except ValueError as exc:
        _fail(f"{file} is not an acceptable JSON document: {exc}")
    if not isinstance(document, dict):
        _fail(f"{file} must hold a JSON object")
    return content


def _signature_value(
    signature_format: SignatureFormat,
    content: bytes,
    certificate: x509.Certificate,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    chain: tuple[x509.Certificate, ...],
) -> str:
    """The detached signature's value: base64 DER for CMS, the compact serialisation for JWS.
    The claimed signing time (CMS signingTime, JWS sigT) is this machine's clock."""
    from signing import cms, jws

    signing_time = datetime.now(UTC)
    if signature_format is SignatureFormat.cms:
        return base64.b64encode(
            cms.sign_detached(
                content, certificate, private_key, signing_time=signing_time, chain=chain
            )
        ).decode("ascii")
    return jws.sign_detached(
        content, certificate, private_key, signing_time=signing_time, chain=chain
    )


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
    if json_output:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(report.to_text())
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
    """(roots, intermediates): self-issued CA certificates are roots, other CAs intermediates.
    Default: the data dir's TEST CA (the ward), or the registry's kept roots."""
    from cryptography import x509

    if roots is None:
        from birthreg.errors import DomainError
        from birthreg.pki.service import load_certification_authority
        from signing.errors import SigningError

        settings = _settings()
        if not settings.holds_ca:
            # A registry trusts the roots it was initialised with; it has no CA of its own.
            roots = settings.registry_roots_path
            if roots is None:
                _fail("no --roots given and this registry has none: run `birthreg init`")
            return _trust_certificates(roots)
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

