"""POST /api/v1/verify, the status check and `birthreg verify-certificate`: the same verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from sqlmodel import Session
from typer.testing import CliRunner

from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.models import BirthCertificate
from birthreg.registry.certificate import seal_fields
from signing.seal import base45_decode, base45_encode, make_seal, qr_text, seal_from_qr_text
from verify.certificates import context_for, issue


def _forged(certificate: BirthCertificate, settings: Settings, db: Session) -> str:
    fields = json.loads(certificate.fields)
    fields["child"]["given_name"] = "Аружан"
    seal = make_seal(seal_fields(fields), ec.generate_private_key(ec.SECP256R1()),
                     context_for(settings, db).seal.certificate)
    return qr_text("http://testserver", seal)


def _altered(qr: str) -> str:
    raw = bytearray(base45_decode(seal_from_qr_text(qr)))
    raw[-1] ^= 1
    return qr_text("http://testserver", base45_encode(bytes(raw)))


def _cli(*args: str, settings: Settings) -> Any:
    env = {"BIRTHREG_DATA_DIR": str(settings.data_dir),
           "BIRTHREG_DATABASE_URL": settings.database_url}
    return CliRunner().invoke(cli, list(args), env=env)


def test_api_and_cli_give_the_same_verdicts(
    app: Any, client: Any, service_settings: Settings, db: Session, tmp_path: Path
) -> None:
    certificate = issue(service_settings, db)
    seal_pem = tmp_path / "seal.pem"
    seal_pem.write_bytes(client.get("/pki/seal.pem").content)
    cases = {
        "valid": (certificate.qr, True, None),
        "valid, seal alone": (seal_from_qr_text(certificate.qr), True, None),
        "forged": (_forged(certificate, service_settings, db), False, "bad_seal_signature"),
        "altered": (_altered(certificate.qr), False, "bad_seal_signature"),
        "garbage": ("http://testserver/verify#not-a-seal", False, "malformed_seal"),
    }
    for name, (qr, valid, error) in cases.items():
        body = client.post("/api/v1/verify", json={"qr": qr}).json()
        assert body["valid"] is valid, name
        assert body.get("error") == error, name
        for args in (["--seal", str(seal_pem)], []):  # the PEM, or the data dir's seal
            result = _cli("verify-certificate", qr, "--json", *args, settings=service_settings)
            assert result.exit_code == (0 if valid else 1), (name, result.output)
            verdict = json.loads(result.output)
            assert verdict["valid"] is valid and verdict.get("error") == error, name
            if valid:
                assert verdict["fields"] == body["fields"]
        if valid:
            assert body["status"] == "valid"
            assert body["fields"]["child_given_name"] == "Айару"
            assert body["fields"]["certificate_number"] == certificate.certificate_number
        else:
            assert body["status"] == "unknown" and body["fields"] is None

    text = _cli("verify-certificate", certificate.qr, settings=service_settings)
    assert text.exit_code == 0 and text.output.startswith("VALID")
    assert "child_given_name: Айару" in text.output
    refused = _cli("verify-certificate", cases["forged"][0], settings=service_settings)
    assert refused.exit_code == 1 and refused.output.startswith("NOT VALID: bad_seal_signature")


def test_status_follows_the_registry(app: Any, client: Any, service_settings: Settings,
                                     db: Session) -> None:
    certificate = issue(service_settings, db)
    number = certificate.certificate_number
    url = "/api/v1/verify/status/"
    assert client.get(url + number).json() == {"status": "valid"}
    assert client.get(url + certificate.id).json() == {"status": "valid"}
    assert client.get(url + "TEST-I № 999999").json() == {"status": "unknown"}
    certificate.status = "revoked"
    db.add(certificate)
    db.commit()
    assert client.get(url + number).json() == {"status": "revoked"}
    assert client.post("/api/v1/verify", json={"qr": certificate.qr}).json()["status"] == (
        "revoked"
    )
    # A revoked certificate's seal is still a genuine seal: valid, with the status beside it.
    assert client.post("/api/v1/verify", json={"qr": certificate.qr}).json()["valid"] is True


def test_verify_request_is_validated(client: Any) -> None:
    assert client.post("/api/v1/verify", json={}).status_code == 422
    assert client.post("/api/v1/verify", json={"qr": "A" * 9000}).status_code == 422


def test_cli_without_a_seal(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "empty", _env_file=None)  # type: ignore[call-arg]
    result = _cli("verify-certificate", "ABC", settings=settings)
    assert result.exit_code == 2


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_verify_page_has_its_texts_and_no_inline_script(client: Any, language: str) -> None:
    client.cookies.set("lang", language)
    page = client.get("/verify")
    assert page.status_code == 200
    assert '<script type="module" src="' in page.text and "/static/verify.js" in page.text
    assert "<script>" not in page.text
    assert 'data-text-valid="' in page.text and 'data-seal-url="/pki/seal.pem"' in page.text
    for path in ("/static/verify.js", "/static/js/seal.js"):
        script = client.get(path)
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_verify_page_names_the_registry_office_by_its_code(client: Any) -> None:
    """A seal names its office by code; the page carries each office's name to show instead."""
    import html
    import re

    from birthreg.bootstrap import DEFAULT_REGISTRY_OFFICE, DEFAULT_REGISTRY_OFFICE_CODE

    page = client.get("/verify").text
    offices = re.search(r"data-offices='([^']*)'", page)
    assert offices is not None
    assert json.loads(html.unescape(offices.group(1))) == {
        DEFAULT_REGISTRY_OFFICE_CODE: DEFAULT_REGISTRY_OFFICE.name
    }


def test_seal_certificate_pem_matches_the_context(app: Any, client: Any,
                                                  service_settings: Settings,
                                                  db: Session) -> None:
    seal = context_for(service_settings, db).seal
    assert client.get("/pki/seal.pem").content == seal.certificate.public_bytes(Encoding.PEM)
