"""What the CMS and JWS verifiers share: the checks they keep, the signer key policy,
certificate loading, and what a verified signature establishes before any path validation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NoReturn, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from signing.errors import SignatureFailure, WeakKey
from signing.keys import check_key_strength, describe_key
from signing.report import Check, SubIndication

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)

#: What asn1crypto, cryptography's loaders, json and datetime raise on malformed input.
#: asn1crypto parses lazily, so these can surface on any field access, not only at load.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    RecursionError,
    x509.InvalidVersion,
)

#: The clock difference tolerated between us and whoever dated something: the CA (notBefore is
#: set this far back, so that a verifier a little behind does not see a new certificate as not yet
#: valid; revocation data), a signer's claimed time, a ward's record.
CLOCK_SKEW = timedelta(minutes=5)
#: The times a signature or a document may claim: far from datetime's limits, so that no
#: arithmetic on a claim (a clock skew, a deadline) can overflow.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class VerifiedSignature:
    """The signature is intact and valid for `signer`'s key; whether the signer is trusted is
    `signing.trust`'s to say."""

    format: Literal["cms", "jws"]
    signer: x509.Certificate
    #: Every certificate the signature carried (signer included), for path building.
    certificates: tuple[x509.Certificate, ...]
    #: The time the signer claims (CMS signingTime attribute, JWS sigT); not proof of anything.
    signing_time: datetime | None
    #: e.g. "ES256", "ecdsa-with-SHA256", "rsassa-pss/SHA-256", "sha256WithRSAEncryption".
    algorithm: str
    #: The checks that ran, all passed.
    checks: tuple[Check, ...]


class Steps:
    """Checks in the order they ran; the first failure raises with all of them attached."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def passed(self, name: str, detail: str = "") -> None:
        self.checks.append(Check(name, True, detail))

    def fail(self, name: str, sub_indication: SubIndication, detail: str) -> NoReturn:
        self.checks.append(Check(name, False, detail))
        raise SignatureFailure(sub_indication, detail, tuple(self.checks))

    @contextmanager
    def reading(self, name: str, what: str) -> Iterator[None]:
        """Turn a parse error inside the block into a FORMAT_FAILURE of check `name`."""
        try:
            yield
        except PARSE_ERRORS as exc:
            self.fail(name, SubIndication.FORMAT_FAILURE, f"malformed {what}: {exc}")


def check_signing_key(
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, certificate: x509.Certificate
) -> None:
    """What both signers require of their key, once: within our policy, and the certificate's.
    Raises WeakKey or ValueError."""
    public_key = private_key.public_key()
    check_key_strength(public_key)
    if certificate.public_key() != public_key:
        raise ValueError("the private key does not belong to the certificate")


def check_signing_time(signing_time: datetime) -> None:
    """What both signers require of each signature's time: aware. Raises ValueError."""
    if signing_time.tzinfo is None or signing_time.utcoffset() is None:
        raise ValueError("signing_time must be timezone-aware")


def load_certificate(der: bytes) -> x509.Certificate:
    """A DER certificate, its names and extensions read at once (cryptography parses lazily) so
    that a malformed one is refused here. Raises ValueError (or x509.InvalidVersion)."""
    certificate = x509.load_der_x509_certificate(der)
    _ = certificate.subject, certificate.issuer, certificate.extensions
    return certificate


def extension(
    holder: x509.Certificate | x509.CertificateRevocationList | x509.RevokedCertificate,
    kind: type[_Extension],
) -> _Extension | None:
    """The value of holder's extension of that kind, or None when it has none."""
    try:
        return holder.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def is_ca(certificate: x509.Certificate) -> bool:
    """Whether basicConstraints says CA (absent: not a CA)."""
    constraints = extension(certificate, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def signer_key(
    signer: x509.Certificate, name: str, steps: Steps, algorithm: str,
    fits: Callable[[CertificatePublicKeyTypes], bool],
) -> CertificatePublicKeyTypes:
    """The signer certificate's public key; the check `name` fails (CRYPTO_CONSTRAINTS_FAILURE)
    when the key cannot be read, is outside the key policy or cannot make `algorithm`
    signatures (`fits`)."""
    crypto = SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    try:
        key = signer.public_key()
        check_key_strength(key)
    except WeakKey as exc:
        steps.fail(name, crypto, exc.detail)
    except (ValueError, UnsupportedAlgorithm) as exc:
        steps.fail(name, crypto, f"the signer's public key is unusable: {exc}")
    if not fits(key):
        steps.fail(name, crypto, f"a {describe_key(key)} key cannot make {algorithm} signatures")
    steps.passed(name, describe_key(key))
    return key


def plausible_time(moment: datetime) -> datetime:
    """An aware moment in UTC; ValueError when it is outside EARLIEST_TIME..LATEST_TIME (or
    cannot be expressed in UTC at all, as 0001-01-01T00:00:00+01:00 cannot)."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the calendar") from None
    if not EARLIEST_TIME <= utc < LATEST_TIME:
        raise ValueError(f"{utc.year} is not a year signatures are made in")
    return utc
