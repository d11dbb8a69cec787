""""Printed at the ward" is claimed with the facility's seal (`birthreg.ward_print_claim`): the
registry logs `printed_at_ward` only for a fresh claim sealed by the facility the child was born
in, once. Anyone else holding the certificate's link (an unsealed claim, a forged or borrowed
seal, a replay, a stale claim) gets a refusal with a code and nothing in the issuance log."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from birthreg.bootstrap import DEFAULT_FACILITY
from birthreg.models import AuditEntry, Role, now
from birthreg.registry.record_models import WardPrintNonce
from birthreg.ward_print_claim import FRESHNESS, seal_ward_print
from registry import factories as f
from signing.ca import CertificationAuthority, Profile

SUBMISSIONS = "/api/v1/registry/submissions"
CERTIFICATES = "/api/v1/registry/certificates"


@pytest.fixture
def registered(app: Any, client: Any) -> dict[str, Any]:
    clerk = f.staff_headers(app, Role.CLERK)
    mother = f.issue_person(app, f.person(100))
    submission_id = client.post(SUBMISSIONS, json=f.good_dossier(app, mother)).json()["id"]
    result = client.post(f"{SUBMISSIONS}/{submission_id}/register", headers=clerk).json()
    return {"certificate_id": result["certificate_id"], "clerk": clerk}


def _claim(
    seal: f.Signer, certificate_id: str, bin_: str = DEFAULT_FACILITY.bin, **changes: Any
) -> dict[str, Any]:
    moment = changes.pop("moment", None) or now()
    return seal_ward_print(
        certificate_id, bin_, moment=moment, certificate=seal.certificate, key=seal.key,
        chain=seal.chain,
    )  # fmt: skip


def _print(client: Any, certificate_id: str, claim: Any) -> Any:
    return client.post(f"{CERTIFICATES}/{certificate_id}/ward-print", json=claim)


def _log(client: Any, registered: dict[str, Any]) -> list[tuple[str, str]]:
    answer = client.get(
        f"{CERTIFICATES}/{registered['certificate_id']}/issuances", headers=registered["clerk"]
    )
    assert answer.status_code == 200, answer.text
    return [(entry["kind"], entry["actor"]) for entry in answer.json()["issuances"]]


def test_the_facilitys_sealed_claim_is_logged_once(
    app: Any, client: Any, db: Session, registered: dict[str, Any]
) -> None:
    certificate_id = registered["certificate_id"]
    claim = _claim(f.facility_seal(app), certificate_id)
    printed = _print(client, certificate_id, claim)
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.content.startswith(b"%PDF")
    facility = f"facility:{DEFAULT_FACILITY.bin}"
    assert _log(client, registered)[1:] == [("printed_at_ward", facility)]
    replayed = _print(client, certificate_id, claim)
    assert replayed.status_code == 409 and replayed.json()["error"] == "ward_print_replayed"
    assert [kind for kind, _ in _log(client, registered)] == ["original", "printed_at_ward"]
    again = _print(client, certificate_id, _claim(f.facility_seal(app), certificate_id))
    assert again.status_code == 200  # a new claim (a second print) counts
    actions = db.exec(select(AuditEntry.action).order_by(col(AuditEntry.seq))).all()
    assert actions.count("certificate.printed_at_ward") == 2


def test_the_link_alone_claims_nothing(client: Any, registered: dict[str, Any]) -> None:
    certificate_id = registered["certificate_id"]
    unsealed = client.get(
        f"{CERTIFICATES}/{certificate_id}.pdf", params={"printed_at_ward": DEFAULT_FACILITY.bin}
    )
    assert unsealed.status_code == 400 and unsealed.json()["error"] == "ward_print_unsealed"
    bare = {"document": {"certificate_id": certificate_id, "facility_bin": DEFAULT_FACILITY.bin}}
    assert _print(client, certificate_id, bare).json()["error"] == "ward_print_malformed_claim"
    assert _print(client, certificate_id, [1]).status_code in (400, 422)
    assert [kind for kind, _ in _log(client, registered)] == ["original"]
    holder = client.get(f"{CERTIFICATES}/{certificate_id}.pdf")
    assert holder.status_code == 200  # the holder's own download, logged as such
    assert [kind for kind, _ in _log(client, registered)] == ["original", "pdf_download"]


def _forged_seal(app: Any) -> f.Signer:
    """A seal naming the birth's facility, from a CA the registry does not trust."""
    settings = app.state.services.settings
    rogue = CertificationAuthority.create(base_url=settings.base_url, moment=now())
    key = f.ec.generate_private_key(f.ec.SECP256R1())
    certificate = rogue.issue(
        key.public_key(), DEFAULT_FACILITY, profile=Profile.ORGANISATION_SEAL, moment=now()
    )
    return f.Signer(key, certificate, rogue.chain)


def _tampered(app: Any, certificate_id: str) -> dict[str, Any]:
    """A real claim for another certificate, its document changed to name this one."""
    claim = _claim(f.facility_seal(app), "another-certificate")
    claim["document"]["certificate_id"] = certificate_id
    return claim


def _mothers(app: Any, certificate_id: str) -> dict[str, Any]:
    """Sealed with a person's certificate (trusted, but no organisation seal)."""
    return _claim(f.issue_person(app, f.person(100)), certificate_id)


def _of_another_certificate(app: Any, certificate_id: str) -> dict[str, Any]:
    return _claim(f.facility_seal(app), "another-certificate")


def _stale(app: Any, certificate_id: str) -> dict[str, Any]:
    moment = now() - FRESHNESS - timedelta(seconds=30)
    return _claim(f.facility_seal(app), certificate_id, moment=moment)


def _from_the_future(app: Any, certificate_id: str) -> dict[str, Any]:
    moment = now() + FRESHNESS + timedelta(seconds=30)
    return _claim(f.facility_seal(app), certificate_id, moment=moment)


def _borrowed_bin(app: Any, certificate_id: str) -> dict[str, Any]:
    """Another ward's real seal, claiming the birth facility's BIN."""
    return _claim(f.other_facility_seal(app), certificate_id)


def _other_ward(app: Any, certificate_id: str) -> dict[str, Any]:
    """Another ward's real seal and its own BIN: not where the child was born."""
    return _claim(f.other_facility_seal(app), certificate_id, f.OTHER_FACILITY.bin)


def _forged(app: Any, certificate_id: str) -> dict[str, Any]:
    return _claim(_forged_seal(app), certificate_id)


def _without_signature(app: Any, certificate_id: str) -> dict[str, Any]:
    claim = _claim(f.facility_seal(app), certificate_id)
    claim["signature"] = {"format": "cms", "value": ""}
    return claim


def _extra_field(app: Any, certificate_id: str) -> dict[str, Any]:
    claim = copy.deepcopy(_claim(f.facility_seal(app), certificate_id))
    claim["document"]["printer"] = "desk 2"
    return claim


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (_forged, 403, "ward_print_seal_not_trusted"),
        (_tampered, 403, "ward_print_seal_not_trusted"),
        (_mothers, 403, "ward_print_seal_not_trusted"),
        (_without_signature, 403, "ward_print_seal_not_trusted"),
        (_borrowed_bin, 403, "ward_print_seal_of_another_facility"),
        (_other_ward, 403, "facility_mismatch"),
        (_stale, 403, "ward_print_stale_claim"),
        (_from_the_future, 403, "ward_print_stale_claim"),
        (_of_another_certificate, 400, "ward_print_claim_for_another_certificate"),
        (_extra_field, 400, "ward_print_malformed_claim"),
    ],
)
def test_a_claim_not_sealed_by_the_birth_facility_now_is_refused(
    app: Any, client: Any, db: Session, registered: dict[str, Any], make: Any, status: int,
    code: str,
) -> None:
    certificate_id = registered["certificate_id"]
    refused = _print(client, certificate_id, make(app, certificate_id))
    assert refused.status_code == status, refused.text
    assert refused.json()["error"] == code
    assert [kind for kind, _ in _log(client, registered)] == ["original"]
    assert db.exec(select(WardPrintNonce)).all() == []
    actions = db.exec(select(AuditEntry.action)).all()
    assert "certificate.printed_at_ward" not in actions


def test_an_unknown_certificate_is_404(app: Any, client: Any) -> None:
    answer = _print(client, "no-such-certificate", _claim(f.facility_seal(app), "no-such"))
    assert answer.status_code == 404
