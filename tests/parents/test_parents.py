"""The parents' side over HTTP, on SQLite and PostgreSQL: key-holder sessions, the application,
its signatures, submission through the registry client, status, correction, the father's
invitation, key files, revocation, access control and CSRF."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from ward.helpers import father_body

from birthreg.models import ApplicationState, Birth, CertificatePDF, ParentApplication, Progress
from birthreg.registry.certificate_pdf import stored_pdf
from birthreg.ward.codes import qr_svg_image
from signing.canonical import canonicalize

from .helpers import (
    FATHER_IIN,
    Phone,
    browser,
    clerk_headers,
    draft,
    enroll_phone,
    form,
    joint_form,
    new_birth,
    page,
    save_form,
    shown_document,
    shown_fingerprint,
    shown_values,
    sign_application,
    signed_in_father,
    signed_in_mother,
)


def _application(db: Session, application_id: str) -> ParentApplication:
    db.expire_all()
    row = db.get(ParentApplication, application_id)
    assert row is not None
    return row


def _submission(client: TestClient, clerk: dict[str, str], submission_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/registry/submissions/{submission_id}", headers=clerk)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- the whole chain ---------------------------------------------------------------------------


def test_sign_submit_register_and_download(
    app: Any, client: TestClient, db: Session, ward: dict[str, str], mother: Phone
) -> None:
    home = mother.client.get("/parents", headers={"Accept": "text/html"})
    assert home.status_code == 200
    assert "Әбілқасымова Гүлнұр Серікқызы" in home.text and "940315400014" in home.text

    application_id = draft(mother)
    html = page(mother, application_id)
    document = shown_document(html)
    stored = _application(db, application_id)
    # What the page shows, what it hands to the signing script and what is stored are the same.
    assert canonicalize(document) == stored.document.encode("utf-8")
    assert shown_fingerprint(html) == hashlib.sha256(canonicalize(document)).hexdigest()
    shown = shown_values(html)
    for value in ("Ерланқызы", "Айару", "940315400014", "Өскемен", "+7 701 234 5678"):
        assert value in shown
    assert set(document) == {
        "type", "id", "medical_record_sha256", "child", "mother", "father", "address",
        "contact", "language",
    }
    assert document["father"] is None and document["mother"] == {"iin": "940315400014"}

    signed = sign_application(mother, application_id)
    assert signed.status_code == 200, signed.text
    assert signed.json()["submitted"] is True
    row = _application(db, application_id)
    assert row.state == ApplicationState.SUBMITTED and row.submission_id
    receipt = json.loads(row.receipt or "{}")
    assert receipt["submission_id"] == row.submission_id and receipt["signature"]
    birth = db.get(Birth, row.birth_id)
    assert birth is not None and birth.progress == Progress.APPLICATION_SIGNED

    clerk = clerk_headers(app)
    # The registry verified exactly the bytes shown.
    sent = _submission(client, clerk, row.submission_id)
    assert canonicalize(sent["dossier"]["application"]["document"]) == canonicalize(document)
    html = page(mother, application_id)
    assert 'data-status="in_review"' in html

    registered = client.post(
        f"/api/v1/registry/submissions/{row.submission_id}/register", headers=clerk
    )
    assert registered.status_code == 201, registered.text
    html = page(mother, application_id)
    assert 'data-status="registered"' in html
    assert registered.json()["child_iin"] in html
    assert f'data-testid="act-record-number">{registered.json()["act_record_number"]}<' in html
    _certificate_qr_is_an_image_for_her_alone(app, client, ward, mother, html, registered.json())
    db.expire_all()
    assert db.get(Birth, row.birth_id).progress == Progress.REGISTERED  # type: ignore[union-attr]

    pdf = mother.client.get(f"/parents/applications/{application_id}/certificate.pdf")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    # The registry's signed PDF, as it stored it; the place of birth is the ward's town.
    certificate_id = registered.json()["certificate_id"]
    kept = db.get(CertificatePDF, certificate_id)
    assert kept is not None and kept.deflated and len(kept.pdf) < 0.9 * len(pdf.content)
    assert stored_pdf(db, certificate_id) == pdf.content and b"/ByteRange" in pdf.content
    certificate = client.get(f"/api/v1/registry/certificates/{certificate_id}").json()
    assert certificate["fields"]["child"]["place_of_birth"] == "Өскемен / Усть-Каменогорск"


def _certificate_qr_is_an_image_for_her_alone(
    app: Any, client: TestClient, ward: dict[str, str], mother: Phone, html: str,
    registered: dict[str, Any],
) -> None:
    """The page shows the certificate's QR as an image of its own (the page itself does not
    make the code); the image is the certificate's QR, not kept by the browser (it carries the
    child's particulars), and only its mother gets it."""
    match = re.search(r'<img data-testid="certificate-qr" src="([^"]+)" alt="[^"]+">', html)
    assert match, html
    source = match.group(1)
    assert source.endswith(f"/certificates/{registered['certificate_id']}/qr.svg")
    image = mother.client.get(source)
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.headers["cache-control"] == "no-store"
    assert image.content.startswith(b"<svg")
    assert b'xmlns="http://www.w3.org/2000/svg"' in image.content
    certificate = client.get(f"/api/v1/registry/certificates/{registered['certificate_id']}")
    assert image.content == qr_svg_image(certificate.json()["qr"])
    # Another certificate's id under her application, another mother, nobody: refused.
    elsewhere = source.replace(registered["certificate_id"], "x" * 32)
    assert mother.client.get(elsewhere).status_code == 404
    other_birth = new_birth(client, ward, mother={"iin": "940315400024", "surname": "Нұрланова"})
    other = signed_in_mother(app, client, ward, other_birth)
    assert other.client.get(source).status_code == 404
    assert browser(app).get(source).status_code == 401


def test_form_errors_are_translated_and_next_to_the_field(mother: Phone) -> None:
    response = save_form(
        mother, form(child_surname="Smith1", phone="", email="", father_basis="marriage",
                     father_iin="940315400014")
    )
    assert response.status_code == 400
    text = response.text
    assert 'data-testid="error-child_surname"' in text
    assert 'id="child_surname" name="child_surname" value="Smith1"' in text
    assert 'aria-invalid="true" aria-describedby="child_surname-error' in text
    assert "Тек қазақ, орыс немесе латын әріптерін" in text  # Kazakh: the page's language
    assert 'data-testid="error-father_iin"' in text and 'data-testid="error-phone"' in text
    russian = mother.client.post(
        "/parents/application",
        data={**form(child_surname="Smith1"), "csrf_token": mother.csrf},
        headers={"Accept": "text/html", "Accept-Language": "ru"},
    )
    assert "Используйте только казахские, русские или латинские буквы" in russian.text


def test_patronymic_may_be_left_out_and_kazakh_endings_pass(mother: Phone, db: Session) -> None:
    application_id = draft(mother, form(child_patronymic="", child_surname="Ерланұлы"))
    document = json.loads(_application(db, application_id).document)
    assert document["child"] == {"surname": "Ерланұлы", "given_name": "Айару"}
    assert sign_application(mother, application_id).json()["submitted"] is True


# -- tampering -------------------------------------------------------------------------------


def test_a_document_changed_after_review_is_refused(mother: Phone, db: Session) -> None:
    application_id = draft(mother)
    document = shown_document(page(mother, application_id))
    document["child"]["given_name"] = "Басқа"  # edited in the page after review
    refused = sign_application(mother, application_id, canonicalize(document))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_signature"
    assert refused.json()["report"]["sub_indication"] == "SIG_CRYPTO_FAILURE"
    row = _application(db, application_id)
    assert row.state == ApplicationState.DRAFT and row.mother_signature is None


# -- access control -------------------------------------------------------------------------


def test_nobody_else_reaches_an_application(
    app: Any, client: TestClient, ward: dict[str, str], mother: Phone
) -> None:
    application_id = draft(mother)
    other_birth = new_birth(client, ward, mother={"iin": "940315400024", "surname": "Нұрланова"})
    other = signed_in_mother(app, client, ward, other_birth)
    for path in (
        f"/parents/applications/{application_id}",
        f"/parents/applications/{application_id}/document.json",
        f"/parents/applications/{application_id}/certificate.pdf",
        f"/parents/applications/{uuid.uuid4()}",
        "/parents/applications/1",
    ):
        assert other.client.get(path).status_code == 404, path
    assert sign_application(other, application_id, b"{}").status_code == 404
    # The other mother's own page lists nothing of the first one.
    assert application_id not in other.client.get("/parents").text

    anonymous = browser(app)
    answer = anonymous.get(f"/parents/applications/{application_id}", follow_redirects=False,
                           headers={"Accept": "text/html"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/parents/sign-in")
    assert anonymous.post(
        f"/api/v1/parents/applications/{application_id}/signatures",
        json={"signature": {"format": "jws", "value": "x..y"}},
    ).status_code == 401
    # A staff token is not a parent's session.
    staffed = anonymous.get(f"/parents/applications/{application_id}/document.json", headers=ward)
    assert staffed.status_code == 401


def test_a_forged_session_cookie_is_refused(app: Any, mother: Phone) -> None:
    payload, timestamp, tag = mother.client.cookies["birthreg_parent"].split(".")
    forged = browser(app)
    flipped = ("A" if tag[0] != "A" else "B") + tag[1:]
    forged.cookies.set("birthreg_parent", f"{payload}.{timestamp}.{flipped}")
    answer = forged.get("/parents", headers={"Accept": "text/html"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/parents/sign-in")
    refused = forged.post("/api/v1/parents/join", json={"invitation": "x.y"})
    assert refused.status_code == 401 and refused.json()["error"] == "not_signed_in"
    # A staff session cookie's value is not a parent's session either.
    forged.cookies.set("birthreg_parent", forged.cookies.get("birthreg_session") or "x.y")
    assert forged.post("/api/v1/parents/join", json={"invitation": "x.y"}).status_code == 401


def test_csrf_is_required_on_every_change(mother: Phone) -> None:
    application_id = draft(mother)
    content = canonicalize(shown_document(page(mother, application_id)))
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        refused = mother.client.post(
            f"/api/v1/parents/applications/{application_id}/signatures",
            json={"signature": mother.jws(content)},
            headers=headers,
        )
        assert refused.status_code == 403 and refused.json()["error"] == "csrf_failed"
    for data in ({}, {"csrf_token": "wrong"}):
        response = mother.client.post(
            "/parents/application", data={**form(), **data}, follow_redirects=False
        )
        assert response.status_code == 403
        response = mother.client.post(
            f"/parents/applications/{application_id}/key-file-signature",
            data={"signature": "x", **data},
            follow_redirects=False,
        )
        assert response.status_code == 403
    cookie = mother.client.cookies["birthreg_parent"]
    assert "birthreg_parent=" + cookie
    answer = mother.sign_in()
    set_cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "samesite=strict" in set_cookie.lower()


def test_a_challenge_opens_one_session_in_one_browser(app: Any, mother: Phone) -> None:
    challenge = mother.client.post("/api/v1/parents/challenge").json()["challenge"]
    body = {"challenge": challenge, "signature": mother.jws(canonicalize(challenge))}
    assert mother.client.post("/api/v1/parents/session", json=body).status_code == 200
    # A session clears the challenge cookie; even with it put back the challenge is spent.
    again = mother.client.post("/api/v1/parents/session", json=body)
    assert again.status_code == 400 and again.json()["error"] == "challenge_mismatch"
    mother.client.cookies.set("birthreg_parent_challenge", challenge["nonce"])
    again = mother.client.post("/api/v1/parents/session", json=body)
    assert again.status_code == 409 and again.json()["error"] == "challenge_used"
    # Signed elsewhere and replayed in another browser: the challenge is not that browser's.
    elsewhere = browser(app)
    elsewhere.post("/api/v1/parents/challenge")
    answer = elsewhere.post("/api/v1/parents/session", json=body)
    assert answer.status_code == 400 and answer.json()["error"] == "challenge_mismatch"
    challenge = mother.client.post("/api/v1/parents/challenge").json()["challenge"]
    tampered = {**challenge, "audience": "http://evil.example"}
    answer = mother.client.post(
        "/api/v1/parents/session",
        json={"challenge": tampered, "signature": mother.jws(canonicalize(tampered))},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_challenge"


# -- revocation ------------------------------------------------------------------------------


def test_a_revoked_key_cannot_sign_in_or_sign(
    app: Any, client: TestClient, ward: dict[str, str], mother: Phone, db: Session
) -> None:
    application_id = draft(mother)
    content = canonicalize(shown_document(page(mother, application_id)))
    revoked = client.post(
        f"/api/v1/ward/certificates/{mother.serial}/revoke",
        json={"reason": "lost_phone"},
        headers=ward,
    )
    assert revoked.status_code == 200, revoked.text
    # The session ends at once.
    signed = mother.client.post(
        f"/api/v1/parents/applications/{application_id}/signatures",
        json={"signature": mother.jws(content)},
        headers={"X-CSRF-Token": mother.csrf},
    )
    assert signed.status_code == 401 and signed.json()["error"] == "key_revoked"
    answer = mother.client.get(
        f"/parents/applications/{application_id}", headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "reason=key_revoked" in answer.headers["location"]
    again = mother.sign_in()
    assert again.status_code == 403 and again.json()["error"] == "key_revoked"
    sign_in_page = mother.client.get("/parents/sign-in?reason=key_revoked")
    assert 'data-testid="revoked"' in sign_in_page.text
    assert _application(db, application_id).mother_signature is None

    # Enrolled again: the same birth, a new key, and the draft can be signed with it.
    birth_id = _application(db, application_id).birth_id
    renewed = enroll_phone(app, client, ward, birth_id)
    assert renewed.sign_in().status_code == 200
    assert sign_application(renewed, application_id).json()["submitted"] is True


def test_a_ready_application_signed_by_a_key_revoked_since_is_not_sent(
    app: Any, client: TestClient, ward: dict[str, str], mother: Phone, db: Session
) -> None:
    application_id = draft(mother, joint_form())
    assert sign_application(mother, application_id).json()["state"] == "awaiting_father"
    birth_id = _application(db, application_id).birth_id
    father = signed_in_father(app, client, ward, birth_id)
    invitation = _invitation(mother, application_id)
    assert father.client.post(
        "/api/v1/parents/join", json={"invitation": invitation},
        headers={"X-CSRF-Token": father.csrf},
    ).status_code == 200
    # The mother's key is revoked before the father signs: the page checks before sending.
    client.post(f"/api/v1/ward/certificates/{mother.serial}/revoke",
                json={"reason": "lost_phone"}, headers=ward)
    signed = sign_application(father, application_id)
    assert signed.status_code == 403 and signed.json()["error"] == "key_revoked"
    row = _application(db, application_id)
    assert row.state == ApplicationState.READY and row.submission_id is None
    renewed = enroll_phone(app, client, ward, birth_id)
    assert renewed.sign_in().status_code == 200
    assert 'data-testid="revoked-signer"' in page(renewed, application_id)
    new_id = draft(renewed, joint_form(), previous_id=application_id)
    assert _application(db, new_id).previous_id == application_id
    assert _application(db, application_id).state == ApplicationState.SUPERSEDED


# -- rejection and correction ----------------------------------------------------------------


def test_correction_after_rejection_links_the_previous_application(
    app: Any, client: TestClient, mother: Phone, db: Session
) -> None:
    first_id = draft(mother)
    assert sign_application(mother, first_id).json()["submitted"] is True
    first = _application(db, first_id)
    clerk = clerk_headers(app)
    rejected = client.post(
        f"/api/v1/registry/submissions/{first.submission_id}/reject",
        json={"reason": "Баланың аты қате жазылған"},
        headers=clerk,
    )
    assert rejected.status_code == 200, rejected.text
    html = page(mother, first_id)
    assert 'data-status="rejected"' in html and "Баланың аты қате жазылған" in html
    assert f"/parents/application?previous={first_id}" in html
    # The form comes back filled in; the corrected one is a new document.
    refill = mother.client.get(f"/parents/application?previous={first_id}")
    assert 'value="Айару"' in refill.text
    second_id = draft(mother, form(child_given_name="Айгерім"), previous_id=first_id)
    assert second_id != first_id
    second = _application(db, second_id)
    assert second.previous_id == first_id
    assert json.loads(second.document)["id"] == second_id
    assert f'href="/parents/applications/{first_id}"' in page(mother, second_id)
    assert sign_application(mother, second_id).json()["submitted"] is True
    second = _application(db, second_id)
    assert _submission(client, clerk, second.submission_id or "")["previous_id"] == (
        first.submission_id
    )


# -- the joint application --------------------------------------------------------------------


def _invitation(mother: Phone, application_id: str) -> str:
    html = page(mother, application_id)
    start = html.index("/parents/join#invite=") + len("/parents/join#invite=")
    return html[start : html.index('"', start)]


def test_joint_application_needs_the_fathers_signature(
    app: Any, client: TestClient, ward: dict[str, str], mother: Phone, db: Session
) -> None:
    application_id = draft(mother, joint_form())
    signed = sign_application(mother, application_id)
    assert signed.status_code == 200 and signed.json()["state"] == "awaiting_father"
    assert signed.json()["submitted"] is False
    invitation = _invitation(mother, application_id)
    assert len(invitation.split(".")[-1]) >= 43  # an HMAC-SHA256 tag: 256 bits

    birth_id = _application(db, application_id).birth_id
    father = signed_in_father(app, client, ward, birth_id)
    # Before the invitation the father reaches nothing.
    assert father.client.get(f"/parents/applications/{application_id}").status_code == 404
    wrong = father.client.post(
        "/api/v1/parents/join",
        json={"invitation": invitation[:-4] + "AAAA"},
        headers={"X-CSRF-Token": father.csrf},
    )
    assert wrong.status_code == 404
    mother_join = mother.client.post(
        "/api/v1/parents/join", json={"invitation": invitation},
        headers={"X-CSRF-Token": mother.csrf},
    )
    assert mother_join.status_code == 403
    joined = father.client.post(
        "/api/v1/parents/join", json={"invitation": invitation},
        headers={"X-CSRF-Token": father.csrf},
    )
    assert joined.status_code == 200, joined.text
    html = page(father, application_id)
    assert canonicalize(shown_document(html)) == _application(db, application_id).document.encode()
    signed = sign_application(father, application_id)
    assert signed.status_code == 200, signed.text
    assert signed.json()["submitted"] is True
    row = _application(db, application_id)
    sent = _submission(client, clerk_headers(app), row.submission_id or "")
    roles = sorted(s["role"] for s in sent["report"]["documents"][1]["signatures"])
    assert roles == ["father", "mother"]
    assert sent["father"]["iin"] == FATHER_IIN


def test_another_father_cannot_join(
    app: Any, client: TestClient, ward: dict[str, str], mother: Phone, db: Session
) -> None:
    application_id = draft(mother, joint_form())
    sign_application(mother, application_id)
    invitation = _invitation(mother, application_id)
    birth_id = _application(db, application_id).birth_id
    # Enrolled for this birth, but the application names another man.
    stranger = signed_in_father(app, client, ward, birth_id, iin="880101300159",
                                surname="Басқа", given_name="Адам", patronymic=None)
    answer = stranger.client.post(
        "/api/v1/parents/join", json={"invitation": invitation},
        headers={"X-CSRF-Token": stranger.csrf},
    )
    assert answer.status_code in (403, 404)
    assert answer.json()["error"] in ("not_the_father", "invitation_not_found")


def test_pages_render_in_the_three_languages(mother: Phone) -> None:
    application_id = draft(mother)
    for language, word in (("kk", "Өтініш"), ("ru", "Заявление"), ("en", "application")):
        html = mother.client.get(
            f"/parents/applications/{application_id}",
            headers={"Accept": "text/html", "Accept-Language": language},
        ).text
        assert f'<html lang="{language}">' in html and word in html


def test_a_father_of_another_birth_sees_nothing(
    app: Any, client: TestClient, ward: dict[str, str], mother: Phone, db: Session
) -> None:
    application_id = draft(mother, joint_form())
    sign_application(mother, application_id)
    invitation = _invitation(mother, application_id)
    other_birth = new_birth(client, ward, mother={"iin": "940315400024"})
    father = enroll_phone(app, client, ward, other_birth, father_body())
    assert father.sign_in().status_code == 200
    answer = father.client.post(
        "/api/v1/parents/join", json={"invitation": invitation},
        headers={"X-CSRF-Token": father.csrf},
    )
    assert answer.status_code == 404


def test_one_open_application_at_a_time(mother: Phone) -> None:
    application_id = draft(mother)
    again = mother.client.get("/parents/application", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == f"/parents/applications/{application_id}"
    refused = save_form(mother, form())
    assert refused.status_code == 409
    # Only known refusals are named on the page; other text in the address is not shown.
    html = mother.client.get(
        f"/parents/applications/{application_id}?error=Call+0000+to+confirm"
    ).text
    assert "Call 0000" not in html and 'data-testid="error"' not in html


def test_registry_out_of_reach_keeps_the_signed_application(
    app: Any, mother: Phone, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    application_id = draft(mother)
    # Over HTTP (BIRTHREG_REGISTRY_URL) to a registry that is not there: the signature is
    # kept, nothing is lost.
    monkeypatch.setattr(app.state.services.settings, "registry_url", "http://127.0.0.1:9")
    signed = sign_application(mother, application_id)
    assert signed.status_code == 200
    assert signed.json()["submitted"] is False and signed.json()["error"] == "registry_unavailable"
    row = _application(db, application_id)
    assert row.state == ApplicationState.READY and row.mother_signature
    assert "Send again" in mother.client.get(
        f"/parents/applications/{application_id}", headers={"Accept-Language": "en"}
    ).text
    monkeypatch.setattr(app.state.services.settings, "registry_url", None)
    sent = mother.client.post(
        f"/parents/applications/{application_id}/submit",
        data={"csrf_token": mother.csrf},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert _application(db, application_id).state == ApplicationState.SUBMITTED
