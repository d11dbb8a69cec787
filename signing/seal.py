"""The QR seal of a birth certificate: COSE_Sign1 (RFC 9052) with ES256, in Base45 (RFC 9285).

A seal is what the QR code on a certificate carries, after the verify page's address:

    CBOR payload (the key fields, small integer keys)
      -> COSE_Sign1, tag 18: [protected {1: -7 (ES256), 4: kid}, {}, payload, r||s]
      -> raw DEFLATE, only when that makes it shorter (long names; see `make_seal`)
      -> Base45

The kid (the first 8 bytes of the seal certificate's SHA-256) lets a reader pick the
certificate it trusts (the registry's /pki/seal.pem) without the seal carrying one. Keys other
than `FIELD_KEYS`, a missing one, a wrong type or CBOR not in its deterministic encoding are
refused. pycose is not used: version 1.1 cannot decode with cbor2 6.
"""

from __future__ import annotations

import re
import sys
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final
from urllib.parse import quote, unquote

import base45
import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signing.errors import SigningError
from signing.keys import der_ecdsa_signature, raw_ecdsa_signature

MALFORMED = "malformed_seal"
UNKNOWN_KEY = "unknown_key"
UNSUPPORTED_ALGORITHM = "unsupported_seal_algorithm"
BAD_SIGNATURE = "bad_seal_signature"


class SealError(SigningError):
    """A QR seal that cannot be accepted. `code` says why."""

    def __init__(self, detail: str, code: str = MALFORMED) -> None:
        super().__init__(detail)
        self.code = code

# --- Base45 (RFC 9285): written by a table, read by the base45 package --------------------------

@lru_cache(maxsize=1)  # a table made on first use: 30 ms, where importing waits for nothing
def _base45_groups() -> list[str]:
    """Each two-byte group's three characters, by the group read in this machine's byte order
    (the seed's million seals: 40 s of CPU less than the package's loop)."""
    abc, swap = base45.BASE45_CHARSET, sys.byteorder == "little"
    groups = ((v & 0xFF) << 8 | v >> 8 if swap else v for v in range(1 << 16))
    return [abc[v % 45] + abc[v // 45 % 45] + abc[v // 2025] for v in groups]


def base45_encode(data: bytes) -> str:
    """RFC 9285 Base45: each two bytes become three characters, a last single byte two. By a
    table, 7 µs for a seal's 200 bytes where the package's loop takes 46 (tested against it)."""
    text = "".join(map(_base45_groups().__getitem__, memoryview(data)[:len(data) & ~1].cast("H")))
    return text + base45.b45encode(data[-1:]).decode("ascii") if len(data) & 1 else text


def base45_decode(text: str) -> bytes:
    """Strict RFC 9285 decoding: ValueError on a character outside the alphabet, a length that
    leaves one character over, or a group too large for its bytes (so that each byte string has
    exactly one encoding; the package would also drop a final newline, which is refused here)."""
    if text.endswith("\n"):
        raise ValueError("a newline is not Base45")
    return bytes(base45.b45decode(text))


# --- the payload --------------------------------------------------------------------------------

#: The seal's fields and their CBOR map keys. Changing a key breaks every seal already printed.
#: Values are kept small, since every byte counts against the QR code's size: names as KZ-1048
#: bytes, dates as days since 1970-01-01, the IIN and the act record number as integers, the
#: others as text. The certificate's id is not sealed: it is the holder's key to the PDF, and
#: the QR code is shown to anyone the paper is shown to (the certificate number is sealed).
FIELD_KEYS: Final[dict[str, int]] = {
    "certificate_number": 1, "child_iin": 2, "child_surname": 3, "child_given_name": 4,
    "child_patronymic": 5,  # optional: absent when the child has none
    "date_of_birth": 6, "sex": 7,  # "F" or "M"
    "act_record_number": 8, "act_record_date": 9, "registry_office_code": 10, "issued_on": 11,
}
OPTIONAL_FIELDS: Final = frozenset({"child_patronymic"})
_FIELD_OF_KEY: Final = {key: name for name, key in FIELD_KEYS.items()}
_NAME_FIELDS: Final = frozenset({"child_surname", "child_given_name", "child_patronymic"})
_DATE_FIELDS: Final = frozenset({"date_of_birth", "act_record_date", "issued_on"})
_INT_FIELDS: Final = frozenset({"act_record_number"})
_IIN_FIELDS: Final = frozenset({"child_iin"})
_IIN = re.compile(r"[0-9]{12}", re.ASCII)
_BASE45_TEXT = re.compile(r"[0-9A-Z $%*+\-./:]*", re.ASCII)
#: Names travel as byte strings in KZ-1048 (STRK 1048-2002, IANA "KZ-1048"): one byte a letter
#: for every letter a name may hold (Kazakh and Russian Cyrillic, Latin, ' ’ -), where UTF-8
#: takes two a Cyrillic letter.
NAME_ENCODING: Final = "kz1048"
_EPOCH: Final = date(1970, 1, 1)
_TEXT_PATTERNS: Final = {
    "certificate_number": re.compile(r"[^\x00-\x1f\x7f]{1,32}"),
    "sex": re.compile(r"[FM]"),
    "registry_office_code": re.compile(r"[0-9A-Za-z-]{1,16}", re.ASCII),
}
#: Longer than any name the registry accepts (64 letters); a bound for hostile input.
_MAX_NAME_BYTES: Final = 128


def _encode_value(name: str, value: Any) -> str | int | bytes:
    if name in _NAME_FIELDS:
        try:
            encoded = value.encode(NAME_ENCODING) if isinstance(value, str) else b""
        except UnicodeEncodeError:
            raise SealError(f"{name}: a letter outside KZ-1048") from None
        if not encoded or len(encoded) > _MAX_NAME_BYTES:
            raise SealError(f"{name}: a name of 1 to {_MAX_NAME_BYTES} letters")
        return encoded
    if name in _DATE_FIELDS:
        if isinstance(value, datetime) or not isinstance(value, date) or value < _EPOCH:
            raise SealError(f"{name}: a date from 1970 on is required")
        return (value - _EPOCH).days
    if name in _IIN_FIELDS:
        if not isinstance(value, str) or not _IIN.fullmatch(value):
            raise SealError(f"{name}: 12 digits are required")
        return int(value)
    if name in _INT_FIELDS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SealError(f"{name}: a non-negative integer is required")
        return value
    if not isinstance(value, str) or not _TEXT_PATTERNS[name].fullmatch(value):
        raise SealError(f"{name}: not an acceptable value")
    return value


def _decode_value(name: str, value: Any) -> Any:
    """The field from its CBOR value, which must be what `_encode_value` makes of the field (so
    that each field has one encoding); SealError when its type or form is wrong."""
    try:
        if name in _NAME_FIELDS:
            decoded = value.decode(NAME_ENCODING)
        elif name in _DATE_FIELDS:
            decoded = date.fromordinal(_EPOCH.toordinal() + value)
        elif name in _IIN_FIELDS:
            decoded = f"{value:012d}"
        else:
            decoded = value
        again = _encode_value(name, decoded)
    except (AttributeError, TypeError, ValueError, OverflowError, SealError):
        raise SealError(f"{name} is not an acceptable value") from None
    if type(again) is not type(value) or again != value:  # True is not 1
        raise SealError(f"{name} is not in its one encoding")
    return decoded


@dataclass(frozen=True)
class SealContents:
    """A verified seal: its fields, and the certificate whose key signed it."""

    certificate_number: str
    child_iin: str
    child_surname: str
    child_given_name: str
    child_patronymic: str | None
    date_of_birth: date
    sex: str
    act_record_number: int
    act_record_date: date
    registry_office_code: str
    issued_on: date
    signer: x509.Certificate

    def fields(self) -> dict[str, Any]:
        """The fields as JSON-ready values (dates in ISO 8601), in FIELD_KEYS' order."""
        values = {name: getattr(self, name) for name in FIELD_KEYS}
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def key_id(certificate: x509.Certificate) -> bytes:
    """The seal's kid for a certificate: the first 8 bytes of the SHA-256 of its DER."""
    return certificate.fingerprint(hashes.SHA256())[:KID_LENGTH]


def encode_payload(fields: Mapping[str, Any]) -> bytes:
    """The deterministic CBOR (RFC 8949 4.2.1) of the fields, under their integer keys."""
    unknown = set(fields) - set(FIELD_KEYS)
    if unknown:
        raise SealError(f"fields a seal does not carry: {sorted(unknown)}")
    payload: dict[int, str | int | bytes] = {}
    for name, cbor_key in FIELD_KEYS.items():
        value = fields.get(name)
        if value is None:
            if name in OPTIONAL_FIELDS:
                continue
            raise SealError(f"{name} is required")
        payload[cbor_key] = _encode_value(name, value)
    return cbor2.dumps(payload, canonical=True)


ES256: Final = -7
_HEADER_ALG: Final = 1
_HEADER_KID: Final = 4
KID_LENGTH: Final = 8
_COSE_SIGN1_TAG: Final = 18
#: A tagged COSE_Sign1 starts with 0xD2 (tag 18). A compressed seal is a raw DEFLATE stream
#: (RFC 1951, no zlib header or checksum: six bytes saved; the signature protects the content)
#: of one final block, whose first byte has its lowest bit set, so it never starts with 0xD2.
_COSE_SIGN1_FIRST_BYTE: Final = 0xD2
#: Bounds on what a seal may expand to, so that a hostile text costs little.
MAX_SEAL_TEXT: Final = 4096
MAX_SEAL_BYTES: Final = 4096
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())


def _signature_input(protected: bytes, payload: bytes) -> bytes:
    # Sig_structure (RFC 9052 section 4.4), with an empty external_aad.
    return cbor2.dumps(["Signature1", protected, b"", payload])


def make_seal(
    fields: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
) -> str:
    """The Base45 text of a seal over `fields` (the names in FIELD_KEYS), signed ES256 by `key`,
    DEFLATEd when that is shorter (the longest names: at most 340 bytes, a QR code of version
    16 at level M when the Base45 text is in alphanumeric mode). Caveat: `certificate` only
    gives the kid; nothing checks that it holds `key`'s."""
    return Sealer(key, certificate).seal(fields)


class Sealer:
    """`make_seal` for many birth certificates by one key and seal certificate, the protected
    header made once (12 µs a seal less); its caveat holds."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise SealError("ES256 needs a P-256 key", UNSUPPORTED_ALGORITHM)
        self._key = key
        kid = key_id(certificate)
        self._protected = cbor2.dumps({_HEADER_ALG: ES256, _HEADER_KID: kid}, canonical=True)

    def seal(self, fields: Mapping[str, Any]) -> str:
        """The Base45 text of a seal over `fields` (see make_seal)."""
        protected, payload = self._protected, encode_payload(fields)
        der_signature = self._key.sign(_signature_input(protected, payload), _ECDSA_SHA256)
        raw_signature = raw_ecdsa_signature(der_signature, self._key.curve)
        cose = cbor2.dumps(cbor2.CBORTag(_COSE_SIGN1_TAG, [protected, {}, payload, raw_signature]))
        # Raw DEFLATE at level 9. An 8 KB window (-13) gives a seal (MAX_SEAL_BYTES at most) the
        # stream 32 KB gives, no match being that far back, and is half the memory to set up.
        deflater = zlib.compressobj(9, zlib.DEFLATED, -13 if len(cose) <= MAX_SEAL_BYTES else -15)
        compressed = deflater.compress(cose) + deflater.flush()
        shorter = len(compressed) < len(cose) and compressed[0] != _COSE_SIGN1_FIRST_BYTE
        return base45_encode(compressed if shorter else cose)


# --- reading ------------------------------------------------------------------------------------


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, MAX_SEAL_BYTES + 1)
    except zlib.error:
        raise SealError("the seal's compressed data is damaged") from None
    if len(out) > MAX_SEAL_BYTES or not inflater.eof or inflater.unused_data:
        raise SealError("the seal's compressed data is too long or damaged")
    return out


def _strict_cbor(data: bytes, what: str) -> Any:
    """Decode CBOR that must be in its deterministic encoding, with nothing after it."""
    try:
        value = cbor2.loads(data)
        again = cbor2.dumps(value, canonical=True)
    except Exception:  # cbor2 raises several types for bad input; all mean "malformed"
        raise SealError(f"the seal's {what} is not well-formed CBOR") from None
    if again != data:
        raise SealError(f"the seal's {what} is not in deterministic CBOR")
    return value


def _decode_cose(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(protected, payload, signature) of a tagged COSE_Sign1 with an empty unprotected map."""
    structure = _strict_cbor(data, "COSE_Sign1 structure")
    if not isinstance(structure, cbor2.CBORTag) or structure.tag != _COSE_SIGN1_TAG:
        raise SealError("not a tagged COSE_Sign1")
    parts = structure.value
    if not isinstance(parts, list | tuple) or len(parts) != 4:
        raise SealError("a COSE_Sign1 has four parts")
    protected, unprotected, payload, signature = parts
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise SealError("COSE_Sign1 parts of the wrong type")
    if unprotected != {}:
        raise SealError("a seal carries no unprotected header")
    return protected, payload, signature


def _kid(protected: bytes) -> bytes:
    header = _strict_cbor(protected, "protected header")
    if not isinstance(header, dict) or set(header) - {_HEADER_ALG, _HEADER_KID}:
        raise SealError("the protected header holds alg and kid only")
    if header.get(_HEADER_ALG) != ES256:
        raise SealError("the seal is not signed with ES256", UNSUPPORTED_ALGORITHM)
    kid = header.get(_HEADER_KID)
    if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
        raise SealError("the seal's kid is not 8 bytes")
    return kid


def _fields(payload: bytes) -> dict[str, Any]:
    decoded = _strict_cbor(payload, "payload")
    if not isinstance(decoded, dict):
        raise SealError("the seal's payload is not a map")
    fields: dict[str, Any] = dict.fromkeys(OPTIONAL_FIELDS)
    for cbor_key, value in decoded.items():
        name = _FIELD_OF_KEY.get(cbor_key) if isinstance(cbor_key, int) else None
        if name is None:
            raise SealError("the seal's payload has a key it should not have")
        fields[name] = _decode_value(name, value)
    missing = set(FIELD_KEYS) - set(fields)
    if missing:
        raise SealError(f"the seal's payload lacks {sorted(missing)}")
    return fields


def seal_from_qr_text(text: str) -> str:
    """The Base45 seal in the text of a QR code: the URL fragment (percent-decoded) when the
    text is a URL, else the text itself."""
    if len(text) > 3 * MAX_SEAL_TEXT:
        raise SealError("the QR text is too long")
    text = text.strip()
    if "#" in text:
        text = unquote(text.split("#", 1)[1], errors="strict")
    return text


def read_seal(text: str, certificates: Sequence[x509.Certificate]) -> SealContents:
    """Verify a seal (the Base45 text, or the whole QR text) against trusted certificates.

    Raises SealError (`malformed_seal`, `unsupported_seal_algorithm`, `unknown_key`,
    `bad_seal_signature`). Caveats: the certificates are trusted as given, with no path,
    validity or revocation check (a birth certificate stays checkable after the seal certificate
    expires); whether the registry since revoked the birth certificate is not the seal's to say.
    """
    try:
        data = base45_decode(seal_from_qr_text(text))
    except (ValueError, UnicodeDecodeError):
        raise SealError("the seal is not Base45 text") from None
    if not data or len(data) > MAX_SEAL_BYTES:
        raise SealError("the seal is empty or too long")
    if data[0] != _COSE_SIGN1_FIRST_BYTE:
        data = _inflate(data)
    protected, payload, signature = _decode_cose(data)
    kid = _kid(protected)
    signer = next((c for c in certificates if key_id(c) == kid), None)
    if signer is None:
        raise SealError("no trusted seal certificate has the seal's key id", UNKNOWN_KEY)
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise SealError("the seal certificate's key is not P-256", UNSUPPORTED_ALGORITHM)
    try:
        der_signature = der_ecdsa_signature(signature, public_key.curve)
        public_key.verify(
            der_signature, _signature_input(protected, payload), ec.ECDSA(hashes.SHA256())
        )
    except (ValueError, InvalidSignature):
        raise SealError("the seal's signature does not verify", BAD_SIGNATURE) from None
    # The signature is good: only now is the payload's content worth reading.
    return SealContents(**_fields(payload), signer=signer)


def qr_text(base_url: str, seal_text: str) -> str:
    """The text of the QR code: the public verify page with the seal in the URL fragment (which
    never reaches a server), Base45's space and "%" percent-encoded to make it a valid URL (all
    quote() would change in Base45 text: replaced directly, in a fifth of the time)."""
    fragment = (seal_text.replace("%", "%25").replace(" ", "%20")
                if _BASE45_TEXT.fullmatch(seal_text) else quote(seal_text, safe="$*+-./:"))
    return f"{base_url.rstrip('/')}/verify#{fragment}"
