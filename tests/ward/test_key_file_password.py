"""The desk key file's password: no control characters (twelve NULs used to make a file that
opens with the empty password), and the file opens with its password only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlmodel import Session

from ward.helpers import counts, record_birth, staff, start_enrollment

PASSWORD = "desk password 2026"


@pytest.fixture
def desk(app: Any, client: Any) -> tuple[dict[str, str], str, dict[str, Any]]:
    _user, headers = staff(app)
    birth_id = record_birth(client, headers)["id"]
    return headers, birth_id, start_enrollment(client, headers, birth_id)


@pytest.mark.parametrize(
    "password",
    ["\x00" * 12, "desk password\x00 2026", "desk password 2026\n", "desk\tpassword 2026"],
)
def test_control_characters_are_refused(
    client: Any, db: Session, desk: tuple[dict[str, str], str, dict[str, Any]], password: str
) -> None:
    headers, _birth_id, started = desk
    before = counts(db)
    response = client.post(
        f"/api/v1/ward/enrollments/{started['id']}/pkcs12",
        json={"password": password},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "weak_password"
    assert response.json()["field"] == "password"
    assert counts(db) == before


def test_the_desk_page_says_why(
    client: Any, desk: tuple[dict[str, str], str, dict[str, Any]]
) -> None:
    headers, birth_id, started = desk
    page = client.post(
        f"/ward/enrollments/{started['id']}/pkcs12",
        data={"password": "\x00" * 12, "password_repeat": "\x00" * 12, "birth_id": birth_id},
        headers={**headers, "Accept": "text/html", "Accept-Language": "en"},
    )
    assert page.status_code == 400
    assert "no control characters" in page.text
    assert re.search(r'id="password"[^>]*aria-invalid="true"', page.text)


def test_the_key_file_opens_with_its_password_only(
    client: Any, desk: tuple[dict[str, str], str, dict[str, Any]]
) -> None:
    headers, _birth_id, started = desk
    response = client.post(
        f"/api/v1/ward/enrollments/{started['id']}/pkcs12",
        json={"password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 201
    data = response.content
    for wrong in (None, b"", PASSWORD.encode()[:-1], PASSWORD.upper().encode()):
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(data, wrong)
    key, certificate, _chain = pkcs12.load_key_and_certificates(data, PASSWORD.encode())
    assert key is not None and certificate is not None
