"""Statistics: by facility and by day, within the deadline or late, rejected, days to
registration and hours to certificate (median, 90th percentile); JSON, CSV and the page."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from birthreg.i18n import LANGUAGES
from birthreg.models import BirthCertificate, Registration, RegistryOffice, Role, Submission
from birthreg.packed import plain
from birthreg.registry.statistics import percentile
from registry import factories as f
from registry.test_pages import HTML, add_staff, in_language, log_in

STATISTICS = "/api/v1/registry/statistics"
NORTH = "050140000011"
SOUTH = "990340000016"
#: 10:00 in Almaty on 1 December 2026 (05:00 UTC).
DAY_ONE = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def _dossier(facility_name: str) -> str:
    """Enough of a dossier for the queue's line and the facility's name."""
    record = {"facility": {"name": facility_name}, "mother": {}, "child": {}}
    return json.dumps(
        {
            "medical_record": {"document": record},
            "application": {"document": {"child": {"surname": "Test"}}},
        }
    )


def arrange(
    session: Session,
    *,
    facility: str,
    born_at: datetime,
    received_at: datetime,
    decided_at: datetime,
    registered: bool = True,
    certificate_after: timedelta = timedelta(0),
) -> None:
    """A decided submission (registered with a certificate, or rejected) at given moments."""
    office = session.exec(select(RegistryOffice)).one()
    assert office.id is not None
    number = uuid.uuid4().int % 10**9
    submission_id = str(uuid.uuid4())
    session.add(
        Submission(
            id=submission_id,
            registry_office_id=office.id,
            dossier=plain(_dossier("North ward" if facility == NORTH else "South ward")),
            dossier_sha256=uuid.uuid4().hex * 2,
            medical_record_id=f"record-{number}",
            medical_record_sha256="0" * 64,
            application_id=f"application-{number}",
            facility_bin=facility,
            mother_iin="940315400014",
            child_born_at=born_at,
            child_sex="F",
            birth_order=1,
            status="registered" if registered else "rejected",
            report=plain("{}"),
            receipt=plain("{}"),
            received_at=received_at,
            decided_at=decided_at,
        )
    )
    session.flush()
    if not registered:
        return
    registration = Registration(
        submission_id=submission_id,
        medical_record_id=f"record-{number}",
        registry_office_id=office.id,
        year=2026,
        act_record_number=number,
        child_iin=f"{number:012d}",
        registered_at=decided_at,
    )
    session.add(registration)
    session.flush()
    assert registration.id is not None
    session.add(
        BirthCertificate(
            id=uuid.uuid4().hex,
            registration_id=registration.id,
            certificate_number=f"TEST {number}",
            fields="{}",
            qr="",
            issued_at=decided_at + certificate_after,
        )
    )
    session.flush()


@pytest.fixture
def figures(app: Any) -> None:
    """North: three registered on 1 December (births 1, 3 and 100 days before; the last one
    received late), one rejected on 2 December; South: one registered on 2 December."""
    with Session(app.state.services.engine) as session:
        for days in (1, 3, 100):
            born = DAY_ONE - timedelta(days=days)
            arrange(
                session,
                facility=NORTH,
                born_at=born,
                received_at=born + timedelta(days=days - 0.5),
                decided_at=DAY_ONE,
                certificate_after=timedelta(hours=2),
            )
        arrange(
            session,
            facility=NORTH,
            born_at=DAY_ONE - timedelta(days=5),
            received_at=DAY_ONE,
            decided_at=DAY_ONE + timedelta(days=1),
            registered=False,
        )
        arrange(
            session,
            facility=SOUTH,
            born_at=DAY_ONE,
            received_at=DAY_ONE,
            decided_at=DAY_ONE + timedelta(days=1),
        )
        session.commit()


def test_percentile_interpolates_like_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 3.0, 100.0], 0.5) == 3.0
    # PostgreSQL: percentile_cont(0.9) within group (order by v) over 1, 3, 100 = 80.6.
    assert percentile([100.0, 1.0, 3.0], 0.9) == pytest.approx(80.6)


def test_by_facility(app: Any, client: Any, figures: None) -> None:
    clerk = f.staff_headers(app, Role.CLERK)
    response = client.get(
        STATISTICS, params={"from": "2026-12-01", "to": "2026-12-02"}, headers=clerk
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["group"] == "facility" and body["deadline_days"] == 92
    rows = {row["key"]: row for row in body["rows"]}
    north = rows[NORTH]
    assert north["facility_name"] == "North ward"
    assert (north["registered"], north["within_deadline"], north["late"], north["rejected"]) == (
        3,
        2,
        1,
        1,
    )
    assert north["days_to_registration_median"] == 3.0
    assert north["days_to_registration_p90"] == 80.6
    assert north["hours_to_certificate_median"] == 74.0  # 3 days and 2 hours
    assert rows[SOUTH]["within_deadline"] == 1 and rows[SOUTH]["rejected"] == 0
    assert rows[SOUTH]["days_to_registration_median"] == 1.0
    total = body["total"]
    assert (total["registered"], total["late"], total["rejected"]) == (4, 1, 1)


def test_by_day_counts_on_the_local_day(app: Any, client: Any, figures: None) -> None:
    registrar = f.staff_headers(app, Role.REGISTRAR)
    response = client.get(
        STATISTICS,
        params={"from": "2026-11-30", "to": "2026-12-02", "group": "day"},
        headers=registrar,
    )
    assert response.status_code == 200, response.text
    rows = {row["key"]: row for row in response.json()["rows"]}
    assert list(rows) == ["2026-11-30", "2026-12-01", "2026-12-02"]  # empty days too
    assert rows["2026-11-30"]["registered"] == 0
    assert rows["2026-12-01"]["registered"] == 3 and rows["2026-12-01"]["late"] == 1
    assert rows["2026-12-02"]["registered"] == 1 and rows["2026-12-02"]["rejected"] == 1


def test_a_day_is_kazakhstan_s_day(app: Any, client: Any) -> None:
    """20:00 UTC on 1 December is 01:00 on 2 December in Almaty."""
    late_evening = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    with Session(app.state.services.engine) as session:
        arrange(
            session,
            facility=NORTH,
            born_at=late_evening - timedelta(days=1),
            received_at=late_evening,
            decided_at=late_evening,
        )
        session.commit()
    clerk = f.staff_headers(app, Role.CLERK)
    params = {"from": "2026-12-01", "to": "2026-12-02", "group": "day"}
    rows = {
        r["key"]: r for r in client.get(STATISTICS, params=params, headers=clerk).json()["rows"]
    }
    assert rows["2026-12-01"]["registered"] == 0
    assert rows["2026-12-02"]["registered"] == 1
    one_day = client.get(
        STATISTICS, params={"from": "2026-12-01", "to": "2026-12-01"}, headers=clerk
    )
    assert one_day.json()["total"]["registered"] == 0


def test_csv(app: Any, client: Any, figures: None) -> None:
    clerk = f.staff_headers(app, Role.CLERK)
    response = client.get(
        STATISTICS,
        params={"from": "2026-12-01", "to": "2026-12-02"},
        headers={**clerk, "Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["key"] for row in rows] == [NORTH, SOUTH, "total"]
    assert rows[0]["late"] == "1" and rows[0]["days_to_registration_p90"] == "80.6"
    assert rows[2]["facility_name"] == ""
    refused = client.get(STATISTICS, headers={**clerk, "Accept": "text/csv;q=0, */*"})
    assert refused.headers["content-type"].startswith("application/json")


def test_a_formula_in_a_facility_name_is_not_run_by_spreadsheets(app: Any, client: Any) -> None:
    with Session(app.state.services.engine) as session:
        arrange(session, facility=NORTH, born_at=DAY_ONE, received_at=DAY_ONE, decided_at=DAY_ONE)
        submission = session.exec(select(Submission)).one()
        submission.dossier = plain(_dossier('=HYPERLINK("http://evil")'))
        session.add(submission)
        session.commit()
    clerk = f.staff_headers(app, Role.CLERK)
    response = client.get(
        STATISTICS,
        params={"from": "2026-12-01", "to": "2026-12-01"},
        headers={**clerk, "Accept": "text/csv"},
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["facility_name"] == '\'=HYPERLINK("http://evil")'


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"from": "2026-12-02", "to": "2026-12-01"}, 400, "invalid_period"),
        ({"from": "2025-01-01", "to": "2026-12-01"}, 400, "invalid_period"),
        ({"from": "0001-01-01"}, 422, "invalid_request"),
        ({"group": "mother"}, 422, "invalid_request"),
    ],
)
def test_bad_periods_are_refused(
    app: Any, client: Any, params: dict[str, str], status: int, code: str
) -> None:
    clerk = f.staff_headers(app, Role.CLERK)
    response = client.get(STATISTICS, params=params, headers=clerk)
    assert response.status_code == status
    assert response.json()["error"] == code


def test_only_clerks_and_registrars(app: Any, client: Any) -> None:
    assert client.get(STATISTICS).status_code == 401
    for role in (Role.WARD, Role.ADMIN):
        response = client.get(STATISTICS, headers=f.staff_headers(app, role))
        assert response.status_code == 403


def test_the_default_period_counts_a_registration_made_today(app: Any, client: Any) -> None:
    """Through the real intake and registration: a fresh birth is registered within the deadline."""
    clerk = f.staff_headers(app, Role.CLERK)
    mother = f.issue_person(app, f.person(7))
    received = client.post("/api/v1/registry/submissions", json=f.good_dossier(app, mother))
    assert received.status_code == 201, received.text
    registered = client.post(
        f"/api/v1/registry/submissions/{received.json()['id']}/register", headers=clerk
    )
    assert registered.status_code == 201, registered.text
    body = client.get(STATISTICS, headers=clerk).json()
    assert body["total"]["within_deadline"] == 1 and body["total"]["late"] == 0
    (row,) = body["rows"]
    assert row["facility_name"]
    # Born two days and three hours before (factories.medical_record).
    assert 2.0 <= row["days_to_registration_median"] <= 2.2
    assert 51.0 <= row["hours_to_certificate_median"] <= 52.0


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_page_by_day_and_by_facility(
    app: Any, client: Any, figures: None, language: str
) -> None:
    add_staff(app, "statistician", Role.REGISTRAR)
    log_in(client, "statistician")
    headers = {**HTML, "Accept-Language": language}
    page = client.get(
        "/registry/statistics",
        params={"from": "2026-11-30", "to": "2026-12-02", "group": "day"},
        headers=headers,
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-language"] == language
    assert in_language(language, "Registered late") in page.text
    chart = re.search(r'<svg class="day-chart"(.*?)</svg>', page.text, re.S)
    assert chart is not None
    # Three parts on 1 December (within, late) and 2 December (within, rejected).
    assert len(re.findall(r"<rect ", chart.group(1))) == 4
    assert 'data-key="2026-11-30"' in page.text
    by_facility = client.get(
        "/registry/statistics", params={"from": "2026-12-01", "to": "2026-12-02"}, headers=headers
    )
    assert "North ward" in by_facility.text and "South ward" in by_facility.text
    assert by_facility.text.count('class="facility-bar"') == 2
    download = client.get(
        "/registry/statistics.csv", params={"from": "2026-12-01", "to": "2026-12-02"}
    )
    assert download.status_code == 200
    assert download.text.splitlines()[1].startswith(NORTH)


def test_the_page_says_what_is_wrong(app: Any, client: Any) -> None:
    add_staff(app, "statistician")
    log_in(client, "statistician")
    page = client.get(
        "/registry/statistics",
        params={"from": "2026-12-02", "to": "2026-12-01"},
        headers={**HTML, "Accept-Language": "en"},
    )
    assert page.status_code == 400
    assert "The period must start before it ends and span at most a year." in page.text
    wrong = client.get("/registry/statistics", params={"group": "x", "from": "no"}, headers=HTML)
    assert wrong.status_code == 400 and 'aria-invalid="true"' in wrong.text
    assert client.get("/registry/statistics.csv", params={"from": "no"}).status_code == 400
