"""The OCSP GET form's decoding (RFC 6960 appendix A.1), which the /pki/ocsp/{path} route does
before `signing.ocsp.respond` reads the DER."""

from __future__ import annotations

import base64
import urllib.parse
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st

from birthreg.pki.api import ocsp_request_from_get_path
from signing.ocsp import respond

if TYPE_CHECKING:
    from conftest import PKI


def test_get_path_round_trip(pki: PKI) -> None:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        pki.mother.certificate, pki.ca.issuing_certificate, hashes.SHA256()
    )
    builder = builder.add_extension(x509.OCSPNonce(b"\xfb\xff" * 16), critical=False)
    der = builder.build().public_bytes(serialization.Encoding.DER)
    encoded = base64.b64encode(der).decode()
    assert ocsp_request_from_get_path(urllib.parse.quote(encoded, safe="")) == der
    assert ocsp_request_from_get_path(encoded) == der  # '+', '/' and '=' left unescaped
    assert ocsp_request_from_get_path(encoded.replace("+", " ")) == der  # '+' read as a space
    assert ocsp_request_from_get_path(encoded.rstrip("=")) == der
    assert ocsp_request_from_get_path(base64.urlsafe_b64encode(der).decode()) == der
    body = ocsp_request_from_get_path(urllib.parse.quote(encoded, safe=""))
    assert body is not None
    answer = respond(body, ca=pki.ca, statuses=pki.statuses, moment=pki.moment)
    assert ocsp.load_der_ocsp_response(answer).certificate_status is ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize(
    "path",
    ["", "%", "%zz", "!!!!", "abc*def", "A" * 100_000, "=", "%00%00", "%ff%fe", "MEo%c3", "МЕо"],
)
def test_bad_get_paths(path: str) -> None:
    assert ocsp_request_from_get_path(path) is None


@settings(max_examples=200, deadline=None)
@given(path=st.text(max_size=200))
def test_get_path_decoding_never_raises(path: str) -> None:
    decoded = ocsp_request_from_get_path(path)
    assert decoded is None or (isinstance(decoded, bytes) and decoded)
