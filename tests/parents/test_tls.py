"""HTTPS for a phone on the ward's network: the TEST CA's TLS server profile and `birthreg serve
--tls` (a certificate for the configured host, its key encrypted in the data dir, a real TLS
handshake that trusts only the TEST root)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlmodel import Session
from typer.testing import CliRunner

from birthreg.cli import app as cli
from birthreg.cli import ensure_tls_certificate
from birthreg.config import Settings
from birthreg.models import IssuedCertificate
from birthreg.pki.service import certification_authority
from birthreg.services import app_services
from signing.ca import TLS_SERVER_VALIDITY, Individual, Profile, TLSServer
from signing.errors import CAError

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_tls_server_profile(pki: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = pki.ca.issue(
        key.public_key(),
        TLSServer(("ward.example.kz", "192.168.10.5")),
        profile=Profile.TLS_SERVER,
        moment=MOMENT,
    )
    extensions = certificate.extensions
    assert extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    names = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["ward.example.kz"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.168.10.5"]
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.content_commitment and not usage.value.key_encipherment
    assert not extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "ward.example.kz"
    )
    assert "TEST" in certificate.subject.rfc4514_string()
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert TLS_SERVER_VALIDITY <= lifetime <= TLS_SERVER_VALIDITY + timedelta(minutes=5)


@pytest.mark.parametrize("host", ["bad host", "*.ward.kz", "ward_.kz", "-ward.kz", ""])
def test_tls_server_profile_refuses_odd_hosts(pki: Any, host: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CAError):
        pki.ca.issue(key.public_key(), TLSServer((host,)), profile=Profile.TLS_SERVER,
                     moment=MOMENT)


def test_profiles_and_subjects_do_not_mix(pki: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CAError):
        pki.ca.issue(key.public_key(), Individual("940315400014", "А", "Б"),
                     profile=Profile.TLS_SERVER, moment=MOMENT)
    with pytest.raises(CAError):
        pki.ca.issue(key.public_key(), TLSServer(("ward.kz",)), profile=Profile.INDIVIDUAL,
                     moment=MOMENT)


def test_serve_tls_certificate_is_made_once_and_kept_encrypted(
    app: Any, service_settings: Settings, db: Session
) -> None:
    certificate_path, key_path = ensure_tls_certificate(service_settings, "127.0.0.1")
    assert b"ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    chain = x509.load_pem_x509_certificates(certificate_path.read_bytes())
    ca = certification_authority(app_services(app))
    assert chain[1] == ca.issuing_certificate
    row = db.get(IssuedCertificate, format(chain[0].serial_number, "x"))
    assert row is not None and row.profile == "tls_server"
    assert row.crl_partition == 1  # with the seals, in the partition its CRL pointer names
    (point,) = chain[0].extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name[0].value.endswith("/pki/crl/1")  # type: ignore[index]
    # Again: the same files; another host: a new certificate.
    assert ensure_tls_certificate(service_settings, "127.0.0.1") == (certificate_path, key_path)
    assert x509.load_pem_x509_certificates(certificate_path.read_bytes())[0] == chain[0]
    ensure_tls_certificate(service_settings, "ward.example.kz")
    renewed = x509.load_pem_x509_certificates(certificate_path.read_bytes())[0]
    assert renewed.serial_number != chain[0].serial_number


def test_https_handshake_trusts_only_the_test_root(
    app: Any, service_settings: Settings, tmp_path: Any
) -> None:
    import uvicorn

    certificate_path, key_path = ensure_tls_certificate(service_settings, "127.0.0.1")
    root = tmp_path / "root.pem"
    from cryptography.hazmat.primitives.serialization import Encoding

    root.write_bytes(certification_authority(app_services(app)).root_certificate.public_bytes(Encoding.PEM))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", ssl_certfile=str(certificate_path),
            ssl_keyfile=str(key_path),
            ssl_keyfile_password=service_settings.ca_passphrase_bytes().decode(),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        context = ssl.create_default_context(cafile=str(root))
        response = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context)
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context())
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def test_serve_help_mentions_tls() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--tls" in result.output and "--tls-host" in result.output
