"""The TEST PKI read and checked by the real `openssl` command line: chains, PKCS#12, CRL, OCSP.

The test PKI is dated around a fixed moment, so every openssl check runs with `-attime` at that
moment (and OCSP with a wide `-validity_period`), never against the machine's clock.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import MOTHER
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.ca import (
    ISSUING_NAME,
    ROOT_NAME,
    CertificationAuthority,
    InMemoryCertificateStatus,
    Profile,
    export_pkcs12,
)
from signing.ca.profiles import CAProfile, ca_certificate
from signing.ocsp import respond

if TYPE_CHECKING:
    from conftest import PKI, Party

pytestmark = [
    pytest.mark.openssl,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed"),
]

PFX_PASSWORD = "ward-desk-2026"
#: OCSP answers are dated at the fixture's moment, not now: tolerate any discrepancy.
VALIDITY_PERIOD = str(100 * 365 * 24 * 3600)


def _openssl(*arguments: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["openssl", *map(str, arguments)], capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"openssl {' '.join(map(str, arguments))} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def _pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
    return path


class Files:
    def __init__(self, directory: Path, pki: PKI) -> None:
        self.directory = directory
        self.root = _pem(directory / "root.pem", pki.ca.root_certificate)
        self.issuing = _pem(directory / "ca.pem", pki.ca.issuing_certificate)
        self.chain = _pem(
            directory / "chain.pem", pki.ca.root_certificate, pki.ca.issuing_certificate
        )
        self.attime = str(int(pki.moment.timestamp()))

    def leaf(self, name: str, party: Party) -> Path:
        return _pem(self.directory / f"{name}.pem", party.certificate)


@pytest.fixture
def files(tmp_path: Path, pki: PKI) -> Files:
    return Files(tmp_path, pki)


# -- chains -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["mother", "father", "facility", "registry_office", "rsa_signer"])
@pytest.mark.parametrize("purpose", [None, "smimesign"])
def test_openssl_verifies_issued_certificates(
    files: Files, pki: PKI, role: str, purpose: str | None
) -> None:
    leaf = files.leaf(role, getattr(pki, role))
    purpose_arguments = ["-purpose", purpose] if purpose else []
    result = _openssl(
        "verify", "-attime", files.attime, "-x509_strict", *purpose_arguments,
        "-CAfile", files.root, "-untrusted", files.issuing, leaf,
    )
    assert result.stdout.strip() == f"{leaf}: OK"


@pytest.mark.parametrize("role", ["other_ca_signer", "self_signed_with_iin", "expired_signer"])
def test_openssl_refuses_what_it_should(files: Files, pki: PKI, role: str) -> None:
    leaf = files.leaf(role, getattr(pki, role))
    result = _openssl(
        "verify", "-attime", files.attime, "-CAfile", files.root, "-untrusted", files.issuing,
        leaf, check=False,
    )
    assert result.returncode != 0
    assert "OK" not in result.stdout


def test_openssl_reads_the_ca_certificates(files: Files) -> None:
    text = _openssl("x509", "-in", files.issuing, "-noout", "-text").stdout
    assert "CA:TRUE, pathlen:0" in text
    assert "Certificate Sign, CRL Sign" in text
    assert "NOT FOR PRODUCTION" in text
    text = _openssl("x509", "-in", files.root, "-noout", "-text").stdout
    assert "CA:TRUE, pathlen:1" in text


# -- PKCS#12 ----------------------------------------------------------------------------------


def test_openssl_reads_the_pkcs12_key_file(files: Files, pki: PKI) -> None:
    pfx = files.directory / "mother.p12"
    pfx.write_bytes(
        export_pkcs12(
            pki.mother.key, pki.mother.certificate, pki.mother.chain,
            password=PFX_PASSWORD.encode(), friendly_name=b"mother",
        )
    )
    result = _openssl("pkcs12", "-info", "-noout", "-in", pfx, "-passin", f"pass:{PFX_PASSWORD}")
    info = result.stdout + result.stderr
    assert "MAC: sha256, Iteration 2048" in info
    assert info.count("PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256") == 2
    wrong = _openssl(
        "pkcs12", "-info", "-noout", "-in", pfx, "-passin", "pass:wrong password", check=False
    )
    assert wrong.returncode != 0
    # The key and certificate come back out and belong together.
    extracted = _openssl(
        "pkcs12", "-in", pfx, "-passin", f"pass:{PFX_PASSWORD}", "-nodes", "-clcerts"
    ).stdout
    assert "BEGIN PRIVATE KEY" in extracted and "BEGIN CERTIFICATE" in extracted
    assert "friendlyName: mother" in extracted


# -- CRL --------------------------------------------------------------------------------------


def test_openssl_reads_and_verifies_the_crl(files: Files, pki: PKI) -> None:
    revoked_serial = pki.revoked_signer.certificate.serial_number
    crl = pki.ca.build_crl(
        pki.statuses.revoked(), number=7, moment=pki.moment + timedelta(days=2)
    )
    path = files.directory / "crl.der"
    path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    text = _openssl("crl", "-inform", "DER", "-in", path, "-noout", "-text").stdout
    serial_hex = f"{revoked_serial:X}"
    serial_hex = "0" * (len(serial_hex) % 2) + serial_hex  # openssl prints whole octets
    entry = re.search(
        rf"Serial Number: {serial_hex}\n\s+Revocation Date: (.*)\n\s+CRL entry extensions:\n"
        r"\s+X509v3 CRL Reason Code: \n\s+Key Compromise",
        text,
    )
    assert entry is not None, text
    assert entry.group(1) == "Jun  2 12:00:00 2026 GMT"
    assert re.search(r"X509v3 CRL Number: \n\s+7\n", text)
    assert "X509v3 Authority Key Identifier" in text
    assert "Next Update: Jun  4 12:00:00 2026 GMT" in text
    assert "Issuer: CN = birthreg TEST Issuing CA - NOT FOR PRODUCTION" in text
    verified = _openssl("crl", "-inform", "DER", "-in", path, "-noout", "-CAfile", files.issuing)
    assert "verify OK" in verified.stdout + verified.stderr


def _crls(files: Files, name: str, *crls: x509.CertificateRevocationList) -> Path:
    path = files.directory / name
    path.write_bytes(b"".join(crl.public_bytes(serialization.Encoding.PEM) for crl in crls))
    return path


@pytest.mark.parametrize("role", ["mother", "facility"])
def test_openssl_checks_every_ca_with_both_crls(files: Files, pki: PKI, role: str) -> None:
    """`-crl_check_all` wants a CRL for every CA in the path: the issuing CA's for the leaf and
    the root's own (the ARL) for the issuing CA; each in its scope (issuingDistributionPoint)."""
    crl = pki.ca.build_crl(pki.statuses.revoked(), number=7, moment=pki.moment)
    arl = pki.ca.build_arl(number=8, moment=pki.moment)
    leaf = files.leaf(role, getattr(pki, role))
    check = ["verify", "-attime", files.attime, "-x509_strict", "-crl_check_all",
             "-CAfile", files.root, "-untrusted", files.issuing]
    result = _openssl(*check, "-CRLfile", _crls(files, "both.pem", crl, arl), leaf)
    assert result.stdout.strip() == f"{leaf}: OK"
    without_arl = _openssl(*check, "-CRLfile", _crls(files, "crl.pem", crl), leaf, check=False)
    assert without_arl.returncode != 0
    assert "unable to get certificate CRL" in without_arl.stdout + without_arl.stderr
    text = _openssl("crl", "-in", _crls(files, "arl.pem", arl), "-noout", "-text").stdout
    assert "Issuing Distribution Point" in text and "Only CA Certificates" in text


def test_openssl_checks_a_ca_made_before_the_arl_pointer(files: Files, pki: PKI) -> None:
    """An existing data dir's issuing CA names no CRL; its ARL still covers it."""
    made = pki.moment - timedelta(days=1)
    root_key, issuing_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    old = CertificationAuthority(
        root_key=root_key,
        root_certificate=ca_certificate(
            CAProfile(ROOT_NAME, root_key.public_key(), ROOT_NAME, root_key, made,
                      made + timedelta(days=3650), path_length=1, signs_ocsp=False)
        ),
        issuing_key=issuing_key,
        issuing_certificate=ca_certificate(  # as made before: no CRL, no caIssuers
            CAProfile(ISSUING_NAME, issuing_key.public_key(), ROOT_NAME, root_key, made,
                      made + timedelta(days=365), path_length=0, signs_ocsp=True)
        ),
        base_url="http://old.test",
    )
    mother = old.issue(
        ec.generate_private_key(ec.SECP256R1()).public_key(), MOTHER,
        profile=Profile.INDIVIDUAL, moment=pki.moment,
    )
    crls = _crls(
        files, "old.pem",
        old.build_crl([], number=1, moment=pki.moment), old.build_arl(number=2, moment=pki.moment),
    )
    leaf = _pem(files.directory / "old-mother.pem", mother)
    result = _openssl(
        "verify", "-attime", files.attime, "-x509_strict", "-crl_check_all",
        "-CAfile", _pem(files.directory / "old-root.pem", old.root_certificate),
        "-untrusted", _pem(files.directory / "old-ca.pem", old.issuing_certificate),
        "-CRLfile", crls, leaf,
    )
    assert result.stdout.strip() == f"{leaf}: OK"


def test_openssl_refuses_a_revoked_signer_with_both_crls(files: Files, pki: PKI) -> None:
    later = pki.moment + timedelta(days=2)
    crl = pki.ca.build_crl(pki.statuses.revoked(), number=10, moment=later)
    arl = pki.ca.build_arl(number=11, moment=later)
    leaf = files.leaf("revoked", pki.revoked_signer)
    result = _openssl(
        "verify", "-attime", str(int(later.timestamp())), "-crl_check_all",
        "-CAfile", files.root, "-untrusted", files.issuing,
        "-CRLfile", _crls(files, "later.pem", crl, arl), leaf, check=False,
    )
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr


def test_openssl_checks_a_certificate_against_its_partitions_crl(files: Files, pki: PKI) -> None:
    """`openssl verify -crl_check` with the CRL of the certificate's partition (its IDP names the
    URL the certificate's CDP names): good, then revoked; the CRL of another partition, or the
    legacy /pki/crl, does not cover it (openssl: "different CRL scope")."""
    statuses = InMemoryCertificateStatus()
    later = pki.moment + timedelta(days=2)
    leaves = []
    for name in ("good", "revoked"):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = pki.ca.issue(
            key.public_key(), MOTHER, profile=Profile.INDIVIDUAL, moment=pki.moment,
            crl_partition=5,
        )
        statuses.add(certificate)
        leaves.append(_pem(files.directory / f"partition-{name}.pem", certificate))
    statuses.revoke(
        x509.load_pem_x509_certificate(leaves[1].read_bytes()).serial_number, pki.moment
    )
    check = ["verify", "-attime", str(int(later.timestamp())), "-x509_strict", "-crl_check",
             "-CAfile", files.root, "-untrusted", files.issuing]
    own = _crls(files, "p5.pem", pki.ca.build_crl(statuses.revoked(), number=20, moment=later,
                                                  partition=5))
    good, revoked = leaves
    assert _openssl(*check, "-CRLfile", own, good).stdout.strip() == f"{good}: OK"
    refused = _openssl(*check, "-CRLfile", own, revoked, check=False)
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr
    text = _openssl("crl", "-in", own, "-noout", "-text").stdout
    assert re.search(r"Issuing Distribution Point: critical\n\s+Full Name:\n\s+URI:"
                     rf"{re.escape(pki.ca.base_url)}/pki/crl/5\s+Only User Certificates", text)
    for other in (3, 0):
        crl = pki.ca.build_crl([], number=21 + other, moment=later, partition=other)
        result = _openssl(*check, "-CRLfile", _crls(files, f"p{other}.pem", crl), revoked,
                          check=False)
        assert result.returncode != 0, other
        assert "different CRL scope" in result.stdout + result.stderr


def test_openssl_finds_a_crl_signed_by_another_ca_bad(files: Files, pki: PKI) -> None:
    crl = pki.other_ca.build_crl([], number=1, moment=pki.moment)
    path = files.directory / "other.der"
    path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    # Same issuer name, other key: openssl must not accept it as ours.
    result = _openssl(
        "crl", "-inform", "DER", "-in", path, "-noout", "-CAfile", files.issuing, check=False
    )
    assert "verify OK" not in result.stdout + result.stderr


# -- OCSP -------------------------------------------------------------------------------------


def _ocsp_round(
    files: Files, pki: PKI, name: str, party: Party, digest: str | None,
    statuses: InMemoryCertificateStatus | None = None,
) -> tuple[str, str]:
    """Make a request with openssl, answer it with respond(), check the answer with openssl.

    Returns (the output checking the answer against the original request, nonce included;
    the output naming the certificate's status)."""
    leaf = files.leaf(name, party)
    request = files.directory / f"{name}-{digest}-req.der"
    response = files.directory / f"{name}-{digest}-resp.der"
    digest_arguments = [f"-{digest}"] if digest else []
    _openssl(
        "ocsp", "-issuer", files.issuing, *digest_arguments, "-cert", leaf, "-nonce",
        "-reqout", request,
    )
    response.write_bytes(
        respond(
            request.read_bytes(), ca=pki.ca, statuses=statuses or pki.statuses,
            moment=pki.moment + timedelta(days=2),
        )
    )
    common = [
        "-respin", response, "-CAfile", files.chain, "-attime",
        str(int((pki.moment + timedelta(days=2)).timestamp())),
        "-validity_period", VALIDITY_PERIOD,
    ]
    # With the original request, openssl checks that the nonce came back.
    against_request = _openssl("ocsp", "-reqin", request, *common, "-resp_text")
    # With the certificate named, openssl prints its status (no request: no nonce to compare).
    named = _openssl(
        "ocsp", "-issuer", files.issuing, *digest_arguments, "-cert", leaf, "-no_nonce", *common
    )
    for result in (against_request, named):
        output = result.stdout + result.stderr
        assert "Response verify OK" in output
        assert "Nonce Verify error" not in output
        assert "WARNING" not in output
    return against_request.stdout + against_request.stderr, named.stdout


@pytest.mark.parametrize("digest", [None, "sha256"], ids=["sha1-default", "sha256"])
def test_openssl_ocsp_good(files: Files, pki: PKI, digest: str | None) -> None:
    full, named = _ocsp_round(files, pki, "mother", pki.mother, digest)
    assert "Cert Status: good" in full
    assert "WARNING: no nonce in response" not in full
    assert f"{files.directory / 'mother.pem'}: good" in named
    assert f"Hash Algorithm: {digest or 'sha1'}" in full


@pytest.mark.parametrize("digest", [None, "sha256"], ids=["sha1-default", "sha256"])
def test_openssl_ocsp_revoked(files: Files, pki: PKI, digest: str | None) -> None:
    full, named = _ocsp_round(files, pki, "revoked", pki.revoked_signer, digest)
    assert "Cert Status: revoked" in full
    assert "Revocation Reason: keyCompromise" in full
    assert f"{files.directory / 'revoked.pem'}: revoked" in named
    assert "Reason: keyCompromise" in named


@pytest.mark.parametrize("digest", [None, "sha256"], ids=["sha1-default", "sha256"])
def test_openssl_ocsp_unknown(files: Files, pki: PKI, digest: str | None) -> None:
    # The CA signed it, but it was never recorded as issued: the responder does not know it.
    full, named = _ocsp_round(
        files, pki, "unrecorded", pki.mother, digest, statuses=InMemoryCertificateStatus()
    )
    assert "Cert Status: unknown" in full
    assert f"{files.directory / 'unrecorded.pem'}: unknown" in named


def test_openssl_ocsp_other_issuer_is_unauthorized(files: Files, pki: PKI) -> None:
    leaf = files.leaf("other", pki.other_ca_signer)
    other_issuing = _pem(files.directory / "other-ca.pem", pki.other_ca.issuing_certificate)
    request = files.directory / "other-req.der"
    _openssl("ocsp", "-issuer", other_issuing, "-cert", leaf, "-reqout", request)
    response = files.directory / "other-resp.der"
    response.write_bytes(
        respond(request.read_bytes(), ca=pki.ca, statuses=pki.statuses, moment=pki.moment)
    )
    result = _openssl("ocsp", "-respin", response, "-resp_text", "-noverify", check=False)
    assert "unauthorized" in (result.stdout + result.stderr).lower()
