"""Real servers on 127.0.0.1 for the notification tests: an SMTP server (aiosmtpd, optionally
with STARTTLS and a login, under a TEST certificate made here) and an SMS gateway
(http.server), each keeping what it accepted."""

from __future__ import annotations

import asyncio
import email
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler: refuses the addresses in `refused` (550), keeps every message it is
    given, and can hold its answer to DATA until `hold` is set."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.rcpt_attempts: list[str] = []
        self.refused: set[str] = set()
        self.hold: threading.Event | None = None
        self.in_data = threading.Event()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        self.rcpt_attempts.append(address)
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.recipients.append(list(envelope.rcpt_tos))
        self.in_data.set()
        if self.hold is not None:
            # Kept, but the "250" is not said yet: a sender that dies now never hears it.
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 30)
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages]


class SMTPServer:
    """aiosmtpd on a fixed port (so that it can be stopped and started again at one address)."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self.tls = tls
        self.login = login
        self.logins: list[str] = []
        self._controller: Controller | None = None

    def url(self, *, cafile: Path | None = None) -> str:
        user = f"{self.login[0]}:{self.login[1]}@" if self.login else ""
        options = []
        if self.tls is not None:
            options.append("starttls=1")
        if cafile is not None:
            options.append(f"cafile={cafile}")
        query = ("?" + "&".join(options)) if options else ""
        return f"smtp://{user}127.0.0.1:{self.port}{query}"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            self.login is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        ):
            self.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.tls is not None:
            options.update(tls_context=self.tls, require_starttls=True)
        if self.login is not None:
            options.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=True
            )
        self._controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, **options
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class Gateway:
    """An SMS gateway: keeps every JSON body POSTed to it; answers with the statuses queued in
    `answers` (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.authorizations: list[str | None] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                status = gateway.answers.pop(0) if gateway.answers else 200
                if 200 <= status < 300:
                    gateway.received.append(body)
                gateway.authorizations.append(self.headers.get("Authorization"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"queued": true}')

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/send"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def make_test_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A TEST CA and a server certificate for 127.0.0.1 under it: the server's TLS context and
    the CA file a client trusts."""
    moment = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "birthreg TEST SMTP CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "smtp-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = directory / "smtp-server.pem"
    chain.write_bytes(
        server.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return context, ca_file


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        if condition():
            return True
        threading.Event().wait(0.02)
    return condition()
