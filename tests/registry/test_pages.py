"""The clerk's pages: the queue with its filters and pages, a dossier's report in plain words, the
duplicates side by side and the history, register and reject through real form posts (CSRF tokens
included), the check page that stores nothing, roles, the login redirect, and kk, ru and en."""

from __future__ import annotations

import copy
import html as html_text
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from birthreg.auth import create_staff_user
from birthreg.bootstrap import DEFAULT_FACILITY
from birthreg.i18n import LANGUAGES, gettext, use_language
from birthreg.models import AuditEntry, Registration, Role, Submission, now
from birthreg.pki.service import revoke
from birthreg.registry.numbering import local_date
from birthreg.registry.stored import dossier_text
from registry import factories as f

HTML = {"Accept": "text/html,application/xhtml+xml"}
PASSWORD = "a long test password 1"
SUBMISSIONS = "/api/v1/registry/submissions"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "no CSRF field in the page"
    return match.group(1)


def add_staff(app: Any, username: str, role: Role = Role.CLERK) -> None:
    with Session(app.state.services.engine) as session:
        create_staff_user(session, username=username, password=PASSWORD, role=role)
        session.commit()


def log_in(client: TestClient, username: str) -> str:
    """Log in through the real form; the session's CSRF token (from the page it lands on)."""
    form = client.get("/login", headers=HTML)
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    landing = client.get(response.headers["location"], headers=HTML)
    assert landing.status_code == 200, landing.text
    return csrf_of(landing.text)


def text_of(page: str) -> str:
    """The page's text without tags, whitespace collapsed (for reading sentences)."""
    body = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html_text.unescape(body))


def submit(client: TestClient, dossier: dict[str, Any]) -> str:
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def in_language(language: str, message: str) -> str:
    with use_language(language):
        return gettext(message)


@pytest.fixture
def clerk(app: Any, client: TestClient) -> str:
    add_staff(app, "clerk1")
    return log_in(client, "clerk1")


@pytest.fixture
def mother(app: Any, client: TestClient) -> f.Signer:
    return f.issue_person(app, f.person(100))


def status_of(db: Session, submission_id: str) -> str:
    submission = db.get(Submission, submission_id, populate_existing=True)
    assert submission is not None
    return submission.status


# -- the queue ----------------------------------------------------------------------------------


def test_queue_filters_and_pages(
    app: Any, client: TestClient, db: Session, clerk: str, mother: f.Signer
) -> None:
    ids = [
        submit(client, f.good_dossier(app, mother, born_at=now() - timedelta(days=5 * i + 1)))
        for i in range(5)
    ]
    first = client.get("/registry", params={"limit": 2}, headers=HTML)
    assert first.status_code == 200
    assert first.headers["content-language"] == "kk"
    rows = re.findall(r'data-testid="queue-row" data-id="([^"]+)"', first.text)
    assert rows == ids[:2]
    seen = list(rows)
    page = first.text
    while match := re.search(r'href="([^"]+)" rel="next"', page):
        url = html_text.unescape(match.group(1))
        assert "limit=2" in url and "after=" in url
        page = client.get(url, headers=HTML).text
        seen.extend(re.findall(r'data-testid="queue-row" data-id="([^"]+)"', page))
    assert seen == ids  # oldest first, every one once
    assert "/registry?limit=2" in page  # a link back to the first page

    # Columns: received time (locale-formatted), facility, child's date of birth, sex, status.
    row = first.text[first.text.index('data-testid="queue-row"') :]
    row = row[: row.index("</tr>")]
    assert DEFAULT_FACILITY.bin in row
    assert in_language("kk", "Girl") in row
    assert in_language("kk", "Received") in row
    assert f'href="/registry/submissions/{ids[0]}"' in row

    client.post(
        f"/registry/submissions/{ids[1]}/reject",
        data={"csrf_token": clerk, "reason": "Қате"},
        headers=HTML,
    )
    rejected = client.get("/registry", params={"status": "rejected"}, headers=HTML)
    assert re.findall(r'data-testid="queue-row" data-id="([^"]+)"', rejected.text) == [ids[1]]
    received = client.get("/registry", params={"status": "received"}, headers=HTML)
    assert len(re.findall(r'data-testid="queue-row"', received.text)) == 4

    own = client.get("/registry", params={"facility": DEFAULT_FACILITY.bin}, headers=HTML)
    assert len(re.findall(r'data-testid="queue-row"', own.text)) == 5
    other = client.get("/registry", params={"facility": "050440000012"}, headers=HTML)
    assert other.status_code == 200 and 'data-testid="queue-row"' not in other.text

    today = local_date(now())
    dated = client.get(
        "/registry", params={"date_from": today.isoformat(), "date_to": today.isoformat()},
        headers=HTML,
    )
    assert len(re.findall(r'data-testid="queue-row"', dated.text)) == 5
    later = client.get(
        "/registry", params={"date_from": (today + timedelta(days=1)).isoformat()}, headers=HTML
    )
    assert 'data-testid="queue-row"' not in later.text

    # Wrong filters are shown next to their field, never a server error.
    bad = client.get(
        "/registry", params={"facility": "12", "date_from": "yesterday", "status": "lost"},
        headers=HTML,
    )
    assert bad.status_code == 400
    for name in ("facility", "date_from", "status"):
        assert f'id="{name}-error"' in bad.text, name
    cursor = client.get("/registry", params={"after": "not-a-cursor"}, headers=HTML)
    assert cursor.status_code == 400
    assert 'class="flash error"' in cursor.text


def test_duplicate_marker_in_the_queue(
    app: Any, client: TestClient, clerk: str, mother: f.Signer
) -> None:
    first = submit(client, f.good_dossier(app, mother))
    second = submit(client, f.good_dossier(app, mother))
    queue = client.get("/registry", headers=HTML).text
    for submission_id in (first, second):
        row = queue[queue.index(f'data-id="{submission_id}"') :]
        assert 'data-testid="duplicate-marker"' in row[: row.index("</tr>")]


# -- one dossier ----------------------------------------------------------------------------------


def test_dossier_page_reads_in_plain_words(
    app: Any, client: TestClient, db: Session, clerk: str, mother: f.Signer
) -> None:
    earlier = submit(client, f.good_dossier(app, mother))
    submission_id = submit(client, f.good_dossier(app, mother))
    assert status_of(db, submission_id) == "received"

    page = client.get(
        f"/registry/submissions/{submission_id}", headers={**HTML, "Accept-Language": "en"}
    )
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert status_of(db, submission_id) == "in_review"  # opening it is the review's start
    text = text_of(page.text)
    subject = mother.subject
    assert subject is not None
    # The documents as readable text.
    assert "Medical birth record" in text and "Registration application" in text
    assert f"{subject.surname} {subject.given_name} {subject.patronymic}" in text
    assert "Әбілқасымова Айару Ерланқызы" in text
    assert "3,400 g" in text and "Өскемен" in text
    # Each signature's report in plain words: who, with which certificate, the verdict.
    assert text.count('data-testid="signature-report"') == 0  # attributes are not text
    assert page.text.count('data-testid="signature-report"') == 2
    assert "Facility seal: Valid" in text and "Mother: Valid" in text
    assert f"IIN {subject.iin}" in text and f"BIN {DEFAULT_FACILITY.bin}" in text
    assert f"Serial {mother.serial}" in text
    assert "Issued by birthreg TEST Issuing CA" in text
    assert "Not revoked (checked with the CA's OCSP)." in text
    assert "The certificate is not revoked" in text
    assert "Every signature is valid and every check passed." in text
    assert 'data-passed="no"' not in page.text
    # The likely duplicate, side by side.
    duplicates = page.text[page.text.index('data-testid="duplicates"') :]
    assert f'data-id="{earlier}"' in duplicates
    assert f'href="/registry/submissions/{earlier}"' in duplicates
    assert "This dossier" in duplicates and "Possible duplicate" in duplicates
    # The history: received, then opened by this clerk.
    actions = re.findall(r'data-testid="history-entry" data-action="([^"]+)"', page.text)
    assert actions == ["submission.received", "submission.opened"]
    history = text_of(page.text[page.text.index('data-testid="history"') :])
    assert "Opened by a clerk" in history and "clerk1 (clerk)" in history
    assert f"{subject.given_name} {subject.surname}" in history  # the signer by name

    # Opening it again changes nothing more.
    client.get(f"/registry/submissions/{submission_id}", headers=HTML)
    assert db.exec(
        select(func.count()).where(
            AuditEntry.object_id == submission_id, AuditEntry.action == "submission.opened"
        )
    ).one() == 1

    missing = client.get("/registry/submissions/no-such-id", headers=HTML)
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]


def test_register_through_the_form(
    app: Any, client: TestClient, db: Session, clerk: str, mother: f.Signer
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    client.get(f"/registry/submissions/{submission_id}", headers=HTML)
    url = f"/registry/submissions/{submission_id}/register"

    unconfirmed = client.post(url, data={"csrf_token": clerk}, headers=HTML)
    assert unconfirmed.status_code == 400
    assert 'id="confirm-error"' in unconfirmed.text
    assert status_of(db, submission_id) == "in_review"

    done = client.post(
        url, data={"csrf_token": clerk, "confirm": "yes"}, headers=HTML, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/registry/submissions/{submission_id}?flash=registered"
    registration = db.exec(
        select(Registration).where(Registration.submission_id == submission_id)
    ).one()
    page = client.get(done.headers["location"], headers=HTML)
    assert 'class="flash ok"' in page.text
    assert in_language("kk", "The birth is registered and the certificate is issued.") in page.text
    number = re.search(r'data-testid="act-record-number">(\d+) ', page.text)
    assert number and int(number.group(1)) == registration.act_record_number
    assert f'data-testid="child-iin">{registration.child_iin}<' in page.text
    print_url = re.search(r'href="(/registry/certificates/[^"]+/print)"', page.text)
    assert print_url
    assert client.get(print_url.group(1), headers=HTML).status_code == 200
    assert 'data-testid="register-form"' not in page.text  # decided: no forms any more
    history = re.findall(r'data-testid="history-entry" data-action="([^"]+)"', page.text)
    assert history[-1] == "registration.registered"

    # Registering twice gives the first result; rejecting now is refused on the page (409).
    again = client.post(
        url, data={"csrf_token": clerk, "confirm": "yes"}, headers=HTML, follow_redirects=False
    )
    assert again.status_code == 303
    assert db.exec(select(func.count()).select_from(Registration)).one() == 1
    refused = client.post(
        f"/registry/submissions/{submission_id}/reject",
        data={"csrf_token": clerk, "reason": "Қате"},
        headers=HTML,
    )
    assert refused.status_code == 409
    assert 'class="flash error"' in refused.text
    assert status_of(db, submission_id) == "registered"


def test_reject_through_the_form(
    app: Any, client: TestClient, db: Session, clerk: str, mother: f.Signer
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    url = f"/registry/submissions/{submission_id}/reject"

    for reason, status in (("", 400), ("   ", 400), ("x" * 1001, 400), ("bad\x01", 400)):
        response = client.post(url, data={"csrf_token": clerk, "reason": reason}, headers=HTML)
        assert response.status_code == status, reason
        assert 'id="reason-error"' in response.text
        assert re.search(r'id="reason"[^>]*aria-invalid="true"', response.text)
    assert status_of(db, submission_id) == "in_review"

    reason = "Баланың әкесінің аты қате жазылған.\r\nТүзетіп, қайта қол қойыңыз."
    done = client.post(
        url, data={"csrf_token": clerk, "reason": reason}, headers=HTML, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith("?flash=rejected")
    submission = db.get(Submission, submission_id, populate_existing=True)
    assert submission is not None and submission.status == "rejected"
    assert submission.rejection_reason == reason.replace("\r\n", "\n")
    page = client.get(done.headers["location"], headers=HTML)
    assert "Баланың әкесінің аты қате жазылған." in page.text
    assert 'data-testid="reject-form"' not in page.text

    # The mother corrects and sends again: the pages link the two attempts.
    assert mother.subject is not None
    stored = json.loads(dossier_text(submission))
    record = stored["medical_record"]["document"]
    resubmitted = submit(client, f.good_dossier(app, mother, record=record))
    later = client.get(f"/registry/submissions/{resubmitted}", headers=HTML)
    assert f'href="/registry/submissions/{submission_id}" rel="prev"' in later.text
    earlier = client.get(f"/registry/submissions/{submission_id}", headers=HTML)
    assert f'href="/registry/submissions/{resubmitted}" rel="next"' in earlier.text


# -- CSRF, roles, login ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_forms_without_the_csrf_token_change_nothing(
    app: Any, client: TestClient, db: Session, clerk: str, mother: f.Signer, token: str | None
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    client.get(f"/registry/submissions/{submission_id}", headers=HTML)
    extra = {} if token is None else {"csrf_token": token}
    for action, form in (("register", {"confirm": "yes"}), ("reject", {"reason": "Қате"})):
        response = client.post(
            f"/registry/submissions/{submission_id}/{action}",
            data={**form, **extra},
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 403, action
    check = client.post("/registry/check", data={"dossier": "{}", **extra}, headers=HTML)
    assert check.status_code == 403
    assert status_of(db, submission_id) == "in_review"
    assert db.exec(select(func.count()).select_from(Registration)).one() == 0
    assert not db.exec(
        select(AuditEntry).where(col(AuditEntry.action).in_(["submission.rejected"]))
    ).first()


PAGES = ["/registry", "/registry/submissions/{id}", "/registry/check"]
POSTS = ["/registry/submissions/{id}/register", "/registry/submissions/{id}/reject"]


def test_ward_staff_and_anonymous_are_kept_out(
    app: Any, client: TestClient, db: Session, mother: f.Signer
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    for path in PAGES:
        url = path.format(id=submission_id)
        anonymous = client.get(url, headers=HTML, follow_redirects=False)
        assert anonymous.status_code == 303, url
        assert anonymous.headers["location"].startswith("/login?next=/registry")
    add_staff(app, "midwife1", Role.WARD)
    token = log_in(client, "midwife1")
    for path in PAGES:
        response = client.get(path.format(id=submission_id), headers=HTML)
        assert response.status_code == 403, path
    for path in POSTS:
        response = client.post(
            path.format(id=submission_id),
            data={"csrf_token": token, "confirm": "yes", "reason": "Қате"},
            headers=HTML,
        )
        assert response.status_code == 403, path
    assert status_of(db, submission_id) == "received"


# -- checking a dossier without storing it ----------------------------------------------------


def test_check_page_shows_the_failing_report_and_stores_nothing(
    app: Any, client: TestClient, db: Session, clerk: str, mother: f.Signer
) -> None:
    form = client.get("/registry/check", headers=HTML)
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text

    dossier = f.good_dossier(app, mother)
    tampered = copy.deepcopy(dossier)
    tampered["medical_record"]["document"]["child"]["weight_g"] = 3900
    page = client.post(
        "/registry/check",
        data={"csrf_token": clerk, "dossier": json.dumps(tampered, ensure_ascii=False)},
        headers={**HTML, "Accept-Language": "ru"},
    )
    assert page.status_code == 200
    text = text_of(page.text)
    assert 'data-testid="report" data-passed="no"' in page.text
    assert in_language("ru", "Verification failed: the checks marked ✗ say why.") in text
    assert in_language(
        "ru", "The document was changed after signing: it is not what was signed."
    ) in text
    assert 'data-check="cms.message_digest" data-passed="no"' in page.text
    assert 'data-check="medical_record_binding" data-passed="no"' in page.text
    assert in_language("ru", "The application names another medical record") in text

    # A file upload works the same; a clean dossier passes.
    clean = client.post(
        "/registry/check",
        data={"csrf_token": clerk},
        files={"dossier_file": ("dossier.json", json.dumps(dossier).encode(), "application/json")},
        headers=HTML,
    )
    assert clean.status_code == 200
    assert 'data-testid="report" data-passed="yes"' in clean.text
    assert db.exec(select(func.count()).select_from(Submission)).one() == 0

    for body, status in (("", 400), ("not json", 400), ("[1, 2", 400)):
        refused = client.post(
            "/registry/check", data={"csrf_token": clerk, "dossier": body}, headers=HTML
        )
        assert refused.status_code == status, body
        assert 'id="dossier-error"' in refused.text
    huge = client.post(
        "/registry/check",
        data={"csrf_token": clerk},
        files={"dossier_file": ("big.json", b" " * (300 * 1024) + b"{}", "application/json")},
        headers=HTML,
    )
    assert huge.status_code == 413
    assert 'id="dossier-error"' in huge.text


def test_a_revoked_signer_is_explained(
    app: Any, client: TestClient, clerk: str, mother: f.Signer
) -> None:
    dossier = f.good_dossier(app, mother)
    with Session(app.state.services.engine) as session:
        revoke(
            session, mother.certificate.serial_number,
            x509.ReasonFlags.key_compromise, now(), actor="system", role="system",
        )
        session.commit()
    page = client.post(
        "/registry/check",
        data={"csrf_token": clerk, "dossier": json.dumps(dossier)},
        headers={**HTML, "Accept-Language": "en"},
    )
    text = text_of(page.text)
    # Signed before the revocation, by its own claim, which nothing proves: ETSI's
    # INDETERMINATE/REVOKED_NO_POE, said in words.
    assert "Mother: Indeterminate" in text
    assert re.search(
        r"The certificate was revoked on [^(]+ \(key compromised\); the signature claims an "
        r"earlier time, but nothing proves it\.",
        text,
    ), text
    assert "Revoked on" in text


# -- every page in every language -----------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_in_every_language(
    app: Any, client: TestClient, clerk: str, mother: f.Signer, language: str
) -> None:
    submission_id = submit(client, f.good_dossier(app, mother))
    client.cookies.set("lang", language)
    expected = {
        "/registry": "Registration queue",
        f"/registry/submissions/{submission_id}": "Verification report",
        "/registry/check": "Check a dossier",
    }
    for url, heading in expected.items():
        page = client.get(url, headers=HTML)
        assert page.status_code == 200, url
        assert f'<html lang="{language}">' in page.text
        assert html_text.escape(in_language(language, heading), quote=False) in page.text, url
