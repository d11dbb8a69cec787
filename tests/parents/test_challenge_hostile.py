"""A sign-in challenge answered with a non-ASCII nonce, on every path that reads one: a 4xx,
never a 500, and no session."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from signing.canonical import canonicalize
from signing.errors import SigningError

from .helpers import Phone, new_birth, signed_in_mother, ward_headers

NONCES = ["ü" + "A" * 40, "\u202e.nonce.\u0000", "токен.токен.токен", "\udcff"]


@pytest.fixture
def mother(app: Any, client: TestClient) -> Phone:
    ward = ward_headers(app)
    return signed_in_mother(app, client, ward, new_birth(client, ward))


@pytest.mark.parametrize("nonce", NONCES)
def test_a_non_ascii_nonce_is_refused(app: Any, mother: Phone, nonce: str) -> None:
    phone = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
    challenge = phone.post("/api/v1/parents/challenge").json()["challenge"]
    hostile = {**challenge, "nonce": nonce}
    try:
        content = canonicalize(hostile)
    except SigningError:  # a lone surrogate has no UTF-8 form: sign the honest challenge instead
        content = canonicalize(challenge)
    body = json.dumps(
        {"challenge": hostile, "signature": mother.jws(content)}, ensure_ascii=True
    ).encode()
    answer = phone.post(
        "/api/v1/parents/session", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] in ("invalid_challenge", "invalid_request")
    assert "birthreg_parent=" not in answer.headers.get("set-cookie", "")

    link = "/parents/key-file/challenge.json?c=" + quote(json.dumps(hostile), safe="")
    download = phone.get(link)
    assert download.status_code == 400, download.text

    form = phone.post(
        "/parents/key-file",
        data={"challenge": json.dumps(hostile), "signature": "MAo="},
        headers={"Accept": "text/html"},
    )
    assert form.status_code == 400, form.text
    assert "birthreg_parent=" not in form.headers.get("set-cookie", "")
