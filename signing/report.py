"""The frozen verification report: indications of ETSI EN 319 102-1 (clause 5.1.3), and every
check that ran with its outcome, so that a clerk, the API and the CLI see the same facts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar


class Indication(StrEnum):
    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(StrEnum):
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    GENERIC = "GENERIC"


#: Which indication each sub-indication belongs to (ETSI EN 319 102-1, table 5): the first six
#: are TOTAL_FAILED, the rest INDETERMINATE.
_TOTAL_FAILED = ("FORMAT_FAILURE", "HASH_FAILURE", "SIG_CRYPTO_FAILURE", "REVOKED", "EXPIRED",
                 "NOT_YET_VALID")
INDICATION_OF: Mapping[SubIndication, Indication] = {
    s: Indication.TOTAL_FAILED if s in _TOTAL_FAILED else Indication.INDETERMINATE
    for s in SubIndication
}


class _Flat:
    """A flat frozen record: its JSON is its fields by name, times in ISO 8601, enumerations by
    value."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # set by @dataclass on each record

    def to_json(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            k: v.isoformat() if isinstance(v, datetime) else v.value if isinstance(v, Enum) else v
            for k, v in values.items()
        }


@dataclass(frozen=True)
class Check(_Flat):
    """One check that ran: a stable machine name, its outcome, and a sentence for people."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class ChainEntry(_Flat):
    subject: str
    serial: str  # lowercase hex
    not_before: datetime
    not_after: datetime
    sha256: str  # fingerprint of the DER, lowercase hex


class RevocationState(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class RevocationStatus(_Flat):
    state: RevocationState
    source: str = ""  # "crl" or "ocsp" and the URL it came from
    revoked_at: datetime | None = None
    reason: str | None = None  # RFC 5280 reason name, e.g. "key_compromise"
    this_update: datetime | None = None
    next_update: datetime | None = None


NOT_CHECKED = RevocationStatus(RevocationState.NOT_CHECKED)


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one signature, with everything that led to it."""

    format: str  # "cms" or "jws"
    indication: Indication
    sub_indication: SubIndication | None
    checks: tuple[Check, ...]
    role: str = ""  # "facility", "mother", "father" where the dossier says so
    signer_subject: str = ""
    signer_iin: str | None = None
    signer_bin: str | None = None
    signer_serial: str | None = None  # lowercase hex
    signing_time: datetime | None = None  # claimed by the signer (CMS signingTime, JWS sigT)
    algorithm: str = ""
    chain: tuple[ChainEntry, ...] = ()
    revocation: RevocationStatus = NOT_CHECKED

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "role": self.role,
            "indication": self.indication.value,
            "sub_indication": None if self.sub_indication is None else self.sub_indication.value,
            "signer": {
                "subject": self.signer_subject,
                "iin": self.signer_iin,
                "bin": self.signer_bin,
                "serial": self.signer_serial,
            },
            "signing_time": None if self.signing_time is None else self.signing_time.isoformat(),
            "algorithm": self.algorithm,
            "chain": [c.to_json() for c in self.chain],
            "revocation": self.revocation.to_json(),
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True)
class DocumentReport:
    """One signed document: its own checks (form, canonical bytes, bindings) and its signatures."""

    kind: str  # "medical_record" or "application"
    document_id: str | None
    sha256: str | None  # of the canonical form, lowercase hex
    checks: tuple[Check, ...]
    signatures: tuple[SignatureReport, ...]

    @property
    def passed(self) -> bool:
        return (
            all(c.passed for c in self.checks)
            and bool(self.signatures)
            and all(s.passed for s in self.signatures)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.document_id,
            "sha256": self.sha256,
            "passed": self.passed,
            "checks": [c.to_json() for c in self.checks],
            "signatures": [s.to_json() for s in self.signatures],
        }


@dataclass(frozen=True)
class VerificationReport:
    """The whole verdict: dossier-level checks plus one entry per document. `late` says the
    application came after the registration deadline: no failure, but a registrar approves."""

    validation_time: datetime
    checks: tuple[Check, ...]
    documents: tuple[DocumentReport, ...] = field(default=())
    late: bool = False

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and all(d.passed for d in self.documents)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        own = [c for c in self.checks if not c.passed]
        for d in self.documents:
            own.extend(c for c in d.checks if not c.passed)
            for s in d.signatures:
                own.extend(c for c in s.checks if not c.passed)
        return tuple(own)

    @property
    def indication(self) -> Indication:
        """The worst indication over all signatures, TOTAL_FAILED when a document check failed."""
        if not self.passed and all(s.passed for d in self.documents for s in d.signatures):
            return Indication.TOTAL_FAILED
        found = [s.indication for d in self.documents for s in d.signatures]
        if Indication.TOTAL_FAILED in found or not found:
            return Indication.TOTAL_FAILED
        if Indication.INDETERMINATE in found:
            return Indication.INDETERMINATE
        return Indication.TOTAL_PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "indication": self.indication.value,
            "validation_time": self.validation_time.isoformat(),
            "late": self.late,
            "checks": [c.to_json() for c in self.checks],
            "documents": [d.to_json() for d in self.documents],
        }

    def to_text(self) -> str:
        """A report for people (the CLI): one line per check, failures marked."""
        lines = [
            f"Verification at {self.validation_time.isoformat()}: "
            f"{'PASSED' if self.passed else 'FAILED'} ({self.indication.value})"
            + (", a late registration" if self.late else "")
        ]
        lines.extend(_check_lines(self.checks, "  "))
        for d in self.documents:
            lines.append(f"  {d.kind} {d.document_id or '?'}: {'ok' if d.passed else 'FAILED'}")
            if d.sha256:
                lines.append(f"    sha256 {d.sha256}")
            lines.extend(_check_lines(d.checks, "    "))
            for s in d.signatures:
                iin, bin_ = s.signer_iin, s.signer_bin
                who = (iin and f"IIN {iin}") or (bin_ and f"BIN {bin_}")
                verdict = s.indication.value + (
                    f"/{s.sub_indication.value}" if s.sub_indication else ""
                )
                lines.append(
                    f"    signature ({s.format}{', ' + s.role if s.role else ''}): {verdict}"
                )
                lines.append(
                    f"      signer {s.signer_subject or '?'}{' (' + who + ')' if who else ''}"
                )
                if s.signer_serial:
                    lines.append(f"      certificate serial {s.signer_serial}")
                if s.signing_time:
                    lines.append(f"      claimed signing time {s.signing_time.isoformat()}")
                lines.append(
                    f"      revocation {s.revocation.state.value} {s.revocation.source}".rstrip()
                )
                lines.extend(_check_lines(s.checks, "      "))
        return "\n".join(lines)


def _check_lines(checks: Iterable[Check], indent: str) -> list[str]:
    return [
        f"{indent}[{'ok' if c.passed else 'FAIL'}] {c.name}{': ' + c.detail if c.detail else ''}"
        for c in checks
    ]
