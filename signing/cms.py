"""CMS (RFC 5652) detached SignedData: built and read with asn1crypto, signed and checked with
cryptography.

Only what the dossier needs is accepted: one signer, detached id-data content, carried
certificates, ECDSA or RSA (PKCS#1 v1.5 or PSS) with SHA-256/384/512, strict DER of at most
MAX_SIGNATURE_BYTES; everything else is refused with a named check. The signer's checks follow
pyHanko's `validate_sig_integrity`: the signed attributes re-tagged as a SET, exactly one
content-type and one message-digest, ESS signing-certificate and CMSAlgorithmProtection honoured
when present, a changed content (HASH_FAILURE) told apart from a bad signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

from asn1crypto import algos, core, parser
from asn1crypto import cms as asn1_cms
from asn1crypto import tsp as asn1_tsp  # noqa: F401 (registers the ESS attributes)
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signing.keys import (
    CMS_SIGNATURE_OIDS,
    DIGEST_OIDS,
    MGF1_OID,
    WEAK_DIGEST_OIDS,
    CMSSignatureAlgorithm,
    HashName,
    hash_for,
    verify_data,
)
from signing.report import SubIndication
from signing.signature import (
    PARSE_ERRORS,
    Steps,
    VerifiedSignature,
    check_signing_key,
    check_signing_time,
    extension,
    load_certificate,
    plausible_time,
    signer_key,
)

#: The largest signature read. Ours, with a chain of two P-256 certificates, are about 2 KB;
#: an RSA-4096 chain of three is under 8 KB.
MAX_SIGNATURE_BYTES = 32 * 1024
#: Deeper nesting than any SignedData needs (the certificates' insides are not walked).
MAX_DER_DEPTH = 24
#: More ASN.1 values than any SignedData of a few certificates holds outside them (ours: ~70).
MAX_DER_VALUES = 1024

_FORMAT = SubIndication.FORMAT_FAILURE
_CRYPTO = SubIndication.CRYPTO_CONSTRAINTS_FAILURE
_ESS_HASHES = ("sha1", "sha256", "sha384", "sha512")
_SIGNED_DATA = asn1_cms.ContentType("signed_data").dump()
_SIGNING_TIME = asn1_cms.CMSAttributeType("signing_time").dump()
_DIGEST = asn1_cms.CMSAttributeType("message_digest").dump()


def sign_detached(
    content: bytes, certificate: x509.Certificate,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, *, signing_time: datetime,
    chain: Iterable[x509.Certificate] = (),
) -> bytes:
    """DER SignedData over content, detached, with signed attributes and the signer's chain.

    SHA-384 for P-384 keys, SHA-256 otherwise. The signed attributes are content-type,
    signingTime (UTC, to the second), message-digest and ESS signing-certificate-v2 (RFC 5035),
    which binds the signer certificate into what is signed. Caveats: signing_time is the
    signer's claim, nothing more; the chain is carried, not checked. Raises WeakKey for a key
    outside our policy, ValueError for a naive signing_time or a key not the certificate's.
    """
    signer = DetachedSigner(certificate, private_key, chain=chain)  # it checks key and time
    return signer.sign(content, signing_time=signing_time)


class DetachedSigner:
    """`sign_detached` for many contents by one key: what its signatures share is encoded once
    by asn1crypto, each signature's own values (time, digest, signature) put in their TLVs by
    its `emit`: 0.04 ms, where asn1crypto took 20 ms to build a whole SignedData from dicts
    (tests/signing/test_cms_signer.py). Raises as sign_detached does; its caveats hold."""

    def __init__(
        self, certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, *,
        chain: Iterable[x509.Certificate] = (),
    ) -> None:
        check_signing_key(private_key, certificate)  # each signature's time: sign()
        self._key = private_key
        key = private_key.public_key()
        p384 = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1)
        self._hash_name: HashName = "SHA-384" if p384 else "SHA-256"
        self._digest = hash_for(self._hash_name).name  # hashlib's and asn1crypto's: "sha256"
        der = serialization.Encoding.DER
        ders = dict.fromkeys(c.public_bytes(der) for c in (certificate, *chain))
        carried = [asn1_x509.Certificate.load(d) for d in ders]
        signer = carried[0]
        # hash_algorithm is left at its DEFAULT, SHA-256, so DER omits it.
        issuer = asn1_x509.GeneralName(name="directory_name", value=signer.issuer)
        ess = {
            "cert_hash": hashlib.sha256(signer.dump()).digest(),
            "issuer_serial": {"issuer": [issuer], "serial_number": signer.serial_number},
        }
        attribute = asn1_cms.CMSAttribute
        self._content_type = attribute({"type": "content_type", "values": ["data"]}).dump()
        ess_values = [{"certs": [ess]}]
        self._ess = attribute({"type": "signing_certificate_v2", "values": ess_values}).dump()
        sid = {"issuer": signer.issuer, "serial_number": signer.serial_number}
        digest_algorithm = _digest_algorithm(self._digest)
        # SignerInfo up to its signed attributes: version 1, sid, digestAlgorithm.
        self._signer_head = (
            core.Integer(1).dump()
            + asn1_cms.SignerIdentifier({"issuer_and_serial_number": sid}).dump()
            + digest_algorithm.dump()
        )
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            algorithm: dict[str, Any] = {"algorithm": f"{self._digest}_ecdsa"}
        else:
            # RFC 5754 section 3.2: NULL parameters for sha256WithRSAEncryption.
            algorithm = {"algorithm": "sha256_rsa", "parameters": core.Null()}
        self._algorithm = algos.SignedDigestAlgorithm(algorithm).dump()
        # SignedData up to its signerInfos: version 1, digestAlgorithms, encapContentInfo
        # (id-data, no content), [0] IMPLICIT certificates (a SET OF, sorted by asn1crypto).
        certificates = asn1_cms.CertificateSet(carried).dump()
        self._signed_data_head = (
            core.Integer(1).dump()
            + asn1_cms.DigestAlgorithms([digest_algorithm]).dump()
            + asn1_cms.ContentInfo({"content_type": "data"}).dump()
            + parser.emit(2, 1, 0, asn1_cms.CertificateSet.load(certificates).contents)
        )

    def sign(self, content: bytes, *, signing_time: datetime) -> bytes:
        """DER SignedData over content (see sign_detached). ValueError: a naive signing_time."""
        check_signing_time(signing_time)
        digest = der_value(0x04, hashlib.new(self._digest, content).digest())
        attributes = [self._content_type, self._ess] + [
            der_value(0x30, kind + der_value(0x31, value))
            for kind, value in ((_SIGNING_TIME, der_time(signing_time)), (_DIGEST, digest))
        ]
        # CMSAttributes is a SET OF: in DER order (X.690 11.6), its encodings sorted, as
        # asn1crypto's SetOf sorts them on dump and as a verifier re-encodes them.
        contents = b"".join(sorted(attributes))
        signed_bytes = der_value(0x31, contents)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            # cryptography returns ECDSA signatures DER-encoded (Ecdsa-Sig-Value), as CMS wants.
            signature = self._key.sign(signed_bytes, ec.ECDSA(hash_for(self._hash_name)))
        else:
            signature = self._key.sign(signed_bytes, padding.PKCS1v15(), hash_for(self._hash_name))
        # The signed attributes go in as [0] IMPLICIT: the SET's contents under a new tag.
        signer_info = der_value(0x30, self._signer_head + der_value(0xA0, contents)
                                + self._algorithm + der_value(0x04, signature))
        signer_infos = der_value(0x31, signer_info)  # a SET OF one
        signed_data = der_value(0x30, self._signed_data_head + signer_infos)
        return der_value(0x30, _SIGNED_DATA + der_value(0xA0, signed_data))


def _digest_algorithm(name: str) -> algos.DigestAlgorithm:
    """A SHA-2 AlgorithmIdentifier without parameters, as RFC 5754 section 2 says to generate
    (asn1crypto would add NULL parameters; an object loaded from DER is written back as is)."""
    return algos.DigestAlgorithm.load(parser.emit(0, 1, 16, algos.DigestAlgorithmId(name).dump()))


def der_time(moment: datetime) -> bytes:
    """moment as a Time's DER to the second: UTCTime for 1950-2049, else GeneralizedTime (RFC
    5652 section 11.3 for CMS, RFC 5280 section 4.1.2.5 for certificates). Written here so
    that fractions never appear and years keep 4 digits."""
    utc = moment.astimezone(UTC)
    digits = b"%02d%02d%02d%02d%02dZ" % (utc.month, utc.day, utc.hour, utc.minute, utc.second)
    year = b"%02d" % (utc.year % 100) if 1950 <= utc.year <= 2049 else b"%04d" % utc.year
    return der_value(0x17 if len(year) == 2 else 0x18, year + digits)


def der_value(tag: int, contents: bytes) -> bytes:
    """A DER value of a one-byte tag (class, constructed bit, number), written by asn1crypto."""
    return bytes(parser.emit(tag >> 6, (tag >> 5) & 1, tag & 0x1F, contents))


# -- verification -----------------------------------------------------------------------------


def verify_detached(signature_der: bytes, content: bytes) -> VerifiedSignature:
    """Check that signature_der is a well-formed detached SignedData over content, with allowed
    algorithms and a valid signature by a certificate it carries. Raises SignatureFailure.

    Says nothing about trust: the signer is whichever carried certificate the SignerInfo names,
    and the caller must validate it. Embedded content is refused even when it equals `content`;
    unsigned attributes and carried CRLs are ignored. The signing_time returned is the signer's
    claim. Without signed attributes a changed content shows as SIG_CRYPTO_FAILURE.
    """
    steps = Steps()
    signed_data, signer_info, version = _structure(signature_der, steps)
    certificates = _carried_certificates(signed_data, steps)
    hash_name = _check_digest_algorithm(signed_data, signer_info, steps)
    algorithm, pss_salt = _check_signature_algorithm(signer_info, hash_name, steps)
    algorithm_name = algorithm.name(hash_name)
    signer = _find_signer(signer_info, version, certificates, steps)
    key_type = ec.EllipticCurvePublicKey if algorithm.scheme == "ecdsa" else rsa.RSAPublicKey
    public_key = signer_key(
        signer, "cms.signer_key", steps, algorithm_name, lambda key: isinstance(key, key_type)
    )
    signed_bytes, signing_time = _check_signed_attributes(
        signer_info, hash_name, content, signer, steps
    )
    with steps.reading("cms.signature", "signature value"):
        signature = signer_info["signature"].native
    digest = hash_for(hash_name)
    try:
        pss = None if pss_salt is None else padding.PSS(padding.MGF1(digest), pss_salt)
        verify_data(public_key, signature, signed_bytes, digest, pss)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        detail = f"the {algorithm_name} signature does not verify with the signer's key"
        steps.fail("cms.signature", SubIndication.SIG_CRYPTO_FAILURE, detail)
    steps.passed("cms.signature", algorithm_name)
    return VerifiedSignature(
        format="cms",
        signer=signer,
        certificates=tuple(certificates.values()),
        signing_time=signing_time,
        algorithm=algorithm_name,
        checks=tuple(steps.checks),
    )


def _structure(data: bytes, steps: Steps) -> tuple[Any, Any, str]:
    """cms.der to cms.econtent_type: the SignedData, its one SignerInfo and its version. The
    whole encoding is checked first, so that a DER fault anywhere is reported as such."""
    try:
        if not isinstance(data, bytes):
            raise TypeError(f"a {type(data).__name__}, not bytes")
        if len(data) > MAX_SIGNATURE_BYTES:
            raise ValueError(f"{len(data)} bytes; at most {MAX_SIGNATURE_BYTES}")
        if len(_StrictDER().check(data)) != 1:
            raise ValueError("not exactly one value")
        info = _whole(asn1_cms.ContentInfo.load(data, strict=True))
    except PARSE_ERRORS as exc:
        steps.fail("cms.der", _FORMAT, f"not a DER-encoded ContentInfo: {exc}")
    steps.passed("cms.der", f"DER ContentInfo of {len(data)} bytes")
    name = "cms.content_type"
    with steps.reading(name, "SignedData"):
        content_type, signed_data = info["content_type"], info["content"]
        if content_type.native != "signed_data":
            steps.fail(name, _FORMAT, f"content type is {content_type.native}, not signedData")
        version = _whole(signed_data)["version"].native
        signer_infos = list(signed_data["signer_infos"])
        encapsulated = _whole(signed_data["encap_content_info"])
        # Read here, where a malformed field is a format failure (asn1crypto parses lazily).
        embedded = not isinstance(encapsulated["content"], core.Void)
        econtent_type = encapsulated["content_type"].native
    steps.passed(name, "signedData")
    if version not in ("v1", "v3"):
        steps.fail("cms.version", _FORMAT, f"SignedData {version}; only v1 and v3 are accepted")
    steps.passed("cms.version", f"SignedData {version}")
    if len(signer_infos) != 1:
        detail = f"{len(signer_infos)} SignerInfos; exactly one is accepted"
        steps.fail("cms.signer_count", _FORMAT, detail)
    steps.passed("cms.signer_count", "one SignerInfo")
    if embedded:
        detail = "the SignedData embeds its content; only detached signatures are accepted"
        steps.fail("cms.detached", _FORMAT, detail)
    steps.passed("cms.detached", "detached (no eContent)")
    if econtent_type != "data":
        detail = f"eContentType is {econtent_type}, not id-data"
        steps.fail("cms.econtent_type", _FORMAT, detail)
    steps.passed("cms.econtent_type", "id-data")
    with steps.reading("cms.signer_count", "SignerInfo"):
        signer_info = _whole(signer_infos[0])
    return signed_data, signer_info, version


class _StrictDER:
    """Decode, re-encode, compare, one value at a time, with asn1crypto's parser and encoder:
    its `dump(force=True)` of a whole SignedData takes about 100 ms (1.5.1 re-encodes a nested
    DEFAULT field once per enclosing level). Every header must be what `parser.emit` writes, no
    string constructed, a universal SET OF sorted, integers, booleans, NULL and times must
    re-encode to themselves. The certificates are left to cryptography's strict parser."""

    #: The depth of SignedData's fields (ContentInfo > [0] > SignedData): [0] is certificates.
    SIGNED_DATA_FIELDS = 3
    REENCODED: ClassVar[dict[int, type[core.Primitive]]] = {
        1: core.Boolean,
        2: core.Integer,
        5: core.Null,
        10: core.Enumerated,
        23: core.UTCTime,
        24: core.GeneralizedTime,
    }

    def __init__(self) -> None:
        self.values = 0

    def check(self, data: bytes, depth: int = 0, descend: bool = True) -> list[bytes]:
        """The encodings of the values that data holds one after another; raises ValueError."""
        if depth > MAX_DER_DEPTH:
            raise ValueError("nested too deeply")
        encodings: list[bytes] = []
        offset = 0
        while offset < len(data):
            self.values += 1
            if self.values > MAX_DER_VALUES:
                raise ValueError(f"more than {MAX_DER_VALUES} values")
            class_, method, tag, header, contents, trailer = parser.parse(data[offset:])
            encoding = data[offset : offset + len(header) + len(contents) + len(trailer)]
            if trailer or parser.emit(class_, method, tag, contents) != encoding:
                raise ValueError("an indefinite or non-minimal length or tag (BER)")
            universal = class_ == 0
            if method and universal and tag not in (16, 17):  # but SEQUENCE and SET
                raise ValueError("a constructed string (BER)")
            if descend and method:
                certificates = depth == self.SIGNED_DATA_FIELDS and (class_, tag) == (2, 0)
                inner = self.check(contents, depth + 1, descend=not certificates)
                if universal and tag == 17 and inner != sorted(inner):
                    raise ValueError("a SET OF not in DER order")
            elif descend and universal and tag in self.REENCODED and (
                self.REENCODED[tag].load(encoding).dump(force=True) != encoding
            ):
                raise ValueError(f"universal type {tag} not in its DER form")
            encodings.append(encoding)
            offset += len(encoding)
        return encodings


def _whole(sequence: Any) -> Any:
    """sequence itself; ValueError when it holds values after its last field, which asn1crypto
    keeps (and `dump(force=True)` would drop): every SEQUENCE read here goes through it."""
    if len(sequence) != len(list(sequence)):
        raise ValueError(f"{type(sequence).__name__} with values after its last field")
    return sequence


def _one(values: Any) -> Any:
    """The only value of an attribute; ValueError unless there is exactly one."""
    if len(values) != 1:
        raise ValueError(f"{len(values)} values")
    return values[0]


def _carried_certificates(signed_data: Any, steps: Steps) -> dict[bytes, x509.Certificate]:
    """Every carried certificate, once, in carried order, by its DER."""
    name = "cms.certificates"
    certificates: dict[bytes, x509.Certificate] = {}
    with steps.reading(name, "certificates"):
        carried = signed_data["certificates"]
        choices = [] if isinstance(carried, core.Void) else list(carried)
        for choice in choices:
            if choice.name != "certificate":
                steps.fail(name, _FORMAT, f"a carried {choice.name} is not an X.509 certificate")
        encodings = [choice.chosen.dump() for choice in choices]
        if encodings != sorted(encodings):
            raise ValueError("the certificates SET OF is not in DER order")
        for der in encodings:
            if der not in certificates:
                certificates[der] = load_certificate(der)
    steps.passed(name, f"{len(certificates)} certificate(s) carried")
    return certificates


def _check_digest_algorithm(signed_data: Any, signer_info: Any, steps: Steps) -> HashName:
    name = "cms.digest_algorithm"
    with steps.reading(name, "digestAlgorithm"):
        algorithm = _whole(signer_info["digest_algorithm"])
        oid, parameters = algorithm["algorithm"].dotted, algorithm["parameters"]
        listed = {_whole(item)["algorithm"].dotted for item in signed_data["digest_algorithms"]}
    hash_name = DIGEST_OIDS.get(oid)
    if hash_name is None:
        detail = f"digest algorithm {WEAK_DIGEST_OIDS.get(oid, oid)} is not allowed"
        steps.fail(name, _CRYPTO, detail + " (SHA-256, SHA-384 or SHA-512 only)")
    if not isinstance(parameters, core.Void | core.Null):
        steps.fail(name, _FORMAT, f"malformed digestAlgorithm: {hash_name} with parameters")
    if oid not in listed:
        detail = f"the signer's {hash_name} is not listed in SignedData.digestAlgorithms"
        steps.fail(name, _FORMAT, detail)
    steps.passed(name, hash_name)
    return hash_name


def _check_signature_algorithm(
    signer_info: Any, hash_name: HashName, steps: Steps
) -> tuple[CMSSignatureAlgorithm, int | None]:
    """The accepted signature algorithm and, for PSS, its salt length."""
    name = "cms.signature_algorithm"
    with steps.reading(name, "signatureAlgorithm"):
        identifier = _whole(signer_info["signature_algorithm"])
        oid = identifier["algorithm"].dotted
    algorithm = CMS_SIGNATURE_OIDS.get(oid)
    if algorithm is None:
        allowed = "ECDSA, RSA PKCS#1 v1.5 or RSASSA-PSS with SHA-256 or stronger"
        detail = f"signature algorithm {algos.SignedDigestAlgorithmId.map(oid)} is not allowed"
        steps.fail(name, _CRYPTO, f"{detail} ({allowed})")
    if algorithm.hash_name not in (None, hash_name):
        detail = f"{algorithm.name(algorithm.hash_name)} does not match the digest {hash_name}"
        steps.fail(name, _CRYPTO, detail)
    salt: int | None = None
    if algorithm.scheme == "pss":
        with steps.reading(name, "RSASSA-PSS parameters"):
            params = identifier["parameters"]
            if isinstance(params, core.Void):
                raise ValueError("RSASSA-PSS without parameters")
            mgf = _whole(params)["mask_gen_algorithm"]
            hashes = {
                DIGEST_OIDS.get(params["hash_algorithm"]["algorithm"].dotted),
                DIGEST_OIDS.get(mgf["parameters"]["algorithm"].dotted)
                if mgf["algorithm"].dotted == MGF1_OID
                else None,
            }
            salt, trailer = params["salt_length"].native, params["trailer_field"].native
        if hashes != {hash_name}:
            detail = f"RSASSA-PSS must hash with {hash_name} and mask with MGF1 {hash_name}"
            steps.fail(name, _CRYPTO, detail)
        if not isinstance(salt, int) or salt < 0 or trailer not in ("trailer_field_bc", 1):
            steps.fail(name, _FORMAT, f"RSASSA-PSS salt length {salt} or trailer {trailer}")
    steps.passed(name, algorithm.name(hash_name))
    return algorithm, salt


def _find_signer(
    signer_info: Any, signed_data_version: str, certificates: dict[bytes, x509.Certificate],
    steps: Steps,
) -> x509.Certificate:
    """The one carried certificate that the SignerInfo's sid names."""
    name = "cms.signer_certificate"
    with steps.reading(name, "signer identifier"):
        version, sid = signer_info["version"].native, signer_info["sid"]
        if sid.name == "issuer_and_serial_number":
            by, expected_version = "issuer and serial number", "v1"
            # Compared as encoded: both are DER, the sid's checked above, the certificate's
            # by cryptography.
            issuer = _whole(sid.chosen)["issuer"].dump()
            serial = sid.chosen["serial_number"].native
            wanted = f"issuer and serial number {serial:x}"
            matches = [
                c
                for c in certificates.values()
                if c.serial_number == serial and c.issuer.public_bytes() == issuer
            ]
        else:
            by, expected_version = "subject key identifier", "v3"
            key_id = sid.chosen.native
            wanted = f"subject key identifier {key_id.hex()}"
            matches = [c for c in certificates.values() if _key_identifier(c) == key_id]
    if version != expected_version or (version == "v3" and signed_data_version != "v3"):
        detail = f"SignerInfo {version} (in SignedData {signed_data_version})"
        steps.fail(name, _FORMAT, f"{detail} does not fit a signer named by {by}")
    if len(matches) != 1:
        count = f"{len(matches)} carried certificates" if matches else "no carried certificate"
        detail = f"{count} {'have' if matches else 'has'} the signer's {wanted}"
        steps.fail(name, SubIndication.NO_SIGNING_CERTIFICATE_FOUND, detail)
    steps.passed(name, f"{matches[0].subject.rfc4514_string()} (by {wanted})")
    return matches[0]


def _key_identifier(certificate: x509.Certificate) -> bytes | None:
    """The certificate's subjectKeyIdentifier, or RFC 5280 method 1 when it has none; None
    when neither can be had (such a certificate cannot be the signer)."""
    identifier = extension(certificate, x509.SubjectKeyIdentifier)
    if identifier is not None:
        return identifier.digest
    try:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    except (ValueError, UnsupportedAlgorithm):
        return None


def _check_signed_attributes(
    signer_info: Any, hash_name: HashName, content: bytes, signer: x509.Certificate, steps: Steps
) -> tuple[bytes, datetime | None]:
    """cms.signed_attributes to cms.signing_certificate: what was signed, and the signing time
    claimed. Without signed attributes the signature is over the content itself."""
    name = "cms.signed_attributes"
    by_type: dict[str, list[Any]] = {}
    with steps.reading(name, "signed attributes"):
        signed_attrs = signer_info["signed_attrs"]
        if isinstance(signed_attrs, core.Void):
            steps.passed(name, "none: the signature is over the content itself")
            return content, None
        # RFC 5652 section 5.4: the [0] IMPLICIT tag is replaced by the SET OF tag; the
        # contents are those sent (checked to be DER), never re-sorted. Taken before any field
        # is read: asn1crypto counts a DEFAULT field it fills in as a change, and re-encodes
        # everything above a change when dumping (slowly, and not necessarily as sent).
        signed_bytes: bytes = signed_attrs.untag().dump()
        encodings = [attribute.dump() for attribute in signed_attrs]
        if encodings != sorted(encodings):
            raise ValueError("not in DER order")
        for attribute in signed_attrs:
            # asn1crypto's name for the types it knows (tsp registers ESS), else the dotted OID.
            kind = _whole(attribute)["type"].native
            by_type.setdefault(kind, []).append(list(attribute["values"]))
        repeated = sorted(o for o, f in by_type.items() if len(f) > 1 and o != "message_digest")
        if repeated:
            steps.fail(name, _FORMAT, f"signed attributes repeated: {', '.join(repeated)}")
        content_types = by_type.get("content_type")
        if not content_types:
            steps.fail(name, _FORMAT, "no content-type signed attribute")
        if len(content_types[0]) != 1 or content_types[0][0].native != "data":
            steps.fail(name, _FORMAT, "the content-type signed attribute is not exactly id-data")
        if "cms_algorithm_protection" in by_type:
            _check_algorithm_protection(_one(by_type["cms_algorithm_protection"][0]), signer_info)
    count = sum(len(found) for found in by_type.values())
    steps.passed(name, f"{count} signed attributes, content-type id-data")
    _check_message_digest(by_type, hash_name, content, steps)
    signing_time = _check_signing_time(by_type, steps)
    _check_signing_certificate(by_type, signer, steps)
    return signed_bytes, signing_time


def _check_algorithm_protection(protection: Any, signer_info: Any) -> None:
    """CMSAlgorithmProtection (RFC 6211) must name the SignerInfo's own digest and signature
    algorithms (which are not signed themselves), and no MAC algorithm: ValueError if not."""
    if (
        _whole(protection)["digest_algorithm"].native != signer_info["digest_algorithm"].native
        or protection["signature_algorithm"].native != signer_info["signature_algorithm"].native
        or not isinstance(protection["mac_algorithm"], core.Void)
    ):
        raise ValueError("CMSAlgorithmProtection names other algorithms than the SignerInfo")


def _check_message_digest(
    by_type: dict[str, list[Any]], hash_name: HashName, content: bytes, steps: Steps
) -> None:
    name = "cms.message_digest"
    digests = by_type.get("message_digest", [])
    if len(digests) != 1:
        detail = f"{len(digests)} message-digest attributes; exactly one is required"
        steps.fail(name, SubIndication.HASH_FAILURE, detail)
    with steps.reading(name, "message-digest attribute"):
        claimed = _one(digests[0]).native
    if not hmac.compare_digest(claimed, hashlib.new(hash_for(hash_name).name, content).digest()):
        detail = f"the {hash_name} digest of the content does not match the signed message-digest"
        steps.fail(name, SubIndication.HASH_FAILURE, detail)
    steps.passed(name, f"{hash_name} of the content matches")


def _check_signing_time(by_type: dict[str, list[Any]], steps: Steps) -> datetime | None:
    """The signing time claimed, if any (its DER form was checked by `_StrictDER`)."""
    name = "cms.signing_time"
    if "signing_time" not in by_type:
        steps.passed(name, "no signingTime attribute")
        return None
    with steps.reading(name, "signingTime attribute"):
        moment = _one(by_type["signing_time"][0]).native
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError("not a UTCTime or GeneralizedTime in UTC")
        moment = plausible_time(moment)
    steps.passed(name, f"claimed {moment.isoformat()}")
    return moment


def _check_signing_certificate(
    by_type: dict[str, list[Any]], signer: x509.Certificate, steps: Steps
) -> None:
    """ESS signing-certificate(-v2), when present, must name the signer certificate found: it
    binds the certificate into what was signed, so that another one for the same key cannot be
    substituted (ETSI EN 319 102-1, 5.2.3). Only the first ESSCertID, the signer's (RFC 5035
    section 5.4), is read; its issuer is not compared (the certificate hash is)."""
    name = "cms.signing_certificate"
    found = [
        (kind, values)
        for kind in ("signing_certificate", "signing_certificate_v2")
        for values in by_type.get(kind, [])
    ]
    if not found:
        steps.passed(name, "no ESS signing-certificate attribute")
        return
    if len(found) > 1:
        steps.fail(name, _FORMAT, "more than one ESS signing-certificate attribute")
    kind, values = found[0]
    with steps.reading(name, "ESS signing-certificate attribute"):
        cert_id = _whole(_whole(_one(values))["certs"][0])
        v2 = kind == "signing_certificate_v2"
        hash_name = cert_id["hash_algorithm"]["algorithm"].native if v2 else "sha1"
        claimed, issuer_serial = cert_id["cert_hash"].native, cert_id["issuer_serial"]
        serial = None
        if not isinstance(issuer_serial, core.Void):
            serial = _whole(issuer_serial)["serial_number"].native
    if hash_name not in _ESS_HASHES:
        steps.fail(name, _CRYPTO, f"ESS certificate hash {hash_name} is not allowed")
    signer_hash = hashlib.new(hash_name, signer.public_bytes(serialization.Encoding.DER)).digest()
    if not hmac.compare_digest(claimed, signer_hash) or serial not in (None, signer.serial_number):
        detail = "the signed ESS signing-certificate attribute names another certificate"
        steps.fail(name, SubIndication.NO_SIGNING_CERTIFICATE_FOUND, detail)
    steps.passed(name, f"names the signer certificate ({hash_name})")
