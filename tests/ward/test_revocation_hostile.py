"""The key holder's revocation request under hostile headers: a `sigT` at the calendar's edge,
signed by the holder's own key, is a 4xx with a report, and nothing is revoked."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from jws_reheader import reheader
from sqlmodel import Session

from birthreg.models import now
from signing import jws
from signing.canonical import canonicalize
from ward.helpers import counts, enroll_with_csr, record_birth, staff, start_enrollment


@pytest.mark.parametrize("sig_t", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_sigt_at_the_calendars_edge_is_refused(
    app: Any, client: Any, db: Session, sig_t: str
) -> None:
    _, headers = staff(app)
    birth_id = record_birth(client, headers)["id"]
    key, result = enroll_with_csr(client, start_enrollment(client, headers, birth_id)["code"])
    certificate = x509.load_pem_x509_certificate(result["certificate_pem"].encode())
    chain = tuple(x509.load_pem_x509_certificates(result["chain_pem"].encode()))
    serial = format(certificate.serial_number, "x")
    request = {
        "type": "birthreg.revocation-request/1",
        "serial": serial,
        "reason": "key_compromise",
        "requested_at": now().isoformat(timespec="seconds"),
    }
    honest = jws.sign_detached(
        canonicalize(request), certificate, key, signing_time=now(), chain=chain
    )
    body = {
        "request": request,
        "signature": {"format": "jws", "value": reheader(honest, key, request, sigT=sig_t)},
    }
    before = counts(db)
    response = client.post(f"/api/v1/certificates/{serial}/revoke", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_signature"
    assert response.json()["report"]["indication"] != "TOTAL_PASSED"
    assert counts(db) == before
    # The same request with the honest header revokes: the refusal was the header's.
    honest_body = {"request": request, "signature": {"format": "jws", "value": honest}}
    assert client.post(f"/api/v1/certificates/{serial}/revoke", json=honest_body).status_code == 200
