"""The parents' phone pages in real Chromium (Debian's, headless) at a phone's size, in Kazakh:
enrollment with WebCrypto, the application, review and signing, the registry, the clerk, the
certificate; the joint application with the father in a second browser; tampering; the RFC 8785
vectors run in the browser; the three languages; the page without WebCrypto."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from sqlmodel import Session
from ward.helpers import birth_body, father_body, staff

from birthreg.db import make_engine
from birthreg.main import create_app
from birthreg.models import ApplicationState, ParentApplication, Role
from signing import jws
from signing.canonical import canonicalize

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


class Service:
    """The live server seen by staff (API tokens) and by the test (its database)."""

    def __init__(self, live_server: Any) -> None:
        self.url = str(live_server)
        app = create_app(live_server.settings)  # its lifespan never runs: nothing is served
        self.ward = staff(app, username="midwife")[1]
        self.clerk = staff(app, username="clerk", role=Role.CLERK, facility_id=None)[1]
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.engine = make_engine(live_server.settings.database_url, autocommit=True)

    def birth(self, **changes: Any) -> str:
        response = self.http.post(
            "/api/v1/ward/births", json=birth_body(**changes), headers=self.ward
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def enrollment_url(self, birth_id: str, body: dict[str, Any] | None = None) -> str:
        response = self.http.post(
            f"/api/v1/ward/births/{birth_id}/enrollments",
            json=body or {"role": "mother"},
            headers=self.ward,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["url"])

    def application(self, application_id: str) -> ParentApplication:
        with Session(self.engine) as session:
            row = session.get(ParentApplication, application_id)
            assert row is not None
            session.expunge(row)
            return row

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()


@pytest.fixture
def service(live_server: Any) -> Any:
    result = Service(live_server)
    try:
        yield result
    finally:
        result.close()


class Phone:
    """A browser context at a phone's size, collecting script errors."""

    def __init__(self, chromium: Any, name: str, language: str = "kk") -> None:
        self.context = chromium.new_context(
            viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
            locale={"kk": "kk-KZ", "ru": "ru-RU", "en": "en-GB"}[language],
            extra_http_headers={"Accept-Language": language},
            accept_downloads=True,
        )
        self.page = self.context.new_page()
        self.name = name
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # A form with mistakes comes back as a 400 page on purpose; Chromium logs that status.
        if message.type == "error" and "status of 400" not in message.text:
            self.problems.append(f"console: {message.text}")

    def shot(self, what: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(
            path=str(ARTIFACTS / f"parents-{self.name}-{what}-390x844.png"), full_page=True
        )

    def no_sideways_scrolling(self) -> None:
        assert self.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1

    def enroll(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_function("() => document.getElementById('code').value.length > 0")
        assert "code=" not in self.page.url  # the code left the address bar
        self.shot("enroll")
        with self.page.expect_navigation(url="**/parents", timeout=30_000):
            self.page.get_by_test_id("enroll-form").locator("button[type=submit]").click()
        assert self.page.get_by_test_id("holder-iin").is_visible()

    def close(self) -> None:
        self.context.close()


def _fill(page: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.locator(f"#{name}").fill(value)


CHILD = {
    "child_surname": "Ерланқызы",
    "child_given_name": "Айару",
    "child_patronymic": "Ерланқызы",
    "region": "Шығыс Қазақстан облысы",
    "locality": "Өскемен",
    "street": "Қазақстан көшесі",
    "building": "12",
    "flat": "5",
    "phone": "+7 701 234 5678",
    "email": "ana@example.kz",
}


def _application_id(page: Any) -> str:
    return str(page.url.rstrip("/").rsplit("/", 1)[-1])


def _browser_canonical(page: Any) -> tuple[bytes, str]:
    """The canonical bytes the page's own canonical.js makes of the document it would sign,
    and their SHA-256 as WebCrypto computes it."""
    result = page.evaluate(
        """async () => {
          const { canonicalize } = await import('/static/js/canonical.js');
          const { base64url, hex } = await import('/static/js/b64.js');
          const doc = JSON.parse(document.getElementById('application-document').textContent);
          const bytes = canonicalize(doc);
          const digest = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
          return [base64url(bytes), digest];
        }"""
    )
    return base64.urlsafe_b64decode(result[0] + "=" * (-len(result[0]) % 4)), result[1]


def _sign_and_capture(phone: Phone) -> str:
    """Click "Sign"; the JWS the page sent."""
    with (
        phone.page.expect_request("**/signatures") as request_info,
        phone.page.expect_navigation(timeout=60_000),
    ):
        phone.page.get_by_test_id("sign-button").click()
    return str(json.loads(request_info.value.post_data)["signature"]["value"])


def _stored_key_extractable(page: Any) -> bool:
    """Whether the key kept in IndexedDB could be exported (it must not)."""
    return bool(page.evaluate(
        """async () => {
          const { loadKey } = await import('/static/js/keystore.js');
          const record = await loadKey();
          return record.keyPair.privateKey.extractable;
        }"""
    ))


def test_mother_signs_on_her_phone_and_downloads_the_certificate(
    service: Service, chromium: Any
) -> None:
    birth_id = service.birth()
    mother = Phone(chromium, "mother")
    try:
        mother.enroll(service.enrollment_url(birth_id))
        assert "940315400014" in mother.page.get_by_test_id("holder-iin").inner_text()
        assert mother.page.locator("html").get_attribute("lang") == "kk"
        mother.shot("home")
        assert _stored_key_extractable(mother.page) is False

        mother.page.get_by_test_id("start-application").click()
        mother.page.wait_for_selector("[data-testid=application-form]")
        assert mother.page.get_by_test_id("medical-record").is_visible()
        # A wrong name first: the message is Kazakh and next to the field.
        _fill(mother.page, {**CHILD, "child_surname": "Smith1"})
        mother.page.locator("input[name=father_basis][value=none]").check()
        mother.page.get_by_test_id("review").click()
        error = mother.page.get_by_test_id("error-child_surname")
        assert "әріптерін" in error.inner_text()
        mother.shot("form-error")
        mother.page.locator("#child_surname").fill(CHILD["child_surname"])
        mother.shot("form")
        mother.page.get_by_test_id("review").click()
        mother.page.wait_for_selector("[data-testid=sign-button]")
        mother.no_sideways_scrolling()
        mother.shot("review")

        application_id = _application_id(mother.page)
        stored = service.application(application_id).document.encode("utf-8")
        browser_bytes, browser_digest = _browser_canonical(mother.page)
        shown = mother.page.get_by_test_id("fingerprint").get_attribute("data-fingerprint")
        # Shown == canonicalised in the browser == stored (and verified below).
        assert browser_bytes == stored == canonicalize(json.loads(stored))
        assert browser_digest == shown == hashlib.sha256(stored).hexdigest()
        values = mother.page.get_by_test_id("doc-value").all_inner_texts()
        for value in ("Ерланқызы", "Айару", "940315400014", "Өскемен", "ana@example.kz"):
            assert value in values

        value = _sign_and_capture(mother)
        jws.verify_detached(value, stored)  # raises unless over exactly these bytes
        header = json.loads(base64.urlsafe_b64decode(value.split(".")[0] + "=="))
        assert header["alg"] == "ES256" and len(header["x5c"]) == 2 and header["sigT"].endswith("Z")
        signer = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        assert header["kid"] == jws.key_id(signer) and header["crit"] == ["sigT"]
        assert mother.page.get_by_test_id("state").get_attribute("data-state") == "submitted"
        row = service.application(application_id)
        assert row.state == ApplicationState.SUBMITTED and row.submission_id

        sent = service.http.get(
            f"/api/v1/registry/submissions/{row.submission_id}", headers=service.clerk
        ).json()
        assert canonicalize(sent["dossier"]["application"]["document"]) == stored
        _registered_and_downloaded(service, mother, row.submission_id)
        assert not mother.problems, mother.problems
    finally:
        mother.close()


def _registered_and_downloaded(service: Service, mother: Phone, submission_id: str) -> None:
    """The clerk registers; her page shows the record and gives the signed PDF."""
    registered = service.http.post(
        f"/api/v1/registry/submissions/{submission_id}/register", headers=service.clerk
    )
    assert registered.status_code == 201, registered.text
    mother.page.reload()
    assert mother.page.get_by_test_id("registry-status").get_attribute("data-status") == (
        "registered"
    )
    assert mother.page.get_by_test_id("child-iin").inner_text() == registered.json()["child_iin"]
    assert mother.page.get_by_test_id("act-record-number").inner_text() == str(
        registered.json()["act_record_number"]
    )
    qr = mother.page.get_by_test_id("certificate-qr")
    qr.scroll_into_view_if_needed()
    assert qr.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    mother.shot("registered")
    with mother.page.expect_download() as download_info:
        mother.page.get_by_test_id("certificate-pdf").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and b"/ByteRange" in pdf  # a signed PDF


def test_joint_application_with_the_father_on_his_phone(
    service: Service, chromium: Any
) -> None:
    birth_id = service.birth(mother={"iin": "940315400024", "surname": "Нұрланова"})
    mother_url = service.enrollment_url(birth_id)
    father_url = service.enrollment_url(birth_id, father_body())
    mother = Phone(chromium, "joint-mother")
    father = Phone(chromium, "joint-father")
    try:
        father.enroll(father_url)
        father.shot("home")
        mother.enroll(mother_url)
        mother.page.get_by_test_id("start-application").click()
        # The father the ward enrolled is filled in, as a joint application.
        assert mother.page.locator("input[name=father_basis][value=joint_application]").is_checked()
        assert mother.page.locator("#father_iin").input_value() == "910802300013"
        _fill(mother.page, CHILD)
        mother.page.get_by_test_id("review").click()
        mother.page.wait_for_selector("[data-testid=sign-button]")
        application_id = _application_id(mother.page)
        _sign_and_capture(mother)
        assert mother.page.get_by_test_id("state").get_attribute("data-state") == "awaiting_father"
        invitation = mother.page.get_by_test_id("invitation-link").get_attribute("href")
        assert invitation and "#invite=" in invitation
        mother.shot("invitation")

        with father.page.expect_navigation(url=f"**/parents/applications/{application_id}",
                                           timeout=60_000):
            father.page.goto(invitation)
        father.page.wait_for_selector("[data-testid=sign-button]")
        father.shot("review")
        stored = service.application(application_id).document.encode("utf-8")
        assert _browser_canonical(father.page)[0] == stored  # the identical document
        value = _sign_and_capture(father)
        jws.verify_detached(value, stored)
        assert father.page.get_by_test_id("state").get_attribute("data-state") == "submitted"
        row = service.application(application_id)
        sent = service.http.get(
            f"/api/v1/registry/submissions/{row.submission_id}", headers=service.clerk
        ).json()
        roles = sorted(s["role"] for s in sent["report"]["documents"][1]["signatures"])
        assert roles == ["father", "mother"]
        registered = service.http.post(
            f"/api/v1/registry/submissions/{row.submission_id}/register", headers=service.clerk
        )
        assert registered.status_code == 201
        mother.page.reload()
        assert mother.page.get_by_test_id("registry-status").get_attribute("data-status") == (
            "registered"
        )
        mother.shot("registered")
        assert not mother.problems and not father.problems, mother.problems + father.problems
    finally:
        mother.close()
        father.close()


def test_a_document_edited_in_the_page_is_refused(service: Service, chromium: Any) -> None:
    birth_id = service.birth(mother={"iin": "940315400034", "surname": "Иванова",
                                     "given_name": "Мария", "patronymic": "Петровна"})
    mother = Phone(chromium, "tamper")
    try:
        mother.enroll(service.enrollment_url(birth_id))
        mother.page.get_by_test_id("start-application").click()
        _fill(mother.page, CHILD)
        mother.page.locator("input[name=father_basis][value=none]").check()
        mother.page.get_by_test_id("review").click()
        mother.page.wait_for_selector("[data-testid=sign-button]")
        application_id = _application_id(mother.page)
        # Devtools-style: change the child's name in the document after review, and the
        # fingerprint with it, so that the page's own check does not stop the signature.
        mother.page.evaluate(
            """async () => {
              const { canonicalize } = await import('/static/js/canonical.js');
              const { hex } = await import('/static/js/b64.js');
              const block = document.getElementById('application-document');
              const doc = JSON.parse(block.textContent);
              doc.child.given_name = 'Басқа';
              block.textContent = JSON.stringify(doc);
              const digest = await crypto.subtle.digest('SHA-256', canonicalize(doc));
              document.getElementById('document-fingerprint').dataset.fingerprint =
                hex(new Uint8Array(digest));
            }"""
        )
        mother.page.get_by_test_id("sign-button").click()
        error = mother.page.get_by_test_id("sign-error")
        error.wait_for(state="visible")
        assert "Ештеңе жіберілген жоқ" in error.inner_text()  # nothing was sent
        mother.shot("tampered")
        row = service.application(application_id)
        assert row.state == ApplicationState.DRAFT and row.mother_signature is None
        # Only the fingerprint changed: the page itself refuses before signing.
        mother.page.reload()
        mother.page.evaluate(
            "document.getElementById('document-fingerprint').dataset.fingerprint = '00'"
        )
        mother.page.get_by_test_id("sign-button").click()
        mother.page.get_by_test_id("sign-error").wait_for(state="visible")
        assert service.application(application_id).mother_signature is None
    finally:
        mother.close()


def test_pages_in_three_languages(service: Service, chromium: Any) -> None:
    birth_id = service.birth(mother={"iin": "940315400044", "surname": "Смағұлова",
                                     "given_name": "Дана", "patronymic": None})
    mother = Phone(chromium, "languages")
    try:
        mother.enroll(service.enrollment_url(birth_id))
        mother.page.get_by_test_id("start-application").click()
        _fill(mother.page, CHILD)
        # Switching the language keeps the half-filled form, typed values and choices.
        mother.page.locator(".lang-switch button[value=ru]").click()
        mother.page.wait_for_selector("html[lang=ru]")
        assert mother.page.locator("#child_given_name").input_value() == CHILD["child_given_name"]
        assert mother.page.locator("#street").input_value() == CHILD["street"]
        mother.page.locator("input[name=father_basis][value=none]").check()
        mother.page.locator(".lang-switch button[value=kk]").click()
        mother.page.wait_for_selector("html[lang=kk]")
        assert mother.page.locator("input[name=father_basis][value=none]").is_checked()
        assert not mother.page.locator("#father_iin").is_visible()  # "no father": no fields
        mother.page.get_by_test_id("review").click()
        mother.page.wait_for_selector("[data-testid=sign-button]")
        headings = {"kk": "Тіркеу туралы өтініш", "ru": "Заявление о регистрации",
                    "en": "Registration application"}
        for language, heading in headings.items():
            mother.page.locator(f".lang-switch button[value={language}]").click()
            mother.page.wait_for_selector(f"html[lang={language}]")
            assert heading in mother.page.locator("h1").inner_text()
            mother.no_sideways_scrolling()
            mother.shot(f"review-{language}")
        assert not mother.problems, mother.problems
    finally:
        mother.close()


def test_enrollment_page_says_why_without_webcrypto(service: Service, chromium: Any) -> None:
    phone = Phone(chromium, "insecure")
    try:
        # What a phone sees at http://<the ward's address>: no secure context, no crypto.subtle.
        phone.page.add_init_script(
            "Object.defineProperty(window, 'isSecureContext', {value: false});"
        )
        phone.page.goto(service.url + "/enroll#code=ABCD-EFGH-JKMN")
        message = phone.page.get_by_test_id("no-webcrypto")
        message.wait_for(state="visible")
        assert "https://" in message.inner_text()
        assert phone.page.locator("#enroll-button").is_disabled()
        phone.shot("no-webcrypto")
    finally:
        phone.close()


def test_canonical_json_vectors_in_chromium(service: Service, chromium: Any) -> None:
    phone = Phone(chromium, "vectors", language="en")
    try:
        phone.page.goto(service.url + "/static/js/test/vectors.html")
        phone.page.wait_for_selector("body[data-result]")
        assert phone.page.locator("body").get_attribute("data-result") == "pass", (
            phone.page.locator("#log").inner_text()
        )
        # And the document shapes signed here: the browser's bytes are Python's bytes.
        samples = [
            {"type": "birthreg.application/1", "father": None, "child": {"surname": "Әбілқасымова",
             "given_name": "Айару"}, "contact": {"phone": "+7 (701) 234-56-78"},
             "quote": "\"'\\/\u2028\u0007", "emoji": "😀", "language": "kk"},
            {"numbers": [0, 1, -1, 3400, 51, 9007199254740991, 0.5, 1e-7, 1e21]},
            {"b": [True, False, None], "a": {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4}},
        ]
        for sample in samples:
            text = phone.page.evaluate(
                """async (value) => {
                  const { canonicalText } = await import('/static/js/canonical.js');
                  return canonicalText(value);
                }""",
                sample,
            )
            assert text.encode("utf-8") == canonicalize(sample)
        assert not phone.problems, phone.problems
    finally:
        phone.close()
