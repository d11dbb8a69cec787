"""The parents' side with a key file (PKCS#12, CMS signatures made by `birthreg sign`): the
holder signs in with a signed challenge and signs her application, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import pkcs12
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner
from ward.helpers import start_enrollment

from birthreg.cli import app as cli
from birthreg.models import ApplicationState, ParentApplication
from birthreg.packed import text_of

from .helpers import browser, form, new_birth


def _application(db: Session, application_id: str) -> ParentApplication:
    db.expire_all()
    row = db.get(ParentApplication, application_id)
    assert row is not None
    return row


def _cli_sign(tmp_path: Path, document: bytes, key_file: bytes, password: str) -> str:
    (tmp_path / "document.json").write_bytes(document)
    (tmp_path / "key.p12").write_bytes(key_file)
    result = CliRunner().invoke(
        cli,
        ["sign", str(tmp_path / "document.json"), "--p12", str(tmp_path / "key.p12"),
         "--password-stdin", "--format", "cms"],
        input=password + "\n",
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_key_file_holder_signs_in_and_signs_with_cms(
    app: Any, client: TestClient, ward: dict[str, str], db: Session, tmp_path: Path
) -> None:
    birth_id = new_birth(client, ward)
    started = start_enrollment(client, ward, birth_id)
    password = "a long key file password"
    issued = client.post(
        f"/api/v1/ward/enrollments/{started['id']}/pkcs12", json={"password": password},
        headers=ward,
    )
    assert issued.status_code == 201
    key_file = issued.content
    assert pkcs12.load_key_and_certificates(key_file, password.encode())[1] is not None

    phone = browser(app)
    key_page = phone.get("/parents/key-file")
    challenge_text = html.unescape(
        key_page.text.split('name="challenge" value="', 1)[1].split('"', 1)[0]
    )
    link = key_page.text.split('href="/parents/key-file/challenge.json?c=', 1)[1].split('"', 1)[0]
    download = phone.get("/parents/key-file/challenge.json?c=" + html.unescape(link))
    assert download.status_code == 200
    signature = _cli_sign(tmp_path, download.content, key_file, password)
    assert json.loads(signature)["format"] == "cms"
    signed_in = phone.post(
        "/parents/key-file",
        data={"challenge": challenge_text},
        files={"signature_file": ("signature.json", signature.encode(), "application/json")},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    home = phone.get("/parents")
    assert home.status_code == 200 and "940315400014" in home.text
    csrf = home.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    created = phone.post("/parents/application", data={**form(), "csrf_token": csrf},
                         follow_redirects=False)
    application_id = created.headers["location"].rsplit("/", 1)[-1]
    canonical = phone.get(f"/parents/applications/{application_id}/document.json")
    assert canonical.content == _application(db, application_id).document.encode()
    bad = phone.post(
        f"/parents/applications/{application_id}/key-file-signature",
        data={"csrf_token": csrf,
              "signature": _cli_sign(tmp_path, b'{"other": 1}', key_file, password)},
        follow_redirects=False,
    )
    assert bad.headers["location"].endswith("?error=invalid_signature")
    assert _application(db, application_id).mother_signature is None
    signature = _cli_sign(tmp_path, canonical.content, key_file, password)
    uploaded = phone.post(
        f"/parents/applications/{application_id}/key-file-signature",
        data={"csrf_token": csrf},
        files={"signature_file": ("signature.json", signature.encode(), "application/json")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303 and "error" not in uploaded.headers["location"]
    row = _application(db, application_id)
    assert row.state == ApplicationState.SUBMITTED
    kept = json.loads(text_of(row, "mother_signature") or "{}")
    assert kept["format"] == "cms"
    base64.b64decode(kept["value"], validate=True)
