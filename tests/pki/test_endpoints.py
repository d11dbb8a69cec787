"""The /pki endpoints over the CA's records: seal, CRL and OCSP change at once on revocation."""

from __future__ import annotations

import base64
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlmodel import Session, select

from birthreg.db import make_engine
from birthreg.models import Facility, RegistryOffice, now
from birthreg.pki.fetch import InProcessRevocationFetcher
from birthreg.pki.service import certification_authority, revoke
from birthreg.services import app_services
from signing.identity import signer_bin
from signing.report import RevocationState
from signing.revocation import crl_urls


def _certificate(client: Any, db: Session, table: Any) -> x509.Certificate:
    from birthreg.models import IssuedCertificate

    serial = db.exec(select(table)).one().seal_serial
    return x509.load_der_x509_certificate(db.get(IssuedCertificate, serial).der)  # type: ignore[union-attr]


def _crl_path(certificate: x509.Certificate) -> str:
    """The path of the CRL the certificate's distribution point names."""
    (url,) = crl_urls(certificate)
    return urllib.parse.urlsplit(url).path


def _ocsp_request(
    certificate: x509.Certificate, issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> bytes:
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer, algorithm)
        .build()
        .public_bytes(serialization.Encoding.DER)
    )


def _revoke(app: Any, serial: int) -> None:
    engine = make_engine(app.state.services.settings.database_url)
    try:
        with Session(engine) as session:
            revoke(
                session,
                serial,
                x509.ReasonFlags.key_compromise,
                now(),
                actor="staff:test",
                role="ward",
            )
            session.commit()
    finally:
        engine.dispose()


def test_pem_endpoints(client: Any, db: Session) -> None:
    root = x509.load_pem_x509_certificate(client.get("/pki/root.pem").content)
    issuing = x509.load_pem_x509_certificate(client.get("/pki/ca.pem").content)
    response = client.get("/pki/seal.pem")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pem-file"
    seal = x509.load_pem_x509_certificate(response.content)
    assert signer_bin(seal) == db.exec(select(RegistryOffice)).one().bin
    seal.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)


def test_crl_is_reissued_at_once_after_a_revocation(app: Any, client: Any, db: Session) -> None:
    """The seal's CRL is its partition's, where its distribution point points."""
    issuing = x509.load_pem_x509_certificate(client.get("/pki/ca.pem").content)
    seal = _certificate(client, db, Facility)
    path = _crl_path(seal)
    assert path == "/pki/crl/1"
    first = x509.load_der_x509_crl(client.get(path).content)
    assert first.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    again = x509.load_der_x509_crl(client.get(path).content)
    number = x509.CRLNumber
    assert again.extensions.get_extension_for_class(number).value.crl_number == (
        first.extensions.get_extension_for_class(number).value.crl_number
    )  # unchanged: served from the database, not rebuilt per request
    legacy = client.get("/pki/crl").content
    _revoke(app, seal.serial_number)
    assert client.get("/pki/crl").content == legacy  # the legacy partition did not change
    after = x509.load_der_x509_crl(client.get(path).content)
    assert after.extensions.get_extension_for_class(number).value.crl_number > (
        first.extensions.get_extension_for_class(number).value.crl_number
    )
    entry = after.get_revoked_certificate_by_serial_number(seal.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )


# SHA-1 CertIDs are what `openssl ocsp` sends by default; the responder must answer them.
@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])  # noqa: S303
def test_ocsp_post_and_get(
    app: Any, client: Any, db: Session, algorithm: hashes.HashAlgorithm
) -> None:
    issuing = x509.load_pem_x509_certificate(client.get("/pki/ca.pem").content)
    seal = _certificate(client, db, Facility)
    request = _ocsp_request(seal, issuing, algorithm)

    def ask(method: str) -> ocsp.OCSPResponse:
        if method == "POST":
            response = client.post(
                "/pki/ocsp", content=request, headers={"Content-Type": "application/ocsp-request"}
            )
        else:
            encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
            response = client.get(f"/pki/ocsp/{encoded}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/ocsp-response"
        return ocsp.load_der_ocsp_response(response.content)

    for method in ("POST", "GET"):
        answer = ask(method)
        assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    _revoke(app, seal.serial_number)
    for method in ("POST", "GET"):
        answer = ask(method)
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason is x509.ReasonFlags.key_compromise


def test_ocsp_refuses_garbage_with_an_ocsp_error(client: Any) -> None:
    for body in (b"", b"garbage", b"\x30\x03\x02\x01\x01"):
        response = client.post("/pki/ocsp", content=body)
        assert response.status_code == 200
        answer = ocsp.load_der_ocsp_response(response.content)
        assert answer.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    response = client.get("/pki/ocsp/%%%not-base64")
    assert ocsp.load_der_ocsp_response(response.content).response_status is (
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )
    # Escapes of bytes that are no UTF-8 (or no ASCII, which base64 never has): the OCSP error
    # in an OCSP answer (RFC 6960 answers its errors with HTTP 200), never a 500.
    for path in ("%ff%fe", "MEMw%C3%28", "%C0%AF", "MEMw%E2%80%AE", "ü"):
        response = client.get(f"/pki/ocsp/{path}")
        assert response.status_code == 200, path
        assert ocsp.load_der_ocsp_response(response.content).response_status is (
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        )
    too_big = client.post("/pki/ocsp", content=b"\x30" * (64 * 1024))
    assert ocsp.load_der_ocsp_response(too_big.content).response_status is (
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_in_process_fetcher_gives_the_same_answers(app: Any, client: Any, db: Session) -> None:
    from signing.trust import TrustAnchors, Validator

    ca = certification_authority(app_services(app))
    fetcher = InProcessRevocationFetcher(app.state.services.engine, ca)
    validator = Validator(TrustAnchors([ca.root_certificate]), fetcher)
    seal = _certificate(client, db, Facility)
    assert validator.revocation.status(seal, ca.issuing_certificate, now()).state is (
        RevocationState.GOOD
    )
    crl = x509.load_der_x509_crl(fetcher.fetch_crl(crl_urls(seal)[0]))
    assert crl.get_revoked_certificate_by_serial_number(seal.serial_number) is None
    _revoke(app, seal.serial_number)
    validator.cache.clear()
    assert validator.revocation.status(seal, ca.issuing_certificate, now()).state is (
        RevocationState.REVOKED
    )
    with pytest.raises(OSError):
        engine = app.state.services.engine
        InProcessRevocationFetcher(engine, ca, fallback=_Unreachable()).fetch_crl(
            "http://elsewhere.test/crl"
        )


class _Unreachable:
    def fetch_crl(self, url: str) -> bytes:
        raise ConnectionRefusedError(url)

    def post_ocsp(self, url: str, request_der: bytes) -> bytes:
        raise ConnectionRefusedError(url)


@pytest.mark.openssl
def test_openssl_ocsp_against_the_running_responder(live_server: str, tmp_path: Path) -> None:
    def fetch(path: str) -> bytes:
        with urllib.request.urlopen(live_server + path, timeout=10) as response:  # noqa: S310
            return bytes(response.read())

    root, issuing, seal = (tmp_path / name for name in ("root.pem", "ca.pem", "seal.pem"))
    root.write_bytes(fetch("/pki/root.pem"))
    issuing.write_bytes(fetch("/pki/ca.pem"))
    seal.write_bytes(fetch("/pki/seal.pem"))
    for digest in ([], ["-sha256"]):
        result = subprocess.run(
            [
                "openssl",
                "ocsp",
                "-issuer",
                issuing,
                *digest,
                "-cert",
                seal,
                "-url",
                f"{live_server}/pki/ocsp",
                "-CAfile",
                root,
                "-resp_text",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Response verify OK" in result.stderr + result.stdout
        assert f"{seal}: good" in result.stdout
    crl = tmp_path / "crl.der"
    crl.write_bytes(fetch("/pki/crl"))
    result = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", crl, "-CAfile", issuing, "-noout"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and "verify OK" in result.stderr + result.stdout


# -- certificates where certificates point, the root's CRL, each CRL's scope ---------------------


def test_certificates_in_der_where_certificates_point(client: Any, db: Session) -> None:
    issuing_pem = x509.load_pem_x509_certificate(client.get("/pki/ca.pem").content)
    root_pem = x509.load_pem_x509_certificate(client.get("/pki/root.pem").content)
    seal = _certificate(client, db, Facility)
    (issuers,) = [
        a.access_location.value
        for a in seal.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        if a.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS
    ]
    for path, expected in (
        (urllib.parse.urlsplit(issuers).path, issuing_pem),
        ("/pki/root.cer", root_pem),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pkix-cert"  # RFC 5280 4.2.2.1
        assert x509.load_der_x509_certificate(response.content) == expected


def test_the_roots_crl_is_served_where_the_issuing_ca_points(client: Any) -> None:
    root = x509.load_pem_x509_certificate(client.get("/pki/root.pem").content)
    issuing = x509.load_pem_x509_certificate(client.get("/pki/ca.pem").content)
    (point,) = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    (url,) = point.full_name  # type: ignore[misc]
    response = client.get(urllib.parse.urlsplit(url.value).path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkix-crl"
    arl = x509.load_der_x509_crl(response.content)
    assert arl.issuer == root.subject
    assert arl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    scope = arl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    assert scope.full_name is None  # it covers the root itself too, which points nowhere
    assert scope.only_contains_ca_certs and not scope.only_contains_user_certs
    again = x509.load_der_x509_crl(client.get("/pki/root.crl").content)
    number = x509.CRLNumber
    assert again.extensions.get_extension_for_class(number).value.crl_number == (
        arl.extensions.get_extension_for_class(number).value.crl_number
    )  # served as stored
    # One number sequence for both CRLs: no two CRLs share a number.
    crl = x509.load_der_x509_crl(client.get("/pki/crl").content)
    assert crl.extensions.get_extension_for_class(number).value.crl_number != (
        arl.extensions.get_extension_for_class(number).value.crl_number
    )


def test_the_crl_names_its_scope(client: Any, db: Session) -> None:
    seal = _certificate(client, db, Facility)
    (point,) = seal.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    crl = x509.load_der_x509_crl(client.get(_crl_path(seal)).content)
    scope = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert scope.critical
    assert scope.value.full_name == point.full_name
    assert scope.value.only_contains_user_certs and not scope.value.only_contains_ca_certs


def _revoked_row(serial: str, not_after: Any, revoked_at: Any) -> Any:
    from birthreg.models import IssuedCertificate

    return IssuedCertificate(
        serial=serial,
        profile="individual",
        der=b"\x30\x00",
        not_before=not_after,
        not_after=not_after,
        issued_at=not_after,
        revoked_at=revoked_at,
        revocation_reason="key_compromise",
        crl_partition=1,  # the seals'
    )


def test_expired_certificates_leave_the_crl_after_one_crl_past_their_expiry(
    app: Any, client: Any, db: Session
) -> None:
    from datetime import timedelta

    long_ago = now() - timedelta(days=400)
    db.add(_revoked_row("abc1", long_ago, long_ago - timedelta(days=1)))
    db.commit()
    seal = _certificate(client, db, Facility)
    first = x509.load_der_x509_crl(client.get(_crl_path(seal)).content)
    assert first.get_revoked_certificate_by_serial_number(0xABC1) is not None
    # A new revocation: the next CRL is issued after one that listed the expired certificate.
    _revoke(app, seal.serial_number)
    second = x509.load_der_x509_crl(client.get(_crl_path(seal)).content)
    assert second.get_revoked_certificate_by_serial_number(seal.serial_number) is not None
    assert second.get_revoked_certificate_by_serial_number(0xABC1) is None
    assert len(second) == 1


@pytest.mark.parametrize(
    "path",
    [
        "%ff%fe",
        "%25ff%25fe",
        "%C3%28",
        "MEo%E0%80%80",
        "ЖЖЖЖ",
        "..%2F..%2Fetc",
        "%00",
        "a%2Fb%3D",
        "A" * 30000,
    ],
)
def test_ocsp_get_with_garbage_answers_malformed_request(client: Any, path: str) -> None:
    response = client.get(f"/pki/ocsp/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    answer = ocsp.load_der_ocsp_response(response.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_get_over_the_wire_with_invalid_utf8(live_server: str) -> None:
    """What uvicorn hands the route is the path percent-decoded once: an escaped escape of a
    byte that is no UTF-8 reaches the decoder as "%ff", and is refused as an OCSP error."""
    import http.client

    address = urllib.parse.urlsplit(live_server)
    for path in ("%25ff%25fe", "%2525C3%2528", "%ff", "%C3%28", "MEo%25E0%2580%2580"):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        try:
            connection.request("GET", f"/pki/ocsp/{path}")
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        assert response.status == 200, (path, body[:200])
        answer = ocsp.load_der_ocsp_response(body)
        assert answer.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_a_data_dir_made_before_the_roots_crl_keeps_working(service_settings: Any) -> None:
    """An existing data dir: its issuing CA certificate names no CRL (it is kept as it is).
    `birthreg init` runs on it again, the root's CRL is served and covers it, and signatures
    under it still pass (its own status is not looked up: it points nowhere)."""
    from datetime import timedelta

    from cryptography.hazmat.primitives.asymmetric import ec
    from fastapi.testclient import TestClient

    from birthreg.bootstrap import initialise
    from birthreg.config import make_data_dir
    from birthreg.main import create_app
    from birthreg.pki.seals import load_seal
    from signing import cms
    from signing.ca import ISSUING_NAME, ROOT_NAME, CertificationAuthority
    from signing.ca.profiles import CAProfile, ca_certificate
    from signing.trust import TrustAnchors, Validator

    settings = service_settings
    make_data_dir(settings)
    settings.write_development_secrets()
    made = now() - timedelta(days=30)
    root_key, issuing_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    root = ca_certificate(CAProfile(ROOT_NAME, root_key.public_key(), ROOT_NAME, root_key, made,
                                    made + timedelta(days=3650), path_length=1, signs_ocsp=False))
    issuing = ca_certificate(CAProfile(ISSUING_NAME, issuing_key.public_key(), ROOT_NAME, root_key,
                                       made, made + timedelta(days=365), path_length=0,
                                       signs_ocsp=True))
    CertificationAuthority(
        root_key=root_key, root_certificate=root, issuing_key=issuing_key,
        issuing_certificate=issuing, base_url=settings.base_url,
    ).save(settings.ca_directory, settings.ca_passphrase_bytes())
    initialise(settings)
    assert not initialise(settings).changed
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        served = x509.load_pem_x509_certificate(client.get("/pki/ca.pem").content)
        assert served == issuing  # kept as it was
        arl = x509.load_der_x509_crl(client.get("/pki/root.crl").content)
        scope = arl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
        assert scope.full_name is None and scope.only_contains_ca_certs
        ca = certification_authority(app_services(app))
        with Session(app.state.services.engine) as session:
            facility = session.exec(select(Facility)).one()
        seal = load_seal(settings, "facility", facility.bin, ca.chain)
        content = b'{"type": "test"}'
        der = cms.sign_detached(
            content, seal.certificate, seal.key, chain=seal.chain, signing_time=now()
        )
        fetcher = InProcessRevocationFetcher(app.state.services.engine, ca)
        report = Validator(TrustAnchors([root]), fetcher).validate(
            cms.verify_detached(der, content), moment=now(), purpose="organisation"
        )
        assert report.passed, report.to_json()
        details = [c.detail for c in report.checks if c.name == "revocation"]
        assert details[1].endswith("no revocation pointers (CA)")
