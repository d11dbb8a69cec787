"""JWS compact serialization with detached payload (RFC 7515 appendix F).

The form is `BASE64URL(header)..BASE64URL(signature)`; the signing input is
`BASE64URL(header) "." BASE64URL(payload)`. The protected header carries `alg` (ES256, ES384,
RS256 or PS256), `x5c` (the signer certificate first, then its chain) and `sigT` (the claimed
signing time, ETSI JAdES style, RFC 3339 in UTC).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from signing._algorithms import (
    JWS_ALGORITHMS,
    JWSAlgorithm,
    ecdsa_coordinate_size,
    ecdsa_for,
    hash_for,
)
from signing._certs import load_certificate, memo, subject_text
from signing._steps import Steps, passed_check, signer_key
from signing.errors import SignatureFailure
from signing.keys import check_key_strength, describe_key
from signing.report import Check, SubIndication
from signing.signature import VerifiedSignature

_FORMAT = SubIndication.FORMAT_FAILURE
_CRYPTO = SubIndication.CRYPTO_CONSTRAINTS_FAILURE

#: Header parameters we understand when a signer lists them in `crit`.
UNDERSTOOD_CRITICAL = frozenset({"sigT"})

#: Header parameters that point at keys elsewhere. We take the key from x5c only, and refuse
#: these rather than leave a second, unchecked key claim in a header that passes.
_OTHER_KEY_PARAMETERS = ("jwk", "jku", "x5u")

_URL_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: raises ValueError on padding, on characters outside
    the URL-safe alphabet, on an impossible length and on non-zero unused bits (so that each
    byte string has exactly one encoding)."""
    if len(text) % 4 == 1 or "=" in text or "+" in text or "/" in text:
        raise ValueError("not unpadded base64url")
    try:
        encoded = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("string argument should contain only ASCII characters") from None
    try:
        # strict_mode refuses every character outside the alphabet (the URL-safe one, mapped).
        data = binascii.a2b_base64(
            encoded.translate(_URL_TO_STANDARD) + b"=" * (-len(text) % 4), strict_mode=True
        )
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc
    # Only the last, partial group of characters can carry unused bits (2 characters encode
    # 1 byte, 3 encode 2): it must be exactly the encoding of the bytes it gave.
    partial = len(text) % 4
    if partial and b64url_encode(data[1 - partial :]) != text[-partial:]:
        raise ValueError("non-canonical base64url (unused bits set)")
    return data


def sign_detached(
    payload: bytes, certificate: x509.Certificate,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, *, signing_time: datetime,
    chain: Iterable[x509.Certificate] = (), alg: str | None = None,
) -> str:
    """`header..signature` over payload, protected header {alg, x5c, sigT}.

    alg follows the key (ES256 for P-256, ES384 for P-384, RS256 for RSA) unless given; the
    only choice there is "PS256" instead of "RS256" for RSA. signing_time must be timezone-aware;
    it is written in UTC to the second and is the signer's claim, nothing more. Raises WeakKey
    for a key outside our policy and ValueError for a naive signing_time, an alg that does not
    fit the key, or a private key that does not belong to certificate.
    """
    public_key = private_key.public_key()
    check_key_strength(public_key)
    if _spki(certificate) != public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValueError("the private key does not belong to the certificate")
    if signing_time.tzinfo is None or signing_time.utcoffset() is None:
        raise ValueError("signing_time must be timezone-aware")
    algorithm = JWS_ALGORITHMS.get(alg or _default_alg(private_key))
    if algorithm is None or not algorithm.fits(public_key):
        raise ValueError(f"alg {alg} does not fit a {describe_key(public_key)} key")

    header = {
        "alg": algorithm.name,
        "x5c": [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for cert in (certificate, *chain)
        ],
        "sigT": signing_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    encoded_header = b64url_encode(
        json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    )
    signing_input = f"{encoded_header}.{b64url_encode(payload)}".encode("ascii")
    digest = hash_for(algorithm.hash_name)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(digest)))
        size = ecdsa_coordinate_size(private_key.curve)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = private_key.sign(signing_input, algorithm.padding(), digest)
    return f"{encoded_header}..{b64url_encode(signature)}"


def verify_detached(compact: str, payload: bytes) -> VerifiedSignature:
    """Check a detached compact JWS over payload. Raises SignatureFailure. Says nothing about trust.

    The signer is the first x5c certificate, taken as given: the caller must validate the chain.
    Caveats: only the four algs of DESIGN.md are accepted; "none" and HMAC are refused by name
    (an HMAC "keyed" with a public certificate proves nothing). JWS has no separate message
    digest, so a changed payload shows as SIG_CRYPTO_FAILURE: HASH_FAILURE cannot be told apart
    from a bad signature. A JWS with an attached payload is refused, as are b64=false (RFC 7797),
    any `crit` other than sigT, and jwk/jku/x5u header parameters. signing_time is the signer's
    sigT claim, not proof of anything.
    """
    parts = compact.split(".") if isinstance(compact, str) else []
    if len(parts) != 3:
        _fail(
            (),
            "jws.compact",
            _FORMAT,
            "not a JWS compact serialization (three dot-separated parts)",
        )
    encoded_header, encoded_payload, encoded_signature = parts
    if encoded_payload:
        _fail(
            (),
            "jws.compact",
            _FORMAT,
            "the JWS carries its payload; only a detached payload (header..signature) is accepted",
        )

    header = (
        _remembered_header(encoded_header)
        if len(encoded_header) <= _REMEMBERED_HEADER_LENGTH
        else _read_header(encoded_header)
    )
    if isinstance(header, _HeaderFailure):
        raise SignatureFailure(
            header.sub_indication, header.detail, (_COMPACT_PASSED, *header.checks)
        )
    algorithm = header.algorithm
    public_key = header.public_key
    checks = (_COMPACT_PASSED, *header.checks)

    try:
        signature = b64url_decode(encoded_signature)
    except ValueError as exc:
        _fail(checks, "jws.signature", _FORMAT, f"signature part: {exc}")
    signing_input = f"{encoded_header}.{b64url_encode(payload)}".encode("ascii")
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            size = ecdsa_coordinate_size(public_key.curve)
            if len(signature) != 2 * size:
                _fail(
                    checks,
                    "jws.signature",
                    _FORMAT,
                    f"{algorithm.name} signatures are raw r‖s of {2 * size} bytes,"
                    f" not {len(signature)} bytes (DER is not accepted)",
                )
            der = encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            public_key.verify(der, signing_input, ecdsa_for(algorithm.hash_name))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                signature, signing_input, algorithm.padding(), hash_for(algorithm.hash_name)
            )
        else:  # excluded by check_key_strength and fits(); kept so that nothing falls through
            raise InvalidSignature
    except (InvalidSignature, ValueError):
        _fail(
            checks,
            "jws.signature",
            SubIndication.SIG_CRYPTO_FAILURE,
            f"the {algorithm.name} signature does not verify over this payload with the"
            " signer's key",
        )

    return VerifiedSignature(
        format="jws",
        signer=header.certificates[0],
        certificates=header.certificates,
        signing_time=header.signing_time,
        algorithm=algorithm.name,
        checks=(*checks, header.signature_passed),
    )


_COMPACT_PASSED = Check("jws.compact", True, "compact serialization, detached payload")
#: Protected headers up to this length (a real one with two P-256 certificates is about 1.6 KB)
#: are remembered once checked; longer ones are checked every time rather than kept.
_REMEMBERED_HEADER_LENGTH = 16 * 1024


def _fail(
    checks: tuple[Check, ...], name: str, sub_indication: SubIndication, detail: str
) -> NoReturn:
    raise SignatureFailure(sub_indication, detail, (*checks, Check(name, False, detail)))


@dataclass(frozen=True)
class _Header:
    """What a protected header establishes once checked: a pure function of its encoding."""

    #: jws.header to jws.sigT, all passed.
    checks: tuple[Check, ...]
    algorithm: JWSAlgorithm
    certificates: tuple[x509.Certificate, ...]
    public_key: PublicKeyTypes
    signing_time: datetime | None
    #: The check a good signature under this header adds.
    signature_passed: Check


@dataclass(frozen=True)
class _HeaderFailure:
    """Why a protected header is refused, with the checks up to the failed one."""

    sub_indication: SubIndication
    detail: str
    checks: tuple[Check, ...]


def _read_header(encoded_header: str) -> _Header | _HeaderFailure:
    """Every check of the protected header (and of the signer's key it carries): a pure function
    of its encoding, remembered by `_remembered_header` (a verification queue meets the same
    signer's header again and again)."""
    steps = Steps()
    try:
        header = _parse_header(encoded_header, steps)
        algorithm = _check_alg(header, steps)
        _check_parameters(header, steps)
        certificates = _certificates(header, steps)
        signer = certificates[0]

        public_key = signer_key(signer, "jws.signer_key", steps)
        if not algorithm.fits(public_key):
            steps.fail(
                "jws.signer_key",
                _CRYPTO,
                f"alg {algorithm.name} does not fit a {describe_key(public_key)} key",
            )
        steps.passed("jws.signer_key", describe_key(public_key))

        signing_time = _signing_time(header, steps)
    except SignatureFailure as failure:
        return _HeaderFailure(failure.sub_indication, failure.detail, failure.checks)
    return _Header(
        checks=steps.checks,
        algorithm=algorithm,
        certificates=tuple(certificates),
        public_key=public_key,
        signing_time=signing_time,
        signature_passed=passed_check("jws.signature", algorithm.name),
    )


_remembered_header = memo(_read_header)


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _default_alg(private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ES384" if isinstance(private_key.curve, ec.SECP384R1) else "ES256"
    return "RS256"


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_HEADER_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
)


def _parse_header(encoded_header: str, steps: Steps) -> dict[str, Any]:
    try:
        header = _HEADER_DECODER.decode(b64url_decode(encoded_header).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        steps.fail("jws.header", _FORMAT, f"protected header is not strict base64url JSON: {exc}")
    if not isinstance(header, dict):
        steps.fail("jws.header", _FORMAT, "protected header is not a JSON object")
    steps.passed("jws.header", f"protected header with {', '.join(sorted(header))}")
    return header


def _check_alg(header: dict[str, Any], steps: Steps) -> JWSAlgorithm:
    alg = header.get("alg")
    if not isinstance(alg, str):
        steps.fail("jws.alg", _FORMAT, "no alg in the protected header")
    if alg.lower() == "none":
        steps.fail("jws.alg", _CRYPTO, 'alg "none" (an unsecured JWS) is refused')
    if alg.upper().startswith("HS"):
        steps.fail(
            "jws.alg", _CRYPTO,
            f"alg {alg} (HMAC) is refused: a shared-secret MAC cannot come from a certificate",
        )
    algorithm = JWS_ALGORITHMS.get(alg)
    if algorithm is None:
        steps.fail(
            "jws.alg", _CRYPTO,
            f"alg {alg!r} is not allowed (only {', '.join(JWS_ALGORITHMS)})",
        )
    steps.passed("jws.alg", algorithm.name)
    return algorithm


def _check_parameters(header: dict[str, Any], steps: Steps) -> None:
    """b64, crit and key-carrying parameters."""
    name = "jws.parameters"
    if "b64" in header and header["b64"] is not True:
        steps.fail(
            name, _FORMAT,
            "b64=false (RFC 7797 unencoded payload) is refused; the payload must be base64url",
        )
    if "crit" in header:
        crit = header["crit"]
        if (
            not isinstance(crit, list)
            or not crit
            or not all(isinstance(item, str) for item in crit)
        ):
            steps.fail(name, _FORMAT, "crit must be a non-empty list of names")
        unknown = [item for item in crit if item not in UNDERSTOOD_CRITICAL]
        if unknown:
            steps.fail(
                name, _FORMAT,
                f"critical header parameters not understood: {', '.join(unknown)}",
            )
        missing = [item for item in crit if item not in header]
        if missing:
            steps.fail(name, _FORMAT, f"crit names absent parameters: {', '.join(missing)}")
    others = [key for key in _OTHER_KEY_PARAMETERS if key in header]
    if others:
        steps.fail(
            name, _FORMAT,
            f"{', '.join(others)} header parameters are refused: the key comes from x5c only",
        )
    steps.passed(name, "no unsupported header parameters")


def _certificates(header: dict[str, Any], steps: Steps) -> list[x509.Certificate]:
    name = "jws.x5c"
    x5c = header.get("x5c")
    if x5c is None or x5c == []:
        steps.fail(
            name, SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            "no x5c certificate in the protected header",
        )
    if not isinstance(x5c, list):
        steps.fail(name, _FORMAT, "x5c is not a list")
    certificates: list[x509.Certificate] = []
    ders: list[bytes] = []
    for position, item in enumerate(x5c):
        try:
            if not isinstance(item, str):
                raise ValueError("not a string")
            der, certificate = (
                _remembered_x5c_item(item)
                if len(item) <= _REMEMBERED_ITEM_LENGTH
                else _x5c_item(item)
            )
            certificates.append(certificate)
            ders.append(der)
        except (ValueError, binascii.Error, x509.InvalidVersion) as exc:
            steps.fail(
                name, _FORMAT,
                f"x5c[{position}] is not a base64 DER certificate: {exc}",
            )
    for parameter, hash_name in (("x5t#S256", "sha256"), ("x5t", "sha1")):
        if parameter not in header:
            continue
        expected = b64url_encode(hashlib.new(hash_name, ders[0]).digest())
        thumbprint = header[parameter]
        if thumbprint != expected:
            steps.fail(name, _FORMAT, f"{parameter} does not match the first x5c certificate")
    steps.passed_distinct(
        name,
        f"{subject_text(certificates[0])} and {len(certificates) - 1} more",
    )
    return certificates


def _x5c_item(item: str) -> tuple[bytes, x509.Certificate]:
    """One x5c entry: standard base64 (canonical, RFC 7515 section 4.1.6) of a DER
    certificate. Raises ValueError (binascii.Error is one)."""
    der = binascii.a2b_base64(item, strict_mode=True)
    if base64.b64encode(der).decode("ascii") != item:
        raise ValueError("non-canonical base64")
    return der, load_certificate(der)


#: x5c entries up to this length (a P-256 certificate is under 1 KB of base64) are remembered:
#: the CA certificates in them come with every signature.
_REMEMBERED_ITEM_LENGTH = 8 * 1024
_remembered_x5c_item = memo(_x5c_item)


def _signing_time(header: dict[str, Any], steps: Steps) -> datetime | None:
    name = "jws.sigT"
    if "sigT" not in header:
        steps.passed(name, "no sigT")
        return None
    sig_t = header["sigT"]
    try:
        if not isinstance(sig_t, str) or not _RFC3339.fullmatch(sig_t):
            raise ValueError("not RFC 3339 date-time")
        moment = datetime.fromisoformat(sig_t)
    except ValueError:
        steps.fail(name, _FORMAT, f"sigT {sig_t!r} is not an RFC 3339 date-time")
    moment = moment.astimezone(UTC)
    steps.passed_distinct(name, f"claimed {moment.isoformat()}")
    return moment
