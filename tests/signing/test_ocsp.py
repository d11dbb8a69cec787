"""The OCSP responder (signing.ocsp): statuses, CertID hashes, nonces, errors (the GET form's
decoding is the route's: tests/pki/test_ocsp_get_path.py)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from hypothesis import given, settings
from hypothesis import strategies as st

from signing.ca import InMemoryCertificateStatus, random_serial
from signing.errors import CAError
from signing.ocsp import issuer_hashes, respond, unsuccessful

if TYPE_CHECKING:
    from conftest import PKI, Party

# SHA-1 CertIDs are what `openssl ocsp` sends by default; they identify, they do not protect.
HASHES = [hashes.SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()]  # noqa: S303
HASH_IDS = ["sha1", "sha256", "sha384", "sha512"]


def _request(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    algorithm: hashes.HashAlgorithm | None = None,
    nonce: bytes | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        certificate, issuer, algorithm or hashes.SHA256()
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _answer(pki: PKI, request: bytes, **kwargs: object) -> ocsp.OCSPResponse:
    der = respond(
        request,
        ca=pki.ca,
        statuses=pki.statuses,
        moment=pki.moment,
        **kwargs,  # type: ignore[arg-type]
    )
    return ocsp.load_der_ocsp_response(der)


def _ask(
    pki: PKI, party: Party, algorithm: hashes.HashAlgorithm | None = None
) -> ocsp.OCSPResponse:
    return _answer(pki, _request(party.certificate, pki.ca.issuing_certificate, algorithm))


def _issuer_key_bits(certificate: x509.Certificate) -> bytes:
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@pytest.mark.parametrize("algorithm", HASHES, ids=HASH_IDS)
def test_good(pki: PKI, algorithm: hashes.HashAlgorithm) -> None:
    response = _ask(pki, pki.mother, algorithm)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == pki.mother.certificate.serial_number
    assert isinstance(response.hash_algorithm, type(algorithm))
    request = ocsp.load_der_ocsp_request(
        _request(pki.mother.certificate, pki.ca.issuing_certificate, algorithm)
    )
    assert response.issuer_name_hash == request.issuer_name_hash
    assert response.issuer_key_hash == request.issuer_key_hash
    assert response.revocation_time_utc is None and response.revocation_reason is None


def test_response_is_signed_by_the_issuing_ca_and_dated_by_moment(pki: PKI) -> None:
    response = _answer(
        pki,
        _request(pki.mother.certificate, pki.ca.issuing_certificate),
        validity=timedelta(minutes=30),
    )
    issuing = pki.ca.issuing_certificate
    assert response.this_update_utc == pki.moment
    assert response.next_update_utc == pki.moment + timedelta(minutes=30)
    assert response.responder_name is None
    assert response.responder_key_hash == hashlib.sha1(_issuer_key_bits(issuing)).digest()  # noqa: S324
    assert response.certificates == [issuing]
    assert isinstance(response.signature_hash_algorithm, hashes.SHA256)
    public_key = issuing.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("algorithm", HASHES[:2], ids=HASH_IDS[:2])
def test_revoked(pki: PKI, algorithm: hashes.HashAlgorithm) -> None:
    response = _ask(pki, pki.revoked_signer, algorithm)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == pki.moment + timedelta(days=1)
    assert response.revocation_reason is x509.ReasonFlags.key_compromise


def test_revoked_without_a_reason(pki: PKI) -> None:
    statuses = InMemoryCertificateStatus()
    statuses.add(pki.father.certificate)
    statuses.revoke(pki.father.certificate.serial_number, pki.moment - timedelta(hours=1))
    der = respond(
        _request(pki.father.certificate, pki.ca.issuing_certificate),
        ca=pki.ca,
        statuses=statuses,
        moment=pki.moment,
    )
    response = ocsp.load_der_ocsp_response(der)
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == pki.moment - timedelta(hours=1)
    # "unspecified" is sent as no reason at all, as in the CRL.
    assert response.revocation_reason is None


@pytest.mark.parametrize("algorithm", HASHES[:2], ids=HASH_IDS[:2])
def test_unknown_serial(pki: PKI, algorithm: hashes.HashAlgorithm) -> None:
    issuing = pki.ca.issuing_certificate
    serial = random_serial()
    name_hash = _digest(algorithm, issuing.subject.public_bytes())
    key_hash = _digest(algorithm, _issuer_key_bits(issuing))
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, serial, algorithm)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = _answer(pki, request)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert response.serial_number == serial


def test_nonce_is_echoed(pki: PKI) -> None:
    nonce = bytes(range(32))
    response = _answer(
        pki, _request(pki.mother.certificate, pki.ca.issuing_certificate, nonce=nonce)
    )
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    without = _ask(pki, pki.mother)
    with pytest.raises(x509.ExtensionNotFound):
        without.extensions.get_extension_for_class(x509.OCSPNonce)


def test_oversized_nonce_is_malformed(pki: PKI) -> None:
    request = _request(pki.mother.certificate, pki.ca.issuing_certificate, nonce=b"n" * 129)
    assert _answer(pki, request).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    request = _request(pki.mother.certificate, pki.ca.issuing_certificate, nonce=b"n" * 128)
    assert _answer(pki, request).response_status is ocsp.OCSPResponseStatus.SUCCESSFUL


def _two_requests(pki: PKI) -> bytes:
    one = asn1_ocsp.OCSPRequest.load(_request(pki.mother.certificate, pki.ca.issuing_certificate))
    two = asn1_ocsp.OCSPRequest.load(_request(pki.father.certificate, pki.ca.issuing_certificate))
    request_list = one["tbs_request"]["request_list"]
    request_list.append(two["tbs_request"]["request_list"][0])
    one["tbs_request"]["request_list"] = request_list
    return one.dump(force=True)


def test_malformed_requests_get_malformed_request(pki: PKI) -> None:
    good = _request(pki.mother.certificate, pki.ca.issuing_certificate)
    two = _two_requests(pki)
    assert len(asn1_ocsp.OCSPRequest.load(two)["tbs_request"]["request_list"]) == 2
    for bad in (
        b"",
        b"garbage",
        b"\x30",
        b"\x30\x00",
        good[:-1],
        good[: len(good) // 2],
        good + b"\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"\x00" * 100_000,
        two,
        pki.mother.certificate.public_bytes(serialization.Encoding.DER),
    ):
        der = respond(bad, ca=pki.ca, statuses=pki.statuses, moment=pki.moment)
        response = ocsp.load_der_ocsp_response(der)
        assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        assert der == unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)


@pytest.mark.parametrize("serial", [0, -1, -(2**64), 2**160])
def test_impossible_serials_are_malformed(pki: PKI, serial: int) -> None:
    one = asn1_ocsp.OCSPRequest.load(_request(pki.mother.certificate, pki.ca.issuing_certificate))
    one["tbs_request"]["request_list"][0]["req_cert"]["serial_number"] = serial
    response = _answer(pki, one.dump(force=True))
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_critical_unknown_request_extension_is_malformed(pki: PKI) -> None:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(pki.mother.certificate, pki.ca.issuing_certificate, hashes.SHA256())
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"),
            critical=True,
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    assert _answer(pki, request).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_another_issuer_is_unauthorized(pki: PKI) -> None:
    # The other CA has the same names as ours, so only the key hash tells them apart.
    other_issuing = pki.other_ca.issuing_certificate
    assert other_issuing.subject == pki.ca.issuing_certificate.subject
    for algorithm in HASHES[:2]:
        request = _request(pki.other_ca_signer.certificate, other_issuing, algorithm)
        response = _answer(pki, request)
        assert response.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("algorithm", HASHES, ids=HASH_IDS)
def test_certid_hashes_of_an_issuer(pki: PKI, algorithm: hashes.HashAlgorithm) -> None:
    # The other CA has our issuing CA's name: its name hash is ours, its key hash its own; both
    # are what cryptography's request builder puts in a CertID.
    ours, other = pki.ca.issuing_certificate, pki.other_ca.issuing_certificate
    for issuer, leaf in ((ours, pki.mother.certificate), (other, pki.other_ca_signer.certificate)):
        name_hash, key_hash = issuer_hashes(issuer, algorithm)
        assert name_hash == _digest(algorithm, issuer.subject.public_bytes())
        assert key_hash == _digest(algorithm, _issuer_key_bits(issuer))
        request = ocsp.load_der_ocsp_request(_request(leaf, issuer, algorithm))
        assert (request.issuer_name_hash, request.issuer_key_hash) == (name_hash, key_hash)
    assert issuer_hashes(ours, algorithm)[0] == issuer_hashes(other, algorithm)[0]
    assert issuer_hashes(ours, algorithm)[1] != issuer_hashes(other, algorithm)[1]


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    context = hashes.Hash(algorithm)
    context.update(data)
    return context.finalize()


def test_the_issuing_ca_itself_is_not_answered_for(pki: PKI) -> None:
    # Only the issuing CA issues leaves; a CertID under the root is not ours to answer.
    request = _request(pki.ca.issuing_certificate, pki.ca.root_certificate)
    assert _answer(pki, request).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_issuer_name_hash_must_match_too(pki: PKI) -> None:
    issuing = pki.ca.issuing_certificate
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            hashlib.sha256(b"another name").digest(),
            hashlib.sha256(_issuer_key_bits(issuing)).digest(),
            pki.mother.certificate.serial_number,
            hashes.SHA256(),
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    assert _answer(pki, request).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_unsupported_certid_hash_is_unauthorized(pki: PKI) -> None:
    request = _request(pki.mother.certificate, pki.ca.issuing_certificate, hashes.SHA224())
    assert _answer(pki, request).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_validity_must_be_positive(pki: PKI) -> None:
    with pytest.raises(CAError):
        respond(
            _request(pki.mother.certificate, pki.ca.issuing_certificate),
            ca=pki.ca,
            statuses=pki.statuses,
            moment=pki.moment,
            validity=timedelta(0),
        )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_requests_never_raise(pki: PKI, data: st.DataObject) -> None:
    good = bytearray(
        _request(pki.mother.certificate, pki.ca.issuing_certificate, nonce=b"\x01" * 16)
    )
    position = data.draw(st.integers(0, len(good) - 1))
    action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if action == "flip":
        good[position] ^= data.draw(st.integers(1, 255))
    elif action == "cut":
        del good[position:]
    else:
        good[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    der = respond(bytes(good), ca=pki.ca, statuses=pki.statuses, moment=pki.moment)
    assert ocsp.load_der_ocsp_response(der).response_status in set(ocsp.OCSPResponseStatus)


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=300))
def test_random_bytes_never_raise(pki: PKI, garbage: bytes) -> None:
    der = respond(garbage, ca=pki.ca, statuses=pki.statuses, moment=pki.moment)
    assert ocsp.load_der_ocsp_response(der).response_status in set(ocsp.OCSPResponseStatus)

