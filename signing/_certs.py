"""Certificate loading and naming, memoised.

Verifying a queue of dossiers meets the same few certificates (the CA's, a facility's seal) over
and over; formatting a distinguished name costs more than an ECDSA verification, so both the
parse-and-check and the text are kept per DER encoding (certificates are immutable).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar, cast

from asn1crypto import core, keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

_CACHE_SIZE = 4096
_FORGETTERS: list[Callable[[], None]] = []
_F = TypeVar("_F", bound=Callable[..., Any])
_C = TypeVar("_C")
_R = TypeVar("_R")


def memo(function: _F) -> _F:
    """Remember a pure function of certificates (bounded), and register it for `forget`."""
    cached = lru_cache(maxsize=_CACHE_SIZE)(function)
    _FORGETTERS.append(cached.cache_clear)
    return cached  # type: ignore[return-value]


def per_certificate(function: Callable[[_C], _R]) -> Callable[[_C], _R]:
    """Remember a pure function of one certificate (or another immutable object), keyed by the
    object's identity (bounded, oldest forgotten first), and register it for `forget`.

    Hashing a cryptography Certificate hashes its whole parsed structure and comparing two costs
    more, while a verification asks a dozen questions of the same few certificate objects; so
    those answers are kept per object. Each entry holds its object, so an identity cannot be
    taken over by another object while its entry lives. Equal certificates that are distinct
    objects are simply worked out twice (`load_certificate` hands out one object per DER
    encoding, so that is rare).
    """
    entries: dict[int, tuple[_C, _R]] = {}

    @functools.wraps(function)
    def remembered(certificate: _C) -> _R:
        entry = entries.get(id(certificate))
        if entry is not None and entry[0] is certificate:
            return entry[1]
        value = function(certificate)
        _bounded_put(entries, id(certificate), (certificate, value))
        return value

    _FORGETTERS.append(entries.clear)
    return remembered


def forget() -> None:
    """Drop everything remembered about certificates (benchmarks measure cold work with it)."""
    for clear in _FORGETTERS:
        clear()


@memo
def load_certificate(der: bytes) -> x509.Certificate:
    """Load a DER certificate and parse the parts we read later, so that a malformed one is
    refused here (cryptography parses names and extensions lazily). Raises ValueError.

    What is parsed is what cryptography's `subject`, `issuer` and `extensions` would give,
    without building the same objects again for every signer: the issuer Name and every
    extension but the subjectKeyIdentifier are the same bytes in every certificate of one CA
    (see `_read`)."""
    certificate = x509.load_der_x509_certificate(der)
    _keep(certificate, _read(certificate, der))
    return certificate


class _Record:
    """What is read once from a certificate: the SHA-256 fingerprint of its encoding, its
    issuer Name as encoded, its subject (attributes and RFC 4514 text), and its extensions by
    OID (cryptography's own objects)."""

    __slots__ = ("extensions", "issuer", "sha256", "subject", "text")

    def __init__(
        self,
        der: bytes,
        issuer: bytes,
        subject: _Attributes,
        text: str,
        extensions: dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]],
    ) -> None:
        self.sha256 = hashlib.sha256(der).digest()
        self.issuer = issuer
        self.subject = subject
        self.text = text
        self.extensions = extensions


_records: dict[int, tuple[x509.Certificate, _Record]] = {}
_records_lock = threading.Lock()
_FORGETTERS.append(_records.clear)


_K = TypeVar("_K")
_V = TypeVar("_V")


def _bounded_put(entries: dict[_K, _V], key: _K, value: _V) -> None:
    """entries[key] = value, the oldest entry forgotten first beyond _CACHE_SIZE (dicts keep
    insertion order; under one lock, so that two threads never evict at once)."""
    with _records_lock:
        if len(entries) >= _CACHE_SIZE:
            entries.pop(next(iter(entries)), None)
        entries[key] = value


def _keep(certificate: x509.Certificate, record: _Record) -> _Record:
    _bounded_put(_records, id(certificate), (certificate, record))
    return record


def _loaded(certificate: x509.Certificate) -> _Record | None:
    """The record `load_certificate` made for this certificate object, if it made one.

    Certificates made otherwise (a configured trust root, one built by a caller) are read by
    cryptography as they always were, each answer remembered per object: their names and
    extensions were not checked up front, so a malformed one raises where it is first read.
    """
    entry = _records.get(id(certificate))
    if entry is not None and entry[0] is certificate:
        return entry[1]
    return None


def _tlv(data: bytes, pos: int) -> tuple[int, int]:
    """Value offset and end of the TLV at pos, in DER that cryptography has already parsed
    (and so checked) as a certificate: every tag there has a low number."""
    length = data[pos + 1]
    if length < 0x80:
        return pos + 2, pos + 2 + length
    start = pos + 2 + (length & 0x7F)
    return start, start + int.from_bytes(data[pos + 2 : start], "big")


#: An Extension's start when it is a subjectKeyIdentifier: the OID 2.5.29.14 (after the header
#: of the Extension SEQUENCE).
_SKI_OID_TLV = b"\x06\x03\x55\x1d\x0e"
_SUBJECT_KEY_IDENTIFIER = x509.SubjectKeyIdentifier.oid

_Extensions = dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType] | None]


def _read(certificate: x509.Certificate, der: bytes) -> _Record:
    """The record of a certificate that cryptography loaded from `der`. Raises ValueError
    (as reading `issuer`, `subject` or `extensions` would) when one of them is malformed.

    The issuer Name is checked once per encoding with cryptography's own Name parser, which
    is what `certificate.issuer` runs. Extensions are parsed by cryptography (all at once,
    as `certificate.extensions` does, duplicates refused) the first time their encodings
    are seen together, and reused for a certificate whose extensions are the same bytes in
    the same order, but for the subjectKeyIdentifier (different in every certificate),
    whose value is checked here as cryptography parses it: exactly one DER OCTET STRING.
    """
    # Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    tbs_start, tbs_end = _tlv(der, _tlv(der, 0)[0])
    pos = tbs_start
    starts: list[int] = []
    while pos < tbs_end:
        starts.append(pos)
        length = der[pos + 1]
        pos = pos + 2 + length if length < 0x80 else _tlv(der, pos)[1]
    index = 1 if der[tbs_start] == 0xA0 else 0  # [0] version
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then the
    # optional unique identifiers [1], [2] and extensions [3].
    # Read in the order load_certificate always read them (subject, issuer, extensions), so
    # that of several defects the same one is reported.
    subject, text = _subject(certificate, der, starts[index + 4])
    issuer = der[starts[index + 2] : starts[index + 3]]
    try:
        _check_name(issuer)
    except ValueError:
        _ = certificate.issuer  # raises cryptography's error for it, in its words
        raise
    encodings: list[bytes | None] = []
    identifiers: list[tuple[bool, bytes]] = []
    last = starts[-1]
    if len(starts) > index + 6 and der[last] == 0xA3:
        sequence_start, sequence_end = _tlv(der, _tlv(der, last)[0])
        pos = sequence_start
        while pos < sequence_end:
            length = der[pos + 1]
            if length < 0x80:
                value_start, end = pos + 2, pos + 2 + length
            else:
                value_start, end = _tlv(der, pos)
            if der[value_start : value_start + 5] == _SKI_OID_TLV:
                identifiers.append(_key_identifier(certificate, der[pos:end]))
                encodings.append(None)
            else:
                encodings.append(der[pos:end])
            pos = end
    key = tuple(encodings)
    shared = _EXTENSIONS.get(key)
    if shared is None:
        parsed = list(certificate.extensions)  # refuses duplicates (so at most one SKI)
        if len(parsed) != len(key) or any(
            (extension.oid == _SUBJECT_KEY_IDENTIFIER) is not (encoding is None)
            for extension, encoding in zip(parsed, key, strict=True)
        ):
            # Never: both read the same DER.
            raise ValueError("the extensions were read differently")
        # By OID in the certificate's order; the SKI's place is kept, with its value left out.
        shared = {
            extension.oid: None if extension.oid == _SUBJECT_KEY_IDENTIFIER else extension
            for extension in parsed
        }
        _bounded_put(_EXTENSIONS, key, shared)
    extensions = cast(
        dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]], shared.copy()
    )
    for critical, digest in identifiers:
        extensions[_SUBJECT_KEY_IDENTIFIER] = x509.Extension(
            _SUBJECT_KEY_IDENTIFIER, critical, x509.SubjectKeyIdentifier(digest)
        )
    return _Record(der, issuer, subject, text, extensions)


_EXTENSIONS: dict[tuple[bytes | None, ...], _Extensions] = {}
_FORGETTERS.append(_EXTENSIONS.clear)


def _key_identifier(certificate: x509.Certificate, extension: bytes) -> tuple[bool, bytes]:
    """criticality and keyIdentifier of a subjectKeyIdentifier Extension's DER; the value
    must be one DER OCTET STRING, as cryptography requires. Raises ValueError (cryptography's
    own, in its words, from reading the certificate's extensions)."""
    try:
        return _read_key_identifier(extension)
    except ValueError:
        len(certificate.extensions)  # raises cryptography's error for the same defect
        raise


def _read_key_identifier(extension: bytes) -> tuple[bool, bytes]:
    # The Extension itself is DER that cryptography has checked: SEQUENCE { OID, critical
    # BOOLEAN (present only when TRUE), extnValue OCTET STRING }.
    pos = _tlv(extension, 0)[0] + len(_SKI_OID_TLV)
    critical = extension[pos] == 0x01
    if critical:
        pos += 3
    start, end = _tlv(extension, pos)
    value = extension[start:end]
    # The usual keyIdentifier (a hash, under 128 octets): its short length is minimal DER.
    if len(value) >= 2 and value[0] == 0x04 and value[1] == len(value) - 2 < 0x80:
        return critical, value[2:]
    octets = core.OctetString.load(value, strict=True)
    key_identifier: bytes = octets.native
    if octets.dump(force=True) != value:
        raise ValueError("SubjectKeyIdentifier: not DER")
    return critical, key_identifier


@lru_cache(maxsize=256)
def _check_name(encoding: bytes) -> None:
    """Raise ValueError unless cryptography can read this Name (as `certificate.issuer`
    would read it)."""
    x509.Name.from_bytes(encoding)


def issuer_public_bytes(certificate: x509.Certificate) -> bytes:
    """`certificate.issuer.public_bytes()`: the issuer Name as cryptography encodes it again
    (worked out once per encoding of the Name, which is all it depends on)."""
    record = _loaded(certificate)
    if record is None:
        return _issuer_public_bytes(certificate)
    return _reencoded(record.issuer)


@lru_cache(maxsize=256)
def _reencoded(encoding: bytes) -> bytes:
    return x509.Name.from_bytes(encoding).public_bytes()


@per_certificate
def _issuer_public_bytes(certificate: x509.Certificate) -> bytes:
    return certificate.issuer.public_bytes()


def extensions_by_oid(
    certificate: x509.Certificate,
) -> dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]]:
    """The certificate's extensions by OID, as cryptography parses them (which refuses
    duplicates). Raises ValueError when they are malformed."""
    record = _loaded(certificate)
    if record is None:
        return _extensions(certificate)
    return record.extensions


@per_certificate
def _extensions(
    certificate: x509.Certificate,
) -> dict[x509.ObjectIdentifier, x509.Extension[x509.ExtensionType]]:
    return {extension.oid: extension for extension in certificate.extensions}


def subject_values(certificate: x509.Certificate, oid: str) -> list[str | bytes]:
    """The values of the subject's attributes of this type (a dotted OID), in order: what
    `certificate.subject.get_attributes_for_oid` gives, as values."""
    record = _loaded(certificate)
    rdns = _subject_attributes(certificate) if record is None else record.subject
    return [value for rdn in rdns for dotted, value in rdn if dotted == oid]


@per_certificate
def _subject_attributes(certificate: x509.Certificate) -> _Attributes:
    return tuple(
        tuple((a.oid.dotted_string, a.value) for a in rdn) for rdn in certificate.subject.rdns
    )


def subject_text(certificate: x509.Certificate) -> str:
    """The subject as an RFC 4514 string (what `subject.rfc4514_string()` gives)."""
    record = _loaded(certificate)
    if record is None:
        return _subject_text(certificate)
    return record.text


@per_certificate
def _subject_text(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def sha256_fingerprint(certificate: x509.Certificate) -> bytes:
    record = _loaded(certificate)
    if record is None:
        return _fingerprint(certificate)
    return record.sha256


@per_certificate
def _fingerprint(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())


#: A Name's RDNs, each its attributes as (dotted OID, value): a str, or bytes for a BIT STRING.
_Attributes = tuple[tuple[tuple[str, str | bytes], ...], ...]

#: The ASN.1 types (universal, primitive, one-octet identifiers) cryptography reads in a Name.
_STRING_TAGS = frozenset(kind.value for kind in x509.name._ASN1Type)
_BIT_STRING = 0x03
_UNIVERSAL_STRING = 0x1C
_BMP_STRING = 0x1E
_X500_UNIQUE_IDENTIFIER = NameOID.X500_UNIQUE_IDENTIFIER.dotted_string
#: cryptography warns (and reads the value) when these are outside their lengths in octets.
_LENGTH_LIMITS = {
    NameOID.COUNTRY_NAME.dotted_string: (2, 2),
    NameOID.JURISDICTION_COUNTRY_NAME.dotted_string: (2, 2),
    NameOID.COMMON_NAME.dotted_string: (1, 64),
}


class _Unusual(Exception):
    """A Name that cryptography reads with a warning: it is left to cryptography."""


def _subject(certificate: x509.Certificate, der: bytes, pos: int) -> tuple[_Attributes, str]:
    """The subject and its RFC 4514 text, read by `_rdns`; whatever that refuses (or finds
    unusual) is read by cryptography, so that its own error (or warning) is the one raised,
    word for word."""
    try:
        rdns = _rdns(der, pos)
    except (ValueError, TypeError, _Unusual):
        name = certificate.subject  # raises cryptography's error for the same defect
        return (
            tuple(tuple((a.oid.dotted_string, a.value) for a in rdn) for rdn in name.rdns),
            name.rfc4514_string(),
        )
    return tuple(rdn for rdn, _ in rdns), ",".join([text for _, text in reversed(rdns)])


def _rdns(der: bytes, pos: int) -> list[tuple[tuple[tuple[str, str | bytes], ...], str]]:
    """Each RDN of the Name at pos with its RFC 4514 text (cryptography's `rfc4514_string()`
    joins them with "," in reverse order), read once per RDN encoding: the country and the
    organisational units recur in every certificate of one CA.

    The Name is in a certificate that cryptography loaded, so its structure (SEQUENCE OF SET
    OF SEQUENCE { OID, value }) is DER already checked; it is read as cryptography's Name
    parser reads it: the same values, and a refusal (ValueError, or TypeError for a BIT
    STRING that is not an x500UniqueIdentifier) where it refuses. Raises _Unusual where
    cryptography reads a value with a warning (a length out of range)."""
    start, end = _tlv(der, pos)
    rdns = []
    while start < end:
        length = der[start + 1]
        if length < 0x80:
            set_start, set_end = start + 2, start + 2 + length
        else:
            set_start, set_end = _tlv(der, start)
        encoding = der[start:set_end]
        rdn = _RDNS.get(encoding)
        if rdn is None:
            attributes = _rdn(der, set_start, set_end)
            rdn = (
                attributes,
                "+".join([_attribute_text(oid, value) for oid, value in attributes]),
            )
            _bounded_put(_RDNS, encoding, rdn)
        rdns.append(rdn)
        start = set_end
    return rdns


_RDNS: dict[bytes, tuple[tuple[tuple[str, str | bytes], ...], str]] = {}
_FORGETTERS.append(_RDNS.clear)


def _rdn(der: bytes, start: int, end: int) -> tuple[tuple[str, str | bytes], ...]:
    """The attributes of the RDN (SET OF AttributeTypeAndValue) from start to end."""
    attributes: list[tuple[str, str | bytes]] = []
    while start < end:
        # AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
        sequence_start, start = _tlv(der, start)
        _, oid_end = _tlv(der, sequence_start)
        identifier = der[oid_end]
        if identifier & 0x1F == 0x1F:
            raise ValueError("Long-form tags are not supported in NameAttribute values")
        if identifier not in _STRING_TAGS:
            raise ValueError(f"unexpected tag 0x{identifier:02x} in a Name attribute")
        value_start, value_end = _tlv(der, oid_end)
        raw = der[value_start:value_end]
        oid = core.ObjectIdentifier.load(der[sequence_start:oid_end]).dotted
        value: str | bytes
        if identifier == _BIT_STRING:
            if oid != _X500_UNIQUE_IDENTIFIER:
                raise TypeError("oid must be X500_UNIQUE_IDENTIFIER for BitString type.")
            value = raw
        elif identifier == _BMP_STRING:
            value = raw.decode("utf_16_be")
        elif identifier == _UNIVERSAL_STRING:
            value = raw.decode("utf_32_be")
        else:
            value = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
        limits = _LENGTH_LIMITS.get(oid)
        if (
            limits is not None
            and isinstance(value, str)
            and not limits[0] <= len(value.encode("utf-8")) <= limits[1]
        ):
            raise _Unusual("cryptography warns of this length")
        attributes.append((oid, value))
    if not attributes:
        raise ValueError("a relative distinguished name cannot be empty")
    if len(set(attributes)) != len(attributes):
        raise ValueError("duplicate attributes are not allowed")
    return tuple(attributes)


#: RFC 4514's short attribute names, as cryptography uses them (others print as dotted OIDs).
_SHORT_NAMES: dict[str, str] = {
    NameOID.COMMON_NAME.dotted_string: "CN",
    NameOID.LOCALITY_NAME.dotted_string: "L",
    NameOID.STATE_OR_PROVINCE_NAME.dotted_string: "ST",
    NameOID.ORGANIZATION_NAME.dotted_string: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME.dotted_string: "OU",
    NameOID.COUNTRY_NAME.dotted_string: "C",
    NameOID.STREET_ADDRESS.dotted_string: "STREET",
    NameOID.DOMAIN_COMPONENT.dotted_string: "DC",
    NameOID.USER_ID.dotted_string: "UID",
}

#: RFC 4514 section 2.4: the characters escaped with a backslash anywhere in a value.
_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        '"': '\\"',
        "+": "\\+",
        ",": "\\,",
        ";": "\\;",
        "<": "\\<",
        ">": "\\>",
        "\0": "\\00",
    }
)


def _attribute_text(oid: str, value: str | bytes) -> str:
    label = _SHORT_NAMES.get(oid, oid)
    if isinstance(value, bytes):
        return f"{label}=#{value.hex()}" if value else label + "="
    if not value:
        return label + "="
    value = value.translate(_ESCAPES)
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return label + "=" + value


@per_certificate
def public_key(certificate: x509.Certificate) -> CertificatePublicKeyTypes:
    """The certificate's public key (each call of `public_key()` parses and checks it
    afresh). Raises as `public_key()` does; a refusal is not remembered."""
    return certificate.public_key()


@per_certificate
def public_key_bits(certificate: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value without its unused-bits octet: what an OCSP
    CertID's issuerKeyHash and a ResponderID's KeyHash cover (RFC 6960 section 4.1.1)."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    contents: bytes = keys.PublicKeyInfo.load(spki)["public_key"].contents
    return contents[1:]


@per_certificate
def validity(certificate: x509.Certificate) -> tuple[datetime, datetime]:
    """notBefore and notAfter as aware UTC datetimes (each read of the properties makes new
    datetime objects)."""
    return certificate.not_valid_before_utc, certificate.not_valid_after_utc


@per_certificate
def _cert_id_hash_memo(issuer: x509.Certificate) -> dict[str, tuple[bytes, bytes]]:
    return {}


def cert_id_hashes(
    issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    """An OCSP CertID's issuerNameHash and issuerKeyHash for this issuer under `algorithm`
    (RFC 6960 section 4.1.1: the hash of the issuer's subject Name as DER, and of its key's BIT
    STRING value), worked out once per issuer and digest."""
    memo = _cert_id_hash_memo(issuer)
    found = memo.get(algorithm.name)
    if found is None:
        found = memo[algorithm.name] = (
            _hash(algorithm, issuer.subject.public_bytes()),
            _hash(algorithm, public_key_bits(issuer)),
        )
    return found


def _hash(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()
