"""Search: by every IIN, act record, certificate and tracking number, and a surname's start."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.models import AuditEntry, Role
from birthreg.registry.search import read_query
from birthreg.registry.search_keys import certificate_key, normalise_name
from registry import factories as f

SUBMISSIONS = "/api/v1/registry/submissions"
SEARCH = "/api/v1/registry/search"


@pytest.fixture
def clerk(app: Any, client: Any) -> dict[str, str]:
    return f.staff_headers(app, Role.CLERK)


def submit(client: Any, dossier: dict[str, Any]) -> dict[str, Any]:
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 201, response.text
    return dict(response.json())


def found(client: Any, headers: dict[str, str], text: str) -> list[str]:
    response = client.get(SEARCH, params={"q": text}, headers=headers)
    assert response.status_code == 200, response.text
    return [row["submission_id"] for row in response.json()["results"]]


def test_names_are_folded_with_yo_and_kazakh_letters() -> None:
    assert normalise_name("ӘБІЛҚАСЫМОВА") == normalise_name("әбілқасымова")
    assert normalise_name("Семёнова") == "семенова"
    # A Kazakh letter typed as a base letter and a combining mark is the precomposed one.
    assert normalise_name("А\u0308") == normalise_name("Ӓ")
    assert certificate_key("TEST-I № 000123") == certificate_key("123") == "c:123"
    assert certificate_key("TEST-I № 000123-2") == "c:123-2"


def test_queries_that_mean_nothing_are_refused(app: Any, client: Any, clerk: Any) -> None:
    for text in ("%", "12-ab", "x" * 101, "  "):
        response = client.get(SEARCH, params={"q": text}, headers=clerk)
        assert response.status_code in (400, 422), text
        if response.status_code == 400:
            assert response.json()["error"] == "invalid_query"
    assert read_query("2026/15").exact == ("a:2026/15",)


def test_search_finds_a_submission_by_everything_it_has(
    app: Any, client: Any, clerk: Any
) -> None:
    mother = f.issue_person(app, f.person(700, surname="Семёнова"))
    father = f.person(900, sex="M", surname="Жұмабаев")
    assert mother.subject is not None
    record = f.medical_record(mother.subject)
    document = f.application(record, father=father)
    document["child"]["surname"] = "Жұмабаева"
    dossier = f.dossier(f.facility_seal(app), record, document, (mother,))
    received = submit(client, dossier)
    submission_id = received["id"]
    other = submit(client, f.good_dossier(app, f.issue_person(app, f.person(300))))["id"]

    assert found(client, clerk, mother.subject.iin) == [submission_id]
    assert found(client, clerk, father.iin) == [submission_id]
    assert found(client, clerk, received["receipt"]["tracking_number"].lower()) == [submission_id]
    # The surname's start, in any case, ё typed as е or ё, Kazakh letters.
    for text in ("семен", "СЕМЁН", "Семёнова", "жұмаба", "ЖҰМАБАЕВА"):
        assert found(client, clerk, text) == [submission_id], text
    assert found(client, clerk, "Жумаба") == []  # у is not ұ
    assert other not in found(client, clerk, "семен")

    registered = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk).json()
    certificate = client.get(
        f"/api/v1/registry/certificates/{registered['certificate_id']}"
    ).json()
    assert found(client, clerk, registered["child_iin"]) == [submission_id]
    number = certificate["certificate_number"]
    assert submission_id in found(client, clerk, number)
    assert submission_id in found(client, clerk, str(registered["act_record_number"]))
    year = certificate["fields"]["act_record"]["year"]
    assert found(client, clerk, f"{year}/{registered['act_record_number']}") == [submission_id]

    rows = client.get(SEARCH, params={"q": number}, headers=clerk).json()["results"]
    row = next(r for r in rows if r["submission_id"] == submission_id)
    assert row["certificate_id"] == registered["certificate_id"]
    assert row["act_record_number"] == registered["act_record_number"]
    assert row["mother"]["surname"] == "Семёнова"
    assert row["child"]["surname"] == "Жұмабаева"
    assert row["status"] == "registered"


def test_search_is_for_clerks_and_is_audited_without_the_text(
    app: Any, client: Any, clerk: Any, db: Session
) -> None:
    assert client.get(SEARCH, params={"q": "семен"}).status_code == 401
    ward = f.staff_headers(app, Role.WARD)
    assert client.get(SEARCH, params={"q": "семен"}, headers=ward).status_code == 403
    registrar = f.staff_headers(app, Role.REGISTRAR)
    iin = f.person(123).iin
    assert client.get(SEARCH, params={"q": iin}, headers=registrar).status_code == 200
    entry = db.exec(
        select(AuditEntry)
        .where(AuditEntry.action == "registry.searched")
        .order_by(col(AuditEntry.seq).desc())
    ).first()
    assert entry is not None and entry.role == "registrar"
    assert iin not in entry.object_id


def test_the_search_page_and_the_queue_show_names(app: Any, client: Any) -> None:
    from registry.test_pages import HTML, add_staff, log_in, text_of

    mother = f.issue_person(app, f.person(700, surname="Семёнова", given_name="Әлия"))
    submission_id = submit(client, f.good_dossier(app, mother))["id"]
    add_staff(app, "searcher")
    log_in(client, "searcher")
    queue = client.get("/registry", headers=HTML)
    assert 'action="/registry/search"' in queue.text
    assert "Семёнова Әлия" in text_of(queue.text)  # the mother's name in her row
    assert "Әбілқасымова Айару" in text_of(queue.text)  # the child's

    page = client.get("/registry/search", params={"q": "СЕМЕН"}, headers=HTML)
    assert page.status_code == 200
    assert f'data-id="{submission_id}"' in page.text
    nothing = client.get("/registry/search", params={"q": "Ысқақов"}, headers=HTML)
    assert 'data-testid="no-results"' in nothing.text
    refused = client.get("/registry/search", params={"q": "%%"}, headers=HTML)
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.text
