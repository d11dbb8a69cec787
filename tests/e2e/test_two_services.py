"""The docker-compose shape, run directly: the scripts compose runs (docker/ward.sh,
docker/issue-seal.sh, docker/registry.sh) as three processes in production mode, the ward
(role ward: the CA) and the registry (role registry: no CA key) each on a database of its own,
sharing nothing but the public `exchange` directory. A whole birth goes through: the ward
records it, the mother's key is issued there and she signs, the registry receives the dossier
over HTTP and checks revocation at the ward's /pki over HTTP, a clerk registers it, the ward's
sealed "printed at the ward" claim is trusted across the boundary; and a key revoked at the
ward is refused at the registry within seconds.

On PostgreSQL (BIRTHREG_TEST_DATABASE_URL) the two databases are `<its name>_ward` and
`<its name>_registry`, made for the test and dropped after it; otherwise SQLite files."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from registry import factories as f
from sqlalchemy import text
from sqlalchemy.engine import make_url
from ward.helpers import birth_body

from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import now
from birthreg.pki.seals import Seal, load_seal
from birthreg.registry.intake import receipt_payload
from birthreg.ward_print_claim import seal_ward_print
from signing import jws
from signing.canonical import canonicalize

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long staff password 1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database(base_url: str, name: str, *, drop_only: bool = False) -> str:
    """`name` on the test PostgreSQL server, dropped (and made again unless `drop_only`)."""
    engine = make_engine(base_url, autocommit=True)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


@dataclass
class Side:
    name: str
    url: str
    env: dict[str, str]
    log: Path


def _start(script: str, side: Side) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sh", str(ROOT / "docker" / script)],
        env=side.env,
        stdout=side.log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait(side: Side, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{side.name} exited:\n{side.log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{side.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"{side.name} did not start:\n{side.log.read_text(errors='replace')}")


def _sides(tmp_path: Path, database_url: str) -> tuple[Side, Side]:
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    ward_port, registry_port = _free_port(), _free_port()
    ward_url, registry_url = f"http://127.0.0.1:{ward_port}", f"http://127.0.0.1:{registry_port}"
    common = {
        **os.environ,
        # The scripts call `birthreg`, as the image has it on its PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "BIRTHREG_ENV": "production",
        "BIRTHREG_EXCHANGE": str(exchange),
        "HOST": "127.0.0.1",
        "WAIT_SECONDS": "120",
    }
    databases = {}
    for name in ("ward", "registry"):
        if database_url.startswith("sqlite"):
            databases[name] = f"sqlite:///{tmp_path / name / 'birthreg.sqlite3'}"
        else:
            base = make_url(database_url).database
            databases[name] = _database(database_url, f"{base}_{name}")
    ward = Side("ward", ward_url, {
        **common,
        "BIRTHREG_ROLE": "ward",
        "BIRTHREG_DATA_DIR": str(tmp_path / "ward"),
        "BIRTHREG_DATABASE_URL": databases["ward"],
        "BIRTHREG_BASE_URL": ward_url,
        "BIRTHREG_REGISTRY_URL": registry_url,
        "BIRTHREG_CA_PASSPHRASE": secrets.token_urlsafe(24),
        "BIRTHREG_SECRET_KEY": secrets.token_urlsafe(24),
        "PORT": str(ward_port),
    }, tmp_path / "ward.log")
    registry = Side("registry", registry_url, {
        **common,
        "BIRTHREG_ROLE": "registry",
        "BIRTHREG_DATA_DIR": str(tmp_path / "registry"),
        "BIRTHREG_DATABASE_URL": databases["registry"],
        "BIRTHREG_BASE_URL": registry_url,
        "BIRTHREG_KEY_PASSPHRASE": secrets.token_urlsafe(24),
        "BIRTHREG_SECRET_KEY": secrets.token_urlsafe(24),
        "PORT": str(registry_port),
    }, tmp_path / "registry.log")
    return ward, registry


@pytest.fixture
def services(tmp_path: Path, database_url: str) -> Iterator[tuple[Side, Side]]:
    ward, registry = _sides(tmp_path, database_url)
    # All three at once, as compose starts them; the scripts wait for each other's files.
    processes = [_start("ward.sh", ward), _start("registry.sh", registry)]
    issuer = _start("issue-seal.sh", ward)
    try:
        assert issuer.wait(timeout=180) == 0, ward.log.read_text(errors="replace")
        _wait(ward, processes[0])
        _wait(registry, processes[1])
        yield ward, registry
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        if not database_url.startswith("sqlite"):
            base = make_url(database_url).database
            for name in ("ward", "registry"):
                _database(database_url, f"{base}_{name}", drop_only=True)


def _staff(side: Side, name: str, role: str) -> dict[str, str]:
    subprocess.run(
        [sys.executable, "-m", "birthreg.cli", "users", "add", name, "--role", role,
         "--password-stdin"],
        input=f"{PASSWORD}\n".encode(), env=side.env, check=True, capture_output=True,
    )
    token = httpx.post(
        f"{side.url}/api/v1/auth/token", data={"username": name, "password": PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Mother:
    record: dict[str, Any]
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def dossier(self) -> dict[str, Any]:
        application = f.application(self.record["document"])
        signature = jws.sign_detached(
            canonicalize(application), self.certificate, self.key, chain=self.chain,
            signing_time=now() - timedelta(seconds=1),
        )
        return {
            "medical_record": self.record,
            "application": {
                "document": application,
                "signatures": [{"format": "jws", "value": signature}],
            },
        }


def _birth(ward: httpx.Client, headers: dict[str, str], **changes: Any) -> Mother:
    """A birth recorded and sealed at the ward, and the mother's key issued there (her CSR)."""
    birth = ward.post("/api/v1/ward/births", json=birth_body(**changes), headers=headers)
    assert birth.status_code == 201, birth.text
    started = ward.post(
        f"/api/v1/ward/births/{birth.json()['id']}/enrollments",
        json={"role": "mother"}, headers=headers,
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
    return Mother(
        birth.json()["medical_record"], key,
        x509.load_pem_x509_certificate(issued.json()["certificate_pem"].encode()),
        tuple(x509.load_pem_x509_certificates(issued.json()["chain_pem"].encode())),
    )


def test_a_birth_crosses_the_boundary_and_a_revocation_follows(
    services: tuple[Side, Side],
) -> None:
    ward_side, registry_side = services
    # The registry holds no CA: none in its data dir, none of the CA's or the ward's addresses.
    assert not (Path(registry_side.env["BIRTHREG_DATA_DIR"]) / "ca").exists()
    for method, path in (("GET", "/pki/crl"), ("POST", "/pki/ocsp"), ("POST", "/api/v1/enroll"),
                         ("GET", "/api/v1/ward/births")):
        answer = httpx.request(method, registry_side.url + path)
        assert answer.status_code == 404, (path, answer.status_code)

    midwife = _staff(ward_side, "midwife", "ward")
    clerk = _staff(registry_side, "clerk", "clerk")
    with httpx.Client(base_url=ward_side.url, timeout=30) as ward, \
            httpx.Client(base_url=registry_side.url, timeout=30) as registry:
        mother = _birth(ward, midwife)
        # Her certificate points at the ward's CRL and OCSP: that is where the registry asks.
        assert ward_side.url in str(
            mother.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        )
        received = registry.post("/api/v1/registry/submissions", json=mother.dossier())
        assert received.status_code == 201, received.text
        result = received.json()
        signatures = [s for d in result["report"]["documents"] for s in d["signatures"]]
        assert {s["revocation"]["state"] for s in signatures} == {"good"}
        assert all(ward_side.url in s["revocation"]["source"] for s in signatures)
        # The receipt is sealed by the registry's own seal, which the ward's CA issued.
        seal = x509.load_pem_x509_certificate(registry.get("/pki/seal.pem").content)
        receipt = result["receipt"]
        assert jws.verify_detached(receipt["signature"], receipt_payload(receipt)).signer == seal
        ward_root = x509.load_pem_x509_certificate(ward.get("/pki/root.pem").content)
        seal_chain = x509.load_pem_x509_certificates(
            (Path(ward_side.env["BIRTHREG_EXCHANGE"]) / "registry-seal.pem").read_bytes()
        )
        assert seal_chain[0] == seal and seal_chain[-1] == ward_root

        registered = registry.post(
            f"/api/v1/registry/submissions/{result['id']}/register", headers=clerk
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["act_record_number"]
        _printed_at_ward(ward_side, registry, mother, registered.json()["certificate_id"], clerk)

        _revocation_follows(ward, registry, midwife, clerk)


def _ward_seal(ward_side: Side, mother: Mother) -> tuple[str, Seal]:
    """The ward's facility seal, from its data dir as the ward process loads it, with the chain
    its sealed records carry."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(ward_side.env["BIRTHREG_DATA_DIR"]), role="ward",
        ca_passphrase=ward_side.env["BIRTHREG_CA_PASSPHRASE"],
    )  # fmt: skip
    carried = pkcs7.load_der_pkcs7_certificates(
        base64.b64decode(mother.record["signature"]["value"])
    )
    bin_ = mother.record["document"]["facility"]["bin"]
    seal = load_seal(settings, "facility", bin_)
    chain = tuple(c for c in carried if c != seal.certificate)
    return bin_, Seal(seal.key, seal.certificate, chain)


def _printed_at_ward(
    ward_side: Side, registry: httpx.Client, mother: Mother, certificate_id: str,
    clerk: dict[str, str],
) -> None:
    """The ward's claim that it prints the certificate, sealed with its facility seal, is
    trusted by the registry across the boundary (its roots, the ward's OCSP) and logged; the
    link alone, and the same claim again, claim nothing."""
    bin_, seal = _ward_seal(ward_side, mother)
    path = f"/api/v1/registry/certificates/{certificate_id}"
    unsealed = registry.get(f"{path}.pdf", params={"printed_at_ward": bin_})
    assert unsealed.status_code == 400 and unsealed.json()["error"] == "ward_print_unsealed"
    claim = seal_ward_print(
        certificate_id, bin_, moment=now(), certificate=seal.certificate, key=seal.key,
        chain=seal.chain,
    )  # fmt: skip
    printed = registry.post(f"{path}/ward-print", json=claim)
    assert printed.status_code == 200, printed.text
    assert printed.content.startswith(b"%PDF")
    replayed = registry.post(f"{path}/ward-print", json=claim)
    assert replayed.status_code == 409 and replayed.json()["error"] == "ward_print_replayed"
    log = registry.get(f"{path}/issuances", headers=clerk).json()["issuances"]
    assert [(e["kind"], e["actor"]) for e in log][1:] == [("printed_at_ward", f"facility:{bin_}")]


def _revocation_follows(
    ward: httpx.Client, registry: httpx.Client, midwife: dict[str, str], clerk: dict[str, str]
) -> None:
    """A second mother's dossier is received; the ward revokes her key; within seconds the
    registry refuses to register it, and refuses what the key signs afterwards."""
    second = _birth(ward, midwife, mother={"iin": "940315400024", "surname": "Нұрланова"})
    waiting = registry.post("/api/v1/registry/submissions", json=second.dossier())
    assert waiting.status_code == 201, waiting.text
    serial = format(second.certificate.serial_number, "x")
    revoked = ward.post(
        f"/api/v1/ward/certificates/{serial}/revoke", json={"reason": "key_compromise"},
        headers=midwife,
    )
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    refused = registry.post(
        f"/api/v1/registry/submissions/{waiting.json()['id']}/register", headers=clerk
    )
    elapsed = time.monotonic() - started
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "signer_revoked"
    assert elapsed < 5
    # And whatever the revoked key signs now is refused at the door.
    after = registry.post("/api/v1/registry/submissions", json=second.dossier())
    assert after.status_code == 422, after.text
