"""The clerk's verification report reads in her language: every line translated, the signers by
name and role, times local; the report's own English words only inside the technical folds."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from birthreg.i18n import LANGUAGES, gettext_in
from registry import factories as f
from registry.test_pages import HTML, add_staff, log_in, submit, text_of

FOLD = re.compile(r'<details class="technical"[^>]*>(.*?)</details>', re.S)


@pytest.fixture
def clerk(app: Any, client: TestClient) -> str:
    add_staff(app, "clerk1")
    return log_in(client, "clerk1")


@pytest.mark.parametrize("language", LANGUAGES)
def test_report_speaks_the_clerks_language(
    app: Any, client: TestClient, clerk: str, language: str
) -> None:
    mother = f.issue_person(app, f.person(100))
    subject = mother.subject
    assert subject is not None
    submission_id = submit(client, f.good_dossier(app, mother))
    page = client.get(
        f"/registry/submissions/{submission_id}", headers={**HTML, "Accept-Language": language}
    )
    assert page.status_code == 200
    assert page.headers["content-language"] == language
    report = page.text[page.text.index('data-testid="report"') :]
    report = report[: report.index('data-testid="history"')]

    folds = folded(report, language)
    assert len(folds) > 10, "every check's detail and each signature's format are folded"
    assert any("the seal's BIN is the facility's" in fold for fold in folds)

    # The signers by name and role, in the clerk's language.
    name = f"{subject.given_name} {subject.surname}"
    signers = [
        text_of(s).strip() for s in re.findall(r'data-testid="signer">(.*?)</dd>', report, re.S)
    ]
    mother_role = gettext_in(language, "mother")
    assert any(s.startswith(f"{name} ({mother_role})") for s in signers), signers
    assert any(gettext_in(language, "the ward's seal") in s for s in signers), signers
    # The history names her too, never by a certificate's serial number.
    history = text_of(page.text[page.text.index('data-testid="history"') :])
    assert name in history
    assert mother.serial not in history


def folded(report: str, language: str) -> list[str]:
    """The technical folds' texts, after asserting that no English detail of the report and no
    ISO time is outside them."""
    folds = [text_of(fold) for fold in FOLD.findall(report)]
    outside = text_of(FOLD.sub(" ", report))
    for fold in folds:
        code = fold.replace(gettext_in(language, "Technical details"), "").strip()
        if len(code) > 15:  # a sentence, not a bare name such as "SHA-256"
            assert code not in outside, code
    for english in ("the seal's BIN", "DER ", "signed with the certificate", "ecdsa", "ES256",
                    "message digest", "messageDigest"):
        assert english not in outside, english
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", outside)
    return folds


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_a_failing_report_speaks_the_clerks_language(
    app: Any, client: TestClient, clerk: str, language: str
) -> None:
    mother = f.issue_person(app, f.person(101))
    tampered = copy.deepcopy(f.good_dossier(app, mother))
    tampered["medical_record"]["document"]["child"]["weight_g"] = 3900
    page = client.post(
        "/registry/check",
        data={"csrf_token": clerk, "dossier": json.dumps(tampered, ensure_ascii=False)},
        headers={**HTML, "Accept-Language": language},
    )
    assert page.status_code == 200
    report = page.text[page.text.index('data-testid="report"') :]
    assert 'data-check="cms.message_digest" data-passed="no"' in report
    folds = folded(report, language)
    assert any("TOTAL_FAILED/HASH_FAILURE" in fold for fold in folds)
    outside = text_of(FOLD.sub(" ", report))
    assert gettext_in(language, "The document is exactly what was signed") in outside
    assert "HASH_FAILURE" not in outside
    # A failed binding says what is wrong, not "✗ the application names this record".
    assert 'data-check="medical_record_binding" data-passed="no"' in report
    assert gettext_in(language, "The application names another medical record") in outside
