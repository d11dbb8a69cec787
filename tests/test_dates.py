"""Dates and times from requests: the years the service computes with, at every edge (a year-1
or year-9999 date used to be an OverflowError, a 500)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from registry.factories import staff_headers
from ward.helpers import birth_body, ward_headers

from birthreg.dates import (
    EARLIEST_DAY,
    LATEST_DAY,
    InvalidDate,
    local_midnight,
    parse_day,
    parse_moment,
)
from birthreg.models import Role

ALMATY = ZoneInfo("Asia/Almaty")
EDGES = ["0001-01-01", "0001-01-02", "1899-12-31", "3000-01-01", "9999-12-30", "9999-12-31"]


def test_parse_day() -> None:
    assert parse_day("2026-06-01") == date(2026, 6, 1)
    assert parse_day(" 1900-01-01 ") == EARLIEST_DAY
    assert parse_day("2999-12-31") == LATEST_DAY
    for text in [*EDGES, "", "yesterday", "2026-13-01", "2026-02-30", "20260601x", "+2026-06-01"]:
        with pytest.raises(InvalidDate):
            parse_day(text)


def test_parse_moment() -> None:
    assert parse_moment("2026-06-01T12:00:00+05:00") == datetime(2026, 6, 1, 7, tzinfo=UTC)
    for text in (
        "0001-01-01T00:00:00+05:00",  # an OverflowError when made UTC
        "9999-12-31T23:59:59-05:00",
        "2026-06-01T12:00:00",  # no offset
        "2026-06-01",
        "not a time",
    ):
        with pytest.raises(InvalidDate):
            parse_moment(text)


def test_local_midnight() -> None:
    assert local_midnight(date(2026, 6, 1), ALMATY) == datetime(2026, 5, 31, 19, tzinfo=UTC)
    assert local_midnight(LATEST_DAY, ALMATY) + timedelta(days=1) > local_midnight(
        LATEST_DAY, ALMATY
    )
    with pytest.raises(InvalidDate):
        local_midnight(date(1, 1, 1), ALMATY)


@pytest.mark.parametrize("day", EDGES)
def test_the_ward_list_answers_4xx(app: Any, client: TestClient, day: str) -> None:
    headers = ward_headers(app)
    api = client.get(f"/api/v1/ward/births?date={day}", headers=headers)
    assert (api.status_code, api.json()["error"]) == (422, "invalid_request")
    page = client.get(f"/ward?date={day}", headers={**headers, "Accept": "text/html"})
    assert page.status_code == 400
    assert 'aria-invalid="true"' in page.text


@pytest.mark.parametrize("day", EDGES)
def test_the_registry_queue_answers_4xx(app: Any, client: TestClient, day: str) -> None:
    headers = staff_headers(app, Role.CLERK)
    for name in ("date_from", "date_to"):
        api = client.get("/api/v1/registry/submissions", params={name: day}, headers=headers)
        assert (api.status_code, api.json()["error"]) == (422, "invalid_request")
        page = client.get(
            "/registry", params={name: day}, headers={**headers, "Accept": "text/html"}
        )
        assert page.status_code == 400


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:59:59+00:00",
    ],
)
def test_a_queue_cursor_at_the_edges_answers_400(app: Any, client: TestClient, moment: str) -> None:
    headers = staff_headers(app, Role.REGISTRAR)
    cursor = base64.urlsafe_b64encode(json.dumps([moment, "x"]).encode()).decode().rstrip("=")
    api = client.get("/api/v1/registry/submissions", params={"after": cursor}, headers=headers)
    assert (api.status_code, api.json()["error"]) == (400, "invalid_cursor")
    page = client.get(
        "/registry", params={"after": cursor}, headers={**headers, "Accept": "text/html"}
    )
    assert page.status_code == 400


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_birth_at_the_edges_answers_400(app: Any, client: TestClient, day: str) -> None:
    headers = ward_headers(app)
    for born_at in (f"{day}T00:10:00+05:00", f"{day}T23:50:00-05:00"):
        api = client.post(
            "/api/v1/ward/births", json=birth_body(child={"born_at": born_at}), headers=headers
        )
        assert api.status_code == 400, api.text
    form = {
        "mother_iin": "940315400014", "mother_surname": "Әбілқасымова",
        "mother_given_name": "Гүлнұр", "child_sex": "F", "born_date": day, "born_time": "00:10",
        "child_weight_g": "3400", "child_length_cm": "51", "child_plurality": "1",
        "child_birth_order": "1", "attendant": "Сейітова Ж. Қ.",
    }
    page = client.post(
        "/ward/births/new", data=form, headers={**headers, "Accept": "text/html"},
        follow_redirects=False,
    )
    assert page.status_code == 400
