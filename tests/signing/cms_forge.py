"""Signatures for the signing.cms tests: self-signed TEST certificates made on the spot (no path
validation happens in signing.cms, so no CA is needed), a SignedData assembled field by field
(`build`) so that each refusal can be provoked in isolation, and `rewrite`, which re-encodes one
value of a real signature (BER lengths, chunked strings, another tag) and fixes up the lengths
around it, so that each malformed case has exactly one defect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from asn1crypto import algos, cms, parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from signing import cms as signing_cms
from signing.errors import SignatureFailure

CONTENT = b'{"type":"birthreg.medical-record/1","weight_g":3400}'
SIGNED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@cache
def key(kind: str) -> Any:
    if kind == "p256" or kind == "p256-other":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the weak key under test)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise AssertionError(kind)


@cache
def cert(kind: str) -> x509.Certificate:
    """A self-signed TEST certificate for key(kind), with a subjectKeyIdentifier."""
    private_key = key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"TEST signer {kind}")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(SIGNED_AT - timedelta(days=1))
        .not_valid_after(SIGNED_AT + timedelta(days=365))
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False
        )
        .sign(private_key, None if kind == "ed25519" else hashes.SHA256())
    )


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def attribute(kind: str, value: Any) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": kind, "values": [value]})


#: Weak digests too: the verifier must refuse them.
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "md5": hashes.MD5,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def build(
    content: bytes = CONTENT,
    *,
    signer: str = "p256",
    signing_key: Any = None,
    digest: str = "sha256",
    signature_algorithm: str | None = None,
    pss: dict[str, Any] | None = None,
    attributes: Sequence[cms.CMSAttribute] | None = None,
    no_attributes: bool = False,
    certificates: Sequence[x509.Certificate] | None = None,
    sid: str = "issuer_and_serial",
    embed: bool = False,
    signer_infos: int = 1,
) -> bytes:
    """A DER ContentInfo/SignedData assembled by hand, signed for real."""
    certificate = cert(signer)
    private_key = signing_key if signing_key is not None else key(signer)
    hash_algorithm = HASHES[digest]()
    digest_value = hashlib.new(digest, content).digest()
    if attributes is None and not no_attributes:
        attributes = [
            attribute("content_type", "data"),
            attribute("signing_time", cms.Time({"utc_time": SIGNED_AT})),
            attribute("message_digest", digest_value),
        ]
    signed_attrs = None
    signed_bytes = content
    if attributes is not None:
        signed_bytes = cms.CMSAttributes(list(attributes)).dump()
        signed_attrs = cms.CMSAttributes.load(signed_bytes)

    signature, algorithm = _sign(private_key, signed_bytes, digest, hash_algorithm, pss)
    if signature_algorithm is not None:
        algorithm["algorithm"] = signature_algorithm
    signer_id, version = _signer_identifier(certificate, sid)
    signer_info: dict[str, Any] = {
        "version": version,
        "sid": signer_id,
        "digest_algorithm": {"algorithm": digest},
        "signature_algorithm": algorithm,
        "signature": signature,
    }
    if signed_attrs is not None:
        signer_info["signed_attrs"] = signed_attrs
    carried = [certificate] if certificates is None else list(certificates)
    encapsulated: dict[str, Any] = {"content_type": "data"}
    if embed:
        encapsulated["content"] = content
    signed_data: dict[str, Any] = {
        "version": version,
        "digest_algorithms": [{"algorithm": digest}],
        "encap_content_info": encapsulated,
        "signer_infos": [signer_info] * signer_infos,
    }
    if carried:
        signed_data["certificates"] = [asn1_x509.Certificate.load(der(c)) for c in carried]
    encoded: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    return encoded


def _sign(
    private_key: Any,
    signed_bytes: bytes,
    digest: str,
    hash_algorithm: hashes.HashAlgorithm,
    pss: dict[str, Any] | None,
) -> tuple[bytes, dict[str, Any]]:
    """The signature over signed_bytes and its AlgorithmIdentifier (PSS parameters as given)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        signature = private_key.sign(signed_bytes, ec.ECDSA(hash_algorithm))
        return signature, {"algorithm": f"{digest}_ecdsa"}
    if pss is None:
        signature = private_key.sign(signed_bytes, padding.PKCS1v15(), hash_algorithm)
        return signature, {"algorithm": f"{digest}_rsa"}
    salt = pss.get("salt", hash_algorithm.digest_size)
    signature = private_key.sign(
        signed_bytes,
        padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=salt),
        hash_algorithm,
    )
    pss_hash = pss.get("hash", digest)
    parameters = algos.RSASSAPSSParams(
        {
            "hash_algorithm": {"algorithm": pss_hash},
            "mask_gen_algorithm": {
                "algorithm": "mgf1",
                "parameters": {"algorithm": pss.get("mgf_hash", pss_hash)},
            },
            "salt_length": pss.get("declared_salt", hash_algorithm.digest_size),
        }
    )
    return signature, {"algorithm": "rsassa_pss", "parameters": parameters}


def _signer_identifier(certificate: x509.Certificate, sid: str) -> tuple[cms.SignerIdentifier, str]:
    """The SignerIdentifier naming certificate, and the SignerInfo version that goes with it."""
    asn1_cert = asn1_x509.Certificate.load(der(certificate))
    if sid == "issuer_and_serial":
        name = {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number}
        return cms.SignerIdentifier({"issuer_and_serial_number": name}), "v1"
    return cms.SignerIdentifier({"subject_key_identifier": asn1_cert.key_identifier}), "v3"


def refused(signature: bytes, content: bytes = CONTENT) -> SignatureFailure:
    with pytest.raises(SignatureFailure) as caught:
        signing_cms.verify_detached(signature, content)
    failure = caught.value
    assert failure.checks, "a failure lists the checks that ran"
    assert not failure.checks[-1].passed
    assert all(check.passed for check in failure.checks[:-1])
    assert failure.checks[-1].detail == failure.detail
    return failure


# Re-encoding one value of a signature. Written out here (tests may build any bytes); the
# product reads DER only through asn1crypto.

#: Paths (child indexes from the ContentInfo) in one of our signatures: SignedData's fields are
#: version, digestAlgorithms, encapContentInfo, certificates, signerInfos.
SIGNED_DATA = (1, 0)
SIGNER_INFO = (*SIGNED_DATA, 4, 0)
SIGNED_ATTRS = (*SIGNER_INFO, 3)

Rewrite = Callable[[bytes, bytes], bytes]


def length_octets(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def tlv(identifier: bytes, contents: bytes) -> bytes:
    return identifier + length_octets(len(contents)) + contents


def split(contents: bytes) -> list[tuple[bytes, bytes]]:
    """The (identifier octets, contents) of each value in contents, which must be DER."""
    values = []
    while contents:
        class_, method, tag, header, inner, _ = parser.parse(contents)
        identifier = parser.emit(class_, method, tag, b"")[:-1]
        values.append((identifier, inner))
        contents = contents[len(header) + len(inner) :]
    return values


def rewrite(data: bytes, path: tuple[int, ...], change: Rewrite) -> bytes:
    """data with the value at path replaced by change(identifier octets, contents), and the
    lengths of everything around it fixed up (minimal, definite)."""

    def walk(identifier: bytes, contents: bytes, rest: tuple[int, ...]) -> bytes:
        if not rest:
            return change(identifier, contents)
        inner = b"".join(
            walk(child_identifier, child, rest[1:])
            if index == rest[0]
            else tlv(child_identifier, child)
            for index, (child_identifier, child) in enumerate(split(contents))
        )
        return tlv(identifier, inner)

    [(identifier, contents)] = split(data)
    return walk(identifier, contents, path)


def indefinite(identifier: bytes, contents: bytes) -> bytes:
    return identifier + b"\x80" + contents + b"\x00\x00"


def long_form(identifier: bytes, contents: bytes) -> bytes:
    return identifier + b"\x82" + len(contents).to_bytes(2, "big") + contents


def chunked(identifier: bytes, contents: bytes) -> bytes:
    half = len(contents) // 2
    return tlv(
        bytes([identifier[0] | 0x20]), tlv(b"\x04", contents[:half]) + tlv(b"\x04", contents[half:])
    )


def retag(new: int) -> Rewrite:
    return lambda identifier, contents: tlv(bytes([new]), contents)


def nested(depth: int) -> bytes:
    encoding = b"\x05\x00"
    for _ in range(depth):
        encoding = tlv(b"\x30", encoding)
    return encoding
