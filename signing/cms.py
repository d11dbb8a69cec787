"""CMS (RFC 5652) detached SignedData: built with asn1crypto, taken apart by a small strict DER
reader (`signing._der`), signed and checked with cryptography.

Only what the dossier needs is accepted: one signer, detached id-data content, certificates
carried in the structure, ECDSA or RSA (PKCS#1 v1.5 or PSS) with SHA-256/384/512, and strict
DER. Everything else is refused with a named check rather than guessed at.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, NoReturn

from asn1crypto import algos, core
from asn1crypto import cms as asn1_cms
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from signing import _der
from signing._algorithms import (
    CMS_SIGNATURE_OIDS,
    DIGEST_OIDS,
    MGF1_OID,
    WEAK_DIGEST_OIDS,
    CMSSignatureAlgorithm,
    HashName,
    cms_algorithm_name,
    ecdsa_for,
    hash_for,
)
from signing._certs import (
    issuer_public_bytes,
    load_certificate,
    memo,
    per_certificate,
    subject_text,
)
from signing._der import GENERALIZED_TIME, INTEGER, OCTET_STRING, SEQUENCE, SET, UTC_TIME
from signing._der import OBJECT_IDENTIFIER as OID
from signing._steps import PARSE_ERRORS, Steps, passed_check, signer_key
from signing.errors import SignatureFailure
from signing.keys import check_key_strength, describe_key
from signing.report import Check, SubIndication
from signing.signature import VerifiedSignature

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
ATTR_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"  # ESS, RFC 2634 (SHA-1)
ATTR_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # ESS, RFC 5035

#: Deeper nesting than any SignedData with X.509 certificates needs; bounds the DER walk.
MAX_DER_DEPTH = _der.MAX_DEPTH

_CONTEXT_0 = _der.context(0, constructed=True)
_CONTEXT_1 = _der.context(1, constructed=True)
#: SignerIdentifier's [0] IMPLICIT SubjectKeyIdentifier (an OCTET STRING, so primitive).
_SUBJECT_KEY_IDENTIFIER = _der.context(0, constructed=False)
#: ContentInfo > [0] > SignedData > certificates [0]: the certificates inside are read by
#: cryptography (strict DER), so the walk reads only their outer TLVs.
_CARRIED_CERTIFICATES = (3, _CONTEXT_0)
#: ContentInfo > [0] > SignedData > signerInfos > SignerInfo > sid, signedAttrs > the issuer's
#: Name, each signed attribute: what one signer sends the same in every signature (but its
#: signingTime and message-digest), so their walk is remembered per encoding.
_SHARED_DEPTH = 6
#: CertificateChoices other than an X.509 certificate (RFC 5652 section 10.2.2), all refused.
_OTHER_CERTIFICATE_CHOICES = {
    _der.context(0, constructed=True): "extended_certificate",
    _der.context(1, constructed=True): "v1_attr_cert",
    _der.context(2, constructed=True): "v2_attr_cert",
    _der.context(3, constructed=True): "other",
}
#: Digests whose AlgorithmIdentifier may carry NULL parameters and nothing else (RFC 5754
#: section 2 for SHA-2, RFC 3370 for SHA-1); the others are refused by name anyway.
_NULL_PARAMETER_DIGESTS = frozenset(
    {
        "1.3.14.3.2.26",
        "2.16.840.1.101.3.4.2.4",
        "2.16.840.1.101.3.4.2.1",
        "2.16.840.1.101.3.4.2.2",
        "2.16.840.1.101.3.4.2.3",
    }
)
_NULL = b"\x05\x00"
#: The shape of IssuerAndSerialNumber and of IssuerSerial.
_NAME_SERIAL = (SEQUENCE, INTEGER)
_HASHLIB_NAMES: dict[HashName, str] = {
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}

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

    Everything that depends on signature_der alone (its structure, the algorithms, the signer,
    the signed attributes) is remembered per encoding, as a registry verifying a queue meets
    the same signatures again; the message digest of the content and the signature itself are
    checked on every call.
    """
    examined = (
        _remembered_examination(signature_der)
        if type(signature_der) is bytes and len(signature_der) <= _REMEMBERED_LENGTH
        else _examine(signature_der)
    )
    if isinstance(examined, _Refused):
        raise SignatureFailure(examined.sub_indication, examined.detail, examined.checks)
    checks = examined.checks
    signed_bytes = examined.signed_bytes
    if signed_bytes is None:
        signed_bytes = content
    else:
        hash_name = examined.hash_name
        actual = hashlib.new(_HASHLIB_NAMES[hash_name], content).digest()
        if not hmac.compare_digest(examined.claimed_digest, actual):
            _fail(
                checks,
                "cms.message_digest",
                SubIndication.HASH_FAILURE,
                f"the {hash_name} digest of the content does not match the signed message-digest",
            )
        matches = passed_check("cms.message_digest", f"{hash_name} of the content matches")
        checks = (*checks, matches)
    later = examined.later
    if isinstance(later, _Refused):
        refused = later.after(checks)
        raise SignatureFailure(refused.sub_indication, refused.detail, refused.checks)
    checks = (*checks, *later)

    # The signature itself.
    try:
        _verify(
            examined.public_key,
            examined.algorithm,
            examined.hash_name,
            examined.pss_salt,
            examined.signature,
            signed_bytes,
        )
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        _fail(
            checks,
            "cms.signature",
            SubIndication.SIG_CRYPTO_FAILURE,
            f"the {examined.algorithm_name} signature does not verify with the signer's key",
        )
    return VerifiedSignature(
        format="cms",
        signer=examined.signer,
        certificates=examined.certificates,
        signing_time=examined.signing_time,
        algorithm=examined.algorithm_name,
        checks=(*checks, passed_check("cms.signature", examined.algorithm_name)),
    )


#: Signatures up to this length (ours with a chain of two P-256 certificates are about 2 KB) are
#: remembered once examined; longer ones are examined every time rather than kept.
_REMEMBERED_LENGTH = 16 * 1024


@dataclass(frozen=True)
class _Refused:
    """A failed check, with the checks that ran before it."""

    sub_indication: SubIndication
    detail: str
    checks: tuple[Check, ...]

    def after(self, checks: tuple[Check, ...]) -> _Refused:
        """The same refusal with `checks` run before its own."""
        return _Refused(self.sub_indication, self.detail, (*checks, *self.checks))


@dataclass(frozen=True)
class _Examined:
    """What a SignedData establishes before its content is looked at: a pure function of its
    encoding."""

    #: cms.der to cms.signed_attributes, all passed.
    checks: tuple[Check, ...]
    #: The signed attributes as signed (SET OF), or None when the signature is over the content.
    signed_bytes: bytes | None
    hash_name: HashName
    #: The message-digest attribute's value (empty without signed attributes).
    claimed_digest: bytes
    #: The checks that follow cms.message_digest (cms.signing_time, cms.signing_certificate),
    #: all passed, or the one of them (or the signature value) that failed.
    later: tuple[Check, ...] | _Refused
    signer: x509.Certificate
    certificates: tuple[x509.Certificate, ...]
    public_key: PublicKeyTypes
    algorithm: CMSSignatureAlgorithm
    algorithm_name: str
    pss_salt: int | None
    signing_time: datetime | None
    signature: bytes


def _examine(signature_der: bytes) -> _Examined | _Refused:
    """Every check of verify_detached that needs nothing but signature_der, in its order."""
    try:
        # Structure. The whole encoding is checked first, so that a DER fault anywhere is always
        # reported as such, whatever other check it would trip further on.
        if not isinstance(signature_der, bytes):
            raise TypeError(f"a {type(signature_der).__name__}, not bytes")
        root = _der.parse(signature_der, opaque=_CARRIED_CERTIFICATES, shared_depth=_SHARED_DEPTH)
        content_info = _der.Fields(_der.expect(root, SEQUENCE, "ContentInfo"), "ContentInfo")
        content_type = _der.object_identifier(content_info.take(OID), "contentType")
        wrapped = content_info.optional(_CONTEXT_0)
    except PARSE_ERRORS as exc:
        return _Refused(
            _FORMAT,
            f"not a DER-encoded ContentInfo: {exc}",
            (Check("cms.der", False, f"not a DER-encoded ContentInfo: {exc}"),),
        )
    checks: tuple[Check, ...] = (
        passed_check("cms.der", f"DER ContentInfo of {len(signature_der)} bytes"),
    )

    # The signer's side (cms.content_type to cms.signer_key) reads nothing of the signed
    # attributes but where they are, nor of the signature value: it is remembered for the
    # encoding without them, which a signer sends again with each new signature.
    located = _locate_signer_info(signature_der, wrapped)
    if located is None:
        outcome = _signer_side(content_type, wrapped, content_info)
        if isinstance(outcome, _Refused):
            return outcome.after(checks)
        side, signer_info = outcome
    else:
        key, signer_info = located
        slot = _signer_side_slot(key)
        if not slot:
            outcome = _signer_side(content_type, wrapped, content_info)
            slot.append(outcome if isinstance(outcome, _Refused) else outcome[0])
        remembered = slot[0]
        if isinstance(remembered, _Refused):
            return remembered.after(checks)
        side = remembered
    checks = (*checks, *side.checks)

    # What was signed.
    steps = Steps()
    try:
        attributes: _Attributes | None = None
        if signer_info.signed_attrs is not None:
            # RFC 5652 section 5.4: the [0] IMPLICIT tag is replaced by the SET OF tag. The
            # octets are used as they were sent, never a re-encoding, which might reorder the
            # set; their length octets are already DER, so only the tag changes.
            signed_bytes: bytes | None = b"\x31" + _der.encoding(signer_info.signed_attrs)[1:]
            attributes = _signed_attributes(signer_info.signed_attrs, steps)
            claimed_digest = _check_signed_attributes(attributes, steps)
        else:
            signed_bytes = None
            claimed_digest = b""
            steps.passed("cms.signed_attributes", "none: the signature is over the content itself")
    except SignatureFailure as failure:
        return _Refused(failure.sub_indication, failure.detail, failure.checks).after(checks)
    checks = (*checks, *steps.checks)

    # After the message digest (which needs the content): these are reported only if it matches.
    later = Steps()
    signing_time: datetime | None = None
    signature = b""
    try:
        if attributes is not None:
            signing_time = _check_signing_time(attributes, later)
            _check_signing_certificate(attributes, side.signer_der, side.signer, later)
        try:
            signature = _der.octet_string(signer_info.signature, "signature")
        except PARSE_ERRORS as exc:
            _malformed(later, "cms.signature", "signature value", exc)
        later_outcome: tuple[Check, ...] | _Refused = later.checks
    except SignatureFailure as failure:
        later_outcome = _Refused(failure.sub_indication, failure.detail, failure.checks)

    return _Examined(
        checks=checks,
        signed_bytes=signed_bytes,
        hash_name=side.hash_name,
        claimed_digest=claimed_digest,
        later=later_outcome,
        signer=side.signer,
        certificates=side.certificates,
        public_key=side.public_key,
        algorithm=side.algorithm,
        algorithm_name=side.algorithm_name,
        pss_salt=side.pss_salt,
        signing_time=signing_time,
        signature=signature,
    )


@dataclass(frozen=True)
class _SignerSide:
    """What cms.content_type to cms.signer_key establish."""

    #: Those checks, all passed.
    checks: tuple[Check, ...]
    hash_name: HashName
    algorithm: CMSSignatureAlgorithm
    algorithm_name: str
    pss_salt: int | None
    signer_der: bytes
    signer: x509.Certificate
    certificates: tuple[x509.Certificate, ...]
    public_key: PublicKeyTypes


def _signer_side(
    content_type: str, wrapped: _der.Node | None, content_info: _der.Fields
) -> tuple[_SignerSide, _SignerInfo] | _Refused:
    """cms.content_type to cms.signer_key, and the SignerInfo read on the way."""
    steps = Steps()
    try:
        try:
            if content_type != ID_SIGNED_DATA:
                steps.fail(
                    "cms.content_type",
                    _FORMAT,
                    f"content type is {asn1_cms.ContentType.map(content_type)}, not signedData",
                )
            if wrapped is None:
                raise ValueError("no SignedData content")
            content_info.end()
            explicit = _der.inside(_der.expect(wrapped, _CONTEXT_0, "content"), "content")
            if len(explicit) != 1:
                raise ValueError("the [0] content must hold exactly one value")
            signed_data = _der.Fields(
                _der.expect(explicit[0], SEQUENCE, "SignedData"), "SignedData"
            )
            # Each field's tag is checked where the field is used, so that a fault is reported by
            # the check that reads it.
            version = _cms_version(_der.integer(signed_data.take_any(), "version"))
            digest_algorithms = signed_data.take_any()
            encapsulated = signed_data.take_any()
            carried = signed_data.optional(_CONTEXT_0)
            signed_data.optional(_CONTEXT_1)  # CRLs: not used
            signer_infos = [
                _der.expect(node, SEQUENCE, "SignerInfo")
                for node in _der.inside(signed_data.take(SET), "signerInfos")
            ]
            signed_data.end()
        except PARSE_ERRORS as exc:
            _malformed(steps, "cms.content_type", "SignedData", exc)
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
        steps.passed("cms.signer_count", "one SignerInfo")

        try:
            encapsulated_fields = _der.Fields(
                _der.expect(encapsulated, SEQUENCE, "encapContentInfo"), "encapContentInfo"
            )
            econtent_type = _der.object_identifier(encapsulated_fields.take(OID), "eContentType")
            embedded = encapsulated_fields.optional(_CONTEXT_0) is not None
            encapsulated_fields.end()
        except PARSE_ERRORS as exc:
            _malformed(steps, "cms.detached", "encapsulated content", exc)
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
                f"eContentType is {asn1_cms.ContentType.map(econtent_type)}, not id-data",
            )
        steps.passed("cms.econtent_type", "id-data")

        certificates = _carried_certificates(carried, steps)

        # Algorithms.
        try:
            signer_info = _signer_info(signer_infos[0])
            digest_oid = _digest_algorithm_oid(signer_info.digest_algorithm)
            listed = {
                _der.object_identifier(
                    _der.inside(_der.expect(item, SEQUENCE, "digestAlgorithms"), "algorithm")[0],
                    "algorithm",
                )
                for item in _der.inside(
                    _der.expect(digest_algorithms, SET, "digestAlgorithms"), "digestAlgorithms"
                )
            }
        except PARSE_ERRORS as exc:
            _malformed(steps, "cms.digest_algorithm", "digestAlgorithm", exc)
        hash_name = DIGEST_OIDS.get(digest_oid)
        if hash_name is None:
            steps.fail(
                "cms.digest_algorithm",
                _CRYPTO,
                f"digest algorithm {WEAK_DIGEST_OIDS.get(digest_oid, digest_oid)} is not allowed"
                " (SHA-256, SHA-384 or SHA-512 only)",
            )
        if digest_oid not in listed:
            steps.fail(
                "cms.digest_algorithm",
                _FORMAT,
                f"the signer's {hash_name} is not listed in SignedData.digestAlgorithms",
            )
        steps.passed("cms.digest_algorithm", hash_name)

        algorithm, pss_salt = _signature_algorithm(
            signer_info.signature_algorithm, hash_name, steps
        )
        algorithm_name = cms_algorithm_name(algorithm, hash_name)

        # The signer.
        signer_der, signer = _find_signer(signer_info, version, certificates, steps)
        public_key = signer_key(signer, "cms.signer_key", steps)
        if not _key_fits(algorithm, public_key):
            steps.fail(
                "cms.signer_key",
                _CRYPTO,
                f"a {describe_key(public_key)} key cannot make {algorithm_name} signatures",
            )
        steps.passed("cms.signer_key", describe_key(public_key))

    except SignatureFailure as failure:
        return _Refused(failure.sub_indication, failure.detail, failure.checks)
    side = _SignerSide(
        checks=steps.checks,
        hash_name=hash_name,
        algorithm=algorithm,
        algorithm_name=algorithm_name,
        pss_salt=pss_salt,
        signer_der=signer_der,
        signer=signer,
        certificates=tuple(certificate for _, certificate in certificates),
        public_key=public_key,
    )
    return side, signer_info


def _locate_signer_info(
    signature_der: bytes, wrapped: _der.Node | None
) -> tuple[tuple[object, ...], _SignerInfo] | None:
    """The one SignerInfo of a SignedData of the usual shape, with the key under which its
    signer's side is remembered: the whole encoding but the signed attributes and the signature
    value (those cut out are named by where they were). None for any other shape (whose checks
    are then simply run)."""
    try:
        if wrapped is None or wrapped[0] != _CONTEXT_0:
            return None
        explicit = _der.inside(wrapped, "content")
        signed_data = _der.inside(explicit[0], "SignedData") if len(explicit) == 1 else []
        if not signed_data or signed_data[-1][0] != SET:
            return None
        signer_infos = _der.inside(signed_data[-1], "signerInfos")
        if len(signer_infos) != 1 or signer_infos[0][0] != SEQUENCE:
            return None
        signer_info = _signer_info(signer_infos[0])
    except PARSE_ERRORS:
        return None
    signature = signer_info.signature
    if signature[5] is not signature_der:
        return None
    if signer_info.signed_attrs is None:
        return (
            "content",
            signature_der[: signature[2]],
            signature_der[signature[3] :],
        ), signer_info
    signed_attrs = signer_info.signed_attrs
    if signed_attrs[5] is not signature_der:
        return None
    key = (
        "signed attributes",
        signature_der[: signed_attrs[1]],
        signed_attrs[3] - signed_attrs[1],
        signature_der[signed_attrs[3] : signature[2]],
        signature_der[signature[3] :],
    )
    return key, signer_info


@memo
def _signer_side_slot(key: tuple[object, ...]) -> list[_SignerSide | _Refused]:
    """A place for the signer's side under `key`, filled by the first to need it (bounded, and
    cleared by _certs.forget with the certificate memos)."""
    return []


_remembered_examination = memo(_examine)


def _fail(
    checks: tuple[Check, ...], name: str, sub_indication: SubIndication, detail: str
) -> NoReturn:
    raise SignatureFailure(sub_indication, detail, (*checks, Check(name, False, detail)))


def _spki(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_der(data: bytes) -> None:
    """Raise ValueError unless data is one DER TLV with nothing after it.

    asn1crypto happily read BER, and a signature should have exactly one encoding, so every TLV
    is walked (indefinite and non-minimal lengths and constructed strings are refused), except
    inside the carried certificates, which cryptography's strict DER parser reads.
    """
    _der.parse(data, opaque=_CARRIED_CERTIFICATES)


def _der_length(length: int) -> bytes:
    return _der.length_octets(length)


def _malformed(steps: Steps, name: str, what: str, exc: Exception) -> NoReturn:
    """What Steps.malformed_is does, for a plain try block (cheaper than a context manager,
    and this verifier enters a dozen of them)."""
    steps.fail(name, _FORMAT, f"malformed {what}: {exc}")


def _cms_version(number: int) -> str:
    """CMSVersion as asn1crypto named it ("v0" to "v5"), for the checks and their messages."""
    return f"v{number}" if 0 <= number <= 5 else str(number)


class _SignerInfo(NamedTuple):
    """The parts of a SignerInfo (RFC 5652 section 5.3), each as it was sent."""

    version: _der.Node
    #: IssuerAndSerialNumber (a SEQUENCE) or [0] subjectKeyIdentifier.
    sid: _der.Node
    digest_algorithm: _der.Node
    #: [0] IMPLICIT SET OF Attribute, or None.
    signed_attrs: _der.Node | None
    signature_algorithm: _der.Node
    signature: _der.Node


def _signer_info(node: _der.Node) -> _SignerInfo:
    """The fields by position; each one's tag is checked by the check that reads it."""
    signer_info = _der.Fields(node, "SignerInfo")
    version = signer_info.take_any()
    sid = signer_info.take_any()
    digest_algorithm = signer_info.take_any()
    signed_attrs = signer_info.optional(_CONTEXT_0)
    signature_algorithm = signer_info.take_any()
    signature = signer_info.take_any()
    signer_info.optional(_CONTEXT_1)  # unsigned attributes: ignored
    signer_info.end()
    return _SignerInfo(version, sid, digest_algorithm, signed_attrs, signature_algorithm, signature)


def _algorithm_identifier(node: _der.Node, what: str) -> tuple[str, _der.Node | None]:
    """An AlgorithmIdentifier's OID and its parameters, if any."""
    inside = _der.inside(_der.expect(node, SEQUENCE, what), what)
    if not 1 <= len(inside) <= 2:
        raise _der.DERError(f"{what}: {len(inside)} fields")
    oid = _der.object_identifier(inside[0], what)
    return oid, inside[1] if len(inside) == 2 else None


def _digest_algorithm_oid(node: _der.Node) -> str:
    """The signer's digest algorithm; the SHA-1 and SHA-2 ones may have NULL parameters only."""
    oid, parameters = _algorithm_identifier(node, "digestAlgorithm")
    if (
        parameters is not None
        and oid in _NULL_PARAMETER_DIGESTS
        and _der.encoding(parameters) != _NULL
    ):
        raise _der.DERError(f"{DIGEST_OIDS.get(oid, oid)} with unexpected parameters")
    return oid


def _carried_certificates(
    carried: _der.Node | None, steps: Steps
) -> list[tuple[bytes, x509.Certificate]]:
    """Every carried certificate, once, in carried order, as (DER, certificate)."""
    certificates: list[tuple[bytes, x509.Certificate]] = []
    seen: set[bytes] = set()
    try:
        if carried is not None:
            _der.expect(carried, _CONTEXT_0, "certificates")
        for choice in () if carried is None else _der.inside(carried, "certificates"):
            if choice[0] != SEQUENCE:
                kind = _OTHER_CERTIFICATE_CHOICES.get(choice[0])
                if kind is None:
                    raise _der.DERError(f"CertificateChoices with tag 0x{choice[0]:02x}")
                steps.fail(
                    "cms.certificates",
                    _FORMAT,
                    f"a carried {kind} is not an X.509 certificate",
                )
            der = _der.encoding(choice)
            if der in seen:
                continue
            seen.add(der)
            certificates.append((der, load_certificate(der)))
    except PARSE_ERRORS as exc:
        _malformed(steps, "cms.certificates", "certificates", exc)
    steps.passed("cms.certificates", f"{len(certificates)} certificate(s) carried")
    return certificates


def _signature_algorithm(
    node: _der.Node, hash_name: HashName, steps: Steps
) -> tuple[CMSSignatureAlgorithm, int | None]:
    """The accepted signature algorithm and, for PSS, its salt length."""
    name = "cms.signature_algorithm"
    try:
        oid, parameters = _algorithm_identifier(node, "signatureAlgorithm")
    except PARSE_ERRORS as exc:
        _malformed(steps, name, "signatureAlgorithm", exc)
    algorithm = CMS_SIGNATURE_OIDS.get(oid)
    if algorithm is None:
        steps.fail(
            name,
            _CRYPTO,
            f"signature algorithm {algos.SignedDigestAlgorithmId.map(oid)} is not allowed"
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
        # Rare enough to be read with asn1crypto.
        try:
            if parameters is None:
                raise ValueError("RSASSA-PSS without parameters")
            params = algos.RSASSAPSSParams.load(_der.encoding(parameters), strict=True)
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
        except PARSE_ERRORS as exc:
            _malformed(steps, name, "RSASSA-PSS parameters", exc)
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
    signer_info: _SignerInfo,
    signed_data_version: str,
    certificates: list[tuple[bytes, x509.Certificate]],
    steps: Steps,
) -> tuple[bytes, x509.Certificate]:
    """The one carried certificate that the SignerInfo's sid names, with its DER."""
    name = "cms.signer_certificate"
    sid = signer_info.sid
    try:
        version = _cms_version(_der.integer(signer_info.version, "version"))
        if sid[0] == SEQUENCE:
            by = "issuer and serial number"
            issuer_node, serial_node = _der.exactly(sid, "issuerAndSerialNumber", _NAME_SERIAL)
            # Compared as encoded: cryptography's parser keeps a certificate's Name as sent.
            issuer = _der.encoding(issuer_node)
            serial = _der.integer(serial_node, "serialNumber")
            wanted = f"issuer and serial number {serial:x}"
            matches = [
                carried
                for carried in certificates
                if _issuer_and_serial(carried[1]) == (issuer, serial)
            ]
            expected_version = "v1"
        elif sid[0] == _SUBJECT_KEY_IDENTIFIER:
            by = "subject key identifier"
            key_id = _der.value(sid)
            wanted = f"subject key identifier {key_id.hex()}"
            matches = [carried for carried in certificates if _key_identifier(carried[1]) == key_id]
            expected_version = "v3"
        else:
            raise _der.DERError(f"SignerIdentifier with tag 0x{sid[0]:02x}")
    except PARSE_ERRORS as exc:
        _malformed(steps, name, "signer identifier", exc)
    if version != expected_version or (version == "v3" and signed_data_version != "v3"):
        steps.fail(
            name,
            _FORMAT,
            f"SignerInfo {version} (in SignedData {signed_data_version}) does not fit"
            f" a signer named by {by}",
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
    steps.passed_distinct(name, f"{subject_text(signer[1])} (by {wanted})")
    return signer


@per_certificate
def _issuer_and_serial(certificate: x509.Certificate) -> tuple[bytes, int]:
    """The issuer Name as encoded (cryptography keeps it as sent) and the serial number."""
    return issuer_public_bytes(certificate), certificate.serial_number


@per_certificate
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


#: Signed attributes by type, each as its attrValues (a SET OF), in order.
_Attributes = dict[str, list[_der.Node]]


def _signed_attributes(node: _der.Node, steps: Steps) -> _Attributes:
    """The signed attributes grouped by type, each one a SEQUENCE { type, SET OF value }."""
    by_type: _Attributes = {}
    try:
        for item in _der.inside(_der.expect(node, _CONTEXT_0, "signedAttrs"), "signedAttrs"):
            # attrValues is checked to be a SET where it is read (an unknown attribute's never is).
            attribute = _der.inside(_der.expect(item, SEQUENCE, "Attribute"), "Attribute")
            if len(attribute) != 2:
                raise _der.DERError(f"Attribute: {len(attribute)} fields where 2 belong")
            oid = _der.object_identifier(attribute[0], "attrType")
            by_type.setdefault(oid, []).append(attribute[1])
    except PARSE_ERRORS as exc:
        _malformed(steps, "cms.signed_attributes", "signed attributes", exc)
    return by_type


def _values(attribute_values: _der.Node) -> list[_der.Node]:
    """The values of one attribute: its attrValues SET OF."""
    return _der.inside(_der.expect(attribute_values, SET, "attrValues"), "attrValues")


def _check_signed_attributes(by_type: _Attributes, steps: Steps) -> bytes:
    """Content-type, and the form of message-digest; returns the message digest claimed (which
    `verify_detached` compares with the content's)."""
    name = "cms.signed_attributes"
    try:
        repeated = sorted(
            oid for oid, found in by_type.items() if len(found) > 1 and oid != ATTR_MESSAGE_DIGEST
        )
        if repeated:
            steps.fail(name, _FORMAT, f"signed attributes repeated: {', '.join(repeated)}")
        content_types = by_type.get(ATTR_CONTENT_TYPE, [])
        if not content_types:
            steps.fail(name, _FORMAT, "no content-type signed attribute")
        values = _values(content_types[0])
        if len(values) != 1 or _der.object_identifier(values[0], "content-type") != ID_DATA:
            steps.fail(name, _FORMAT, "the content-type signed attribute is not exactly id-data")
    except PARSE_ERRORS as exc:
        _malformed(steps, name, "signed attributes", exc)
    count = sum(len(found) for found in by_type.values())
    steps.passed(name, f"{count} signed attributes, content-type id-data")

    name = "cms.message_digest"
    digests = by_type.get(ATTR_MESSAGE_DIGEST, [])
    if len(digests) != 1:
        steps.fail(
            name,
            SubIndication.HASH_FAILURE,
            f"{len(digests)} message-digest attributes; exactly one is required",
        )
    try:
        values = _values(digests[0])
        if len(values) != 1:
            raise ValueError(f"{len(values)} values")
        return _der.octet_string(values[0], "message-digest")
    except PARSE_ERRORS as exc:
        _malformed(steps, name, "message-digest attribute", exc)


def _check_signing_time(by_type: _Attributes, steps: Steps) -> datetime | None:
    """The signing time claimed, if any."""
    name = "cms.signing_time"
    times = by_type.get(ATTR_SIGNING_TIME, [])
    if not times:
        steps.passed(name, "no signingTime attribute")
        return None
    try:
        values = _values(times[0])
        if len(values) != 1:
            raise ValueError(f"{len(values)} values")
        signing_time = _time(values[0])
    except PARSE_ERRORS as exc:
        _malformed(steps, name, "signingTime attribute", exc)
    steps.passed_distinct(name, f"claimed {signing_time.isoformat()}")
    return signing_time


def _time(node: _der.Node) -> datetime:
    """A CMS Time in UTC. The DER forms (RFC 5652 section 11.3: UTC, whole seconds) are read
    here; anything else goes to asn1crypto, which reads more forms, as it always did."""
    text = _der.value(node)
    if node[0] == UTC_TIME and len(text) == 13 and text[12] == 0x5A and text[:12].isdigit():
        year = int(text[0:2])
        year += 1900 if year >= 50 else 2000
        offset = 2
    elif (
        node[0] == GENERALIZED_TIME
        and len(text) == 15
        and text[14] == 0x5A
        and text[:14].isdigit()
        and text[:4] != b"0000"
    ):
        year = int(text[0:4])
        offset = 4
    else:
        moment = asn1_cms.Time.load(_der.encoding(node), strict=True).native
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError("not a UTCTime or GeneralizedTime in UTC")
        return moment.astimezone(UTC)
    month, day, hour, minute, second = (
        int(text[at : at + 2]) for at in range(offset, offset + 10, 2)
    )
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _check_signing_certificate(
    by_type: _Attributes,
    signer_der: bytes,
    signer: x509.Certificate,
    steps: Steps,
) -> None:
    """ESS signing-certificate(-v2), when present, must name the signer certificate found.

    It binds the certificate into what was signed, so that another certificate for the same
    key cannot be substituted (ETSI EN 319 102-1, 5.2.3: NO_SIGNING_CERTIFICATE_FOUND).
    """
    name = "cms.signing_certificate"
    found = [
        (oid, values)
        for oid in (ATTR_SIGNING_CERTIFICATE, ATTR_SIGNING_CERTIFICATE_V2)
        for values in by_type.get(oid, [])
    ]
    if not found:
        steps.passed(name, "no ESS signing-certificate attribute")
        return
    if len(found) > 1:
        steps.fail(name, _FORMAT, "more than one ESS signing-certificate attribute")
    oid, values_node = found[0]
    try:
        hash_name, claimed, serial = _ess_cert_id(values_node, oid == ATTR_SIGNING_CERTIFICATE_V2)
    except PARSE_ERRORS as exc:
        _malformed(steps, name, "ESS signing-certificate attribute", exc)
    if hash_name not in ("sha1", "sha256", "sha384", "sha512"):
        steps.fail(name, _CRYPTO, f"ESS certificate hash {hash_name} is not allowed")
    if not hmac.compare_digest(claimed, hashlib.new(hash_name, signer_der).digest()) or (
        serial is not None and serial != signer.serial_number
    ):
        steps.fail(
            name,
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "the signed ESS signing-certificate attribute names another certificate",
        )
    steps.passed(name, f"names the signer certificate ({hash_name})")


_ESSCertID = tuple[str, bytes, int | None]


def _ess_cert_id(attribute_values: _der.Node, v2: bool) -> _ESSCertID:
    """The first ESSCertID(v2) of an ESS signing-certificate(-v2) attribute's values (a DER SET
    OF, as walked with the SignedData): its hash algorithm's name, the certificate hash and the
    serial number if it names one. Remembered per encoding: a signer sends the same one with
    every signature."""
    slot = _ess_cert_id_slot(_der.encoding(attribute_values), v2)
    if not slot:
        slot.append(_read_ess_cert_id(attribute_values, v2))
    return slot[0]


@memo
def _ess_cert_id_slot(attribute_values: bytes, v2: bool) -> list[_ESSCertID]:
    """A place for what `_read_ess_cert_id` reads from this encoding, filled by the first to
    need it (bounded, and cleared by _certs.forget); a refusal is never kept."""
    return []


def _read_ess_cert_id(attribute_values: _der.Node, v2: bool) -> _ESSCertID:
    values = _values(attribute_values)
    if len(values) != 1:
        raise ValueError(f"{len(values)} values")
    # SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), policies
    # OPTIONAL }; only the first ESSCertID, the signer's (RFC 5035 section 5.4), is read.
    signing_certificate = _der.Fields(
        _der.expect(values[0], SEQUENCE, "SigningCertificate"), "SigningCertificate"
    )
    cert_ids = _der.inside(signing_certificate.take(SEQUENCE), "certs")
    signing_certificate.optional(SEQUENCE)
    signing_certificate.end()
    if not cert_ids:
        raise ValueError("no ESSCertID")
    cert_id = _der.Fields(_der.expect(cert_ids[0], SEQUENCE, "ESSCertID"), "ESSCertID")
    hash_name = "sha1"
    if v2:
        hash_algorithm = cert_id.optional(SEQUENCE)
        hash_name = "sha256"  # the DEFAULT
        if hash_algorithm is not None:
            hash_oid = _der.object_identifier(
                _der.inside(hash_algorithm, "hashAlgorithm")[0], "hashAlgorithm"
            )
            hash_name = algos.DigestAlgorithmId.map(hash_oid)
    claimed = _der.octet_string(cert_id.take(OCTET_STRING), "certHash")
    issuer_serial = cert_id.optional(SEQUENCE)
    cert_id.end()
    serial = None
    if issuer_serial is not None:
        # GeneralNames and serialNumber; the issuer is not compared (the certHash is).
        _, serial_node = _der.exactly(issuer_serial, "IssuerSerial", _NAME_SERIAL)
        serial = _der.integer(serial_node, "serialNumber")
    return hash_name, claimed, serial


def _verify(
    public_key: PublicKeyTypes,
    algorithm: CMSSignatureAlgorithm,
    hash_name: HashName,
    pss_salt: int | None,
    signature: bytes,
    signed_bytes: bytes,
) -> None:
    """Raise InvalidSignature (or ValueError) unless signature is good over signed_bytes."""
    if algorithm.scheme == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, signed_bytes, ecdsa_for(hash_name))
        return
    digest = hash_for(hash_name)
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
