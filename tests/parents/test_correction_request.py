"""A mother asks to correct her child's certificate from her page, signing with her key; the
registry verifies it and the request waits for a registrar."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from birthreg.models import ParentApplication
from birthreg.registry.record_models import Correction
from signing.canonical import canonicalize

from .helpers import Phone, clerk_headers, draft, page, sign_application

HTML = {"Accept": "text/html"}


def test_a_mother_asks_for_a_correction(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    application_id = draft(mother)
    assert sign_application(mother, application_id).status_code == 200
    row = db.exec(select(ParentApplication)).one()
    clerk = clerk_headers(app)
    client.post(f"/api/v1/registry/submissions/{row.submission_id}/register", headers=clerk)
    assert f"/parents/applications/{application_id}/correction" in page(mother, application_id)

    base = f"/parents/applications/{application_id}/correction"
    form = mother.client.get(base, headers=HTML)
    assert form.status_code == 200 and 'value="Айару"' in form.text
    prepared = mother.client.post(
        base,
        data={"csrf_token": mother.csrf, "child.given_name": "Аяжан",
              "reason": "Атын қате жазыппын."},
        headers=HTML,
    )
    assert prepared.status_code == 200, prepared.text
    shown = re.search(r'data-testid="correction-document">([^<]*)<', prepared.text)
    assert shown is not None
    document = json.loads(html.unescape(shown.group(1)))
    assert document["changes"] == {"child.given_name": "Аяжан"}

    # Someone else's signature text: refused by the registry, nothing kept.
    forged = {**document, "changes": {"child.given_name": "Басқа"}}
    refused = mother.client.post(
        f"{base}/signed",
        data={"csrf_token": mother.csrf, "document": json.dumps(forged, ensure_ascii=False),
              "signature": json.dumps(mother.jws(canonicalize(document)))},
        headers=HTML,
    )
    assert refused.status_code == 422 and 'data-error="signature_refused"' in refused.text
    assert db.exec(select(Correction)).all() == []

    sent = mother.client.post(
        f"{base}/signed",
        data={"csrf_token": mother.csrf, "document": json.dumps(document, ensure_ascii=False),
              "signature": json.dumps(mother.jws(canonicalize(document)))},
        headers=HTML,
    )
    assert sent.status_code == 200 and 'data-testid="correction-sent"' in sent.text
    db.expire_all()
    correction = db.exec(select(Correction)).one()
    assert correction.status == "pending" and correction.requested_by is None
    assert correction.requested_by_holder == mother.serial
    assert mother.client.post(f"{base}/signed", data={"document": "{}"}).status_code == 403
