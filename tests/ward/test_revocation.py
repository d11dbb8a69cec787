"""Revocation by ward staff and by the key holder; CRL and OCSP answer the change at once."""

from __future__ import annotations

import base64
import urllib.parse
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlmodel import Session, func, select

from birthreg.models import Facility, IssuedCertificate, Role, Submission, now
from birthreg.pki.seals import load_seal
from birthreg.services import app_services
from birthreg.ward import service
from signing import cms, jws
from signing.canonical import canonicalize
from ward.helpers import (
    audit_actions,
    counts,
    enroll_with_csr,
    father_body,
    record_birth,
    staff,
    start_enrollment,
)


class Holder:
    def __init__(self, key: ec.EllipticCurvePrivateKey, result: dict[str, Any]) -> None:
        self.key = key
        self.certificate = x509.load_pem_x509_certificate(result["certificate_pem"].encode())
        self.chain = tuple(x509.load_pem_x509_certificates(result["chain_pem"].encode()))

    @property
    def serial(self) -> str:
        return format(self.certificate.serial_number, "x")


@pytest.fixture
def ward(app: Any, client: Any) -> tuple[Any, dict[str, str], Holder, Holder]:
    """Ward staff, their headers, and a mother and a father holding certificates."""
    user, headers = staff(app)
    birth_id = record_birth(client, headers)["id"]
    mother = Holder(*enroll_with_csr(client, start_enrollment(client, headers, birth_id)["code"]))
    father = Holder(
        *enroll_with_csr(client, start_enrollment(client, headers, birth_id, father_body())["code"])
    )
    return user, headers, mother, father


def _ocsp(client: Any, certificate: x509.Certificate) -> ocsp.OCSPResponse:
    issuing = x509.load_pem_x509_certificate(client.get("/pki/ca.pem").content)
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuing, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = client.post(
        "/pki/ocsp", content=request, headers={"Content-Type": "application/ocsp-request"}
    )
    answer = ocsp.load_der_ocsp_response(response.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    return answer


def _crl_serials(client: Any, certificate: x509.Certificate) -> set[int]:
    """The serials on the CRL of the certificate's partition (where its CDP points)."""
    (point,) = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (url,) = point.full_name or ()
    path = urllib.parse.urlsplit(url.value).path
    assert path.startswith("/pki/crl/")
    crl = x509.load_der_x509_crl(client.get(path).content)
    return {entry.serial_number for entry in crl}


@pytest.mark.parametrize("reason", ["lost_phone", "wrong_person", "key_compromise"])
def test_staff_revocation(
    app: Any,
    client: Any,
    db: Session,
    ward: tuple[Any, dict[str, str], Holder, Holder],
    reason: str,
) -> None:
    user, headers, mother, father = ward
    assert _ocsp(client, mother.certificate).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert mother.certificate.serial_number not in _crl_serials(client, mother.certificate)
    response = client.post(
        f"/api/v1/ward/certificates/{mother.serial}/revoke",
        json={"reason": reason},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["serial"], result["reason"], result["crl_reason"]) == (
        mother.serial,
        reason,
        "key_compromise",
    )
    answer = _ocsp(client, mother.certificate)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason is x509.ReasonFlags.key_compromise
    assert mother.certificate.serial_number in _crl_serials(client, mother.certificate)
    assert _ocsp(client, father.certificate).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert audit_actions(db)[-1] == (
        "certificate.revoked",
        f"staff:{user.id}",
        "certificate",
        mother.serial,
    )
    listed = client.get("/api/v1/ward/births", headers=headers).json()["births"][0]
    revoked = {e["role"]: e["certificate_revoked"] for e in listed["enrollments"]}
    assert revoked == {"mother": True, "father": False}

    before = counts(db)
    again = client.post(
        f"/api/v1/ward/certificates/{mother.serial}/revoke",
        json={"reason": reason},
        headers=headers,
    )
    assert (again.status_code, again.json()["error"]) == (409, "already_revoked")
    assert counts(db) == before


def test_staff_revocation_refusals(
    app: Any, client: Any, db: Session, ward: tuple[Any, dict[str, str], Holder, Holder]
) -> None:
    _, headers, mother, _ = ward
    seal_serial = db.exec(select(Facility)).one().seal_serial
    other = Facility(bin="050140000031", name="Басқа (TEST)", seal_serial="1", created_at=now())
    db.add(other)
    db.commit()
    _, stranger = staff(app, username="stranger", facility_id=other.id)
    _, clerk = staff(app, username="clerk", role=Role.CLERK)
    before = counts(db)
    good = {"reason": "lost_phone"}
    cases = [
        (mother.serial, {"reason": "bored"}, headers, 400, "invalid_reason"),
        (mother.serial, {"reason": "affiliation_changed"}, headers, 400, "invalid_reason"),
        (mother.serial, {}, headers, 422, "invalid_request"),
        ("XYZ", good, headers, 400, "invalid_serial"),
        (mother.serial.upper(), good, headers, 400, "invalid_serial"),
        (seal_serial, good, headers, 404, "certificate_not_found"),
        ("1234abcd", good, headers, 404, "certificate_not_found"),
        (mother.serial, good, stranger, 404, "certificate_not_found"),
        (mother.serial, good, clerk, 403, "forbidden_role"),
        (mother.serial, good, {}, 401, "not_authenticated"),
    ]
    for serial, body, who, status, error in cases:
        response = client.post(f"/api/v1/ward/certificates/{serial}/revoke", json=body, headers=who)
        assert (response.status_code, response.json()["error"]) == (status, error), (serial, body)
    assert counts(db) == before
    assert db.get(IssuedCertificate, seal_serial).revoked_at is None  # type: ignore[union-attr]


# -- the holder's own revocation ---------------------------------------------------------------


def _request(serial: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "birthreg.revocation-request/1",
        "serial": serial,
        "reason": "key_compromise",
        "requested_at": now().isoformat(timespec="seconds"),
        **changes,
    }


def _signed(holder: Holder, request: dict[str, Any], fmt: str = "jws") -> dict[str, Any]:
    content = canonicalize(request)
    if fmt == "jws":
        value = jws.sign_detached(
            content, holder.certificate, holder.key, signing_time=now(), chain=holder.chain
        )
    else:
        value = base64.b64encode(
            cms.sign_detached(
                content, holder.certificate, holder.key, signing_time=now(), chain=holder.chain
            )
        ).decode("ascii")
    return {"request": request, "signature": {"format": fmt, "value": value}}


@pytest.mark.parametrize("fmt", ["jws", "cms"])
def test_holder_revokes_their_own_certificate(
    app: Any,
    client: Any,
    db: Session,
    ward: tuple[Any, dict[str, str], Holder, Holder],
    fmt: str,
) -> None:
    _, _, mother, father = ward
    body = _signed(mother, _request(mother.serial), fmt)
    response = client.post(f"/api/v1/certificates/{mother.serial}/revoke", json=body)
    assert response.status_code == 200, response.text
    assert (response.json()["reason"], response.json()["crl_reason"]) == (
        "key_compromise",
        "key_compromise",
    )
    assert _ocsp(client, mother.certificate).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert audit_actions(db)[-1] == (
        "certificate.revoked",
        f"holder:{mother.serial}",
        "certificate",
        mother.serial,
    )
    # A revoked key cannot revoke again (nor sign anything that passes).
    before = counts(db)
    again = client.post(
        f"/api/v1/certificates/{mother.serial}/revoke",
        json=_signed(mother, _request(mother.serial, reason="unspecified"), fmt),
    )
    assert (again.status_code, again.json()["error"]) == (409, "already_revoked")
    assert counts(db) == before
    assert _ocsp(client, father.certificate).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_holder_revocation_refusals(
    app: Any, client: Any, db: Session, ward: tuple[Any, dict[str, str], Holder, Holder]
) -> None:
    _, _, mother, father = ward
    settings = app.state.services.settings
    ca = service.ward_context(app_services(app)).ca
    facility = db.exec(select(Facility)).one()
    seal = load_seal(settings, "facility", facility.bin, ca.chain)
    sealer = Holder.__new__(Holder)
    sealer.key, sealer.certificate, sealer.chain = seal.key, seal.certificate, seal.chain

    tampered = _signed(mother, _request(mother.serial))
    tampered["request"] = {**tampered["request"], "reason": "unspecified"}
    garbled = _signed(mother, _request(mother.serial))
    garbled["signature"]["value"] = "not a signature"
    stale = (now() - timedelta(minutes=11)).isoformat(timespec="seconds")
    early = (now() + timedelta(minutes=11)).isoformat(timespec="seconds")
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        # Someone else's key: the father asks to revoke the mother's certificate.
        (mother.serial, _signed(father, _request(mother.serial)), 403, "signer_mismatch"),
        # The path and the signed request name different certificates.
        (father.serial, _signed(mother, _request(mother.serial)), 400, "serial_mismatch"),
        (
            mother.serial,
            _signed(mother, _request(mother.serial, requested_at=stale)),
            400,
            "stale_request",
        ),
        (
            mother.serial,
            _signed(mother, _request(mother.serial, requested_at=early)),
            400,
            "stale_request",
        ),
        (
            mother.serial,
            _signed(mother, _request(mother.serial, requested_at="yesterday")),
            400,
            "invalid_request",
        ),
        (
            mother.serial,
            _signed(mother, _request(mother.serial, reason="superseded")),
            400,
            "invalid_reason",
        ),
        (
            mother.serial,
            _signed(mother, _request(mother.serial, type="other/1")),
            400,
            "invalid_request",
        ),
        (mother.serial, _signed(mother, _request(mother.serial, note="x")), 400, "invalid_request"),
        (mother.serial, tampered, 400, "invalid_signature"),
        (mother.serial, garbled, 400, "invalid_signature"),
        # A seal is no individual's key.
        (
            facility.seal_serial,
            _signed(sealer, _request(facility.seal_serial)),
            400,
            "invalid_signature",
        ),
        ("XYZ", _signed(mother, _request("XYZ")), 400, "invalid_serial"),
        (mother.serial, {"request": _request(mother.serial)}, 422, "invalid_request"),
    ]
    before = counts(db)
    for serial, body, status, error in cases:
        response = client.post(f"/api/v1/certificates/{serial}/revoke", json=body)
        assert (response.status_code, response.json()["error"]) == (status, error), (
            error,
            response.text,
        )
        if error == "invalid_signature":
            assert response.json()["report"]["indication"] != "TOTAL_PASSED"
    assert counts(db) == before
    for holder in (mother, father):
        assert _ocsp(client, holder.certificate).certificate_status is ocsp.OCSPCertStatus.GOOD


# -- the registry sees a revocation at once ----------------------------------------------------


def _dossier(birth: dict[str, Any], holder: Holder, signed_at: Any) -> dict[str, Any]:
    from registry import factories

    record = birth["medical_record"]
    document = factories.application(record["document"])
    value = jws.sign_detached(
        canonicalize(document),
        holder.certificate,
        holder.key,
        signing_time=signed_at,
        chain=holder.chain,
    )
    return {
        "medical_record": record,
        "application": {"document": document, "signatures": [{"format": "jws", "value": value}]},
    }


def test_a_key_revoked_at_the_ward_cannot_sign_two_seconds_later(
    app: Any, client: Any, db: Session
) -> None:
    """The attack of the issue: the mother's key is revoked for compromise; a dossier signed
    with it two seconds later is refused as REVOKED at once, although the registry holds a
    "good" answer from just before (it asks again for information newer than the signature)."""
    _, headers = staff(app)
    first_birth, second_birth = record_birth(client, headers), record_birth(client, headers)
    mother = Holder(
        *enroll_with_csr(client, start_enrollment(client, headers, first_birth["id"])["code"])
    )
    submissions = "/api/v1/registry/submissions"
    accepted = client.post(submissions, json=_dossier(first_birth, mother, now()))
    assert accepted.status_code == 201, accepted.text
    response = client.post(
        f"/api/v1/ward/certificates/{mother.serial}/revoke",
        json={"reason": "key_compromise"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    revoked_at = db.get(IssuedCertificate, mother.serial).revoked_at  # type: ignore[union-attr]
    assert revoked_at is not None
    refused = client.post(
        submissions, json=_dossier(second_birth, mother, revoked_at + timedelta(seconds=2))
    )
    assert refused.status_code == 422, refused.text
    document = next(d for d in refused.json()["report"]["documents"] if d["kind"] == "application")
    (signature,) = document["signatures"]
    assert (signature["indication"], signature["sub_indication"]) == ("TOTAL_FAILED", "REVOKED")
    assert signature["revocation"]["state"] == "revoked"
    assert not any(
        "good per" in c["detail"]
        for c in signature["checks"]
        if c["name"] == "revocation" and c["detail"].startswith("signer")
    )
    assert db.exec(select(func.count()).select_from(Submission)).one() == 1
