"""CMS (RFC 5652) detached SignedData: built and parsed with asn1crypto, signed and checked with
cryptography.

Only what the dossier needs is accepted: one signer, detached id-data content, certificates
carried in the structure, ECDSA or RSA (PKCS#1 v1.5 or PSS) with SHA-256/384/512, and strict
DER. Everything else is refused with a named check rather than guessed at.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime

from asn1crypto import algos, core
from asn1crypto import cms as asn1_cms
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signing._algorithms import (
    CMS_SIGNATURE_OIDS,
    DIGEST_OIDS,
    MGF1_OID,
    WEAK_DIGEST_OIDS,
    CMSSignatureAlgorithm,
    HashName,
    cms_algorithm_name,
    hash_for,
)
from signing._certs import load_certificate, subject_text
from signing._steps import PARSE_ERRORS, Steps
from signing.errors import WeakKey
from signing.keys import check_key_strength, describe_key
from signing.report import SubIndication
from signing.signature import VerifiedSignature

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
ATTR_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"  # ESS, RFC 2634 (SHA-1)
ATTR_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # ESS, RFC 5035

#: Deeper nesting than any SignedData with X.509 certificates needs; bounds the DER walk.
MAX_DER_DEPTH = 64

_FORMAT = SubIndication.FORMAT_FAILURE
_CRYPTO = SubIndication.CRYPTO_CONSTRAINTS_FAILURE


def sign_detached(
    content: bytes,
    certificate: x509.Certificate,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    signing_time: datetime,
    chain: Iterable[x509.Certificate] = (),
) -> bytes:
    """DER SignedData over content, detached, with signed attributes and the signer's chain.

    SHA-384 and ecdsa-with-SHA384 for P-384 keys; SHA-256 with ecdsa-with-SHA256 for P-256 and
    sha256WithRSAEncryption (PKCS#1 v1.5) for RSA. The signed attributes are content-type,
    signingTime, message-digest and ESS signing-certificate-v2 (RFC 5035: the SHA-256 of the
    signer certificate and its issuer and serial), which binds the signer certificate into what
    is signed (verify_detached checks it when present; OpenSSL 3.0 does not).
    signing_time must be timezone-aware; it is written in UTC, truncated to the second, as
    UTCTime for 1950-2049 and GeneralizedTime otherwise (RFC 5652 section 11.3).
    Caveats: signing_time is the signer's claim, nothing more; the certificates are carried as a
    DER SET, so in encoding order rather than chain order, and their chain is not checked.
    Raises WeakKey for a key outside our policy and ValueError for a naive signing_time or when
    private_key does not belong to certificate.
    """
    public_key = private_key.public_key()
    check_key_strength(public_key)
    if _spki(certificate.public_key()) != _spki(public_key):
        raise ValueError("the private key does not belong to the certificate")
    if signing_time.tzinfo is None or signing_time.utcoffset() is None:
        raise ValueError("signing_time must be timezone-aware")
    return _assemble(content, certificate, private_key, signing_time, chain)


def _assemble(
    content: bytes,
    certificate: x509.Certificate,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    signing_time: datetime,
    chain: Iterable[x509.Certificate],
) -> bytes:
    """The SignedData itself, without sign_detached's checks (tests forge with it)."""
    public_key = private_key.public_key()
    hash_name: HashName = (
        "SHA-384"
        if isinstance(public_key, ec.EllipticCurvePublicKey)
        and isinstance(public_key.curve, ec.SECP384R1)
        else "SHA-256"
    )
    digest_algorithm = {"SHA-256": "sha256", "SHA-384": "sha384"}[hash_name]
    certificate_der = certificate.public_bytes(serialization.Encoding.DER)
    signer_certificate = asn1_x509.Certificate.load(certificate_der)

    # CMSAttributes is a SET OF: asn1crypto sorts the encodings on dump, which is the DER order
    # (X.690 section 11.6) and so exactly the bytes a verifier re-encodes.
    signed_bytes: bytes = asn1_cms.CMSAttributes(
        [
            _attribute("content_type", "data"),
            _attribute("signing_time", _cms_time(signing_time)),
            _attribute("message_digest", hashlib.new(digest_algorithm, content).digest()),
            _attribute(
                "signing_certificate_v2",
                asn1_tsp.SigningCertificateV2(
                    {
                        "certs": [
                            {
                                # hash_algorithm is left at its DEFAULT, SHA-256, so DER omits it.
                                "cert_hash": hashlib.sha256(certificate_der).digest(),
                                "issuer_serial": {
                                    "issuer": [
                                        asn1_x509.GeneralName(
                                            name="directory_name", value=signer_certificate.issuer
                                        )
                                    ],
                                    "serial_number": signer_certificate.serial_number,
                                },
                            }
                        ],
                    }
                ),
            ),
        ]
    ).dump()

    digest = hash_for(hash_name)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        # cryptography returns ECDSA signatures DER-encoded (Ecdsa-Sig-Value), as CMS wants.
        signature = private_key.sign(signed_bytes, ec.ECDSA(digest))
        signature_algorithm: dict[str, object] = {"algorithm": f"{digest_algorithm}_ecdsa"}
    else:
        signature = private_key.sign(signed_bytes, padding.PKCS1v15(), digest)
        # RFC 5754 section 3.2: NULL parameters for sha256WithRSAEncryption.
        signature_algorithm = {"algorithm": "sha256_rsa", "parameters": core.Null()}

    carried: dict[bytes, asn1_x509.Certificate] = {certificate_der: signer_certificate}
    for extra in chain:
        extra_der = extra.public_bytes(serialization.Encoding.DER)
        carried.setdefault(extra_der, asn1_x509.Certificate.load(extra_der))

    signed_data = asn1_cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [_digest_algorithm(digest_algorithm)],
            "encap_content_info": {"content_type": "data"},
            "certificates": list(carried.values()),
            "signer_infos": [
                {
                    "version": "v1",
                    "sid": asn1_cms.SignerIdentifier(
                        {
                            "issuer_and_serial_number": {
                                "issuer": signer_certificate.issuer,
                                "serial_number": signer_certificate.serial_number,
                            }
                        }
                    ),
                    "digest_algorithm": _digest_algorithm(digest_algorithm),
                    # Loaded from the bytes that were signed, so they are written back unchanged.
                    "signed_attrs": asn1_cms.CMSAttributes.load(signed_bytes),
                    "signature_algorithm": signature_algorithm,
                    "signature": signature,
                }
            ],
        }
    )
    encoded: bytes = asn1_cms.ContentInfo(
        {"content_type": "signed_data", "content": signed_data}
    ).dump()
    return encoded


def _digest_algorithm(name: str) -> algos.DigestAlgorithm:
    """A SHA-2 AlgorithmIdentifier without parameters, as RFC 5754 section 2 says to generate.

    asn1crypto would add NULL parameters; an object loaded from DER is written back unchanged.
    """
    oid = algos.DigestAlgorithmId(name).dump()
    return algos.DigestAlgorithm.load(b"\x30" + _der_length(len(oid)) + oid)


def _attribute(kind: str, value: object) -> asn1_cms.CMSAttribute:
    return asn1_cms.CMSAttribute({"type": kind, "values": [value]})


def _cms_time(moment: datetime) -> asn1_cms.Time:
    """moment as a CMS Time in UTC to the second: UTCTime for 1950-2049, else GeneralizedTime.

    The strings are written here rather than by asn1crypto so that the seconds are always
    present and fractions never are (DER, RFC 5652 section 11.3).
    """
    utc = moment.astimezone(UTC)
    if 1950 <= utc.year <= 2049:
        return asn1_cms.Time({"utc_time": f"{utc:%y%m%d%H%M%S}Z"})
    return asn1_cms.Time({"generalized_time": f"{utc.year:04d}{utc:%m%d%H%M%S}Z"})


def verify_detached(signature_der: bytes, content: bytes) -> VerifiedSignature:
    """Check that signature_der is a well-formed detached SignedData over content, with allowed
    algorithms and a valid signature by a certificate it carries. Raises SignatureFailure.

    Says nothing about trust (no path validation, no revocation, no time checks): the signer
    certificate is whichever carried certificate the SignerInfo names, so the caller must
    validate it. Only detached signatures are accepted: a SignedData that embeds content is
    refused even when the embedded bytes equal `content`, so there is never a question of which
    bytes were meant. The DER must be strict (definite, minimal lengths, no constructed strings,
    nothing trailing). Exactly one SignerInfo; unsigned attributes (counter-signatures,
    time-stamps) are ignored, as are CRLs carried in the structure. The returned signing_time is
    the signer's own claim (signingTime attribute), not proof of anything. Without signed
    attributes a changed content shows as SIG_CRYPTO_FAILURE, not HASH_FAILURE.
    """
    steps = Steps()

    # Structure.
    try:
        _check_der(signature_der)
        info = asn1_cms.ContentInfo.load(signature_der, strict=True)
        content_type = info["content_type"].dotted
    except PARSE_ERRORS as exc:
        steps.fail("cms.der", _FORMAT, f"not a DER-encoded ContentInfo: {exc}")
    steps.passed("cms.der", f"DER ContentInfo of {len(signature_der)} bytes")

    with steps.malformed_is("cms.content_type", "SignedData"):
        if content_type != ID_SIGNED_DATA:
            steps.fail(
                "cms.content_type",
                _FORMAT,
                f"content type is {info['content_type'].native}, not signedData",
            )
        signed_data = info["content"]
        if not isinstance(signed_data, asn1_cms.SignedData):
            raise ValueError("no SignedData content")
        version = signed_data["version"].native
        signer_infos = list(signed_data["signer_infos"])
    steps.passed("cms.content_type", "signedData")

    if version not in ("v1", "v3"):
        steps.fail("cms.version", _FORMAT, f"SignedData {version}; only v1 and v3 are accepted")
    steps.passed("cms.version", f"SignedData {version}")

    if len(signer_infos) != 1:
        steps.fail(
            "cms.signer_count",
            _FORMAT,
            f"{len(signer_infos)} SignerInfos; exactly one is accepted",
        )
    signer_info: asn1_cms.SignerInfo = signer_infos[0]
    steps.passed("cms.signer_count", "one SignerInfo")

    with steps.malformed_is("cms.detached", "encapsulated content"):
        encapsulated = signed_data["encap_content_info"]
        embedded = not isinstance(encapsulated["content"], core.Void)
        econtent_type = encapsulated["content_type"].dotted
    if embedded:
        steps.fail(
            "cms.detached",
            _FORMAT,
            "the SignedData embeds its content; only detached signatures are accepted",
        )
    steps.passed("cms.detached", "detached (no eContent)")

    if econtent_type != ID_DATA:
        steps.fail(
            "cms.econtent_type",
            _FORMAT,
            f"eContentType is {encapsulated['content_type'].native}, not id-data",
        )
    steps.passed("cms.econtent_type", "id-data")

    certificates = _carried_certificates(signed_data, steps)

    # Algorithms.
    with steps.malformed_is("cms.digest_algorithm", "digestAlgorithm"):
        digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
        digest_params = signer_info["digest_algorithm"]["parameters"]
        digest_params_ok = isinstance(digest_params, core.Void | core.Null)
        listed = {item["algorithm"].dotted for item in signed_data["digest_algorithms"]}
    hash_name = DIGEST_OIDS.get(digest_oid)
    if hash_name is None:
        steps.fail(
            "cms.digest_algorithm",
            _CRYPTO,
            f"digest algorithm {WEAK_DIGEST_OIDS.get(digest_oid, digest_oid)} is not allowed"
            " (SHA-256, SHA-384 or SHA-512 only)",
        )
    if not digest_params_ok:
        steps.fail("cms.digest_algorithm", _FORMAT, f"{hash_name} with unexpected parameters")
    if digest_oid not in listed:
        steps.fail(
            "cms.digest_algorithm",
            _FORMAT,
            f"the signer's {hash_name} is not listed in SignedData.digestAlgorithms",
        )
    steps.passed("cms.digest_algorithm", hash_name)

    algorithm, pss_salt = _signature_algorithm(signer_info, hash_name, steps)
    algorithm_name = cms_algorithm_name(algorithm, hash_name)

    # The signer.
    signer = _find_signer(signer_info, signed_data["version"].native, certificates, steps)
    try:
        public_key = signer.public_key()
        check_key_strength(public_key)
    except WeakKey as exc:
        steps.fail("cms.signer_key", _CRYPTO, exc.detail)
    except (ValueError, UnsupportedAlgorithm) as exc:
        steps.fail("cms.signer_key", _CRYPTO, f"the signer's public key is unusable: {exc}")
    if not _key_fits(algorithm, public_key):
        steps.fail(
            "cms.signer_key",
            _CRYPTO,
            f"a {describe_key(public_key)} key cannot make {algorithm_name} signatures",
        )
    steps.passed("cms.signer_key", describe_key(public_key))

    # What was signed.
    with steps.malformed_is("cms.signed_attributes", "signed attributes"):
        signed_attrs = signer_info["signed_attrs"]
        has_attrs = not isinstance(signed_attrs, core.Void)
    signing_time: datetime | None = None
    if has_attrs:
        signed_bytes = _signed_attributes_der(signed_attrs)
        signing_time = _check_signed_attributes(signed_attrs, content, hash_name, steps)
        _check_signing_certificate(signed_attrs, signer, steps)
    else:
        signed_bytes = content
        steps.passed("cms.signed_attributes", "none: the signature is over the content itself")

    # The signature itself.
    with steps.malformed_is("cms.signature", "signature value"):
        signature = signer_info["signature"].native
        if not isinstance(signature, bytes):
            raise ValueError("signature is not an OCTET STRING")
    try:
        _verify(public_key, algorithm, hash_name, pss_salt, signature, signed_bytes)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        steps.fail(
            "cms.signature",
            SubIndication.SIG_CRYPTO_FAILURE,
            f"the {algorithm_name} signature does not verify with the signer's key",
        )
    steps.passed("cms.signature", algorithm_name)

    return VerifiedSignature(
        format="cms",
        signer=signer,
        certificates=tuple(cert for _, cert in certificates),
        signing_time=signing_time,
        algorithm=algorithm_name,
        checks=steps.checks,
    )


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_der(data: bytes) -> None:
    """Raise ValueError unless data is one DER TLV with nothing after it.

    asn1crypto happily reads BER (indefinite lengths, constructed strings, long-form lengths),
    and a signature should have exactly one encoding, so every TLV is walked first.
    """
    end = _walk_tlv(data, 0, len(data), 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the DER value")


# Universal types that DER allows only in constructed form (SEQUENCE, SET, EXTERNAL,
# EMBEDDED PDV); everything else constructed (e.g. a chunked OCTET STRING) is BER.
_CONSTRUCTED_UNIVERSAL = frozenset({8, 11, 16, 17})


def _walk_tlv(data: bytes, pos: int, limit: int, depth: int, *, opaque: bool = False) -> int:
    if depth > MAX_DER_DEPTH:
        raise ValueError("DER nested too deeply")
    if pos >= limit:
        raise ValueError("truncated DER (missing tag)")
    identifier = data[pos]
    pos += 1
    constructed = bool(identifier & 0x20)
    number = identifier & 0x1F
    if number == 0x1F:
        number = 0
        first = True
        while True:
            if pos >= limit:
                raise ValueError("truncated DER (tag)")
            octet = data[pos]
            pos += 1
            if first and octet == 0x80:
                raise ValueError("non-minimal tag number")
            first = False
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
            if number > 0xFFFFFF:
                raise ValueError("tag number too large")
    if pos >= limit:
        raise ValueError("truncated DER (length)")
    first_length = data[pos]
    pos += 1
    if first_length == 0x80:
        raise ValueError("indefinite length (BER) is not DER")
    if first_length < 0x80:
        length = first_length
    else:
        count = first_length & 0x7F
        if count > 4:
            raise ValueError("length field too long")
        if pos + count > limit:
            raise ValueError("truncated DER (length)")
        length_octets = data[pos : pos + count]
        pos += count
        length = int.from_bytes(length_octets, "big")
        if length_octets[0] == 0 or length < 0x80:
            raise ValueError("non-minimal length (not DER)")
    end = pos + length
    if end > limit:
        raise ValueError("truncated DER (value shorter than its length)")
    if constructed and not opaque:
        if identifier & 0xC0 == 0 and number not in _CONSTRUCTED_UNIVERSAL:
            raise ValueError(f"constructed encoding of universal type {number} is BER, not DER")
        # The carried certificates (SignedData's [0], three levels down) are parsed later by
        # cryptography, whose parser is strict DER: their insides need no second walk here.
        certificates = depth == 3 and identifier == 0xA0
        inner = pos
        while inner < end:
            inner = _walk_tlv(data, inner, end, depth + 1, opaque=certificates)
    return end


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _carried_certificates(
    signed_data: asn1_cms.SignedData, steps: Steps
) -> list[tuple[asn1_x509.Certificate, x509.Certificate]]:
    """Every carried certificate, once, in carried order, as (asn1crypto, cryptography)."""
    certificates: list[tuple[asn1_x509.Certificate, x509.Certificate]] = []
    seen: set[bytes] = set()
    with steps.malformed_is("cms.certificates", "certificates"):
        carried = signed_data["certificates"]
        choices = [] if isinstance(carried, core.Void) else list(carried)
        for choice in choices:
            if choice.name != "certificate":
                steps.fail(
                    "cms.certificates",
                    _FORMAT,
                    f"a carried {choice.name} is not an X.509 certificate",
                )
            der = choice.chosen.dump()
            if der in seen:
                continue
            seen.add(der)
            certificates.append((choice.chosen, load_certificate(der)))
    steps.passed("cms.certificates", f"{len(certificates)} certificate(s) carried")
    return certificates


def _signature_algorithm(
    signer_info: asn1_cms.SignerInfo, hash_name: HashName, steps: Steps
) -> tuple[CMSSignatureAlgorithm, int | None]:
    """The accepted signature algorithm and, for PSS, its salt length."""
    name = "cms.signature_algorithm"
    with steps.malformed_is(name, "signatureAlgorithm"):
        signature_algorithm = signer_info["signature_algorithm"]
        oid = signature_algorithm["algorithm"].dotted
        readable = signature_algorithm["algorithm"].native
    algorithm = CMS_SIGNATURE_OIDS.get(oid)
    if algorithm is None:
        steps.fail(
            name,
            _CRYPTO,
            f"signature algorithm {readable} is not allowed"
            " (ECDSA, RSA PKCS#1 v1.5 or RSASSA-PSS with SHA-256 or stronger)",
        )
    if algorithm.hash_name is not None and algorithm.hash_name != hash_name:
        steps.fail(
            name,
            _CRYPTO,
            f"{algorithm.name} does not match the digest algorithm {hash_name}",
        )
    salt: int | None = None
    if algorithm.scheme == "pss":
        with steps.malformed_is(name, "RSASSA-PSS parameters"):
            params = signature_algorithm["parameters"]
            if not isinstance(params, algos.RSASSAPSSParams):
                raise ValueError("RSASSA-PSS without parameters")
            pss_hash = DIGEST_OIDS.get(params["hash_algorithm"]["algorithm"].dotted)
            mgf = params["mask_gen_algorithm"]
            mgf_oid = mgf["algorithm"].dotted
            mgf_hash = (
                DIGEST_OIDS.get(mgf["parameters"]["algorithm"].dotted)
                if mgf_oid == MGF1_OID
                else None
            )
            salt = params["salt_length"].native
            trailer = params["trailer_field"].native
        if pss_hash is None or pss_hash != hash_name:
            steps.fail(
                name,
                _CRYPTO,
                f"RSASSA-PSS hash {params['hash_algorithm']['algorithm'].native} does not"
                f" match the digest algorithm {hash_name}",
            )
        if mgf_hash != hash_name:
            steps.fail(name, _CRYPTO, f"RSASSA-PSS mask generation must be MGF1 with {hash_name}")
        if not isinstance(salt, int) or salt < 0:
            steps.fail(name, _FORMAT, f"RSASSA-PSS salt length {salt} is invalid")
        if trailer not in ("trailer_field_bc", 1):
            steps.fail(name, _FORMAT, f"RSASSA-PSS trailer field {trailer} is invalid")
    steps.passed(name, cms_algorithm_name(algorithm, hash_name))
    return algorithm, salt


def _find_signer(
    signer_info: asn1_cms.SignerInfo,
    signed_data_version: str,
    certificates: list[tuple[asn1_x509.Certificate, x509.Certificate]],
    steps: Steps,
) -> x509.Certificate:
    """The one carried certificate that the SignerInfo's sid names."""
    name = "cms.signer_certificate"
    with steps.malformed_is(name, "signer identifier"):
        sid = signer_info["sid"]
        version = signer_info["version"].native
        if sid.name == "issuer_and_serial_number":
            issuer_der = sid.chosen["issuer"].dump()
            serial = sid.chosen["serial_number"].native
            wanted = f"issuer and serial number {serial:x}"
            matches = [
                cert
                for _, cert in certificates
                if cert.serial_number == serial and cert.issuer.public_bytes() == issuer_der
            ]
            expected_version = "v1"
        else:
            key_id = sid.chosen.native
            wanted = f"subject key identifier {key_id.hex()}"
            matches = [cert for _, cert in certificates if _key_identifier(cert) == key_id]
            expected_version = "v3"
    if version != expected_version or (version == "v3" and signed_data_version != "v3"):
        steps.fail(
            name,
            _FORMAT,
            f"SignerInfo {version} (in SignedData {signed_data_version}) does not fit"
            f" a signer named by {sid.name.replace('_', ' ')}",
        )
    if not matches:
        steps.fail(
            name,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            f"no carried certificate has the signer's {wanted}",
        )
    if len(matches) > 1:
        steps.fail(
            name,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            f"{len(matches)} carried certificates have the signer's {wanted}; ambiguous",
        )
    signer = matches[0]
    steps.passed(name, f"{subject_text(signer)} (by {wanted})")
    return signer


def _key_identifier(certificate: x509.Certificate) -> bytes | None:
    """The certificate's subjectKeyIdentifier, or RFC 5280 method 1 when it has none.

    None when neither can be had (malformed extensions, an unknown key type): such a
    certificate cannot be the signer.
    """
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        return None
    try:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    except (ValueError, UnsupportedAlgorithm):
        return None


def _key_fits(algorithm: CMSSignatureAlgorithm, public_key: PublicKeyTypes) -> bool:
    if algorithm.scheme == "ecdsa":
        return isinstance(public_key, ec.EllipticCurvePublicKey)
    return isinstance(public_key, rsa.RSAPublicKey)


def _signed_attributes_der(signed_attrs: asn1_cms.CMSAttributes) -> bytes:
    """What the signature covers: the signed attributes as they were sent, tagged SET OF.

    RFC 5652 section 5.4: the [0] IMPLICIT tag is replaced by the SET OF tag. The original
    content octets are used, never a re-encoding, which might reorder the set.
    """
    contents: bytes = signed_attrs.contents
    return b"\x31" + _der_length(len(contents)) + contents


def _check_signed_attributes(
    signed_attrs: asn1_cms.CMSAttributes, content: bytes, hash_name: HashName, steps: Steps
) -> datetime | None:
    """Content-type, message-digest and signingTime; returns the claimed signing time."""
    name = "cms.signed_attributes"
    by_type: dict[str, list[asn1_cms.CMSAttribute]] = {}
    with steps.malformed_is(name, "signed attributes"):
        for attribute in signed_attrs:
            by_type.setdefault(attribute["type"].dotted, []).append(attribute)
        repeated = sorted(
            oid for oid, found in by_type.items() if len(found) > 1 and oid != ATTR_MESSAGE_DIGEST
        )
        if repeated:
            steps.fail(name, _FORMAT, f"signed attributes repeated: {', '.join(repeated)}")
        content_types = by_type.get(ATTR_CONTENT_TYPE, [])
        if not content_types:
            steps.fail(name, _FORMAT, "no content-type signed attribute")
        values = list(content_types[0]["values"])
        if len(values) != 1 or values[0].dotted != ID_DATA:
            steps.fail(name, _FORMAT, "the content-type signed attribute is not exactly id-data")
    steps.passed(name, f"{len(signed_attrs)} signed attributes, content-type id-data")

    name = "cms.message_digest"
    digests = by_type.get(ATTR_MESSAGE_DIGEST, [])
    if len(digests) != 1:
        steps.fail(
            name,
            SubIndication.HASH_FAILURE,
            f"{len(digests)} message-digest attributes; exactly one is required",
        )
    with steps.malformed_is(name, "message-digest attribute"):
        values = list(digests[0]["values"])
        if len(values) != 1:
            raise ValueError(f"{len(values)} values")
        claimed = values[0].native
        if not isinstance(claimed, bytes):
            raise ValueError("not an OCTET STRING")
    actual = hashlib.new(hash_name.replace("-", "").lower(), content).digest()
    if not hmac.compare_digest(claimed, actual):
        steps.fail(
            name,
            SubIndication.HASH_FAILURE,
            f"the {hash_name} digest of the content does not match the signed message-digest",
        )
    steps.passed(name, f"{hash_name} of the content matches")

    name = "cms.signing_time"
    times = by_type.get(ATTR_SIGNING_TIME, [])
    if not times:
        steps.passed(name, "no signingTime attribute")
        return None
    with steps.malformed_is(name, "signingTime attribute"):
        values = list(times[0]["values"])
        if len(values) != 1:
            raise ValueError(f"{len(values)} values")
        signing_time = values[0].native
        if not isinstance(signing_time, datetime) or signing_time.tzinfo is None:
            raise ValueError("not a UTCTime or GeneralizedTime in UTC")
    signing_time = signing_time.astimezone(UTC)
    steps.passed(name, f"claimed {signing_time.isoformat()}")
    return signing_time


def _check_signing_certificate(
    signed_attrs: asn1_cms.CMSAttributes, signer: x509.Certificate, steps: Steps
) -> None:
    """ESS signing-certificate(-v2), when present, must name the signer certificate found.

    It binds the certificate into what was signed, so that another certificate for the same
    key cannot be substituted (ETSI EN 319 102-1, 5.2.3: NO_SIGNING_CERTIFICATE_FOUND).
    """
    name = "cms.signing_certificate"
    found = [
        a
        for a in signed_attrs
        if a["type"].dotted in (ATTR_SIGNING_CERTIFICATE, ATTR_SIGNING_CERTIFICATE_V2)
    ]
    if not found:
        steps.passed(name, "no ESS signing-certificate attribute")
        return
    if len(found) > 1:
        steps.fail(name, _FORMAT, "more than one ESS signing-certificate attribute")
    der = signer.public_bytes(serialization.Encoding.DER)
    with steps.malformed_is(name, "ESS signing-certificate attribute"):
        values = list(found[0]["values"])
        if len(values) != 1:
            raise ValueError(f"{len(values)} values")
        first = values[0]["certs"][0]
        if found[0]["type"].dotted == ATTR_SIGNING_CERTIFICATE_V2:
            hash_name = first["hash_algorithm"]["algorithm"].native
        else:
            hash_name = "sha1"
        claimed = first["cert_hash"].native
        serial = None
        if not isinstance(first["issuer_serial"], core.Void):
            serial = first["issuer_serial"]["serial_number"].native
    if hash_name not in ("sha1", "sha256", "sha384", "sha512"):
        steps.fail(name, _CRYPTO, f"ESS certificate hash {hash_name} is not allowed")
    if not hmac.compare_digest(claimed, hashlib.new(hash_name, der).digest()) or (
        serial is not None and serial != signer.serial_number
    ):
        steps.fail(
            name,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "the signed ESS signing-certificate attribute names another certificate",
        )
    steps.passed(name, f"names the signer certificate ({hash_name})")


def _verify(
    public_key: PublicKeyTypes,
    algorithm: CMSSignatureAlgorithm,
    hash_name: HashName,
    pss_salt: int | None,
    signature: bytes,
    signed_bytes: bytes,
) -> None:
    """Raise InvalidSignature (or ValueError) unless signature is good over signed_bytes."""
    digest = hash_for(hash_name)
    if algorithm.scheme == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, signed_bytes, ec.ECDSA(digest))
        return
    if isinstance(public_key, rsa.RSAPublicKey):
        rsa_padding: padding.AsymmetricPadding
        if algorithm.scheme == "pss":
            if pss_salt is None:
                raise ValueError("RSASSA-PSS without a salt length")
            rsa_padding = padding.PSS(mgf=padding.MGF1(hash_for(hash_name)), salt_length=pss_salt)
        elif algorithm.scheme == "pkcs1v15":
            rsa_padding = padding.PKCS1v15()
        else:
            raise ValueError("algorithm does not fit an RSA key")
        public_key.verify(signature, signed_bytes, rsa_padding, digest)
        return
    raise ValueError("algorithm does not fit the key")
