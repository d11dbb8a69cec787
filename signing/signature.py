"""What a low-level signature check (CMS or JWS) establishes before any path validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography import x509

from signing.report import Check


@dataclass(frozen=True)
class VerifiedSignature:
    """The signature is intact and cryptographically valid for `signer`'s key.

    Nothing here says the signer is trusted: that is `signing.trust`'s job.
    """

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
