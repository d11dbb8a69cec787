"""A parent without a smartphone, in real Chromium on a computer: the PKCS#12 file from the ward's
desk is opened in the page (PKI.js) with its password, signs the sign-in challenge and the
application with WebCrypto, and neither the file nor the password leaves the page. A wrong
password, a file that is not a key file, a key file of another CA and a revoked key each get
their own message."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from e2e.test_parents_browser import ARTIFACTS, CHILD, Service, _application_id, _fill

from birthreg.models import ApplicationState
from signing import jws
from signing.ca import export_pkcs12

pytestmark = pytest.mark.browser

PASSWORD = "ана кілті 2026 desk"
COMPUTER = {"width": 1366, "height": 900}


@pytest.fixture
def service(live_server: Any) -> Any:
    result = Service(live_server)
    try:
        yield result
    finally:
        result.close()


def _desk_key_file(service: Service, birth_id: str) -> bytes:
    started = service.http.post(
        f"/api/v1/ward/births/{birth_id}/enrollments", json={"role": "mother"},
        headers=service.ward,
    )
    assert started.status_code == 201, started.text
    issued = service.http.post(
        f"/api/v1/ward/enrollments/{started.json()['id']}/pkcs12", json={"password": PASSWORD},
        headers=service.ward,
    )
    assert issued.status_code == 201, issued.text
    return issued.content


def _foreign_key_file() -> bytes:
    """A well-made key file from a CA that is not the service's."""
    moment = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another CA")])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=1))
        .not_valid_after(moment + timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    return export_pkcs12(key, leaf, [], password=PASSWORD.encode(), friendly_name=b"foreign")


class Computer:
    """A desktop browser (no key in it), recording every request body it sends."""

    def __init__(self, chromium: Any) -> None:
        self.context = chromium.new_context(
            viewport=COMPUTER, locale="kk-KZ", extra_http_headers={"Accept-Language": "kk"}
        )
        self.page = self.context.new_page()
        self.sent: list[bytes] = []
        self.problems: list[str] = []
        self.page.on("request", lambda request: self.sent.append(request.post_data_buffer or b""))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))

    def open_key_file(self, path: Path, password: str) -> None:
        self.page.get_by_test_id("key-file").set_input_files(str(path))
        self.page.get_by_test_id("key-password").fill(password)

    def message(self, code: str) -> str:
        return str(self.page.locator(f'#messages [data-message="{code}"]').text_content()).strip()

    def sign_in_refused(self, path: Path, password: str, code: str) -> None:
        self.open_key_file(path, password)
        self.page.get_by_test_id("key-file-sign-in").click()
        status = self.page.get_by_test_id("key-file-status")
        status.filter(has_text=self.message(code)).wait_for(timeout=30_000)
        assert "error" in (status.get_attribute("class") or "")
        assert "/parents/key-file" in self.page.url


def test_a_desk_key_file_signs_in_and_signs_in_the_browser(
    service: Service, chromium: Any, tmp_path: Path
) -> None:
    birth_id = service.birth()
    key_file = tmp_path / "birthreg-test-mother.p12"
    key_file.write_bytes(_desk_key_file(service, birth_id))
    not_a_key_file = tmp_path / "photo.p12"
    not_a_key_file.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    foreign = tmp_path / "foreign.p12"
    foreign.write_bytes(_foreign_key_file())
    computer = Computer(chromium)
    try:
        computer.page.goto(f"{service.url}/parents/sign-in")
        computer.page.get_by_test_id("no-key").get_by_role("link").first.click()
        computer.page.wait_for_url(re.compile(r"/parents/key-file\?next="))
        computer.sign_in_refused(key_file, "not the password", "wrong_password")
        computer.sign_in_refused(not_a_key_file, PASSWORD, "not_a_key_file")
        computer.sign_in_refused(foreign, PASSWORD, "foreign_key_file")

        computer.open_key_file(key_file, PASSWORD)
        with computer.page.expect_navigation(url="**/parents", timeout=60_000):
            computer.page.get_by_test_id("key-file-sign-in").click()
        assert "940315400014" in computer.page.get_by_test_id("holder-iin").inner_text()

        computer.page.get_by_test_id("start-application").click()
        _fill(computer.page, CHILD)
        computer.page.locator("input[name=father_basis][value=none]").check()
        computer.page.get_by_test_id("review").click()
        computer.page.wait_for_selector("[data-testid=key-file-sign-button]")
        application_id = _application_id(computer.page)
        # No key in this browser: the key-file way is open at once.
        computer.page.wait_for_function(
            "() => document.getElementById('key-file-fold').open === true"
        )
        computer.open_key_file(key_file, PASSWORD)
        with (
            computer.page.expect_request("**/signatures") as request_info,
            computer.page.expect_navigation(timeout=60_000),
        ):
            computer.page.get_by_test_id("key-file-sign-button").click()
        value = str(json.loads(request_info.value.post_data)["signature"]["value"])
        stored = service.application(application_id).document.encode("utf-8")
        jws.verify_detached(value, stored)  # raises unless over exactly these bytes
        header = json.loads(base64.urlsafe_b64decode(value.split(".")[0] + "=="))
        signer = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        assert header["kid"] == jws.key_id(signer) and header["crit"] == ["sigT"]
        assert len(header["x5c"]) == 2  # the signer and its issuing CA, not the root
        assert computer.page.get_by_test_id("state").get_attribute("data-state") == "submitted"
        assert service.application(application_id).state == ApplicationState.SUBMITTED

        # Neither the key file nor its password was ever sent.
        password = PASSWORD.encode()
        for body in computer.sent:
            assert password not in body and key_file.read_bytes()[:64] not in body
        assert not computer.problems, computer.problems
    finally:
        computer.context.close()


def test_a_revoked_desk_key_file_is_refused_in_words(
    service: Service, chromium: Any, tmp_path: Path
) -> None:
    birth_id = service.birth(mother={"iin": "940315400024", "surname": "Нұрланова"})
    key_file = tmp_path / "mother.p12"
    key_file.write_bytes(_desk_key_file(service, birth_id))
    certificate = pkcs12.load_key_and_certificates(key_file.read_bytes(), PASSWORD.encode())[1]
    assert certificate is not None
    serial = format(certificate.serial_number, "x")
    revoked = service.http.post(
        f"/api/v1/ward/certificates/{serial}/revoke", json={"reason": "lost_phone"},
        headers=service.ward,
    )
    assert revoked.status_code == 200, revoked.text
    computer = Computer(chromium)
    try:
        computer.page.goto(f"{service.url}/parents/key-file")
        computer.sign_in_refused(key_file, PASSWORD, "key_revoked")
        ARTIFACTS.mkdir(exist_ok=True)
        computer.page.screenshot(path=str(ARTIFACTS / "parents-key-file-1366.png"), full_page=True)
        # One column on a phone too, nothing wider than the screen.
        computer.page.set_viewport_size({"width": 390, "height": 844})
        assert computer.page.evaluate("document.documentElement.scrollWidth") <= 391
        computer.page.screenshot(path=str(ARTIFACTS / "parents-key-file-390.png"), full_page=True)
        assert not computer.problems, computer.problems
    finally:
        computer.context.close()
