"""JWS compact serialization with detached payload (RFC 7515 appendix F).

`BASE64URL(header)..BASE64URL(signature)` over `BASE64URL(header) "." BASE64URL(payload)`. The
protected header carries `alg`, `x5c` (the signer certificate, then each one's issuer), `sigT`
(the claimed signing time, JAdES style, RFC 3339 in UTC), and from our own signer `kid` (as
`x5t#S256`) and `crit: ["sigT"]`; headers without kid and crit (older signers, the phone page)
are accepted too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from signing.canonical import parse_json
from signing.errors import CanonicalizationError
from signing.keys import (
    JWS_ALGORITHMS,
    JWSAlgorithm,
    der_ecdsa_signature,
    describe_key,
    hash_for,
    raw_ecdsa_signature,
    verify_data,
)
from signing.report import SubIndication
from signing.signature import (
    PARSE_ERRORS,
    Steps,
    VerifiedSignature,
    check_signing_key,
    check_signing_time,
    load_certificate,
    plausible_time,
    signer_key,
)

_FORMAT = SubIndication.FORMAT_FAILURE
_CRYPTO = SubIndication.CRYPTO_CONSTRAINTS_FAILURE

#: Header parameters we understand when a signer lists them in `crit`.
UNDERSTOOD_CRITICAL = frozenset({"sigT"})
#: The signer certificate and at most four CAs above it: more than any national chain has.
MAX_X5C = 5
#: The longest compact JWS read (ours, with two P-256 certificates, are about 2 KB).
MAX_COMPACT_LENGTH = 64 * 1024

#: Header parameters that point at keys elsewhere. We take the key from x5c only, and refuse
#: these rather than leave a second, unchecked key claim in a header that passes.
_OTHER_KEY_PARAMETERS = ("jwk", "jku", "x5u")

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: ValueError unless text is exactly the encoding of some
    bytes (no padding, nothing outside the URL-safe alphabet, no unused bits set), so that each
    byte string has one encoding. Decoded, encoded again and compared."""
    try:
        # Lenient (it skips what is not in the alphabet): the comparison below is the check.
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:  # binascii.Error, or a character outside ASCII
        raise ValueError("not unpadded base64url") from exc
    if b64url_encode(data) != text:
        raise ValueError("not the one unpadded base64url encoding of its bytes")
    return data


def key_id(certificate: x509.Certificate) -> str:
    """The `kid` our signer writes: the base64url SHA-256 of the certificate's DER (the same
    value as its `x5t#S256` thumbprint)."""
    return b64url_encode(certificate.fingerprint(hashes.SHA256()))


def sign_detached(
    payload: bytes, certificate: x509.Certificate | bytes,
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, *, signing_time: datetime,
    chain: Iterable[x509.Certificate | bytes] = (), alg: str | None = None,
) -> str:
    """`header..signature` over payload, protected header {alg, kid, crit, sigT, x5c}. alg
    follows the key (ES256, ES384, RS256) unless given ("PS256" for RSA). x5c is the certificate
    (or its DER, not encoded again), then chain as given (certificates or their DER): each must
    certify the one before, or the signature will not verify. signing_time (UTC, to the second)
    is the signer's claim. Raises WeakKey for a key outside our policy and ValueError for a
    naive signing_time, an alg that does not fit the key, or a key not the certificate's."""
    signer = DetachedSigner(certificate, private_key, chain=chain, alg=alg)
    return signer.sign(payload, signing_time=signing_time)


class DetachedSigner:
    """`sign_detached` for many payloads by one certificate and key: the key checked and the
    header's other members written once, each signature's sigT put in between them (the same
    bytes; 15 µs less a signature with a chain of two). Raises as sign_detached does."""

    def __init__(
        self, certificate: x509.Certificate | bytes,
        private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, *,
        chain: Iterable[x509.Certificate | bytes] = (), alg: str | None = None,
    ) -> None:
        loaded = (x509.load_der_x509_certificate(certificate) if isinstance(certificate, bytes)
                  else certificate)
        check_signing_key(private_key, loaded)  # each signature's time: sign()
        public_key = loaded.public_key()  # the key's, as checked (cryptography keeps it)
        # By default the first alg that fits the key: ES256, ES384 or RS256.
        alg = alg or next((n for n, a in JWS_ALGORITHMS.items() if a.fits(public_key)), None)
        algorithm = JWS_ALGORITHMS.get(alg or "")
        if algorithm is None or not algorithm.fits(public_key):
            raise ValueError(f"alg {alg} does not fit a {describe_key(public_key)} key")
        self._key, self._algorithm = private_key, algorithm
        ders = [c if isinstance(c, bytes) else c.public_bytes(Encoding.DER)
                for c in (certificate, *chain)]
        x5c = [base64.b64encode(der).decode("ascii") for der in ders]
        kid = b64url_encode(hashlib.sha256(ders[0]).digest())
        # The header's JSON, its members in this order: {alg, kid, crit, sigT, x5c}.
        self._before = json.dumps({"alg": algorithm.name, "kid": kid, "crit": ["sigT"]},
                                  separators=(",", ":"))[:-1] + ',"sigT":'
        self._after = ',"x5c":' + json.dumps(x5c, separators=(",", ":")) + "}"

    def sign(self, payload: bytes, *, signing_time: datetime) -> str:
        """The compact JWS over payload; ValueError for a naive signing_time."""
        check_signing_time(signing_time)
        sig_t = json.dumps(signing_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        encoded_header = b64url_encode(f"{self._before}{sig_t}{self._after}".encode("ascii"))
        signing_input = f"{encoded_header}.{b64url_encode(payload)}".encode("ascii")
        digest = hash_for(self._algorithm.hash_name)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            der = self._key.sign(signing_input, ec.ECDSA(digest))
            signature = raw_ecdsa_signature(der, self._key.curve)
        else:
            signature = self._key.sign(signing_input, self._algorithm.padding(), digest)
        return f"{encoded_header}..{b64url_encode(signature)}"


def verify_detached(compact: str, payload: bytes) -> VerifiedSignature:
    """Check a detached compact JWS over payload. Raises SignatureFailure. Says nothing about trust.

    The signer is the first x5c certificate, each later one certifying the one before (RFC
    7515 section 4.1.6); the caller must validate the chain. Refused: algs but the four of
    DESIGN.md ("none" and HMAC by name), an attached payload, b64=false, any `crit` but sigT,
    jwk/jku/x5u, and a kid, x5t or x5t#S256 not naming the signer. A changed payload shows as
    SIG_CRYPTO_FAILURE (JWS has no separate digest). signing_time is the signer's sigT claim.
    """
    steps = Steps()
    parts = compact.split(".") if isinstance(compact, str) else []
    if len(parts) != 3 or len(compact) > MAX_COMPACT_LENGTH:
        detail = f"three dot-separated parts, at most {MAX_COMPACT_LENGTH} characters"
        steps.fail("jws.compact", _FORMAT, f"not a JWS compact serialization ({detail})")
    encoded_header, encoded_payload, encoded_signature = parts
    if encoded_payload:
        detail = "only a detached payload (header..signature) is accepted"
        steps.fail("jws.compact", _FORMAT, f"the JWS carries its payload; {detail}")
    steps.passed("jws.compact", "compact serialization, detached payload")
    header = _parse_header(encoded_header, steps)
    algorithm = _check_alg(header, steps)
    _check_parameters(header, steps)
    certificates = _certificates(header, steps)
    public_key = signer_key(
        certificates[0], "jws.signer_key", steps, algorithm.name, algorithm.fits
    )
    signing_time = _signing_time(header, steps)
    _check_signature(encoded_header, encoded_signature, payload, algorithm, public_key, steps)
    return VerifiedSignature(
        format="jws",
        signer=certificates[0],
        certificates=tuple(certificates),
        signing_time=signing_time,
        algorithm=algorithm.name,
        checks=tuple(steps.checks),
    )


def _check_signature(
    encoded_header: str, encoded_signature: str, payload: bytes, algorithm: JWSAlgorithm,
    public_key: Any, steps: Steps,
) -> None:
    name = "jws.signature"
    with steps.reading(name, "signature part"):
        signature = b64url_decode(encoded_signature)
    signing_input = f"{encoded_header}.{b64url_encode(payload)}".encode("ascii")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        with steps.reading(name, f"{algorithm.name} signature (DER is not accepted)"):
            signature = der_ecdsa_signature(signature, public_key.curve)
    try:
        digest = hash_for(algorithm.hash_name)
        verify_data(public_key, signature, signing_input, digest, algorithm.padding())
    except (InvalidSignature, ValueError):
        detail = f"the {algorithm.name} signature does not verify over this payload"
        steps.fail(name, SubIndication.SIG_CRYPTO_FAILURE, f"{detail} with the signer's key")
    steps.passed(name, algorithm.name)


def _parse_header(encoded_header: str, steps: Steps) -> dict[str, Any]:
    try:
        # The dossier's strict parser: no duplicate names, NaN or lone surrogates.
        header = parse_json(b64url_decode(encoded_header))
    except (ValueError, CanonicalizationError) as exc:
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
        detail = "a shared-secret MAC cannot come from a certificate"
        steps.fail("jws.alg", _CRYPTO, f"alg {alg} (HMAC) is refused: {detail}")
    algorithm = JWS_ALGORITHMS.get(alg)
    if algorithm is None:
        detail = f"only {', '.join(JWS_ALGORITHMS)}"
        steps.fail("jws.alg", _CRYPTO, f"alg {alg!r} is not allowed ({detail})")
    steps.passed("jws.alg", algorithm.name)
    return algorithm


def _check_parameters(header: dict[str, Any], steps: Steps) -> None:
    """b64, crit and key-carrying parameters."""
    name = "jws.parameters"
    if "b64" in header and header["b64"] is not True:
        detail = "the payload must be base64url"
        steps.fail(name, _FORMAT, f"b64=false (RFC 7797 unencoded payload) is refused; {detail}")
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or not all(isinstance(i, str) for i in crit):
            steps.fail(name, _FORMAT, "crit must be a non-empty list of names")
        unknown = ", ".join(item for item in crit if item not in UNDERSTOOD_CRITICAL)
        if unknown:
            steps.fail(name, _FORMAT, f"critical header parameters not understood: {unknown}")
        missing = [item for item in crit if item not in header]
        if missing:
            steps.fail(name, _FORMAT, f"crit names absent parameters: {', '.join(missing)}")
    others = ", ".join(key for key in _OTHER_KEY_PARAMETERS if key in header)
    if others:
        steps.fail(name, _FORMAT, f"{others} header parameters are refused: the key is x5c's")
    steps.passed(name, "no unsupported header parameters")


def _certificates(header: dict[str, Any], steps: Steps) -> list[x509.Certificate]:
    """x5c: the signer certificate, then each one's issuer; and the thumbprints naming it."""
    name = "jws.x5c"
    x5c = header.get("x5c")
    if x5c is None or x5c == []:
        detail = "no x5c certificate in the protected header"
        steps.fail(name, SubIndication.NO_SIGNING_CERTIFICATE_FOUND, detail)
    if not isinstance(x5c, list):
        steps.fail(name, _FORMAT, "x5c is not a list")
    if len(x5c) > MAX_X5C:
        steps.fail(name, _FORMAT, f"x5c has {len(x5c)} certificates; at most {MAX_X5C}")
    certificates: list[x509.Certificate] = []
    for position, item in enumerate(x5c):
        with steps.reading(name, f"x5c[{position}] (not a base64 DER certificate)"):
            certificates.append(load_certificate(_x5c_item(item)))
    for position in range(1, len(certificates)):
        try:
            certificates[position - 1].verify_directly_issued_by(certificates[position])
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            detail = f"x5c[{position}] does not certify x5c[{position - 1}]"
            rule = "RFC 7515 4.1.6: each certificate must certify the one before it"
            steps.fail(name, _FORMAT, f"{detail} ({rule})")
    thumbprint = key_id(certificates[0])
    sha1 = certificates[0].fingerprint(hashes.SHA1())  # noqa: S303 (x5t names, it protects nothing)
    claims = (("x5t#S256", thumbprint), ("kid", thumbprint), ("x5t", b64url_encode(sha1)))
    for parameter, expected in claims:
        if parameter in header and header[parameter] != expected:
            steps.fail(name, _FORMAT, f"{parameter} does not name the first x5c certificate")
    steps.passed(name, f"{certificates[0].subject.rfc4514_string()} and {len(x5c) - 1} more")
    return certificates


def _x5c_item(item: Any) -> bytes:
    """One x5c entry: canonical standard base64 (RFC 7515 section 4.1.6) of a DER certificate."""
    if not isinstance(item, str):
        raise TypeError("not a string")
    der = binascii.a2b_base64(item, strict_mode=True)
    if base64.b64encode(der).decode("ascii") != item:
        raise ValueError("non-canonical base64")
    return der


def _signing_time(header: dict[str, Any], steps: Steps) -> datetime | None:
    name = "jws.sigT"
    if "sigT" not in header:
        steps.passed(name, "no sigT")
        return None
    sig_t = header["sigT"]
    try:
        if not isinstance(sig_t, str) or not _RFC3339.fullmatch(sig_t):
            raise ValueError("not RFC 3339 date-time")
        moment = plausible_time(datetime.fromisoformat(sig_t))
    except PARSE_ERRORS:
        detail = f"sigT {str(sig_t)[:40]!r} is not the RFC 3339 time of a signature"
        steps.fail(name, _FORMAT, detail)
    steps.passed(name, f"claimed {moment.isoformat()}")
    return moment
