"""Revocation is fresh: registration checks every signer again (409 signer_revoked for a key
revoked after intake, on the API and on the clerk's page), and a signer whose revocation status
cannot be had at all makes the intake 503 revocation_unavailable with Retry-After, nothing kept."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from birthreg.config import Settings
from birthreg.models import AuditEntry, Registration, Submission, now
from birthreg.pki.fetch import FileCRLFetcher
from birthreg.pki.service import certification_authority, revoke
from birthreg.registry.freshness import RevocationUnavailable, recheck_signers
from birthreg.registry.service import registry_for
from birthreg.services import app_services
from registry import factories as f
from registry.test_pages import HTML, add_staff, in_language, log_in, text_of
from signing.ca import CertificationAuthority
from signing.trust import TrustAnchors, Validator

SUBMISSIONS = "/api/v1/registry/submissions"
SIGNER_REVOKED = (
    "A signer's certificate has been revoked since this dossier arrived: it cannot be "
    "registered. The parents sign again with a new key, or reject it with that reason."
)


@pytest.fixture
def app(service_settings: Settings) -> Any:
    return f.app_with_backdated_ca(service_settings)


def _count(db: Session, table: Any) -> int:
    db.expire_all()
    return db.exec(select(func.count()).select_from(table)).one()


def _revoke(app: Any, signer: f.Signer) -> None:
    with Session(app.state.services.engine) as session:
        revoke(
            session, signer.certificate.serial_number, x509.ReasonFlags.key_compromise, now(),
            actor="system", role="system",
        )
        session.commit()


def test_a_key_revoked_after_intake_stops_registration(
    app: Any, client: TestClient, db: Session
) -> None:
    mother = f.issue_person(app, f.person(410))
    received = client.post(SUBMISSIONS, json=f.good_dossier(app, mother))
    assert received.status_code == 201, received.text
    submission_id = received.json()["id"]
    # The intake's "good" answer is still in the registry's cache: the re-check asks again.
    _revoke(app, mother)
    clerk = f.staff_headers(app)
    answer = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "signer_revoked"
    assert format(mother.certificate.serial_number, "x") in answer.json()["detail"]
    assert _count(db, Registration) == 0

    # The clerk's page says so, in words, and registers nothing either.
    add_staff(app, "clerk2")
    token = log_in(client, "clerk2")
    page = client.post(
        f"/registry/submissions/{submission_id}/register",
        data={"csrf_token": token, "confirm": "yes"}, headers=HTML,
    )
    assert page.status_code == 409
    shown = in_language("kk", SIGNER_REVOKED)
    assert shown in text_of(page.text)
    assert _count(db, Registration) == 0


def test_a_good_signer_is_registered_after_the_recheck(
    app: Any, client: TestClient, db: Session
) -> None:
    mother = f.issue_person(app, f.person(411))
    submission_id = client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).json()["id"]
    answer = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=f.staff_headers(app))
    assert answer.status_code == 201, answer.text
    # Registered once: a repeat answers the same without asking anyone again.
    _revoke(app, mother)
    again = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=f.staff_headers(app))
    assert again.status_code == 200 and again.json() == answer.json()


@pytest.fixture
def unreachable_ca_app(app: Any, tmp_path: Path) -> Any:
    """The registry trusts its own root and a second CA's, whose CRL and OCSP addresses answer
    nothing (a closed port)."""
    other = CertificationAuthority.create(base_url="http://127.0.0.1:9", moment=now())
    own = certification_authority(app_services(app))
    bundle = tmp_path / "roots.pem"
    trusted = (own.root_certificate, other.root_certificate, other.issuing_certificate)
    bundle.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in trusted))
    app.state.services.settings.registry_roots = bundle
    app.state.other_ca = other
    return app


def test_no_fresh_revocation_status_is_503_and_nothing_kept(
    unreachable_ca_app: Any, db: Session
) -> None:
    app = unreachable_ca_app
    with TestClient(app) as client:
        subject = f.person(412)
        mother = f.issue_person(app, subject, ca=app.state.other_ca)
        record = f.medical_record(subject)
        dossier = f.dossier(f.facility_seal(app), record, f.application(record), (mother,))
        before = (_count(db, Submission), _count(db, AuditEntry))
        answer = client.post(SUBMISSIONS, json=dossier)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "revocation_unavailable"
        assert int(answer.headers["retry-after"]) > 0
        assert (_count(db, Submission), _count(db, AuditEntry)) == before
        # A dossier that also fails for good is refused as it is (422), not put off.
        tampered = f.merge(dossier, {"application": {"document": {"language": "xx"}}})
        refused = client.post(SUBMISSIONS, json=tampered)
        assert refused.status_code == 422, refused.text


def test_registration_without_fresh_revocation_is_503(
    app: Any, client: TestClient, db: Session
) -> None:
    """The re-check on a validator that has only the CA's published CRLs (offline: they were
    issued before the moment of registering, and no OCSP answers) cannot be sure: 503."""
    mother = f.issue_person(app, f.person(413))
    submission_id = client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).json()["id"]
    crls = [client.get("/pki/crl").content, client.get("/pki/root.crl").content]
    ca = certification_authority(app_services(app))
    offline = Validator(
        TrustAnchors([ca.root_certificate], [ca.issuing_certificate]), FileCRLFetcher(crls)
    )
    time.sleep(1.1)  # the CRLs' thisUpdate is a whole second before the moment of registering
    with pytest.raises(RevocationUnavailable) as refused:
        recheck_signers(db, offline, submission_id, now())
    assert refused.value.status == 503 and refused.value.headers["Retry-After"]
    # The registry's own validator asks the CA's OCSP, which answers at once.
    recheck_signers(db, registry_for(app_services(app)).validator, submission_id, now())
