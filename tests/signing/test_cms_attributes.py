"""signing.cms: the signed attributes that bind a signature to its signer and its algorithms,
ESS signing-certificate (v1 and v2) and CMSAlgorithmProtection (RFC 6211), honoured when present."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from asn1crypto import algos, cms, tsp
from cms_forge import CONTENT, attribute, build, cert, der, refused

from signing import cms as signing_cms
from signing.report import SubIndication


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
