"""The application shell: pages, security headers, /pki certificates and the error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.errors import DomainError
from birthreg.main import CONTENT_SECURITY_POLICY, create_app
from birthreg.paths import templates_directory
from signing.errors import InvalidIdentityNumber


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'data' / 'test.sqlite3'}",
        env="development",
        _env_file=None,  # type: ignore[call-arg]
    )


class Probe(BaseModel):
    weight_g: int


def _with_probe_routes(app: FastAPI) -> FastAPI:
    @app.get("/api/v1/probe/domain")
    def domain() -> None:
        raise DomainError("enrollment_expired", "the enrollment code has expired", 410)

    @app.get("/api/v1/probe/signing")
    def signing() -> None:
        raise InvalidIdentityNumber("IIN 921029350852: wrong check digit")

    @app.post("/api/v1/probe/body")
    def body(probe: Probe) -> Probe:
        return probe

    @app.get("/probe/page-error")
    def page_error() -> None:
        raise DomainError("not_yours", "this application belongs to someone else", 403)

    return app


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(_with_probe_routes(create_app(settings))) as test_client:
        yield test_client


def test_templates_are_found() -> None:
    assert (templates_directory() / "home.html").is_file()


def test_home_page_says_test(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "TEST SERVICE — NOT FOR PRODUCTION" in response.text
    assert 'name="viewport"' in response.text
    # The CSP forbids inline script and style: the pages carry none.
    assert "<script" not in response.text
    assert "style=" not in response.text and "<style" not in response.text


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/", "/healthz", "/api/v1/nothing", "/static/birthreg.css"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self';" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "notify": {"email": "sink", "sms": "sink"},  # development: messages go to the sink
    }


def test_pki_before_init_is_a_clear_error(client: TestClient) -> None:
    response = client.get("/pki/root.pem")
    assert response.status_code == 503
    assert response.json()["error"] == "not_initialised"
    assert "birthreg init" in response.json()["detail"]


def test_pki_certificates(settings: Settings) -> None:
    initialise(settings)
    with TestClient(create_app(settings)) as client:
        root = client.get("/pki/root.pem")
        issuing = client.get("/pki/ca.pem")
    for response in (root, issuing):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-pem-file"
    root_certificate = x509.load_pem_x509_certificate(root.content)
    issuing_certificate = x509.load_pem_x509_certificate(issuing.content)
    assert "TEST" in root_certificate.subject.rfc4514_string()
    assert root_certificate.subject == root_certificate.issuer
    assert issuing_certificate.issuer == root_certificate.subject
    issuing_certificate.verify_directly_issued_by(root_certificate)


def test_domain_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/probe/domain")
    assert response.status_code == 410
    assert response.json() == {
        "error": "enrollment_expired", "detail": "the enrollment code has expired",
    }


def test_signing_error_is_a_400_with_its_code(client: TestClient) -> None:
    response = client.get("/api/v1/probe/signing")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_identity_number", "detail": "IIN 921029350852: wrong check digit",
    }


def test_api_404_405_422_share_the_shape(client: TestClient) -> None:
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "detail": "Not Found"}

    wrong_method = client.delete("/api/v1/probe/body")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"

    invalid = client.post("/api/v1/probe/body", json={"weight_g": "heavy"})
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "invalid_request"
    assert "weight_g" in invalid.json()["detail"]
    assert set(invalid.json()) == {"error", "detail"}


def test_html_errors_are_pages(client: TestClient) -> None:
    response = client.get("/probe/page-error", headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "this application belongs to someone else" in response.text
    missing = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert "TEST SERVICE" in missing.text
