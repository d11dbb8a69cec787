"""Whole-dossier verification: every check of DESIGN.md "What the registry checks" that needs no
database (duplicates are the registry's). Returns one frozen report; never raises for bad input.

    {"medical_record": {"document": {...}, "signature": {...}},
     "application": {"document": {...}, "signatures": [{...}, ...]}}

Each signature is verified over the RFC 8785 canonical form of its document; the documents' own
field checks live in `signing.medical_record` and `signing.application`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from signing import cms, jws
from signing.application import APPLICATION_TYPE, application_checks
from signing.canonical import canonicalize, parse_json
from signing.errors import CanonicalizationError, SignatureFailure, SigningError
from signing.medical_record import MEDICAL_RECORD_TYPE, born_at, medical_record_checks
from signing.report import (
    INDICATION_OF,
    Check,
    DocumentReport,
    SignatureReport,
    SubIndication,
    VerificationReport,
)
from signing.trust import Purpose, Validator

_FORMAT = SubIndication.FORMAT_FAILURE

#: The largest dossier accepted, in bytes of JSON text (a real one is about 6 KiB).
MAX_DOSSIER_BYTES = 256 * 1024
#: The deepest nesting accepted (a real dossier nests 4 levels).
MAX_DOSSIER_DEPTH = 16
#: Signatures on one application: the mother's and the father's, with room for a witness.
MAX_APPLICATION_SIGNATURES = 4
#: The registration deadline from the birth (Code on marriage and family: three months), when
#: the registry names no other. A later application is late, not refused.
REGISTRATION_DEADLINE = timedelta(days=92)


class DossierError(SigningError):
    """The dossier cannot be read at all (too large, not JSON, too deep)."""

    code = "malformed_dossier"


class DossierTooLarge(DossierError):
    code = "dossier_too_large"


def parse_dossier(data: bytes) -> Any:
    """Parse dossier JSON text strictly within the size and depth limits. Raises DossierError."""
    if len(data) > MAX_DOSSIER_BYTES:
        raise DossierTooLarge(f"the dossier is {len(data)} bytes; at most {MAX_DOSSIER_BYTES}")
    try:
        return parse_json(data, max_depth=MAX_DOSSIER_DEPTH)
    except CanonicalizationError as error:
        raise DossierError(error.detail) from error


def verify_signature(
    signature: Any, content: bytes, *, validator: Validator, moment: datetime,
    purpose: Purpose | None = None, role: str = "",
) -> SignatureReport:
    """A signature object {"format": "cms"|"jws", "value": …} over content → its report.

    Never raises for bad input: a malformed signature object is a FORMAT_FAILURE.
    """
    fmt, value = _member(signature, "format"), _member(signature, "value")
    if fmt not in ("cms", "jws") or not isinstance(value, str) or not value:
        detail = 'format must be "cms" or "jws" with a string value'
        if not isinstance(signature, Mapping):
            detail = "a signature must be an object"
        check = Check("signature_object", False, detail)
        return _failed("?" if fmt is None else str(fmt)[:8], role, _FORMAT, check)
    try:
        if fmt == "jws":
            verified = jws.verify_detached(value, content)
        else:
            try:
                der = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return _failed(fmt, role, _FORMAT, Check("cms_encoding", False, "not base64"))
            verified = cms.verify_detached(der, content)
    except SignatureFailure as failure:
        return _failed(fmt, role, failure.sub_indication, *failure.checks)
    return validator.validate(verified, moment=moment, purpose=purpose, role=role)


def _failed(fmt: str, role: str, sub: SubIndication, *checks: Check) -> SignatureReport:
    return SignatureReport(fmt, INDICATION_OF[sub], sub, checks, role=role)


def verify_dossier(
    dossier: Any, *, validator: Validator, moment: datetime,
    registration_deadline: timedelta = REGISTRATION_DEADLINE,
) -> VerificationReport:
    """Verify a parsed dossier at `moment` (the time of receipt). Never raises for bad input.

    An application received more than `registration_deadline` after the birth is `late` (a
    passed `late_registration` check; `late_reason` fails without a reason), not refused.
    """
    top, medical, application, signatures = _dossier_form(dossier)
    if not medical and not application:
        return VerificationReport(moment, (top,))
    record = medical.get("document")
    record_report = _medical_record_report(record, medical.get("signature"), validator, moment)
    birth = born_at(record) if isinstance(record, Mapping) else None
    late = None
    if birth is not None and moment - birth > registration_deadline:
        days, deadline = (moment - birth).days, registration_deadline.days
        detail = f"received {days} days after the birth, past the {deadline}-day deadline"
        late = Check("late_registration", True, detail)
    app_report = _application_report(
        application.get("document"), signatures, record, record_report, validator, moment, late
    )
    return VerificationReport(moment, (top,), (record_report, app_report), late=late is not None)


def _dossier_form(dossier: Any) -> tuple[Check, Mapping[str, Any], Mapping[str, Any], list[Any]]:
    """The check dossier_form, the two parts and the application's signatures (empty when bad)."""
    if not isinstance(dossier, Mapping):
        return Check("dossier_form", False, "the dossier must be a JSON object"), {}, {}, []
    medical, application = dossier.get("medical_record"), dossier.get("application")
    problems = []
    if not isinstance(medical, Mapping) or "document" not in medical or "signature" not in medical:
        problems.append("medical_record needs document and signature")
        medical = {}
    signatures = application.get("signatures") if isinstance(application, Mapping) else None
    if not isinstance(application, Mapping) or "document" not in application:
        signatures = None
    if not isinstance(application, Mapping) or not isinstance(signatures, list):
        problems.append("application needs document and a list of signatures")
        application, signatures = {}, []
    elif not signatures:
        problems.append("the application carries no signature")
    elif len(signatures) > MAX_APPLICATION_SIGNATURES:
        problems.append(f"at most {MAX_APPLICATION_SIGNATURES} signatures on an application")
        signatures = []
    form = Check("dossier_form", not problems, "; ".join(problems))
    return form, medical, application, signatures


def _canonical(document: Any, kind: str, expected_type: str, checks: list[Check]) -> bytes | None:
    if not isinstance(document, Mapping):
        checks.append(Check("document_form", False, f"the {kind} document must be a JSON object"))
        return None
    if document.get("type") != expected_type:
        checks.append(Check("document_type", False, f'type must be "{expected_type}"'))
        return None
    checks.append(Check("document_type", True, expected_type))
    try:
        content = canonicalize(document)
    except CanonicalizationError as error:
        checks.append(Check("canonical_form", False, error.detail))
        return None
    checks.append(Check("canonical_form", True, f"{len(content)} bytes (RFC 8785)"))
    return content


def _document_report(
    kind: str, document: Any, content: bytes | None, checks: list[Check], signatures: Any
) -> DocumentReport:
    document_id = _member(document, "id")
    return DocumentReport(
        kind,
        document_id[:64] if isinstance(document_id, str) else None,
        None if content is None else hashlib.sha256(content).hexdigest(),
        tuple(checks),
        tuple(signatures),
    )


#: What each binding check says when it holds, and when it does not.
_BINDINGS = {
    "facility_binding": (
        "the seal's BIN is the facility's",
        "the seal's BIN is not the facility's on the record",
    ),
    "medical_record_binding": (
        "the application names this medical record by its SHA-256",
        "the application names another medical record",
    ),
    "mother_binding": (
        "the application's mother is the mother on the medical record",
        "the application's mother is not the mother on the medical record",
    ),
    "mother_signature": (
        "signed with the certificate of the mother on the medical record",
        "no signature by the mother on the medical record",
    ),
    "father_signature": (
        "a joint application signed by the father",
        "a joint application needs the father's signature",
    ),
    "signers_named": (
        "every signer is named on the application",
        "a signature by someone the application does not name",
    ),
}


def _binding(name: str, holds: bool) -> Check:
    return Check(name, holds, _BINDINGS[name][0 if holds else 1])


def _member(value: Any, *keys: str) -> Any:
    """value[keys[0]][keys[1]]…, or None where a step is missing or not an object."""
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _medical_record_report(
    record: Any, signature: Any, validator: Validator, moment: datetime
) -> DocumentReport:
    """The medical record, sealed by the facility."""
    checks: list[Check] = []
    content = _canonical(record, "medical record", MEDICAL_RECORD_TYPE, checks)
    if content is None or not isinstance(record, Mapping):
        return _document_report("medical_record", record, content, checks, ())
    checks.extend(medical_record_checks(record, moment))
    seal = verify_signature(
        signature, content, validator=validator, moment=moment, purpose="organisation",
        role="facility",
    )
    if seal.signer_bin is not None:
        same_bin = seal.signer_bin == _member(record, "facility", "bin")
        checks.append(_binding("facility_binding", same_bin))
    return _document_report("medical_record", record, content, checks, (seal,))


def _application_report(
    document: Any, signatures: list[Any], record: Any, record_report: DocumentReport,
    validator: Validator, moment: datetime, late: Check | None,
) -> DocumentReport:
    """The application, signed by the mother (and the father on a joint application)."""
    checks: list[Check] = []
    content = _canonical(document, "application", APPLICATION_TYPE, checks)
    if content is None or not isinstance(document, Mapping):
        return _document_report("application", document, content, checks, ())
    checks.extend(application_checks(document, late=late is not None))
    checks.extend([late] if late is not None else [])
    record_sha = record_report.sha256
    named = record_sha is not None and document.get("medical_record_sha256") == record_sha
    checks.append(_binding("medical_record_binding", named))
    mother_iin = _member(record, "mother", "iin")
    same_mother = mother_iin is not None and _member(document, "mother", "iin") == mother_iin
    checks.append(_binding("mother_binding", same_mother))
    father_iin = _member(document, "father", "iin")
    reports = []
    for signature in signatures:
        report = verify_signature(
            signature, content, validator=validator, moment=moment, purpose="individual"
        )
        iin = report.signer_iin
        role = "mother" if iin == mother_iin else "father" if iin == father_iin else ""
        reports.append(replace(report, role=role if iin is not None else ""))
    signed_by = {report.role for report in reports if report.signer_iin is not None}
    checks.append(_binding("mother_signature", "mother" in signed_by))
    if _member(document, "father", "basis") == "joint_application":
        checks.append(_binding("father_signature", "father" in signed_by))
    strangers = [r for r in reports if r.signer_iin is not None and not r.role]
    checks.append(_binding("signers_named", not strangers))
    return _document_report("application", document, content, checks, reports)
