"""Two services, one trust boundary: `--role ward|registry`, and the registry's seal issued
across it (`init --role registry` → CSR → `ca issue-seal` at the ward → `--seal-cert`).

The registry holds no CA key: its data dir has no CA, its app answers 404 for the CA's and the
ward's addresses, and its seal certificate is the one the ward's CA issued for its own key."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from servicekit import reset_postgres
from typer.testing import CliRunner

from birthreg.bootstrap import DEFAULT_FACILITY
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.main import create_app
from signing.identity import signer_bin
from signing.jws import b64url_decode


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _environment(tmp_path: Path, name: str, database_url: str, role: str) -> dict[str, str]:
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / name / 'birthreg.sqlite3'}"
    return {
        "BIRTHREG_DATA_DIR": str(tmp_path / name),
        "BIRTHREG_DATABASE_URL": database_url,
        "BIRTHREG_ENV": "development",
        "BIRTHREG_ROLE": role,
        "BIRTHREG_BASE_URL": f"http://{name}.test",
    }


@pytest.fixture
def two_sides(
    runner: CliRunner, tmp_path: Path, database_url: str
) -> tuple[dict[str, str], dict[str, str]]:
    # The ward on the database under test, the registry on a SQLite file of its own.
    if not database_url.startswith("sqlite"):
        reset_postgres(database_url)
    ward = _environment(tmp_path, "ward", database_url, "ward")
    registry = _environment(tmp_path, "registry", "sqlite", "registry")
    made = runner.invoke(cli, ["init", "--role", "ward"], env=ward)
    assert made.exit_code == 0, made.output
    (tmp_path / "root.pem").write_bytes((tmp_path / "ward" / "ca" / "root.pem").read_bytes())
    return ward, registry


def _settings(environment: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(environment["BIRTHREG_DATA_DIR"]),
        database_url=environment["BIRTHREG_DATABASE_URL"],
        role=environment["BIRTHREG_ROLE"],  # type: ignore[arg-type]
        base_url=environment["BIRTHREG_BASE_URL"],
        _env_file=None,  # type: ignore[call-arg]
    )


def test_the_registry_seal_is_issued_across_the_boundary(
    runner: CliRunner, tmp_path: Path, two_sides: tuple[dict[str, str], dict[str, str]]
) -> None:
    ward, registry = two_sides
    root = tmp_path / "root.pem"
    first = runner.invoke(cli, ["init", "--role", "registry", "--roots", str(root)], env=registry)
    assert first.exit_code == 0, first.output
    assert "awaits its certificate" in first.output
    data = Path(registry["BIRTHREG_DATA_DIR"])
    request = data / "registry-seal.csr"
    assert x509.load_pem_x509_csr(request.read_bytes()).is_signature_valid
    [key_file] = (data / "seals").glob("registry-*.key.pem")
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert not (data / "ca").exists() and not (data / "ca-passphrase").exists()
    # It does not serve until its seal is installed.
    refused = runner.invoke(cli, ["serve", "--role", "registry"], env=registry)
    assert refused.exit_code == 2 and "awaits its certificate" in refused.output

    issued = runner.invoke(cli, ["ca", "issue-seal", str(request), "--kind", "registry"], env=ward)
    assert issued.exit_code == 0, issued.output
    certificates = x509.load_pem_x509_certificates(issued.stdout.encode())
    assert len(certificates) == 3  # the seal, the issuing CA, the root
    (point,) = certificates[0].extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name[0].value.endswith("/pki/crl/1")  # type: ignore[index]  # its partition
    seal_file = tmp_path / "registry-seal.pem"
    seal_file.write_text(issued.stdout)

    # Another certificate of the same CA (the ward's own facility seal) does not fit the key.
    [facility] = (Path(ward["BIRTHREG_DATA_DIR"]) / "seals").glob("facility-*[0-9].pem")
    wrong = runner.invoke(cli, ["init", "--role", "registry", "--seal-cert", str(facility)],
                          env=registry)
    assert wrong.exit_code == 2 and "not for this registry's seal key" in wrong.output

    installed = runner.invoke(
        cli, ["init", "--role", "registry", "--seal-cert", str(seal_file)], env=registry
    )
    assert installed.exit_code == 0, installed.output
    assert "made   registry office" in installed.output
    again = runner.invoke(
        cli, ["init", "--role", "registry", "--seal-cert", str(seal_file)], env=registry
    )
    assert again.exit_code == 0 and "nothing was changed" in again.output

    # The registry's command line verifies against the roots it keeps (it has no CA).
    empty = tmp_path / "empty-dossier.json"
    empty.write_text("{}")
    checked = runner.invoke(cli, ["verify", str(empty)], env=registry)
    assert checked.exit_code == 1 and "TEST CA" not in checked.output, checked.output

    _serves_as_a_registry(registry, certificates[0])


def _serves_as_a_registry(registry: dict[str, str], seal_certificate: x509.Certificate) -> None:
    """The registry's app: its seal as installed, none of the CA's or the ward's routes."""
    with TestClient(create_app(_settings(registry))) as client:
        seal = client.get("/pki/seal.pem")
        assert seal.status_code == 200
        assert x509.load_pem_x509_certificate(seal.content) == seal_certificate
        for method, path in [
            ("GET", "/pki/crl"), ("GET", "/pki/root.crl"), ("POST", "/pki/ocsp"),
            ("GET", "/pki/ocsp/MAo="), ("GET", "/pki/root.pem"), ("GET", "/pki/ca.pem"),
            ("GET", "/api/v1/ward/births"), ("POST", "/api/v1/ward/births"),
            ("POST", "/api/v1/enroll"), ("POST", "/api/v1/parents/challenge"),
            ("GET", "/ward"), ("GET", "/enroll"), ("GET", "/parents"),
        ]:
            answer = client.request(method, path)
            assert answer.status_code == 404, (path, answer.status_code)
        assert client.get("/verify").status_code == 200
        assert client.get("/api/v1/registry/submissions").status_code == 401


def test_the_ward_serves_no_registry(
    runner: CliRunner, two_sides: tuple[dict[str, str], dict[str, str]]
) -> None:
    ward, _ = two_sides
    with TestClient(create_app(_settings(ward))) as client:
        assert client.get("/pki/crl").status_code == 200
        assert client.get("/pki/root.pem").status_code == 200
        for path in ("/api/v1/registry/submissions", "/registry", "/verify", "/pki/seal.pem"):
            assert client.get(path).status_code == 404, path
    # A ward with nowhere to send dossiers does not start.
    refused = runner.invoke(cli, ["serve", "--role", "ward"], env=ward)
    assert refused.exit_code == 2 and "BIRTHREG_REGISTRY_URL" in refused.output
    # The ward's audit checkpoints are signed with its facility seal.
    signed = runner.invoke(cli, ["audit", "checkpoint"], env=ward)
    assert signed.exit_code == 0, signed.output
    header = json.loads(b64url_decode(signed.stdout.strip().split(".")[0]))
    signer = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert signer_bin(signer) == DEFAULT_FACILITY.bin
    assert runner.invoke(cli, ["audit", "verify"], env=ward).exit_code == 0


def test_issue_seal_refuses_a_request_without_proof(
    runner: CliRunner, tmp_path: Path, two_sides: tuple[dict[str, str], dict[str, str]]
) -> None:
    ward, _ = two_sides
    garbage = tmp_path / "garbage.csr"
    garbage.write_bytes(b"not a certificate request")
    result = runner.invoke(cli, ["ca", "issue-seal", str(garbage)], env=ward)
    assert result.exit_code == 2 and "refused" in result.output
    registry_env = {**ward, "BIRTHREG_ROLE": "registry"}
    result = runner.invoke(cli, ["ca", "issue-seal", str(garbage)], env=registry_env)
    assert result.exit_code == 2 and "holds no CA" in result.output
