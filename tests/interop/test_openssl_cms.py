"""signing.cms against the real `openssl cms` command line, both ways.

A tiny TEST CA and S/MIME-style signer certificates (EKU emailProtection, keyUsage
digitalSignature and nonRepudiation) are made with cryptography in tmp_path; OpenSSL signs,
we verify, and we sign, OpenSSL verifies.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing import cms as signing_cms
from signing.errors import SignatureFailure
from signing.report import SubIndication

pytestmark = [
    pytest.mark.openssl,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]

CONTENT = '{"type":"birthreg.medical-record/1","mother":{"surname":"TEST ӘБІЛҚЫЗЫ"}}\n'.encode()
# A window wide enough that OpenSSL, which checks validity at the current time, accepts it.
NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2049, 12, 31, tzinfo=UTC)
# The claimed signing time of our signatures: passed in, never read from a clock.
SIGNED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Signer:
    key_path: Path
    cert_path: Path
    certificate: x509.Certificate


@dataclass(frozen=True)
class TinyPKI:
    directory: Path
    ca_path: Path
    ca: x509.Certificate
    p256: Signer
    rsa: Signer


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
    ])


def _write_pem(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TinyPKI:
    directory = tmp_path_factory.mktemp("openssl-cms")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("TEST Birthreg Interop CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    def signer(label: str, private_key: Any) -> Signer:
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"TEST SIGNER {label}"))
            .issuer_name(ca_name)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=True, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key_path = directory / f"{label}.key"
        key_path.write_bytes(
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return Signer(key_path, _write_pem(directory / f"{label}.pem", certificate), certificate)

    (directory / "content.json").write_bytes(CONTENT)
    return TinyPKI(
        directory=directory,
        ca_path=_write_pem(directory / "ca.pem", ca),
        ca=ca,
        p256=signer("p256", ec.generate_private_key(ec.SECP256R1())),
        rsa=signer("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    )


def openssl(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, arguments)], capture_output=True, text=True, check=False, timeout=60
    )


def openssl_sign(pki: TinyPKI, signer: Signer, *extra: str, md: str = "sha256") -> bytes:
    out = pki.directory / "openssl-signature.der"
    done = openssl(
        "cms", "-sign", "-binary", "-outform", "DER", "-md", md,
        "-in", pki.directory / "content.json",
        "-signer", signer.cert_path, "-inkey", signer.key_path,
        "-certfile", pki.ca_path,
        "-out", out, *extra,
    )
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def openssl_verify(
    pki: TinyPKI, signature: bytes, content: bytes
) -> subprocess.CompletedProcess[str]:
    signature_path = pki.directory / "our-signature.der"
    content_path = pki.directory / "content-to-check.bin"
    signature_path.write_bytes(signature)
    content_path.write_bytes(content)
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", signature_path,
        "-content", content_path, "-CAfile", pki.ca_path, "-out", "/dev/null",
    )


# OpenSSL signs, we verify.


@pytest.mark.parametrize(
    ("which", "extra", "algorithm"),
    [
        ("p256", (), "ecdsa-with-SHA256"),
        ("rsa", (), "sha256WithRSAEncryption"),
        ("rsa", ("-keyopt", "rsa_padding_mode:pss"), "rsassa-pss/SHA-256"),
        ("p256", ("-keyid",), "ecdsa-with-SHA256"),
        ("rsa", ("-keyid",), "sha256WithRSAEncryption"),
    ],
)
def test_openssl_signature_verifies(
    pki: TinyPKI, which: str, extra: tuple[str, ...], algorithm: str
) -> None:
    signer: Signer = getattr(pki, which)
    verified = signing_cms.verify_detached(openssl_sign(pki, signer, *extra), CONTENT)
    assert verified.signer == signer.certificate
    assert pki.ca in verified.certificates
    assert verified.algorithm == algorithm
    assert verified.signing_time is not None
    signer_check = next(c for c in verified.checks if c.name == "cms.signer_certificate")
    named_by = "subject key identifier" if "-keyid" in extra else "issuer and serial number"
    assert named_by in signer_check.detail


def test_openssl_noattr_signature_verifies(pki: TinyPKI) -> None:
    signature = openssl_sign(pki, pki.p256, "-noattr")
    verified = signing_cms.verify_detached(signature, CONTENT)
    assert verified.signing_time is None
    with pytest.raises(SignatureFailure) as caught:
        signing_cms.verify_detached(signature, CONTENT + b" ")
    assert caught.value.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_openssl_sha512(pki: TinyPKI) -> None:
    verified = signing_cms.verify_detached(openssl_sign(pki, pki.p256, md="sha512"), CONTENT)
    assert verified.algorithm == "ecdsa-with-SHA512"


def test_openssl_tampered_content_is_a_hash_failure(pki: TinyPKI) -> None:
    with pytest.raises(SignatureFailure) as caught:
        signing_cms.verify_detached(openssl_sign(pki, pki.p256), CONTENT.replace(b"TEST", b"TSET"))
    assert caught.value.sub_indication is SubIndication.HASH_FAILURE
    assert caught.value.checks[-1].name == "cms.message_digest"


@pytest.mark.parametrize("which", ["p256", "rsa"])
def test_openssl_sha1_is_refused(pki: TinyPKI, which: str) -> None:
    with pytest.raises(SignatureFailure) as caught:
        signing_cms.verify_detached(openssl_sign(pki, getattr(pki, which), md="sha1"), CONTENT)
    assert caught.value.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert caught.value.checks[-1].name == "cms.digest_algorithm"


def test_openssl_nocerts_has_no_signing_certificate(pki: TinyPKI) -> None:
    out = pki.directory / "nocerts.der"
    done = openssl(
        "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-nocerts",
        "-in", pki.directory / "content.json",
        "-signer", pki.p256.cert_path, "-inkey", pki.p256.key_path, "-out", out,
    )
    assert done.returncode == 0, done.stderr
    with pytest.raises(SignatureFailure) as caught:
        signing_cms.verify_detached(out.read_bytes(), CONTENT)
    assert caught.value.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    assert caught.value.checks[-1].name == "cms.signer_certificate"


def test_openssl_nodetach_is_refused(pki: TinyPKI) -> None:
    with pytest.raises(SignatureFailure) as caught:
        signing_cms.verify_detached(openssl_sign(pki, pki.p256, "-nodetach"), CONTENT)
    assert caught.value.sub_indication is SubIndication.FORMAT_FAILURE
    assert caught.value.checks[-1].name == "cms.detached"


# We sign, OpenSSL verifies.


@pytest.mark.parametrize("which", ["p256", "rsa"])
def test_our_signature_verifies_in_openssl(pki: TinyPKI, which: str) -> None:
    signer: Signer = getattr(pki, which)
    private_key = serialization.load_pem_private_key(signer.key_path.read_bytes(), None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    signature = signing_cms.sign_detached(
        CONTENT, signer.certificate, private_key, signing_time=SIGNED_AT, chain=[pki.ca]
    )
    done = openssl_verify(pki, signature, CONTENT)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr
    verified = signing_cms.verify_detached(signature, CONTENT)
    assert verified.signing_time == SIGNED_AT
    assert verified.signer == signer.certificate

    # Sanity: OpenSSL refuses a changed content too.
    done = openssl_verify(pki, signature, CONTENT + b"\n")
    assert done.returncode != 0
    assert "Verification successful" not in done.stderr


@pytest.mark.parametrize(
    ("signing_time", "printed"),
    [
        (SIGNED_AT, "UTCTIME:Jun  1 12:00:00 2026 GMT"),
        (datetime(2050, 1, 1, tzinfo=UTC), "GENERALIZEDTIME:Jan  1 00:00:00 2050 GMT"),
    ],
)
def test_openssl_reads_our_signing_time(
    pki: TinyPKI, signing_time: datetime, printed: str
) -> None:
    private_key = serialization.load_pem_private_key(pki.p256.key_path.read_bytes(), None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    signature = signing_cms.sign_detached(
        CONTENT, pki.p256.certificate, private_key, signing_time=signing_time, chain=[pki.ca]
    )
    assert "Verification successful" in openssl_verify(pki, signature, CONTENT).stderr
    signature_path = pki.directory / "our-signature.der"
    done = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", signature_path)
    assert done.returncode == 0, done.stderr
    assert printed in done.stdout
