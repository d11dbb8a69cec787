"""Certificate requests (signing.ca.requests): a PKCS#10 CSR or a WebCrypto key with its proof."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import (
    NameOID,
)

from signing.ca import (
    POLICY_TEST_INDIVIDUAL_SIGNING,
    POLICY_TEST_ORGANISATION_SEAL,
    CertificationAuthority,
    Individual,
    Organisation,
    Profile,
    enrollment_challenge,
)
from signing.errors import (
    InvalidCertificateRequest,
    ProofOfPossessionFailed,
    WeakKey,
)

if TYPE_CHECKING:
    from conftest import PKI

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERSON = Individual(
    iin="940315400074", surname="Қасымова", given_name="Әйгерім", patronymic="Ерланқызы"
)
SEAL = Organisation(bin="050440000022", name="TEST перзентхана №2")


@pytest.fixture(scope="module")
def ca(pki: PKI) -> CertificationAuthority:
    return pki.ca


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# -- issuance from a CSR ----------------------------------------------------------------------


def _csr(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    algorithm: hashes.HashAlgorithm | None = None,
) -> x509.CertificateSigningRequest:
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Петров Пётр"),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, "IIN910802300025"),
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
                ]
            )
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name("attacker@example.test")]), critical=False
        )
    )
    if algorithm is None and not isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = hashes.SHA256()
    return builder.sign(key, algorithm)


def test_csr_cannot_choose_the_identity(ca: CertificationAuthority) -> None:
    key = _p256()
    csr = _csr(key).public_bytes(serialization.Encoding.PEM)
    certificate = ca.issue_from_csr(csr, PERSON, moment=MOMENT)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == (
        "IIN940315400074"
    )
    assert "910802300025" not in certificate.subject.rfc4514_string()
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_TEST_INDIVIDUAL_SIGNING]


def test_csr_in_der_and_for_a_seal(ca: CertificationAuthority) -> None:
    key = _p256()
    csr = _csr(key).public_bytes(serialization.Encoding.DER)
    certificate = ca.issue_from_csr(csr, SEAL, moment=MOMENT, profile=Profile.ORGANISATION_SEAL)
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [u.value for u in units] == ["BIN050440000022", "TEST - NOT FOR PRODUCTION"]


def test_csr_with_a_bad_signature_fails_proof_of_possession(ca: CertificationAuthority) -> None:
    der = bytearray(_csr(_p256()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last octet of the signature's s
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_csr(bytes(der), PERSON, moment=MOMENT)


def test_csr_signed_by_another_key_fails_proof_of_possession(ca: CertificationAuthority) -> None:
    # Splice the public key of one CSR into the body of another, keeping the first signature.
    honest = _csr(_p256())
    victim_key = _p256()
    victim = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(honest.subject)
        .sign(victim_key, hashes.SHA256())
    )
    spliced = asn1_csr.CertificationRequest.load(honest.public_bytes(serialization.Encoding.DER))
    victim_info = asn1_csr.CertificationRequest.load(
        victim.public_bytes(serialization.Encoding.DER)
    )["certification_request_info"]
    spliced["certification_request_info"]["subject_pk_info"] = victim_info["subject_pk_info"]
    assert x509.load_der_x509_csr(spliced.dump()).public_key() == victim_key.public_key()
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_csr(spliced.dump(), PERSON, moment=MOMENT)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x30\x03\x02\x01\x00",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"not a csr",
    ],
)
def test_unparseable_csr_is_an_invalid_request(ca: CertificationAuthority, garbage: bytes) -> None:
    with pytest.raises(InvalidCertificateRequest) as raised:
        ca.issue_from_csr(garbage, PERSON, moment=MOMENT)
    assert not isinstance(raised.value, ProofOfPossessionFailed)


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        ec.generate_private_key(ec.SECP224R1()),
        ec.generate_private_key(ec.SECP521R1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa1024", "p224", "p521", "ed25519"],
)
def test_csr_with_a_weak_key_is_refused(
    ca: CertificationAuthority,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    with pytest.raises(WeakKey):
        ca.issue_from_csr(_csr(key).public_bytes(serialization.Encoding.PEM), PERSON, moment=MOMENT)


def test_csr_signed_with_sha1_is_refused(ca: CertificationAuthority) -> None:
    # cryptography no longer makes SHA-1 CSRs: re-sign a good one's body with ECDSA-SHA1.
    key = _p256()
    request = asn1_csr.CertificationRequest.load(_csr(key).public_bytes(serialization.Encoding.DER))
    body = request["certification_request_info"].dump()
    request["signature_algorithm"] = {"algorithm": "sha1_ecdsa"}
    request["signature"] = key.sign(body, ec.ECDSA(hashes.SHA1()))  # noqa: S303
    sha1_csr = request.dump()
    parsed = x509.load_der_x509_csr(sha1_csr)
    key.public_key().verify(parsed.signature, parsed.tbs_certrequest_bytes, ec.ECDSA(hashes.SHA1()))  # noqa: S303
    with pytest.raises(InvalidCertificateRequest):
        ca.issue_from_csr(sha1_csr, PERSON, moment=MOMENT)


def test_csr_with_rsa_2048(ca: CertificationAuthority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = ca.issue_from_csr(
        _csr(key).public_bytes(serialization.Encoding.PEM), PERSON, moment=MOMENT
    )
    assert certificate.public_key() == key.public_key()


# -- issuance from a WebCrypto key ------------------------------------------------------------


def _spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _raw_proof(
    key: ec.EllipticCurvePrivateKey, challenge: bytes, algorithm: hashes.HashAlgorithm | None = None
) -> bytes:
    """What WebCrypto's sign() gives: r‖s, each as long as the curve's order."""
    size = (key.curve.key_size + 7) // 8
    r, s = decode_dss_signature(key.sign(challenge, ec.ECDSA(algorithm or hashes.SHA256())))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def test_spki_with_a_good_proof(ca: CertificationAuthority) -> None:
    key = _p256()
    challenge = enrollment_challenge("K7Q2-9XPM")
    assert challenge == b"birthreg-enroll:K7Q2-9XPM"
    proof = _raw_proof(key, challenge)
    assert len(proof) == 64
    certificate = ca.issue_from_spki(_spki(key), proof, challenge, PERSON, moment=MOMENT)
    assert certificate.public_key() == key.public_key()
    assert certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == (
        "IIN940315400074"
    )
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_TEST_INDIVIDUAL_SIGNING]


def test_spki_p384_with_sha384_proof(ca: CertificationAuthority) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    challenge = enrollment_challenge("code")
    proof = _raw_proof(key, challenge, hashes.SHA384())
    assert len(proof) == 96
    certificate = ca.issue_from_spki(_spki(key), proof, challenge, PERSON, moment=MOMENT)
    assert certificate.public_key() == key.public_key()


def test_spki_proof_over_another_challenge_fails(ca: CertificationAuthority) -> None:
    key = _p256()
    proof = _raw_proof(key, enrollment_challenge("old-code"))
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(
            _spki(key), proof, enrollment_challenge("new-code"), PERSON, moment=MOMENT
        )


def test_spki_proof_by_another_key_fails(ca: CertificationAuthority) -> None:
    challenge = enrollment_challenge("code")
    proof = _raw_proof(_p256(), challenge)
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(_spki(_p256()), proof, challenge, PERSON, moment=MOMENT)


def test_spki_proof_with_sha384_on_p256_fails(ca: CertificationAuthority) -> None:
    key = _p256()
    challenge = enrollment_challenge("code")
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(
            _spki(key), _raw_proof(key, challenge, hashes.SHA384()), challenge, PERSON,
            moment=MOMENT,
        )


def test_spki_proof_of_the_wrong_form_fails(ca: CertificationAuthority) -> None:
    key = _p256()
    challenge = enrollment_challenge("code")
    good = _raw_proof(key, challenge)
    der = key.sign(challenge, ec.ECDSA(hashes.SHA256()))
    for proof in (b"", good[:-1], good + b"\x00", der, bytes(64), b"\xff" * 64):
        with pytest.raises(ProofOfPossessionFailed):
            ca.issue_from_spki(_spki(key), proof, challenge, PERSON, moment=MOMENT)
    tampered = bytearray(good)
    tampered[10] ^= 0x80
    with pytest.raises(ProofOfPossessionFailed):
        ca.issue_from_spki(_spki(key), bytes(tampered), challenge, PERSON, moment=MOMENT)


def test_spki_that_is_not_an_ec_key(ca: CertificationAuthority) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidCertificateRequest):
        ca.issue_from_spki(_spki(rsa_key), bytes(64), b"c", PERSON, moment=MOMENT)
    for garbage in (b"", b"\x30\x00", b"garbage", _spki(_p256())[:-1], _spki(_p256()) + b"\x00"):
        with pytest.raises(InvalidCertificateRequest):
            ca.issue_from_spki(garbage, bytes(64), b"c", PERSON, moment=MOMENT)


def test_spki_on_a_weak_curve(ca: CertificationAuthority) -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    challenge = b"c"
    with pytest.raises(WeakKey):
        ca.issue_from_spki(_spki(key), _raw_proof(key, challenge), challenge, PERSON, moment=MOMENT)


def test_issue_with_new_key(ca: CertificationAuthority) -> None:
    key, certificate = ca.issue_with_new_key(SEAL, profile=Profile.ORGANISATION_SEAL, moment=MOMENT)
    assert isinstance(key.curve, ec.SECP256R1)
    assert certificate.public_key() == key.public_key()
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_TEST_ORGANISATION_SEAL]
