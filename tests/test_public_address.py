"""The public address: without BIRTHREG_BASE_URL, `serve --host/--port` decide it (links and QR
codes reach the server that made them); a CA keeps the addresses it was created with, so what it
issued still verifies when the service moves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from parents.helpers import draft, new_birth, sign_application, signed_in_mother, ward_headers
from typer.testing import CliRunner
from ward.helpers import start_enrollment

from birthreg import cli
from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.main import create_app
from birthreg.public_address import served_address, settle_base_url

EVERYWHERE = "0.0.0.0"  # noqa: S104 (what `serve --host` may be given)


@pytest.mark.parametrize(
    ("host", "port", "tls", "tls_host", "expected"),
    [
        ("127.0.0.1", 8201, False, None, "http://127.0.0.1:8201"),
        ("localhost", 80, False, None, "http://localhost"),
        ("ward.local", 443, True, None, "https://ward.local"),
        ("::1", 8443, True, None, "https://[::1]:8443"),
        (EVERYWHERE, 8443, True, "192.168.1.20", "https://192.168.1.20:8443"),
    ],
)
def test_the_served_address(
    host: str, port: int, tls: bool, tls_host: str | None, expected: str
) -> None:
    assert served_address(host, port, tls=tls, tls_host=tls_host) == expected


def test_a_wildcard_host_is_never_the_public_address() -> None:
    address = served_address(EVERYWHERE, 8000, tls=False)
    assert address.startswith("http://") and EVERYWHERE not in address


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, env="development", _env_file=None)  # type: ignore[call-arg]


def test_base_url_set_by_the_operator_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIRTHREG_BASE_URL", "https://birthreg.example.kz")
    settings = settle_base_url(_settings(tmp_path), host="127.0.0.1", port=8201, tls=False)
    assert settings.base_url == "https://birthreg.example.kz"
    assert os.environ["BIRTHREG_BASE_URL"] == "https://birthreg.example.kz"


def test_serve_without_base_url_publishes_where_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # serve sets some of these for its workers: monkeypatch takes them all back afterwards.
    written = ("BIRTHREG_BASE_URL", "BIRTHREG_ROLE", "BIRTHREG_NOTIFY_SENDER",
               "BIRTHREG_CRL_PUBLISHER")
    for name in {*written, *(name for name in os.environ if name.startswith("BIRTHREG_"))}:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BIRTHREG_DATA_DIR", str(tmp_path / "var"))
    served: dict[str, Any] = {}

    def run(target: str, **options: Any) -> None:
        assert target == "birthreg.main:create_app" and options["factory"]
        served.update(options, app=create_app())  # as a worker makes it: from the environment

    monkeypatch.setattr("uvicorn.run", run)
    result = CliRunner().invoke(cli.app, ["serve", "--port", "8201"])
    assert result.exit_code == 0, result.output
    assert "public address http://127.0.0.1:8201" in result.output
    assert served["port"] == 8201
    assert served["app"].state.services.settings.base_url == "http://127.0.0.1:8201"
    # The CA made by this first start names the address served at.
    issuing = x509.load_pem_x509_certificate((tmp_path / "var" / "ca" / "ca.pem").read_bytes())
    points = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value.startswith("http://127.0.0.1:8201/")  # type: ignore[index]


def test_a_service_served_at_a_new_address_keeps_verifying(service_settings: Settings) -> None:
    initialise(service_settings.model_copy(update={"base_url": "http://127.0.0.1:8000"}))
    moved = service_settings.model_copy(update={"base_url": "http://127.0.0.1:8201"})
    app: Any = create_app(moved)
    with TestClient(app, base_url="http://127.0.0.1:8201") as client:
        ward = ward_headers(app)
        birth_id = new_birth(client, ward)
        assert start_enrollment(client, ward, birth_id)["url"].startswith(
            "http://127.0.0.1:8201/enroll"
        )
        mother = signed_in_mother(app, client, ward, birth_id)
        # Her new certificate names the CA's addresses, as everything it issued before does.
        points = mother.certificate.extensions.get_extension_for_class(
            x509.CRLDistributionPoints
        ).value
        crl = points[0].full_name[0].value  # type: ignore[index]
        assert crl == "http://127.0.0.1:8000/pki/crl/1"  # her partition's (the seals' too)
        signed = sign_application(mother, draft(mother))
        assert signed.status_code == 200 and signed.json()["submitted"] is True, signed.text
