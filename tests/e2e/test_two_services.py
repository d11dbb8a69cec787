"""The docker-compose shape, run directly: the ward and the registry as two `birthreg serve`
processes in production mode, each with its own PostgreSQL database, sharing only the TEST CA's
data dir. A mother's key is issued at the ward; her dossier goes to the registry over HTTP, which
verifies it trusting only the root and checking revocation at the ward's /pki over HTTP."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from registry import factories as f
from sqlalchemy import text
from sqlalchemy.engine import make_url
from ward.helpers import birth_body

from birthreg.db import make_engine
from birthreg.models import now
from birthreg.registry.intake import receipt_payload
from signing import jws
from signing.canonical import canonicalize

pytestmark = pytest.mark.postgres
DATABASE_ENV = "BIRTHREG_TEST_DATABASE_URL"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fresh_database(base_url: str, name: str) -> str:
    """An empty database `name` on the test server (dropped and made again)."""
    engine = make_engine(base_url, autocommit=True)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "birthreg.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} did not start:\n{log.read_text(errors='replace')}")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    base = os.environ.get(DATABASE_ENV)
    if not base:
        pytest.skip(f"{DATABASE_ENV} is not set")
    ward_port, registry_port = _free_port(), _free_port()
    ward_url, registry_url = f"http://127.0.0.1:{ward_port}", f"http://127.0.0.1:{registry_port}"
    common = {
        **os.environ,
        "BIRTHREG_ENV": "production",
        "BIRTHREG_DATA_DIR": str(tmp_path / "shared-ca"),
        "BIRTHREG_CA_PASSPHRASE": secrets.token_urlsafe(24),
        "BIRTHREG_SECRET_KEY": secrets.token_urlsafe(24),
    }
    ward_env = {
        **common,
        "BIRTHREG_DATABASE_URL": _fresh_database(base, "birthreg_e2e_ward"),
        "BIRTHREG_BASE_URL": ward_url,
        "BIRTHREG_REGISTRY_URL": registry_url,
    }
    registry_env = {
        **common,
        "BIRTHREG_DATABASE_URL": _fresh_database(base, "birthreg_e2e_registry"),
        "BIRTHREG_BASE_URL": registry_url,
    }
    # Both start at once, as compose starts them: init runs under a lock in the shared dir.
    ward_log, registry_log = tmp_path / "ward.log", tmp_path / "registry.log"
    ward = _start(ward_env, ward_port, ward_log)
    registry = _start(registry_env, registry_port, registry_log)
    try:
        _wait(ward_url, ward, ward_log)
        _wait(registry_url, registry, registry_log)
        yield ward_url, registry_url, ward_env
    finally:
        for process in (ward, registry):
            process.terminate()
        for process in (ward, registry):
            process.wait(timeout=30)


def test_a_dossier_crosses_from_the_ward_to_the_registry(
    services: tuple[str, str, dict[str, str]],
) -> None:
    ward_url, registry_url, ward_env = services
    password = "a long ward password"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "birthreg.cli",
            "users",
            "add",
            "midwife",
            "--role",
            "ward",
            "--password-stdin",
        ],
        input=f"{password}\n".encode(),
        env=ward_env,
        check=True,
        capture_output=True,
    )
    with httpx.Client(base_url=ward_url, timeout=30) as ward:
        token = ward.post(
            "/api/v1/auth/token", data={"username": "midwife", "password": password}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        birth = ward.post("/api/v1/ward/births", json=birth_body(), headers=headers)
        assert birth.status_code == 201, birth.text
        record = birth.json()["medical_record"]
        started = ward.post(
            f"/api/v1/ward/births/{birth.json()['id']}/enrollments",
            json={"role": "mother"},
            headers=headers,
        )
        assert started.status_code == 201, started.text
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "me")]))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )
        issued = ward.post("/api/v1/enroll", json={"code": started.json()["code"], "csr_pem": csr})
        assert issued.status_code == 201, issued.text
    certificate = x509.load_pem_x509_certificate(issued.json()["certificate_pem"].encode())
    chain = tuple(x509.load_pem_x509_certificates(issued.json()["chain_pem"].encode()))
    # The certificate points at the ward's CRL and OCSP: that is where the registry will ask.
    assert ward_url in str(
        certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    )

    application = f.application(record["document"])
    signature = jws.sign_detached(
        canonicalize(application),
        certificate,
        key,
        chain=chain,
        signing_time=now() - timedelta(seconds=5),
    )
    dossier = {
        "medical_record": record,
        "application": {
            "document": application,
            "signatures": [{"format": "jws", "value": signature}],
        },
    }
    with httpx.Client(base_url=registry_url, timeout=30) as registry:
        response = registry.post("/api/v1/registry/submissions", json=dossier)
        assert response.status_code == 201, response.text
        result = response.json()
        seal = x509.load_pem_x509_certificate(registry.get("/pki/seal.pem").content)
    assert result["report"]["passed"] is True
    signatures = [s for d in result["report"]["documents"] for s in d["signatures"]]
    assert all(s["revocation"]["state"] == "good" for s in signatures)
    # The mother's certificate came from the ward: the registry asked the ward about it. (The
    # facility seal points at whichever service's init issued it first: both record it.)
    (mother,) = [s for s in signatures if s["role"] == "mother"]
    assert ward_url in mother["revocation"]["source"]
    # The receipt is the registry's: its seal signed it.
    receipt = result["receipt"]
    verified = jws.verify_detached(receipt["signature"], receipt_payload(receipt))
    assert verified.signer == seal
