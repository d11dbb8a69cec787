"""Plain helpers for the parents' tests: a simulated phone (a key and its certificate from the
ward's enrollment) that signs exactly as the phone page does (detached JWS ES256 with x5c and
sigT, see birthreg/static/js/jws.js), sign-in, and the staff around it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from ward.helpers import (
    father_body,
    new_key,
    record_birth,
    spki_and_proof,
    staff,
    start_enrollment,
)

from birthreg.models import Role
from signing import jws
from signing.canonical import canonicalize

MOTHER_NAMES = {"surname": "Әбілқасымова", "given_name": "Гүлнұр", "patronymic": "Серікқызы"}
FATHER_IIN = "910802300013"


@dataclass
class Phone:
    """A parent's phone: its browser (a TestClient with its own cookies) and its key."""

    client: TestClient
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    csrf: str = ""

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")

    def jws(self, content: bytes) -> dict[str, str]:
        value = jws.sign_detached(
            content, self.certificate, self.key, signing_time=datetime.now(UTC), chain=self.chain
        )
        return {"format": "jws", "value": value}

    def sign_in(self) -> Any:
        challenge = self.client.post("/api/v1/parents/challenge").json()["challenge"]
        response = self.client.post(
            "/api/v1/parents/session",
            json={"challenge": challenge, "signature": self.jws(canonicalize(challenge))},
        )
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
        return response


def browser(app: Any) -> TestClient:
    """Another browser on the same app (its own cookie jar)."""
    return TestClient(app, base_url="http://testserver")


def ward_headers(app: Any, username: str = "midwife") -> dict[str, str]:
    return staff(app, username=username)[1]


def clerk_headers(app: Any, username: str = "clerk") -> dict[str, str]:
    return staff(app, username=username, role=Role.CLERK, facility_id=None)[1]


def new_birth(client: TestClient, headers: dict[str, str], **changes: Any) -> str:
    birth: dict[str, Any] = record_birth(client, headers, **changes)
    return str(birth["id"])


def enroll_phone(
    app: Any, client: TestClient, headers: dict[str, str], birth_id: str,
    body: dict[str, Any] | None = None, *, phone_client: TestClient | None = None,
) -> Phone:
    """The ward starts an enrollment; the phone spends the code on a WebCrypto-style key."""
    started = start_enrollment(client, headers, birth_id, body)
    key = new_key()
    answer = client.post(
        "/api/v1/enroll", json={"code": started["code"], **spki_and_proof(key, started["code"])}
    )
    assert answer.status_code == 201, answer.text
    certificate = x509.load_pem_x509_certificate(answer.json()["certificate_pem"].encode())
    chain = tuple(x509.load_pem_x509_certificates(answer.json()["chain_pem"].encode()))
    return Phone(phone_client or browser(app), key, certificate, chain)


def signed_in_mother(app: Any, client: TestClient, headers: dict[str, str], birth_id: str) -> Phone:
    phone = enroll_phone(app, client, headers, birth_id)
    assert phone.sign_in().status_code == 200
    return phone


def signed_in_father(
    app: Any, client: TestClient, headers: dict[str, str], birth_id: str, **changes: Any
) -> Phone:
    phone = enroll_phone(app, client, headers, birth_id, father_body(**changes))
    assert phone.sign_in().status_code == 200
    return phone


def form(**changes: str) -> dict[str, str]:
    values = {
        "child_surname": "Ерланқызы",
        "child_given_name": "Айару",
        "child_patronymic": "Ерланқызы",
        "father_basis": "none",
        "father_iin": "",
        "father_surname": "",
        "father_given_name": "",
        "father_patronymic": "",
        "region": "Шығыс Қазақстан облысы",
        "locality": "Өскемен",
        "street": "Қазақстан көшесі",
        "building": "12",
        "flat": "5",
        "phone": "+7 701 234 5678",
        "email": "",
        "language": "kk",
    }
    values.update(changes)
    return values


def joint_form(**changes: str) -> dict[str, str]:
    return form(
        father_basis="joint_application",
        father_iin=FATHER_IIN,
        father_surname="Әбілқасымов",
        father_given_name="Ерлан",
        father_patronymic="Болатұлы",
        **changes,
    )


def save_form(phone: Phone, values: dict[str, str], **extra: str) -> Any:
    return phone.client.post(
        "/parents/application",
        data={**values, "csrf_token": phone.csrf, **extra},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )


def draft(phone: Phone, values: dict[str, str] | None = None, **extra: str) -> str:
    """Fill in the form; the id of the stored draft."""
    response = save_form(phone, values or form(), **extra)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location.rsplit("/", 1)[-1]


def page(phone: Phone, application_id: str) -> str:
    response = phone.client.get(
        f"/parents/applications/{application_id}", headers={"Accept": "text/html"}
    )
    assert response.status_code == 200, response.text
    return response.text


_DOCUMENT = re.compile(
    r'<script type="application/json" id="application-document">(.*?)</script>', re.DOTALL
)


def shown_document(html: str) -> dict[str, Any]:
    """The document the review page hands to sign.js."""
    match = _DOCUMENT.search(html)
    assert match, "no document on the page"
    document: dict[str, Any] = json.loads(match.group(1))
    return document


def shown_fingerprint(html: str) -> str:
    match = re.search(r'data-fingerprint="([0-9a-f]{64})"', html)
    assert match
    return match.group(1)


def shown_values(html: str) -> list[str]:
    return [unescape(v) for v in re.findall(r'<span data-testid="doc-value">(.*?)</span>', html)]


def sign_application(phone: Phone, application_id: str, content: bytes | None = None) -> Any:
    """Sign like sign.js: the canonical form of the document on the page (or `content`)."""
    if content is None:
        content = canonicalize(shown_document(page(phone, application_id)))
    return phone.client.post(
        f"/api/v1/parents/applications/{application_id}/signatures",
        json={"signature": phone.jws(content)},
        headers={"X-CSRF-Token": phone.csrf},
    )
