"""signing.cms: the signed attributes. Exactly one content-type (id-data) and one
message-digest; the attributes that bind a signature to its signer and its algorithms, ESS
signing-certificate (v1 and v2) and CMSAlgorithmProtection (RFC 6211), honoured when present."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cms_forge import CONTENT, SIGNED_AT, attribute, build, cert, der, key, refused
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from signing import cms as signing_cms
from signing.report import Check, SubIndication


def signed_with(*extra: cms.CMSAttribute, **build_options: Any) -> bytes:
    digest = build_options.get("digest", "sha256")
    return build(
        attributes=[
            attribute("content_type", "data"),
            attribute("message_digest", hashlib.new(digest, CONTENT).digest()),
            *extra,
        ],
        **build_options,
    )


def ess_v1(kind: str) -> cms.CMSAttribute:
    # SHA-1 names a certificate here (RFC 2634); it signs nothing, so it is allowed.
    cert_hash = hashlib.sha1(der(cert(kind))).digest()  # noqa: S324
    return attribute(
        "signing_certificate", tsp.SigningCertificate({"certs": [{"cert_hash": cert_hash}]})
    )


def ess_v2(kind: str, hash_name: str = "sha256") -> cms.CMSAttribute:
    cert_id: dict[str, Any] = {"cert_hash": hashlib.new(hash_name, der(cert(kind))).digest()}
    if hash_name != "sha256":
        cert_id["hash_algorithm"] = {"algorithm": hash_name}
    return attribute("signing_certificate_v2", tsp.SigningCertificateV2({"certs": [cert_id]}))


@pytest.mark.parametrize("ess", [ess_v1, ess_v2, lambda k: ess_v2(k, "sha512")])
def test_ess_naming_the_signer_passes(ess: Any) -> None:
    verified = signing_cms.verify_detached(signed_with(ess("p256")), CONTENT)
    assert {c.name: c.passed for c in verified.checks}["cms.signing_certificate"]


@pytest.mark.parametrize("ess", [ess_v1, ess_v2])
def test_ess_naming_another_certificate_is_refused(ess: Any) -> None:
    failure = refused(signed_with(ess("p384")))
    assert failure.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    assert failure.checks[-1].name == "cms.signing_certificate"


def test_ess_with_a_weak_hash_is_refused() -> None:
    failure = refused(signed_with(ess_v2("p256", "md5")))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.signing_certificate"


def test_two_ess_attributes_are_refused() -> None:
    failure = refused(signed_with(ess_v1("p256"), ess_v2("p256")))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signing_certificate"


def protection(
    digest: str = "sha256", signature: str | None = "sha256_ecdsa", **more: Any
) -> cms.CMSAttribute:
    value: dict[str, Any] = {"digest_algorithm": {"algorithm": digest}, **more}
    if signature is not None:
        value["signature_algorithm"] = {"algorithm": signature}
    return attribute("cms_algorithm_protection", cms.CMSAlgorithmProtection(value))


def test_algorithm_protection_naming_the_algorithms_passes() -> None:
    verified = signing_cms.verify_detached(signed_with(protection()), CONTENT)
    assert verified.algorithm == "ecdsa-with-SHA256"


@pytest.mark.parametrize(
    "claimed",
    [
        pytest.param(lambda: protection(digest="sha512"), id="another digest"),
        pytest.param(lambda: protection(signature="sha512_ecdsa"), id="another signature"),
        pytest.param(lambda: protection(signature=None), id="no signature algorithm"),
        pytest.param(
            lambda: protection(mac_algorithm=algos.HmacAlgorithm({"algorithm": "sha256"})),
            id="a MAC algorithm",
        ),
    ],
)
def test_algorithm_protection_naming_other_algorithms_is_refused(claimed: Any) -> None:
    # What the attacker of RFC 6211 does: change the unsigned algorithm identifiers.
    failure = refused(signed_with(claimed()))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signed_attributes"
    assert "CMSAlgorithmProtection" in failure.detail


def test_algorithm_protection_for_rsa() -> None:
    signature = signed_with(
        protection(signature="sha256_rsa"), signer="rsa", signature_algorithm="sha256_rsa"
    )
    assert signing_cms.verify_detached(signature, CONTENT).algorithm == "sha256WithRSAEncryption"


# Content-type and message-digest: exactly one each.


def test_missing_content_type_attribute() -> None:
    failure = refused(
        build(
            attributes=[
                attribute("message_digest", hashlib.sha256(CONTENT).digest()),
            ]
        )
    )
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signed_attributes"


def test_wrong_content_type_attribute() -> None:
    failure = refused(
        build(
            attributes=[
                attribute("content_type", "signed_data"),
                attribute("message_digest", hashlib.sha256(CONTENT).digest()),
            ]
        )
    )
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signed_attributes"


def test_repeated_signing_time_attribute() -> None:
    failure = refused(
        build(
            attributes=[
                attribute("content_type", "data"),
                attribute("signing_time", cms.Time({"utc_time": SIGNED_AT})),
                attribute("signing_time", cms.Time({"utc_time": SIGNED_AT + timedelta(days=1)})),
                attribute("message_digest", hashlib.sha256(CONTENT).digest()),
            ]
        )
    )
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signed_attributes"


def test_missing_message_digest_attribute() -> None:
    failure = refused(build(attributes=[attribute("content_type", "data")]))
    assert failure.sub_indication is SubIndication.HASH_FAILURE
    assert failure.checks[-1].name == "cms.message_digest"


def test_two_message_digest_attributes() -> None:
    failure = refused(
        build(
            attributes=[
                attribute("content_type", "data"),
                attribute("message_digest", hashlib.sha256(CONTENT).digest()),
                attribute("message_digest", hashlib.sha256(b"something else").digest()),
            ]
        )
    )
    assert failure.sub_indication is SubIndication.HASH_FAILURE
    assert failure.checks[-1].name == "cms.message_digest"


def test_message_digest_with_two_values() -> None:
    two_values = cms.CMSAttribute(
        {
            "type": "message_digest",
            "values": [hashlib.sha256(CONTENT).digest(), hashlib.sha256(b"other").digest()],
        }
    )
    failure = refused(build(attributes=[attribute("content_type", "data"), two_values]))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.message_digest"


# The ESS attribute is checked after the message digest, and names one certificate exactly.


def ess_naming(certificate: x509.Certificate) -> cms.CMSAttribute:
    return attribute(
        "signing_certificate_v2",
        tsp.SigningCertificateV2(
            {"certs": [{"cert_hash": hashlib.sha256(der(certificate)).digest()}]}
        ),
    )


def test_a_later_refusal_waits_for_the_message_digest() -> None:
    # The ESS attribute names another certificate: refused, but only after the message digest,
    # so a changed content is a HASH_FAILURE whichever call comes first.
    signature = build(
        attributes=[
            attribute("content_type", "data"),
            attribute("message_digest", hashlib.sha256(CONTENT).digest()),
            ess_naming(cert("p384")),
        ]
    )
    failure = refused(signature)
    assert failure.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    assert [c.name for c in failure.checks][-3:] == [
        "cms.message_digest",
        "cms.signing_time",
        "cms.signing_certificate",
    ]
    failure = refused(signature, CONTENT + b" ")
    assert failure.sub_indication is SubIndication.HASH_FAILURE
    assert failure.checks[-1].name == "cms.message_digest"


def ess_with_issuer_serial(certificate: x509.Certificate, serial: int) -> cms.CMSAttribute:
    """An ESS signing-certificate-v2 naming certificate's hash, and its issuer with `serial`."""
    issuer = asn1_x509.Certificate.load(der(certificate)).issuer
    return attribute(
        "signing_certificate_v2",
        tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "cert_hash": hashlib.sha256(der(certificate)).digest(),
                        "issuer_serial": {
                            "issuer": [asn1_x509.GeneralName(name="directory_name", value=issuer)],
                            "serial_number": serial,
                        },
                    }
                ]
            }
        ),
    )


def test_ess_naming_a_twin_certificate_is_refused() -> None:
    # A twin: the same subject, issuer and key, another serial number. An ESS attribute that
    # names it (by hash, by serial, or both) does not name the signer.
    signer = cert("p256")
    twin = (
        x509.CertificateBuilder()
        .subject_name(signer.subject)
        .issuer_name(signer.issuer)
        .public_key(key("p256").public_key())
        .serial_number(signer.serial_number + 1)
        .not_valid_before(SIGNED_AT - timedelta(days=1))
        .not_valid_after(SIGNED_AT + timedelta(days=365))
        .sign(key("p256"), hashes.SHA256())
    )

    def signed_with(ess: cms.CMSAttribute) -> bytes:
        return build(
            attributes=[
                attribute("content_type", "data"),
                attribute("message_digest", hashlib.sha256(CONTENT).digest()),
                ess,
            ]
        )

    verified = signing_cms.verify_detached(
        signed_with(ess_with_issuer_serial(signer, signer.serial_number)), CONTENT
    )
    assert verified.checks[-2] == Check(
        "cms.signing_certificate", True, "names the signer certificate (sha256)"
    )
    for ess in (
        ess_with_issuer_serial(twin, twin.serial_number),
        ess_with_issuer_serial(signer, twin.serial_number),
        ess_with_issuer_serial(twin, signer.serial_number),
    ):
        failure = refused(signed_with(ess))
        assert failure.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
        assert failure.detail == (
            "the signed ESS signing-certificate attribute names another certificate"
        )
