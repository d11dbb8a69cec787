"""The ward's sealed claim that it prints a certificate for the mother ("printed at the ward").

When ward and registry are separate services, the registry must know that the claim comes from
the facility it names, not from anyone holding the certificate's link. The ward seals a small
document with its facility seal (the key its medical records are sealed with, which the
registry already trusts):

    {"document": {"type": "birthreg.ward-print/1", "certificate_id": "…",
                  "facility_bin": "…", "at": "2026-12-06T12:00:00+00:00", "nonce": "…"},
     "signature": {"format": "cms", "value": "<base64 DER SignedData, detached>"}}

The signature is over the document's RFC 8785 canonical bytes. The registry accepts it when the
seal is trusted now (path to its roots, organisation policy, revocation), the seal's BIN is the
document's, the document names the certificate asked for, and `at` is within `FRESHNESS` of the
registry's clock; the nonce it keeps until the claim is stale, so that a claim counts once.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing import cms
from signing.canonical import canonicalize
from signing.dossier import verify_signature
from signing.errors import CanonicalizationError, InvalidIdentityNumber, SigningError
from signing.identity import validate_bin
from signing.report import Indication, SignatureReport
from signing.trust import Validator

WARD_PRINT_TYPE: Final = "birthreg.ward-print/1"
#: How far the claim's time may be from the registry's clock, either way.
FRESHNESS: Final = timedelta(minutes=5)
_FIELDS: Final = frozenset({"type", "certificate_id", "facility_bin", "at", "nonce"})
_NONCE: Final = re.compile(r"[A-Za-z0-9_-]{22,64}", re.ASCII)
_CERTIFICATE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,80}", re.ASCII)


class WardPrintRefused(SigningError):
    """A claim the registry does not accept. `code` says why; `report` is the seal's report
    when the seal itself was judged."""

    def __init__(self, code: str, detail: str, report: SignatureReport | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.report = report


@dataclass(frozen=True)
class WardPrint:
    """An accepted claim: which facility printed which certificate, when (its own clock), and
    the nonce that makes it count once."""

    certificate_id: str
    facility_bin: str
    at: datetime
    nonce: str

    @property
    def stale_after(self) -> datetime:
        """When the claim stops being fresh (its nonce need not be kept longer)."""
        return self.at + FRESHNESS


def seal_ward_print(
    certificate_id: str,
    facility_bin: str,
    *,
    moment: datetime,
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    chain: Iterable[x509.Certificate] = (),
) -> dict[str, Any]:
    """The claim, sealed with the facility's seal (CMS detached, its chain carried)."""
    moment = moment.replace(microsecond=0)
    document = {
        "type": WARD_PRINT_TYPE,
        "certificate_id": certificate_id,
        "facility_bin": facility_bin,
        "at": moment.isoformat(),
        "nonce": secrets.token_urlsafe(24),
    }
    der = cms.sign_detached(
        canonicalize(document), certificate, key, signing_time=moment, chain=chain
    )
    return {
        "document": document,
        "signature": {"format": "cms", "value": base64.b64encode(der).decode("ascii")},
    }


def check_ward_print(
    claim: Any, *, certificate_id: str, validator: Validator, moment: datetime
) -> WardPrint:
    """The accepted claim for `certificate_id` at `moment`, or WardPrintRefused: `malformed_claim`
    (not of the form above), `claim_for_another_certificate`, `stale_claim` (its time is more
    than FRESHNESS from `moment`), `seal_not_trusted` (the seal does not verify or is not
    trusted now; `report` says why), `seal_of_another_facility` (the seal's BIN is not the
    claim's). Replays are the caller's to refuse, by the nonce."""
    document, signature = _parts(claim)
    printed = _document(document)
    if printed.certificate_id != certificate_id:
        raise WardPrintRefused(
            "claim_for_another_certificate", "the claim names another certificate"
        )
    if abs(moment - printed.at) > FRESHNESS:
        raise WardPrintRefused(
            "stale_claim", f"the claim's time is more than {FRESHNESS} from the registry's clock"
        )
    report = verify_signature(
        signature, canonicalize(document), validator=validator, moment=moment,
        purpose="organisation", role="facility",
    )  # fmt: skip
    if report.indication != Indication.TOTAL_PASSED:
        raise WardPrintRefused(
            "seal_not_trusted", f"the facility seal is not accepted ({report.sub_indication})",
            report,
        )  # fmt: skip
    if report.signer_bin != printed.facility_bin:
        raise WardPrintRefused(
            "seal_of_another_facility", "the seal's BIN is not the claim's facility", report
        )
    return printed


def _parts(claim: Any) -> tuple[Mapping[str, Any], Any]:
    if not isinstance(claim, Mapping) or set(claim) != {"document", "signature"}:
        raise WardPrintRefused("malformed_claim", "a claim is {document, signature}")
    document = claim["document"]
    if not isinstance(document, Mapping) or set(document) != _FIELDS:
        raise WardPrintRefused("malformed_claim", f"the document has exactly {sorted(_FIELDS)}")
    try:
        canonicalize(document)
    except CanonicalizationError as error:
        raise WardPrintRefused("malformed_claim", error.detail) from error
    return document, claim["signature"]


def _document(document: Mapping[str, Any]) -> WardPrint:
    values = {name: document[name] for name in _FIELDS}
    if not all(isinstance(value, str) for value in values.values()):
        raise WardPrintRefused("malformed_claim", "every field of the document is a string")
    if values["type"] != WARD_PRINT_TYPE:
        raise WardPrintRefused("malformed_claim", f"the document's type is not {WARD_PRINT_TYPE}")
    if not _CERTIFICATE_ID.fullmatch(values["certificate_id"]):
        raise WardPrintRefused("malformed_claim", "certificate_id is not a certificate's id")
    try:
        validate_bin(values["facility_bin"])
    except InvalidIdentityNumber as error:
        raise WardPrintRefused("malformed_claim", f"facility_bin: {error.detail}") from error
    if not _NONCE.fullmatch(values["nonce"]):
        raise WardPrintRefused("malformed_claim", "nonce is 22 to 64 base64url characters")
    try:
        at = datetime.fromisoformat(values["at"])
    except ValueError:
        at = None
    if at is None or at.utcoffset() is None:
        raise WardPrintRefused("malformed_claim", "at is an ISO 8601 time with its offset")
    return WardPrint(values["certificate_id"], values["facility_bin"], at, values["nonce"])
