"""birthreg.edge: the client's address (X-Forwarded-For from trusted proxies only),
Cache-Control: no-store, and HSTS over HTTPS."""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from birthreg.bootstrap import initialise
from birthreg.cli import app as cli
from birthreg.cli import ensure_tls_certificate
from birthreg.config import Settings
from birthreg.edge import STRICT_TRANSPORT_SECURITY, client_address
from birthreg.main import create_app
from birthreg.pki.service import certification_authority
from birthreg.services import app_services


def _with_probe(app: FastAPI) -> FastAPI:
    router = APIRouter()

    @router.get("/api/v1/probe/address")
    def address(request: Request) -> dict[str, str]:
        return {"address": client_address(request), "scheme": request.url.scheme}

    app.include_router(router)
    return app


def _app(settings: Settings, **changes: Any) -> FastAPI:
    settings = settings.model_copy(update=changes)
    initialise(settings)
    return _with_probe(create_app(settings))


# --- the client's address --------------------------------------------------------------------


def test_no_proxy_is_trusted_by_default(service_settings: Settings) -> None:
    assert service_settings.trusted_proxies == ()
    app = _app(service_settings)
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        answer = local.get(
            "/api/v1/probe/address",
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        ).json()
    assert answer == {"address": "127.0.0.1", "scheme": "http"}


def test_only_a_trusted_proxy_is_believed(service_settings: Settings) -> None:
    app = _app(service_settings, trusted_proxies=("10.0.0.0/24",))
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with TestClient(app, client=("10.0.0.7", 40000)) as proxy:
        assert proxy.get("/api/v1/probe/address", headers=headers).json() == {
            "address": "203.0.113.9", "scheme": "https",
        }
        # A client that puts its own X-Forwarded-For before the proxy's is still itself.
        chained = proxy.get(
            "/api/v1/probe/address", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.5"}
        )
        assert chained.json()["address"] == "198.51.100.5"
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        assert local.get("/api/v1/probe/address", headers=headers).json() == {
            "address": "127.0.0.1", "scheme": "http",
        }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("10.0.0.1", ("10.0.0.1/32",)),
        ("10.0.0.1, 192.168.0.0/16", ("10.0.0.1/32", "192.168.0.0/16")),
        ("  ::1  fd00::/8 ", ("::1/128", "fd00::/8")),
        ("", ()),
    ],
)
def test_trusted_proxies_from_the_environment(
    text: str, parsed: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BIRTHREG_TRUSTED_PROXIES", text)
    assert Settings().trusted_proxies == parsed


@pytest.mark.parametrize("text", ["*", "localhost", "10.0.0.0/33", "10.0.0.1;10.0.0.2"])
def test_trusted_proxies_are_addresses_only(
    text: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BIRTHREG_TRUSTED_PROXIES", text)
    with pytest.raises(ValidationError):
        Settings()


def test_serve_turns_uvicorns_proxy_headers_off(
    service_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    for name in list(os.environ):
        if name.startswith("BIRTHREG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    env = {
        "BIRTHREG_DATA_DIR": str(service_settings.data_dir),
        "BIRTHREG_DATABASE_URL": service_settings.database_url,
    }
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert calls and calls[0]["proxy_headers"] is False


@pytest.fixture
def served(service_settings: Settings) -> Iterator[tuple[str, Settings]]:
    """The app (with the address probe) served by uvicorn as `birthreg serve` configures it:
    HTTPS with the TEST CA's server certificate, uvicorn's proxy headers off."""
    import uvicorn

    initialise(service_settings)
    app = _with_probe(create_app(service_settings))
    certificate, key = ensure_tls_certificate(service_settings, "127.0.0.1")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", proxy_headers=False, ssl_certfile=str(certificate),
            ssl_keyfile=str(key),
            ssl_keyfile_password=service_settings.ca_passphrase_bytes().decode(),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        yield f"https://127.0.0.1:{port}", service_settings
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def test_served_over_tls_a_local_client_cannot_spoof_its_address(
    served: tuple[str, Settings], tmp_path: Path
) -> None:
    base, settings = served
    root = tmp_path / "root.pem"
    root.write_bytes(
        certification_authority_root(settings).public_bytes(Encoding.PEM)
    )
    context = ssl.create_default_context(cafile=str(root))
    with httpx.Client(base_url=base, verify=context, timeout=30) as http:
        answer = http.get(
            "/api/v1/probe/address",
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"},
        )
        assert answer.json() == {"address": "127.0.0.1", "scheme": "https"}
        assert answer.headers["strict-transport-security"] == STRICT_TRANSPORT_SECURITY
        assert answer.headers["cache-control"] == "no-store"
        page = http.get("/login", headers={"Accept": "text/html"})
        assert page.headers["strict-transport-security"] == STRICT_TRANSPORT_SECURITY


def certification_authority_root(settings: Settings) -> Any:
    app = create_app(settings)
    return certification_authority(app_services(app)).root_certificate


# --- what answers may be kept ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/", "/login", "/verify", "/parents", "/enroll", "/ward", "/admin", "/registry",
        "/api/v1/auth/me", "/api/v1/ward/births", "/api/v1/registry/submissions",
        "/api/v1/registry/certificates/00000000-0000-0000-0000-000000000000",
        "/api/v1/no-such-thing", "/healthz", "/docs", "/openapi.json",
    ],
)
def test_pages_and_api_answers_are_not_stored(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.headers["cache-control"] == "no-store", (path, response.status_code)
    assert "strict-transport-security" not in response.headers  # plain HTTP


def test_posts_and_errors_are_not_stored(client: TestClient) -> None:
    for response in (
        client.post(
            "/api/v1/registry/submissions",
            content=b"not json",
            headers={"Content-Type": "application/json"},
        ),
        client.post("/api/v1/auth/token", data={"username": "x", "password": "y"}),
        client.post("/api/v1/verify", json={"qr": "nonsense"}),
    ):
        assert response.headers["cache-control"] == "no-store", response.request.url


def test_public_static_and_pki_answers_keep_their_own_caching(client: TestClient) -> None:
    css = client.get("/static/birthreg.css")
    assert css.status_code == 200 and css.headers.get("cache-control") != "no-store"
    root = client.get("/pki/root.pem")
    assert root.status_code == 200 and root.headers["cache-control"] == "public, max-age=300"


def test_hsts_over_https(service_settings: Settings) -> None:
    app = _app(service_settings, base_url="https://ward.example.kz")
    with TestClient(app, base_url="https://ward.example.kz") as https:
        for path in ("/", "/login", "/static/birthreg.css", "/pki/root.pem", "/api/v1/auth/me"):
            answer = https.get(path)
            assert answer.headers["strict-transport-security"] == STRICT_TRANSPORT_SECURITY, path
