"""HTTPS for a phone on the ward's network (`birthreg serve --tls`): a TEST server certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from birthreg.cli_common import fail as _fail
from birthreg.config import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography import x509

TLS_DIRECTORY = "tls"
#: A server certificate is made again when it expires within this many days.
TLS_RENEW_DAYS = 30


def tls_options(
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
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from birthreg.pki.service import load_certification_authority
    from signing.ca import Profile, TLSServer
    from signing.errors import CAError

    moment = moment or datetime.now(UTC)
    directory = settings.data_dir / TLS_DIRECTORY
    certificate_path = directory / "server.pem"
    key_path = directory / "server.key.pem"
    if _still_serves(certificate_path, key_path, host, moment):
        return certificate_path, key_path

    ca = load_certification_authority(settings)
    key = ec.generate_private_key(ec.SECP256R1())

    def issue(crl_partition: int) -> x509.Certificate:
        try:
            return ca.issue(key.public_key(), TLSServer((host,)), profile=Profile.TLS_SERVER,
                            moment=moment, crl_partition=crl_partition)
        except CAError as exc:
            raise ValueError(exc.detail) from exc

    certificate = _issue_and_record(settings, issue, moment)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _replace_file(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(settings.ca_passphrase_bytes()),
        ),
    )
    _replace_file(
        certificate_path,
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (certificate, ca.issuing_certificate)
        ),
    )
    return certificate_path, key_path


def _still_serves(certificate_path: Path, key_path: Path, host: str, moment: datetime) -> bool:
    """Whether the certificate on disk (with its key) names `host` and is good for more than
    TLS_RENEW_DAYS after `moment`."""
    from datetime import timedelta

    from cryptography import x509

    if not (certificate_path.is_file() and key_path.is_file()):
        return False
    current = x509.load_pem_x509_certificates(certificate_path.read_bytes())[0]
    names = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    named = [str(n) for n in names.get_values_for_type(x509.DNSName)] + [
        str(a) for a in names.get_values_for_type(x509.IPAddress)
    ]
    return host.lower().strip("[]") in named and current.not_valid_after_utc > moment + timedelta(
        days=TLS_RENEW_DAYS
    )


def _issue_and_record(
    settings: Settings, issue: Callable[[int], x509.Certificate], moment: datetime
) -> x509.Certificate:
    """Issue the server certificate in the CRL partition taken for it and record it in the CA's
    issued list (for OCSP and the CRL), in one transaction."""
    from sqlmodel import Session

    from birthreg.db import make_engine
    from birthreg.pki.partitions import next_crl_partition
    from birthreg.pki.service import record_issued
    from signing.ca import Profile

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            certificate = issue(next_crl_partition(session))
            record_issued(session, certificate, Profile.TLS_SERVER, moment)
            session.commit()
            return certificate
    finally:
        engine.dispose()


def _replace_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory, mode 0600."""
    import os
    import tempfile

    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
    os.replace(temporary, path)
