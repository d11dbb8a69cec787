"""The application form as a married (or unmarried) mother fills it in: the father is expected,
"no father" is her choice, a marriage names its certificate; the review page says in words what
she signs; the lost-key page gives the ward's phone."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from birthreg.models import ParentApplication

from .helpers import (
    Phone,
    draft,
    form,
    new_birth,
    page,
    save_form,
    sign_application,
    signed_in_mother,
)

MARRIED = {
    "father_basis": "marriage",
    "father_iin": "910802300013",
    "father_surname": "Әбілқасымов",
    "father_given_name": "Ерлан",
    "father_patronymic": "Болатұлы",
    "marriage_number": "№ 0123456",
    "marriage_date": "2021-06-12",
}


def _errors(html: str) -> dict[str, str]:
    return {
        name: unescape(text)
        for name, text in re.findall(r'data-testid="error-([a-z_]+)">([^<]*)<', html)
    }


def test_the_father_is_expected_and_no_father_is_a_choice(mother: Phone) -> None:
    blank = mother.client.get("/parents/application").text
    assert not re.search(r'name="father_basis" value="[a-z_]+"[^>]*checked', blank)
    assert 'id="father_iin"' in blank and 'id="marriage_number"' in blank

    unchosen = save_form(mother, form(father_basis=""))
    assert unchosen.status_code == 400
    assert "father_basis" in _errors(unchosen.text)
    assert save_form(mother, form(father_basis="none")).status_code == 303


def test_a_marriage_names_its_certificate(mother: Phone, db: Session) -> None:
    missing = save_form(mother, form(**{**MARRIED, "marriage_number": "", "marriage_date": ""}))
    assert missing.status_code == 400
    assert {"marriage_number", "marriage_date"} <= set(_errors(missing.text))
    future = save_form(mother, form(**{**MARRIED, "marriage_date": "2999-01-01"}))
    assert _errors(future.text).get("marriage_date") == "Бұл күн әлі келген жоқ."
    garbled = save_form(mother, form(**{**MARRIED, "marriage_number": "<script>"}))
    assert "marriage_number" in _errors(garbled.text)

    application_id = draft(mother, form(**MARRIED))
    row = db.get(ParentApplication, application_id)
    assert row is not None
    father = json.loads(row.document)["father"]
    assert father["basis"] == "marriage"
    assert father["marriage_certificate"] == {"number": "№ 0123456", "date": "2021-06-12"}
    # Corrected later, the form comes back with the certificate.
    again = mother.client.get(f"/parents/application?edit={application_id}").text
    assert 'value="№ 0123456"' in again and 'value="2021-06-12"' in again


def test_the_review_page_says_what_she_signs_in_words(mother: Phone) -> None:
    application_id = draft(mother, form(**MARRIED))
    html = page(mother, application_id)
    start = html.index('data-testid="in-words"')
    words = html[start : html.index("</div>", start)]
    assert "Әбілқасымова Гүлнұр Серікқызы" in words and "Ерланқызы Айару Ерланқызы" in words
    assert "№ 0123456" in words and "2021" in words
    assert "Қазақстан көшесі, 12, 5, Өскемен, Шығыс Қазақстан облысы" in words
    assert "birthreg.application/1" not in words and application_id not in words
    # The document type and the number are still there, in the technical fold.
    technical = html[html.index('data-testid="technical-details"') :]
    technical = re.sub(r"<wbr>|&shy;|\u00ad", "", technical[: technical.index("</details>")])
    assert "birthreg.application/1" in technical and application_id in technical
    assert 'id="document-fingerprint"' in technical


def test_the_lost_key_page_gives_the_wards_phone(app: Any, client: TestClient) -> None:
    assert 'data-testid="ward-phone"' not in client.get("/parents/lost-key").text
    app.state.services = replace(
        app.state.services,
        settings=app.state.services.settings.model_copy(
            update={"facility_phone": "+7 (7232) 12-34-56"}
        ),
    )
    html = client.get("/parents/lost-key").text
    assert 'href="tel:+77232123456"' in html and "+7 (7232) 12-34-56" in html


def test_a_late_application_gives_its_reason_and_is_sent(
    app: Any, client: TestClient, ward: dict[str, str], db: Session
) -> None:
    # The ward records births of the last 30 days: a deadline of one day makes this one late.
    born_at = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
    birth_id = new_birth(client, ward, child={"born_at": born_at.isoformat()})
    app.state.services = replace(
        app.state.services,
        settings=app.state.services.settings.model_copy(
            update={"registration_deadline_days": 1}
        ),
    )
    mother = signed_in_mother(app, client, ward, birth_id)
    assert 'id="late_reason"' in mother.client.get("/parents/application").text
    without = save_form(mother, form(father_basis="none"))
    assert without.status_code == 400 and "late_reason" in _errors(without.text)

    reason = "Бала ауруханада ұзақ емделді"
    application_id = draft(mother, form(father_basis="none", late_reason=reason))
    row = db.get(ParentApplication, application_id)
    assert row is not None and json.loads(row.document)["late_reason"] == reason
    assert reason in page(mother, application_id)
    signed = sign_application(mother, application_id)
    assert signed.status_code == 200 and signed.json()["submitted"] is True, signed.text


def test_an_application_on_time_asks_no_reason(mother: Phone, db: Session) -> None:
    assert 'id="late_reason"' not in mother.client.get("/parents/application").text
    application_id = draft(mother, form(father_basis="none", late_reason="ignored"))
    row = db.get(ParentApplication, application_id)
    assert row is not None and "late_reason" not in json.loads(row.document)
