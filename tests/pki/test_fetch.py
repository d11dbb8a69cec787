"""Revocation fetchers: HTTP with short timeouts and only http(s), and CRL files offline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import PKI
from cryptography.hazmat.primitives.serialization import Encoding

from birthreg.pki.fetch import FileCRLFetcher, HTTPRevocationFetcher, to_der_crl


class _Handler(BaseHTTPRequestHandler):
    body = b"crl-bytes"
    seen: list[tuple[str, str, bytes]] = []  # noqa: RUF012 (test double)

    def do_GET(self) -> None:
        if self.path == "/missing":
            self.send_error(404)
            return
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._answer(self.rfile.read(length))

    def _answer(self, received: bytes) -> None:
        self.seen.append((self.command, self.headers.get("Content-Type", ""), received))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_fetches_crl_and_posts_ocsp(http_server: str) -> None:
    fetcher = HTTPRevocationFetcher(timeout=2)
    assert fetcher.fetch_crl(f"{http_server}/pki/crl") == b"crl-bytes"
    assert fetcher.post_ocsp(f"{http_server}/pki/ocsp", b"\x30\x03request") == b"crl-bytes"
    assert _Handler.seen[-1] == ("POST", "application/ocsp-request", b"\x30\x03request")


def test_http_failures_are_oserrors(http_server: str, tmp_path: Path) -> None:
    fetcher = HTTPRevocationFetcher(timeout=2)
    with pytest.raises(OSError, match="404"):
        fetcher.fetch_crl(f"{http_server}/missing")
    with pytest.raises(OSError, match="more than 4 bytes"):
        HTTPRevocationFetcher(timeout=2, max_bytes=4).fetch_crl(f"{http_server}/pki/crl")
    # A closed port on loopback: refused at once.
    with pytest.raises(OSError):
        fetcher.fetch_crl("http://127.0.0.1:9/pki/crl")
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for certificates to read")
    for url in (f"file://{secret}", "ftp://127.0.0.1/crl", "/pki/crl"):
        with pytest.raises(OSError, match="refusing"):
            fetcher.fetch_crl(url)


def test_file_crls(pki: PKI, tmp_path: Path) -> None:
    crl = pki.ca.build_crl(pki.statuses.revoked(), number=7, moment=pki.moment)
    der = crl.public_bytes(Encoding.DER)
    pem_path = tmp_path / "crl.pem"
    pem_path.write_bytes(crl.public_bytes(Encoding.PEM))
    assert to_der_crl(pem_path.read_bytes()) == der

    single = FileCRLFetcher.from_paths([pem_path])
    assert single.fetch_crl(pki.ca.crl_url) == der
    with pytest.raises(OSError, match="offline"):
        single.post_ocsp(pki.ca.ocsp_url, b"request")

    later = pki.ca.build_crl(
        pki.statuses.revoked(), number=8, moment=pki.moment + timedelta(hours=1)
    ).public_bytes(Encoding.DER)
    der_path = tmp_path / "later.der"
    der_path.write_bytes(later)
    # Both name the CRL's distribution point: the newer answers for it.
    both = FileCRLFetcher.from_paths([der_path, pem_path])
    assert both.fetch_crl(pki.ca.crl_url) == later
    with pytest.raises(OSError, match="URL=PATH"):
        both.fetch_crl("http://elsewhere.test/crl")
    named = FileCRLFetcher.from_paths([f"{pki.ca.crl_url}={pem_path}", der_path])
    assert named.fetch_crl(pki.ca.crl_url) == der
    # The CRL and the root's own CRL (the ARL) given together: each answers its own address.
    arl = pki.ca.build_arl(number=9, moment=pki.moment).public_bytes(Encoding.DER)
    arl_path = tmp_path / "root.crl"
    arl_path.write_bytes(arl)
    pair = FileCRLFetcher.from_paths([arl_path, der_path])
    assert (pair.fetch_crl(pki.ca.crl_url), pair.fetch_crl(pki.ca.arl_url)) == (later, arl)
    with pytest.raises(OSError, match="no CRL file"):
        FileCRLFetcher().fetch_crl(pki.ca.crl_url)
    with pytest.raises(ValueError):
        FileCRLFetcher([b"not a CRL"])
