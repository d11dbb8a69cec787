"""Flat exception classes. Each carries a stable machine `code` for the API's error body."""

from __future__ import annotations

from signing.report import Check, SubIndication


class SigningError(Exception):
    """Base of every error raised by `signing`."""

    code = "signing_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidIdentityNumber(SigningError):
    code = "invalid_identity_number"


class CanonicalizationError(SigningError):
    code = "not_canonicalizable"


class WeakKey(SigningError):
    code = "weak_key"


class InvalidCertificateRequest(SigningError):
    """A CSR or SPKI that cannot be parsed or whose key is unacceptable."""

    code = "invalid_certificate_request"


class ProofOfPossessionFailed(InvalidCertificateRequest):
    code = "proof_of_possession_failed"


class CAError(SigningError):
    code = "ca_error"


class BadPassphrase(CAError):
    code = "bad_ca_passphrase"


class SignatureFailure(SigningError):
    """A signature did not verify. `sub_indication` says why (ETSI EN 319 102-1); `checks` lists
    the checks that ran up to and including the one that failed."""

    code = "invalid_signature"

    def __init__(
        self, sub_indication: SubIndication, detail: str, checks: tuple[Check, ...] = ()
    ) -> None:
        super().__init__(detail)
        self.sub_indication = sub_indication
        self.checks = checks


class InvalidName(SigningError):
    """A person's name with letters or separators outside the national rules. `field` names the
    offending field (e.g. "child.given_name"); the detail never repeats the name itself."""

    code = "invalid_name"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field
