"""The ward's forms as people use them (issue 16): every error at once next to its field, the
code page that a reload does not change, a new code only on purpose, a second look before a
second birth for the same mother, and the registry's outcome in the list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from birthreg.i18n import gettext, use_language
from birthreg.models import Birth, Enrollment, Facility, Progress, now
from birthreg.ward import service
from birthreg.ward.service import WARD_TIME_ZONE
from ward.helpers import (
    FATHER_IIN,
    MOTHER_IIN,
    OTHER_WOMAN_IIN,
    birth_body,
    counts,
    csr_pem,
    new_key,
    staff,
    ward_headers,
)
from ward.test_pages import (
    _CODE,
    HTML,
    birth_form,
    field_error,
    log_in,
    record,
    start,
    ward_client,
)

FOUR_MISTAKES = {
    "mother_iin": MOTHER_IIN[:11],
    "mother_given_name": "Ай2",
    "born_date": (now() + timedelta(days=400)).astimezone(WARD_TIME_ZONE).date().isoformat(),
    "child_weight_g": "100",
}


def test_every_mistake_is_shown_at_once(app: Any, client: TestClient, db: Session) -> None:
    token = ward_client(app, client)
    before = counts(db)
    response = client.post(
        "/ward/births/new", data=birth_form(token, **FOUR_MISTAKES), headers=HTML
    )
    assert response.status_code == 400
    for field in ("mother_iin", "mother_given_name", "born_date", "child_weight_g"):
        assert field_error(response.text, field), field
    with use_language("kk"):
        assert (
            gettext("Fields to correct: %(count)s. See the message under each.") % {"count": 4}
            in response.text
        )
    # Nothing typed is lost, and the page's script puts the focus on the first field in error.
    assert 'value="Ай2"' in response.text and 'value="3400"' not in response.text
    assert 'value="Сейітова Ж. Қ."' in response.text
    assert "js/form-errors.js" in response.text
    assert counts(db) == before


def test_unreadable_and_wrong_fields_together(app: Any, client: TestClient) -> None:
    token = ward_client(app, client)
    response = client.post(
        "/ward/births/new",
        data=birth_form(token, mother_surname="", child_length_cm="abc", mother_iin="123"),
        headers=HTML,
    )
    assert response.status_code == 400
    for field in ("mother_iin", "mother_surname", "child_length_cm"):
        assert field_error(response.text, field), field


def test_the_api_lists_every_problem(app: Any, client: TestClient) -> None:
    body = birth_body()
    body["mother"]["iin"] = MOTHER_IIN[:11]
    body["child"]["weight_g"] = 100
    response = client.post("/api/v1/ward/births", json=body, headers=ward_headers(app))
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "invalid_iin" and answer["field"] == "mother.iin"
    assert [e["field"] for e in answer["errors"]] == ["mother.iin", "child.weight_g"]


def test_the_fathers_form_shows_every_error(app: Any, client: TestClient, db: Session) -> None:
    token = ward_client(app, client)
    birth_id = record(client, token)
    before = counts(db)
    response = start(
        client,
        token,
        birth_id,
        role="father",
        father_iin=MOTHER_IIN,
        father_surname="X1",
        father_given_name="Ерлан",
    )
    assert response.status_code == 400
    assert field_error(response.text, "father_iin")
    assert field_error(response.text, "father_surname")
    assert field_error(response.text, "id_checked")
    assert 'value="Ерлан"' in response.text
    assert counts(db) == before


def test_a_reload_shows_the_same_code(app: Any, client: TestClient, db: Session) -> None:
    token = ward_client(app, client)
    birth_id = record(client, token)
    posted = start(client, token, birth_id, role="mother")  # follows the redirect
    assert posted.status_code == 200 and posted.url.path.startswith("/ward/enrollments/")
    assert posted.headers["cache-control"] == "no-store"
    first = _CODE.search(posted.text)
    assert first
    reloaded = client.get(posted.url.path, headers=HTML)
    again = _CODE.search(reloaded.text)
    assert again and again.group(1) == first.group(1)
    assert len(db.exec(select(Enrollment)).all()) == 1

    # A new code on purpose: the button says the old one stops working, and it does.
    with use_language("kk"):
        assert gettext("Make a new code (the old one stops working)") in reloaded.text
    renewed = client.post(f"{posted.url.path}/renew", data={"csrf_token": token}, headers=HTML)
    assert renewed.status_code == 200 and renewed.url.path != posted.url.path
    new = _CODE.search(renewed.text)
    assert new and new.group(1) != first.group(1)
    old_page = client.get(posted.url.path, headers=HTML)
    assert _CODE.search(old_page.text) is None
    assert 'data-testid="enrollment-state"' in old_page.text
    refused = client.post(
        "/api/v1/enroll", json={"code": first.group(1), "csr_pem": csr_pem(new_key())}
    )
    assert refused.status_code == 410
    enrolled = client.post(
        "/api/v1/enroll", json={"code": new.group(1), "csr_pem": csr_pem(new_key())}
    )
    assert enrolled.status_code == 201
    used = client.get(renewed.url.path, headers=HTML)
    assert _CODE.search(used.text) is None and "/renew" not in used.text


def test_a_fathers_new_code_keeps_his_details(app: Any, client: TestClient, db: Session) -> None:
    token = ward_client(app, client)
    birth_id = record(client, token)
    shown = start(
        client,
        token,
        birth_id,
        role="father",
        father_iin=FATHER_IIN,
        father_surname="Әбілқасымов",
        father_given_name="Ерлан",
        id_checked="yes",
    )
    assert shown.status_code == 200
    renewed = client.post(f"{shown.url.path}/renew", data={"csrf_token": token}, headers=HTML)
    assert renewed.status_code == 200
    fathers = db.exec(select(Enrollment).where(Enrollment.role == "father")).all()
    assert len(fathers) == 2 and {f.iin for f in fathers} == {FATHER_IIN}


def test_another_facility_neither_sees_nor_renews_a_code(
    app: Any, client: TestClient, db: Session
) -> None:
    token = ward_client(app, client)
    birth_id = record(client, token)
    shown = start(client, token, birth_id, role="mother")
    code = _CODE.search(shown.text)
    assert code
    other = Facility(bin="050140000031", name="Басқа (TEST)", seal_serial="1", created_at=now())
    db.add(other)
    db.commit()
    client.cookies.clear()
    staff(app, username="stranger", facility_id=other.id)
    stranger = log_in(client, "stranger")
    before = counts(db)
    seen = client.get(shown.url.path, headers=HTML)
    assert seen.status_code == 404 and code.group(1) not in seen.text
    renewed = client.post(f"{shown.url.path}/renew", data={"csrf_token": stranger}, headers=HTML)
    assert renewed.status_code == 404
    assert counts(db) == before
    # The code still works for the mother it was made for.
    enrolled = client.post(
        "/api/v1/enroll", json={"code": code.group(1), "csr_pem": csr_pem(new_key())}
    )
    assert enrolled.status_code == 201


def test_a_second_birth_for_the_same_mother_asks_first(
    app: Any, client: TestClient, db: Session
) -> None:
    token = ward_client(app, client)
    first = record(client, token)
    before = counts(db)
    again = client.post("/ward/births/new", data=birth_form(token), headers=HTML)
    assert again.status_code == 409
    assert f'href="/ward/births/{first}"' in again.text
    assert counts(db) == before
    confirmed = client.post(
        "/ward/births/new",
        data=birth_form(token, confirm_earlier=first),
        headers=HTML,
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    # Twins: the second baby of one delivery is recorded without a question.
    twins = {"mother_iin": OTHER_WOMAN_IIN, "child_plurality": "2"}
    assert record(client, token, **twins, child_birth_order="1")
    assert record(client, token, **twins, child_birth_order="2")


def test_the_list_follows_the_time_of_birth_and_the_outcome(
    app: Any, client: TestClient, db: Session
) -> None:
    token = ward_client(app, client)
    born_later = now().astimezone(WARD_TIME_ZONE) - timedelta(minutes=30)
    later = record(
        client,
        token,
        born_time=born_later.strftime("%H:%M"),
        born_date=born_later.date().isoformat(),
    )
    earlier_time = now().astimezone(WARD_TIME_ZONE) - timedelta(hours=3)
    earlier = record(
        client,
        token,
        mother_iin=OTHER_WOMAN_IIN,
        mother_surname="Серікова",
        born_time=earlier_time.strftime("%H:%M"),
        born_date=earlier_time.date().isoformat(),
    )
    assert service.note_rejected(db, later)
    db.commit()
    listing = client.get("/ward", headers=HTML).text
    if earlier_time.date() == born_later.date():
        assert listing.index(earlier) < listing.index(later)
    assert 'class="badge rejected"' in listing
    with use_language("kk"):
        assert gettext("Rejected by the registry") in listing
    birth = db.get(Birth, later)
    assert birth is not None and birth.progress == Progress.REJECTED.value
    # A corrected application signed after the rejection moves it on; registration ends it.
    assert service.advance_progress(db, later, Progress.APPLICATION_SIGNED)
    assert service.advance_progress(db, later, Progress.REGISTERED)
    assert not service.note_rejected(db, later)
