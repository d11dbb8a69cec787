"""signing.cms: detached SignedData, made by us, by cryptography or by hand (asn1crypto), and
verified: what passes, and each refusal provoked by exactly one defect (see cms_forge)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cms_forge import CONTENT, SIGNED_AT, attribute, build, cert, der, key, refused
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from signing import cms as signing_cms
from signing.errors import WeakKey
from signing.report import SubIndication

# Round trips through our own signer.


@pytest.mark.parametrize(
    ("kind", "algorithm"),
    [
        ("p256", "ecdsa-with-SHA256"),
        ("p384", "ecdsa-with-SHA384"),
        ("rsa", "sha256WithRSAEncryption"),
    ],
)
def test_round_trip(kind: str, algorithm: str) -> None:
    signature = signing_cms.sign_detached(CONTENT, cert(kind), key(kind), signing_time=SIGNED_AT)
    verified = signing_cms.verify_detached(signature, CONTENT)
    assert verified.format == "cms"
    assert verified.signer == cert(kind)
    assert verified.certificates == (cert(kind),)
    assert verified.algorithm == algorithm
    assert verified.signing_time == SIGNED_AT
    assert verified.signing_time.tzinfo is not None
    assert all(check.passed for check in verified.checks)
    assert [c.name for c in verified.checks] == [
        "cms.der",
        "cms.content_type",
        "cms.version",
        "cms.signer_count",
        "cms.detached",
        "cms.econtent_type",
        "cms.certificates",
        "cms.digest_algorithm",
        "cms.signature_algorithm",
        "cms.signer_certificate",
        "cms.signer_key",
        "cms.signed_attributes",
        "cms.message_digest",
        "cms.signing_time",
        "cms.signing_certificate",
        "cms.signature",
    ]


def test_chain_is_carried() -> None:
    signature = signing_cms.sign_detached(
        CONTENT,
        cert("p256"),
        key("p256"),
        signing_time=SIGNED_AT,
        chain=[cert("p384"), cert("rsa")],
    )
    verified = signing_cms.verify_detached(signature, CONTENT)
    assert verified.signer == cert("p256")
    assert set(verified.certificates) == {cert("p256"), cert("p384"), cert("rsa")}


def test_sign_refuses_a_key_that_is_not_the_certificates() -> None:
    with pytest.raises(ValueError, match="does not belong"):
        signing_cms.sign_detached(CONTENT, cert("p256"), key("p256-other"), signing_time=SIGNED_AT)


def test_sign_refuses_a_weak_key() -> None:
    with pytest.raises(WeakKey):
        signing_cms.sign_detached(CONTENT, cert("rsa1024"), key("rsa1024"), signing_time=SIGNED_AT)


def test_sign_refuses_a_naive_signing_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signing_cms.sign_detached(
            CONTENT, cert("p256"), key("p256"), signing_time=datetime(2026, 6, 1, 12, 0)
        )


def signed_attributes(signature: bytes) -> cms.CMSAttributes:
    signer_info = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    return signer_info["signed_attrs"]


@pytest.mark.parametrize("kind", ["p256", "rsa"])
def test_signed_attributes_follow_only_the_arguments(kind: str) -> None:
    # No clock is read: the same time in gives the same signingTime and signed attributes out.
    first = signing_cms.sign_detached(CONTENT, cert(kind), key(kind), signing_time=SIGNED_AT)
    second = signing_cms.sign_detached(CONTENT, cert(kind), key(kind), signing_time=SIGNED_AT)
    assert signed_attributes(first).dump() == signed_attributes(second).dump()
    if kind == "rsa":
        # PKCS#1 v1.5 is deterministic, so the whole SignedData is (ECDSA's k is random).
        assert first == second
    later = signing_cms.sign_detached(
        CONTENT, cert(kind), key(kind), signing_time=SIGNED_AT + timedelta(seconds=1)
    )
    assert signed_attributes(later).dump() != signed_attributes(first).dump()


def test_signed_attributes_in_der_order() -> None:
    signature = signing_cms.sign_detached(
        CONTENT, cert("p256"), key("p256"), signing_time=SIGNED_AT
    )
    attributes = signed_attributes(signature)
    assert [a["type"].native for a in attributes] == [
        "content_type",
        "signing_time",
        "message_digest",
        "signing_certificate_v2",
    ]
    encodings = [a.dump() for a in attributes]
    assert encodings == sorted(encodings)
    by_type = {a["type"].native: a["values"][0] for a in attributes}
    assert by_type["content_type"].native == "data"
    assert by_type["message_digest"].native == hashlib.sha256(CONTENT).digest()
    # The exact encoding: UTCTime to the second, in UTC.
    assert by_type["signing_time"].dump() == b"\x17\x0d" + b"260601120000Z"
    [cert_id] = by_type["signing_certificate_v2"]["certs"]
    assert cert_id["cert_hash"].native == hashlib.sha256(der(cert("p256"))).digest()
    assert b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01" not in cert_id.dump(), (
        "hashAlgorithm is the DEFAULT SHA-256 and so left out"
    )
    assert cert_id["issuer_serial"]["serial_number"].native == cert("p256").serial_number
    [issuer] = cert_id["issuer_serial"]["issuer"]
    assert issuer.name == "directory_name"
    signer_issuer = asn1_x509.Certificate.load(der(cert("p256"))).issuer
    assert issuer.chosen.untag().dump() == signer_issuer.dump()


@pytest.mark.parametrize(
    ("kind", "digest", "signature_algorithm", "parameters"),
    [
        ("p256", "sha256", "sha256_ecdsa", None),
        ("p384", "sha384", "sha384_ecdsa", None),
        ("rsa", "sha256", "sha256_rsa", b"\x05\x00"),
    ],
)
def test_signed_data_structure(
    kind: str, digest: str, signature_algorithm: str, parameters: bytes | None
) -> None:
    signature = signing_cms.sign_detached(CONTENT, cert(kind), key(kind), signing_time=SIGNED_AT)
    info = cms.ContentInfo.load(signature)
    signed_data = info["content"]
    assert signed_data["version"].native == "v1"
    assert [a["algorithm"].native for a in signed_data["digest_algorithms"]] == [digest]
    assert signed_data["encap_content_info"]["content_type"].native == "data"
    assert signed_data["encap_content_info"]["content"].native is None
    [signer_info] = signed_data["signer_infos"]
    assert signer_info["version"].native == "v1"
    assert signer_info["sid"].name == "issuer_and_serial_number"
    assert signer_info["digest_algorithm"]["algorithm"].native == digest
    # RFC 5754: SHA-2 digest identifiers without parameters; NULL for sha256WithRSAEncryption
    # (section 3.2), none for ECDSA (RFC 5758 section 3.2).
    assert isinstance(signer_info["digest_algorithm"]["parameters"], core.Void)
    assert isinstance(signed_data["digest_algorithms"][0]["parameters"], core.Void)
    algorithm = signer_info["signature_algorithm"]
    assert algorithm["algorithm"].native == signature_algorithm
    if parameters is None:
        assert isinstance(algorithm["parameters"], core.Void)
    else:
        assert algorithm["parameters"].dump() == parameters
    assert info.dump(force=True) == signature, "re-encoding changes nothing: it is DER"


@pytest.mark.parametrize(
    ("signing_time", "encoding"),
    [
        # Another offset is converted to UTC; fractions of a second are dropped.
        (
            datetime(2026, 6, 1, 17, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=5))),
            b"\x17\x0d260601120000Z",
        ),
        (datetime(1950, 1, 1, tzinfo=UTC), b"\x17\x0d500101000000Z"),
        (datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), b"\x17\x0d491231235959Z"),
        (datetime(2050, 1, 1, tzinfo=UTC), b"\x18\x0f20500101000000Z"),
        (datetime(1949, 12, 31, 23, 59, 59, tzinfo=UTC), b"\x18\x0f19491231235959Z"),
    ],
)
def test_signing_time_encoding(signing_time: datetime, encoding: bytes) -> None:
    signature = signing_cms.sign_detached(
        CONTENT, cert("p256"), key("p256"), signing_time=signing_time
    )
    by_type = {a["type"].native: a["values"][0] for a in signed_attributes(signature)}
    assert by_type["signing_time"].chosen.dump() == encoding
    verified = signing_cms.verify_detached(signature, CONTENT)
    assert verified.signing_time == signing_time.replace(microsecond=0)


# Hand-built signatures that must pass.


def test_hand_built_p256_passes_and_reads_signing_time() -> None:
    verified = signing_cms.verify_detached(build(), CONTENT)
    assert verified.signing_time == SIGNED_AT
    assert verified.algorithm == "ecdsa-with-SHA256"


def test_generalized_signing_time() -> None:
    attributes = [
        attribute("content_type", "data"),
        attribute("signing_time", cms.Time({"generalized_time": SIGNED_AT})),
        attribute("message_digest", hashlib.sha256(CONTENT).digest()),
    ]
    assert signing_cms.verify_detached(build(attributes=attributes), CONTENT).signing_time == (
        SIGNED_AT
    )


def test_signed_attributes_given_in_any_order_are_signed_in_der_order() -> None:
    # asn1crypto writes a SET OF sorted, which is what is signed and what DER requires (signed
    # attributes sent out of that order are refused: test_cms_encoding.py).
    attributes = [
        attribute("message_digest", hashlib.sha256(CONTENT).digest()),
        attribute("signing_time", cms.Time({"utc_time": SIGNED_AT})),
        attribute("content_type", "data"),
    ]
    verified = signing_cms.verify_detached(build(attributes=attributes), CONTENT)
    assert verified.signing_time == SIGNED_AT


def test_without_signing_time() -> None:
    attributes = [
        attribute("content_type", "data"),
        attribute("message_digest", hashlib.sha256(CONTENT).digest()),
    ]
    verified = signing_cms.verify_detached(build(attributes=attributes), CONTENT)
    assert verified.signing_time is None


def test_subject_key_identifier_names_the_signer() -> None:
    verified = signing_cms.verify_detached(build(sid="key_identifier"), CONTENT)
    assert verified.signer == cert("p256")


@pytest.mark.parametrize(
    ("kind", "digest", "algorithm"),
    [
        ("p256", "sha512", "ecdsa-with-SHA512"),
        ("p384", "sha384", "ecdsa-with-SHA384"),
        ("rsa", "sha384", "sha384WithRSAEncryption"),
    ],
)
def test_other_allowed_digests(kind: str, digest: str, algorithm: str) -> None:
    verified = signing_cms.verify_detached(build(signer=kind, digest=digest), CONTENT)
    assert verified.algorithm == algorithm


@pytest.mark.parametrize(
    ("kind", "oid", "algorithm"),
    [
        ("p256", "1.2.840.10045.2.1", "ecdsa-with-SHA256"),  # id-ecPublicKey
        ("rsa", "1.2.840.113549.1.1.1", "sha256WithRSAEncryption"),  # rsaEncryption
    ],
)
def test_key_algorithm_as_signature_algorithm(kind: str, oid: str, algorithm: str) -> None:
    verified = signing_cms.verify_detached(build(signer=kind, signature_algorithm=oid), CONTENT)
    assert verified.algorithm == algorithm


@pytest.mark.parametrize("digest", ["sha256", "sha512"])
def test_rsa_pss(digest: str) -> None:
    verified = signing_cms.verify_detached(build(signer="rsa", digest=digest, pss={}), CONTENT)
    assert verified.algorithm == f"rsassa-pss/SHA-{digest[3:]}"


def test_rsa_pss_with_declared_zero_salt() -> None:
    signature = build(signer="rsa", pss={"salt": 0, "declared_salt": 0})
    assert signing_cms.verify_detached(signature, CONTENT).algorithm == "rsassa-pss/SHA-256"


def test_without_signed_attributes_the_content_is_signed() -> None:
    signature = build(no_attributes=True)
    verified = signing_cms.verify_detached(signature, CONTENT)
    assert verified.signing_time is None
    # No message-digest attribute, so a changed content fails the signature itself.
    failure = refused(signature, CONTENT + b" ")
    assert failure.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert failure.checks[-1].name == "cms.signature"


def test_without_signed_attributes_from_cryptography() -> None:
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(cert("p256"), key("p256"), hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [
                pkcs7.PKCS7Options.DetachedSignature,
                pkcs7.PKCS7Options.Binary,
                pkcs7.PKCS7Options.NoAttributes,
            ],
        )
    )
    assert signing_cms.verify_detached(signature, CONTENT).signing_time is None


# Refusals.


def test_tampered_content_is_a_hash_failure() -> None:
    signature = signing_cms.sign_detached(
        CONTENT, cert("p256"), key("p256"), signing_time=SIGNED_AT
    )
    failure = refused(signature, CONTENT.replace(b"3400", b"3401"))
    assert failure.sub_indication is SubIndication.HASH_FAILURE
    assert failure.checks[-1].name == "cms.message_digest"


def test_signature_by_another_key() -> None:
    failure = refused(build(signing_key=key("p256-other")))
    assert failure.sub_indication is SubIndication.SIG_CRYPTO_FAILURE
    assert failure.checks[-1].name == "cms.signature"


def test_signature_by_another_key_without_attributes() -> None:
    failure = refused(build(signing_key=key("p256-other"), no_attributes=True))
    assert failure.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


@pytest.mark.parametrize("digest", ["sha1", "md5"])
def test_weak_digest(digest: str) -> None:
    failure = refused(build(signer="rsa", digest=digest))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.digest_algorithm"
    assert {"sha1": "SHA-1", "md5": "MD5"}[digest] in failure.detail


def test_sha1_ecdsa() -> None:
    failure = refused(build(digest="sha1"))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE


def test_signature_algorithm_must_match_the_digest() -> None:
    failure = refused(build(digest="sha384", signature_algorithm="sha256_ecdsa"))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.signature_algorithm"


def test_unknown_signature_algorithm() -> None:
    failure = refused(build(signature_algorithm="1.3.101.112"))  # Ed25519
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.signature_algorithm"


def test_ecdsa_algorithm_with_an_rsa_key() -> None:
    failure = refused(build(signer="rsa", signature_algorithm="sha256_ecdsa"))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.signer_key"


@pytest.mark.parametrize(
    "pss",
    [{"hash": "sha1"}, {"mgf_hash": "sha1"}, {"mgf_hash": "sha512"}, {"hash": "sha512"}],
)
def test_rsa_pss_parameters_must_be_strong_and_consistent(pss: dict[str, Any]) -> None:
    failure = refused(build(signer="rsa", pss=pss))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.signature_algorithm"


def test_rsa_pss_salt_length_is_enforced() -> None:
    failure = refused(build(signer="rsa", pss={"salt": 32, "declared_salt": 20}))
    assert failure.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def test_rsa_1024_signer() -> None:
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(cert("rsa1024"), key("rsa1024"), hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )
    failure = refused(signature)
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.signer_key"
    assert "1024" in failure.detail


def test_missing_signer_certificate() -> None:
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(cert("p256"), key("p256"), hashes.SHA256())
        .sign(
            serialization.Encoding.DER,
            [
                pkcs7.PKCS7Options.DetachedSignature,
                pkcs7.PKCS7Options.Binary,
                pkcs7.PKCS7Options.NoCerts,
            ],
        )
    )
    failure = refused(signature)
    assert failure.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND
    assert failure.checks[-1].name == "cms.signer_certificate"


def test_only_other_certificates_carried() -> None:
    failure = refused(build(certificates=[cert("p384")]))
    assert failure.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND


def test_missing_signer_certificate_by_key_identifier() -> None:
    failure = refused(build(sid="key_identifier", certificates=[cert("rsa")]))
    assert failure.sub_indication is SubIndication.NO_SIGNING_CERTIFICATE_FOUND


def test_embedded_content_is_refused_even_when_equal() -> None:
    failure = refused(build(embed=True))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.detached"


def test_embedded_content_from_cryptography() -> None:
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(cert("p256"), key("p256"), hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    failure = refused(signature)
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.detached"


def test_two_signer_infos() -> None:
    failure = refused(build(signer_infos=2))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signer_count"


def test_not_signed_data() -> None:
    data = cms.ContentInfo({"content_type": "data", "content": CONTENT}).dump()
    failure = refused(data)
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.content_type"


def test_ed25519_signer_key() -> None:
    # The signature algorithm is claimed as ECDSA, but the carried certificate holds Ed25519.
    signed = build()
    info = cms.ContentInfo.load(signed)
    info["content"]["certificates"] = [asn1_x509.Certificate.load(der(cert("ed25519")))]
    signer_info = info["content"]["signer_infos"][0]
    asn1_cert = asn1_x509.Certificate.load(der(cert("ed25519")))
    signer_info["sid"] = cms.SignerIdentifier(
        {
            "issuer_and_serial_number": {
                "issuer": asn1_cert.issuer,
                "serial_number": asn1_cert.serial_number,
            }
        }
    )
    failure = refused(info.dump(force=True))
    assert failure.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert failure.checks[-1].name == "cms.signer_key"


def test_signer_info_version_must_fit_the_identifier() -> None:
    info = cms.ContentInfo.load(build(sid="key_identifier"))
    info["content"]["signer_infos"][0]["version"] = "v1"
    failure = refused(info.dump(force=True))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.signer_certificate"


def test_signed_data_version_v2_is_refused() -> None:
    info = cms.ContentInfo.load(build())
    info["content"]["version"] = "v2"
    failure = refused(info.dump(force=True))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.version"


def test_econtent_type_must_be_data() -> None:
    info = cms.ContentInfo.load(build())
    info["content"]["encap_content_info"] = cms.ContentInfo({"content_type": "signed_data"})
    failure = refused(info.dump(force=True))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.econtent_type"


def test_signer_digest_must_be_listed_in_signed_data() -> None:
    info = cms.ContentInfo.load(build())
    info["content"]["digest_algorithms"] = [{"algorithm": "sha512"}]
    failure = refused(info.dump(force=True))
    assert failure.sub_indication is SubIndication.FORMAT_FAILURE
    assert failure.checks[-1].name == "cms.digest_algorithm"


# A DetachedSigner (what sign_detached uses) writes its SignedData TLV by TLV around parts
# encoded once: the same bytes asn1crypto writes for the whole structure.


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa"])
def test_detached_signer_writes_what_asn1crypto_writes(kind: str) -> None:
    chain = (cert("p256-other"),) if kind != "p256" else (cert("rsa"),)
    signer = signing_cms.DetachedSigner(cert(kind), key(kind), chain=chain)
    for number, content in enumerate((CONTENT, b"another content", b"")):
        at = SIGNED_AT + timedelta(days=number)
        ours = signer.sign(content, signing_time=at)
        parsed = cms.ContentInfo.load(ours)["content"]
        info = parsed["signer_infos"][0]
        reference = cms.ContentInfo({"content_type": "signed_data", "content": {
            "version": "v1",
            "digest_algorithms": [info["digest_algorithm"].untag()],
            "encap_content_info": {"content_type": "data"},
            "certificates": [asn1_x509.Certificate.load(der(c)) for c in (cert(kind), *chain)],
            "signer_infos": [{
                "version": "v1", "sid": info["sid"].untag(),
                "digest_algorithm": info["digest_algorithm"].untag(),
                "signed_attrs": cms.CMSAttributes.load(info["signed_attrs"].untag().dump()),
                "signature_algorithm": info["signature_algorithm"].untag(),
                "signature": info["signature"].native,
            }],
        }})
        assert reference.dump(force=True) == ours
        verified = signing_cms.verify_detached(ours, content)
        assert verified.signing_time == at and verified.signer == cert(kind)


def test_detached_signer_refuses_what_sign_detached_refuses() -> None:
    with pytest.raises(ValueError, match="does not belong"):
        signing_cms.DetachedSigner(cert("p256"), key("p256-other"))
    signer = signing_cms.DetachedSigner(cert("p256"), key("p256"))
    with pytest.raises(ValueError, match="timezone-aware"):
        signer.sign(CONTENT, signing_time=SIGNED_AT.replace(tzinfo=None))
