"""Whole-dossier verification: every check of DESIGN.md "What the registry checks" that needs no
database (duplicates are the registry's). Returns one frozen report; never raises for bad input.

The dossier (version 1):

    {"medical_record": {"document": {...}, "signature": {...}},
     "application": {"document": {...}, "signatures": [{...}, ...]}}

What is signed is the RFC 8785 canonical form of each document; the signatures are verified over
exactly those bytes, so a document that was altered after signing fails its signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from signing import cms, jws
from signing.canonical import canonicalize, parse_json
from signing.errors import CanonicalizationError, SignatureFailure, SigningError
from signing.identity import validate_bin, validate_iin
from signing.names import validate_person_name
from signing.report import (
    INDICATION_OF,
    Check,
    DocumentReport,
    Indication,
    SignatureReport,
    SubIndication,
    VerificationReport,
)
from signing.trust import Purpose, Validator

MEDICAL_RECORD_TYPE = "birthreg.medical-record/1"
APPLICATION_TYPE = "birthreg.application/1"

#: The largest dossier accepted, in bytes of JSON text (a real one is about 6 KiB).
MAX_DOSSIER_BYTES = 256 * 1024
#: The deepest nesting accepted (a real dossier nests 4 levels).
MAX_DOSSIER_DEPTH = 16
#: Signatures on one application: the mother's and the father's, with room for a witness.
MAX_APPLICATION_SIGNATURES = 4
#: Tolerated difference between the ward's clock and ours.
CLOCK_SKEW = timedelta(minutes=5)
#: A birth is recorded by the ward within this time of the birth.
MAX_RECORDING_DELAY = timedelta(days=30)
#: Registration deadline from the birth (Code on marriage and family: three months).
REGISTRATION_DEADLINE = timedelta(days=92)

WEIGHT_RANGE_G = (300, 7000)
LENGTH_RANGE_CM = (20, 70)
MAX_PLURALITY = 8

_HEX64 = re.compile(r"[0-9a-f]{64}")


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


# -- one signature --------------------------------------------------------------------------


def _failed_signature(
    fmt: str, role: str, sub: SubIndication, checks: tuple[Check, ...]
) -> SignatureReport:
    return SignatureReport(
        format=fmt, indication=INDICATION_OF[sub], sub_indication=sub, checks=checks, role=role
    )


def verify_signature(
    signature: Any,
    content: bytes,
    *,
    validator: Validator,
    moment: datetime,
    purpose: Purpose | None = None,
    role: str = "",
) -> SignatureReport:
    """A signature object {"format": "cms"|"jws", "value": …} over content → its report."""
    if not isinstance(signature, Mapping):
        return _failed_signature(
            "?",
            role,
            SubIndication.FORMAT_FAILURE,
            (Check("signature_object", False, "a signature must be an object"),),
        )
    fmt = signature.get("format")
    value = signature.get("value")
    if fmt not in ("cms", "jws") or not isinstance(value, str) or not value:
        return _failed_signature(
            str(fmt)[:8],
            role,
            SubIndication.FORMAT_FAILURE,
            (
                Check(
                    "signature_object", False, 'format must be "cms" or "jws" with a string value'
                ),
            ),
        )
    try:
        if fmt == "cms":
            try:
                der = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as error:
                raise SignatureFailure(
                    SubIndication.FORMAT_FAILURE,
                    "the CMS value is not base64",
                    (Check("cms_encoding", False, "the CMS value is not base64"),),
                ) from error
            verified = cms.verify_detached(der, content)
        else:
            verified = jws.verify_detached(value, content)
    except SignatureFailure as failure:
        return _failed_signature(fmt, role, failure.sub_indication, failure.checks)
    return validator.validate(verified, moment=moment, purpose=purpose, role=role)


# -- field checks -----------------------------------------------------------------------------


class _Fields:
    """Collects named checks over one document's fields."""

    def __init__(self) -> None:
        self.problems: dict[str, list[str]] = {}

    def problem(self, check: str, detail: str) -> None:
        self.problems.setdefault(check, []).append(detail)

    def object(self, document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = document.get(key)
        if not isinstance(value, Mapping):
            self.problem("document_fields", f"{key} must be an object")
            return {}
        return value

    def string(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        *,
        optional: bool = False,
        max_length: int = 200,
    ) -> str | None:
        value = obj.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            self.problem(
                "document_fields",
                f"{path}.{key} must be a non-empty string of at most {max_length} characters",
            )
            return None
        return value

    def integer(
        self, obj: Mapping[str, Any], key: str, path: str, low: int, high: int
    ) -> int | None:
        value = obj.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem("document_fields", f"{path}.{key} must be an integer")
            return None
        if not low <= value <= high:
            self.problem("business_rules", f"{path}.{key} must be between {low} and {high}")
            return None
        return value

    def time(self, obj: Mapping[str, Any], key: str, path: str) -> datetime | None:
        value = obj.get(key)
        try:
            if not isinstance(value, str) or "T" not in value:
                raise ValueError
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.problem("document_fields", f"{path}.{key} must be an RFC 3339 time")
            return None
        if parsed.tzinfo is None:
            self.problem("document_fields", f"{path}.{key} must carry a UTC offset")
            return None
        return parsed

    def identifier(self, obj: Mapping[str, Any], key: str, path: str) -> None:
        value = obj.get(key)
        try:
            if not isinstance(value, str):
                raise ValueError
            uuid.UUID(value)
        except ValueError:
            self.problem("document_fields", f"{path}.{key} must be a UUID")

    def number(self, value: str | None, path: str, validate: Callable[[str], None]) -> None:
        if value is None:
            return
        try:
            validate(value)
        except SigningError as error:
            self.problem("identity_numbers", f"{path}: {error.detail}")

    def name(self, value: str | None, path: str) -> None:
        if value is None:
            return
        try:
            validate_person_name(value, field=path)
        except SigningError as error:
            self.problem("names", f"{path}: {error.detail}")

    def checks(self, names: tuple[str, ...]) -> list[Check]:
        return [
            Check(name, name not in self.problems, "; ".join(self.problems.get(name, [])))
            for name in names
        ]


_FIELD_CHECKS = ("document_fields", "identity_numbers", "names", "business_rules")


def _person(
    fields: _Fields, obj: Mapping[str, Any], path: str, *, names_required: bool
) -> str | None:
    iin = fields.string(obj, "iin", path)
    fields.number(iin, f"{path}.iin", validate_iin)
    if names_required:
        fields.name(fields.string(obj, "surname", path), f"{path}.surname")
        fields.name(fields.string(obj, "given_name", path), f"{path}.given_name")
        fields.name(fields.string(obj, "patronymic", path, optional=True), f"{path}.patronymic")
    return iin


def _medical_record_checks(record: Mapping[str, Any], moment: datetime) -> list[Check]:
    fields = _Fields()
    fields.identifier(record, "id", "medical_record")
    facility = fields.object(record, "facility")
    fields.number(fields.string(facility, "bin", "facility"), "facility.bin", validate_bin)
    fields.string(facility, "name", "facility")
    _person(fields, fields.object(record, "mother"), "mother", names_required=True)
    child = fields.object(record, "child")
    if child.get("sex") not in ("F", "M"):
        fields.problem("document_fields", 'child.sex must be "F" or "M"')
    born_at = fields.time(child, "born_at", "child")
    fields.integer(child, "weight_g", "child", *WEIGHT_RANGE_G)
    fields.integer(child, "length_cm", "child", *LENGTH_RANGE_CM)
    plurality = fields.integer(child, "plurality", "child", 1, MAX_PLURALITY)
    order = fields.integer(child, "birth_order", "child", 1, MAX_PLURALITY)
    if plurality is not None and order is not None and order > plurality:
        fields.problem("business_rules", "child.birth_order is greater than child.plurality")
    fields.string(record, "attendant", "medical_record")
    recorded_at = fields.time(record, "recorded_at", "medical_record")
    if born_at is not None:
        if born_at > moment + CLOCK_SKEW:
            fields.problem("business_rules", "the birth is in the future")
        if moment - born_at > REGISTRATION_DEADLINE:
            fields.problem(
                "business_rules",
                f"the registration deadline ({REGISTRATION_DEADLINE.days} days"
                " from the birth) has passed",
            )
    if recorded_at is not None:
        if recorded_at > moment + CLOCK_SKEW:
            fields.problem("business_rules", "the record is dated in the future")
        if born_at is not None and not born_at <= recorded_at + CLOCK_SKEW:
            fields.problem("business_rules", "the record was made before the birth")
        if born_at is not None and recorded_at - born_at > MAX_RECORDING_DELAY:
            fields.problem(
                "business_rules", "the record was made more than 30 days after the birth"
            )
    return fields.checks(_FIELD_CHECKS)


def _application_checks(application: Mapping[str, Any]) -> list[Check]:
    fields = _Fields()
    fields.identifier(application, "id", "application")
    if not isinstance(application.get("medical_record_sha256"), str) or not _HEX64.fullmatch(
        application["medical_record_sha256"]
    ):
        fields.problem("document_fields", "medical_record_sha256 must be 64 lowercase hex digits")
    child = fields.object(application, "child")
    fields.name(fields.string(child, "surname", "child"), "child.surname")
    fields.name(fields.string(child, "given_name", "child"), "child.given_name")
    fields.name(fields.string(child, "patronymic", "child", optional=True), "child.patronymic")
    mother_iin = _person(
        fields, fields.object(application, "mother"), "mother", names_required=False
    )
    father = application.get("father")
    if father is not None:
        if not isinstance(father, Mapping):
            fields.problem("document_fields", "father must be null or an object")
        else:
            father_iin = _person(fields, father, "father", names_required=True)
            if father.get("basis") not in ("marriage", "joint_application"):
                fields.problem(
                    "document_fields", 'father.basis must be "marriage" or "joint_application"'
                )
            if father_iin is not None and father_iin == mother_iin:
                fields.problem("business_rules", "the father's IIN is the mother's")
    address = fields.object(application, "address")
    for key in ("region", "locality", "street", "building"):
        fields.string(address, key, "address")
    fields.string(address, "flat", "address", optional=True)
    contact = fields.object(application, "contact")
    phone = fields.string(contact, "phone", "contact", optional=True, max_length=32)
    email = fields.string(contact, "email", "contact", optional=True, max_length=254)
    if phone is not None and not re.fullmatch(r"\+?[0-9 ()-]{6,20}", phone):
        fields.problem("document_fields", "contact.phone is not a phone number")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        fields.problem("document_fields", "contact.email is not an e-mail address")
    if phone is None and email is None:
        fields.problem("document_fields", "contact needs a phone or an e-mail")
    if application.get("language") not in ("kk", "ru", "en"):
        fields.problem("document_fields", 'language must be "kk", "ru" or "en"')
    return fields.checks(_FIELD_CHECKS)


# -- documents --------------------------------------------------------------------------------


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


def _sha256(content: bytes | None) -> str | None:
    if content is None:
        return None
    return hashlib.sha256(content).hexdigest()


def _document_id(document: Any) -> str | None:
    if isinstance(document, Mapping) and isinstance(document.get("id"), str):
        return str(document["id"])[:64]
    return None


def verify_dossier(dossier: Any, *, validator: Validator, moment: datetime) -> VerificationReport:
    """Verify a parsed dossier at `moment` (the time of receipt). Never raises for bad input."""
    top: list[Check] = []
    if not isinstance(dossier, Mapping):
        top.append(Check("dossier_form", False, "the dossier must be a JSON object"))
        return VerificationReport(moment, tuple(top))
    medical = dossier.get("medical_record")
    application = dossier.get("application")
    form_problems = []
    if not isinstance(medical, Mapping) or "document" not in medical or "signature" not in medical:
        form_problems.append("medical_record needs document and signature")
        medical = {}
    signatures = application.get("signatures") if isinstance(application, Mapping) else None
    if (
        not isinstance(application, Mapping)
        or "document" not in application
        or not isinstance(signatures, list)
    ):
        form_problems.append("application needs document and a list of signatures")
        application, signatures = {}, []
    elif not signatures:
        form_problems.append("the application carries no signature")
    elif len(signatures) > MAX_APPLICATION_SIGNATURES:
        form_problems.append(f"at most {MAX_APPLICATION_SIGNATURES} signatures on an application")
        signatures = []
    top.append(Check("dossier_form", not form_problems, "; ".join(form_problems)))
    if form_problems and not medical and not application:
        return VerificationReport(moment, tuple(top))

    # The medical record, sealed by the facility.
    record = medical.get("document")
    record_checks: list[Check] = []
    record_content = _canonical(record, "medical record", MEDICAL_RECORD_TYPE, record_checks)
    record_signatures: tuple[SignatureReport, ...] = ()
    if record_content is not None and isinstance(record, Mapping):
        record_checks.extend(_medical_record_checks(record, moment))
        seal = verify_signature(
            medical.get("signature"),
            record_content,
            validator=validator,
            moment=moment,
            purpose="organisation",
            role="facility",
        )
        record_signatures = (seal,)
        facility = record.get("facility")
        facility_bin = facility.get("bin") if isinstance(facility, Mapping) else None
        if seal.signer_bin is not None:
            record_checks.append(
                Check(
                    "facility_binding",
                    seal.signer_bin == facility_bin,
                    "the seal's BIN is the facility's"
                    if seal.signer_bin == facility_bin
                    else "the seal's BIN is not the facility's on the record",
                )
            )
    record_report = DocumentReport(
        "medical_record",
        _document_id(record),
        _sha256(record_content),
        tuple(record_checks),
        record_signatures,
    )

    # The application, signed by the mother (and the father on a joint application).
    document = application.get("document")
    app_checks: list[Check] = []
    app_content = _canonical(document, "application", APPLICATION_TYPE, app_checks)
    app_signatures: list[SignatureReport] = []
    if app_content is not None and isinstance(document, Mapping):
        app_checks.extend(_application_checks(document))
        record_sha = record_report.sha256
        app_checks.append(
            Check(
                "medical_record_binding",
                record_sha is not None and document.get("medical_record_sha256") == record_sha,
                "the application names this medical record by its SHA-256"
                if record_sha is not None and document.get("medical_record_sha256") == record_sha
                else "the application names another medical record",
            )
        )
        record_mother = record.get("mother") if isinstance(record, Mapping) else None
        mother_iin = record_mother.get("iin") if isinstance(record_mother, Mapping) else None
        app_mother = document.get("mother")
        app_mother_iin = app_mother.get("iin") if isinstance(app_mother, Mapping) else None
        app_checks.append(
            Check(
                "mother_binding",
                mother_iin is not None and app_mother_iin == mother_iin,
                "the application's mother is the mother on the medical record"
                if mother_iin is not None and app_mother_iin == mother_iin
                else "the application's mother is not the mother on the medical record",
            )
        )
        father = document.get("father")
        father_iin = father.get("iin") if isinstance(father, Mapping) else None
        joint = isinstance(father, Mapping) and father.get("basis") == "joint_application"
        for signature in signatures:
            report = verify_signature(
                signature,
                app_content,
                validator=validator,
                moment=moment,
                purpose="individual",
            )
            role = (
                "mother"
                if mother_iin is not None and report.signer_iin == mother_iin
                else "father"
                if father_iin is not None and report.signer_iin == father_iin
                else ""
            )
            report = _with_role(report, role)
            app_signatures.append(report)
        signed_by = {s.role for s in app_signatures if s.signer_iin is not None}
        strangers = [s for s in app_signatures if s.signer_iin is not None and not s.role]
        app_checks.append(
            Check(
                "mother_signature",
                "mother" in signed_by,
                "signed with the certificate of the mother on the medical record"
                if "mother" in signed_by
                else "no signature by the mother on the medical record",
            )
        )
        if joint:
            app_checks.append(
                Check(
                    "father_signature",
                    "father" in signed_by,
                    "a joint application signed by the father"
                    if "father" in signed_by
                    else "a joint application needs the father's signature",
                )
            )
        app_checks.append(
            Check(
                "signers_named",
                not strangers,
                "every signer is named on the application"
                if not strangers
                else "a signature by someone the application does not name",
            )
        )
    app_report = DocumentReport(
        "application",
        _document_id(document),
        _sha256(app_content),
        tuple(app_checks),
        tuple(app_signatures),
    )
    return VerificationReport(moment, tuple(top), (record_report, app_report))


def _with_role(report: SignatureReport, role: str) -> SignatureReport:
    return report if report.role == role else replace(report, role=role)


__all__ = [
    "APPLICATION_TYPE",
    "MAX_DOSSIER_BYTES",
    "MEDICAL_RECORD_TYPE",
    "DossierError",
    "DossierTooLarge",
    "Indication",
    "parse_dossier",
    "verify_dossier",
    "verify_signature",
]
