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
    """A signature did not verify: `sub_indication` says why, `checks` lists those that ran."""

    code = "invalid_signature"

    def __init__(
        self, sub_indication: SubIndication, detail: str, checks: tuple[Check, ...] = ()
    ) -> None:
        super().__init__(detail)
        self.sub_indication = sub_indication
        self.checks = checks


class InvalidName(SigningError):
    """A name outside the national rules: the detail is "<field>: <problem>", never the name."""

    code = "invalid_name"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
