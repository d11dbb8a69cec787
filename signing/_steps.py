"""The running list of checks that CMS and JWS verification keep while they work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import NoReturn

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import InvalidVersion

from signing._certs import public_key
from signing.errors import SignatureFailure, WeakKey
from signing.keys import check_key_strength
from signing.report import Check, SubIndication

#: What asn1crypto, cryptography's certificate loader and the standard library raise on malformed
#: input. asn1crypto parses lazily, so these can surface on any field access, not only at load.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    InvalidVersion,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
)


@lru_cache(maxsize=1024)
def passed_check(name: str, detail: str = "") -> Check:
    """A passed check: immutable, so one object serves every report that has it."""
    return Check(name, True, detail)


class Steps:
    """Checks in the order they ran; the first failure raises with all of them attached."""

    def __init__(self) -> None:
        self._checks: list[Check] = []

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(self._checks)

    def passed(self, name: str, detail: str = "") -> None:
        """A passed check whose detail takes few values (an algorithm, a count, a key type)."""
        self._checks.append(passed_check(name, detail))

    def passed_distinct(self, name: str, detail: str) -> None:
        """A passed check whose detail differs from signature to signature (a subject, a
        time): made for this one, not kept."""
        self._checks.append(Check(name, True, detail))

    def fail(self, name: str, sub_indication: SubIndication, detail: str) -> NoReturn:
        self._checks.append(Check(name, False, detail))
        raise SignatureFailure(sub_indication, detail, self.checks)

    @contextmanager
    def malformed_is(self, name: str, what: str) -> Iterator[None]:
        """Turn a parse error inside the block into a FORMAT_FAILURE of check `name`."""
        try:
            yield
        except PARSE_ERRORS as exc:
            self.fail(name, SubIndication.FORMAT_FAILURE, f"malformed {what}: {exc}")


def signer_key(signer: x509.Certificate, name: str, steps: Steps) -> CertificatePublicKeyTypes:
    """The signer certificate's public key; the check `name` fails (CRYPTO_CONSTRAINTS_FAILURE)
    when the key cannot be read or is outside the key policy."""
    try:
        key = public_key(signer)
        check_key_strength(key)
    except WeakKey as exc:
        steps.fail(name, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, exc.detail)
    except (ValueError, UnsupportedAlgorithm) as exc:
        steps.fail(
            name,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            f"the signer's public key is unusable: {exc}",
        )
    return key
