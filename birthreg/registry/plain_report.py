"""The verification report in plain words: labels and explanations a clerk reads.

The same view serves a stored dossier's page and the check page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from babel.support import LazyProxy
from cryptography import x509

from birthreg import i18n
from birthreg.i18n import gettext, lazy_gettext
from birthreg.registry.signer_names import person_name, signer_label

#: What each check looks at, said for people (unknown names are shown as they are).
CHECK_LABELS: Final[dict[str, LazyProxy]] = {
    "dossier_form": lazy_gettext("The dossier has a medical record and a signed application"),
    "document_form": lazy_gettext("The document is a JSON object"),
    "document_type": lazy_gettext("The document is of the expected type"),
    "canonical_form": lazy_gettext("The document has a canonical form (RFC 8785)"),
    "document_fields": lazy_gettext("Every required field is present and well formed"),
    "identity_numbers": lazy_gettext("IIN and BIN check digits are valid"),
    "names": lazy_gettext("Names use Kazakh, Russian or Latin letters"),
    "business_rules": lazy_gettext("Dates, plurality and birth order are consistent"),
    "facility_binding": lazy_gettext("The seal belongs to the facility named on the record"),
    "medical_record_binding": lazy_gettext("The application names this medical record"),
    "mother_binding": lazy_gettext("The application's mother is the mother on the record"),
    "mother_signature": lazy_gettext("The mother signed the application"),
    "father_signature": lazy_gettext("The father signed the joint application"),
    "signers_named": lazy_gettext("Every signer is named on the application"),
    "signature_object": lazy_gettext("The signature is in a known format"),
    "cms_encoding": lazy_gettext("The signature's encoding is readable"),
    "cms.der": lazy_gettext("The signature's encoding is readable"),
    "cms.content_type": lazy_gettext("The signature's structure is as expected"),
    "cms.version": lazy_gettext("The signature's structure is as expected"),
    "cms.signer_count": lazy_gettext("The signature has exactly one signer"),
    "cms.detached": lazy_gettext("The signature is detached from the document"),
    "cms.econtent_type": lazy_gettext("The signature's structure is as expected"),
    "cms.digest_algorithm": lazy_gettext("The hash algorithm is allowed"),
    "cms.signature_algorithm": lazy_gettext("The signature algorithm is allowed"),
    "cms.signer_certificate": lazy_gettext("The signer's certificate is in the signature"),
    "cms.certificates": lazy_gettext("The certificates in the signature are readable"),
    "cms.signer_key": lazy_gettext("The signer's key is of an allowed kind and size"),
    "cms.signed_attributes": lazy_gettext("The signed attributes are as expected"),
    "cms.message_digest": lazy_gettext("The document is exactly what was signed"),
    "cms.signing_time": lazy_gettext("The claimed signing time is readable"),
    "cms.signing_certificate": lazy_gettext("The signature names its certificate"),
    "cms.signature": lazy_gettext("The signature matches the document and the signer's key"),
    "jws.compact": lazy_gettext("The signature's encoding is readable"),
    "jws.header": lazy_gettext("The signature's header is readable"),
    "jws.parameters": lazy_gettext("The signature's header is as expected"),
    "jws.alg": lazy_gettext("The signature algorithm is allowed"),
    "jws.x5c": lazy_gettext("The signer's certificate is in the signature"),
    "jws.sigT": lazy_gettext("The claimed signing time is readable"),
    "jws.signer_key": lazy_gettext("The signer's key is of an allowed kind and size"),
    "jws.signature": lazy_gettext("The signature matches the document and the signer's key"),
    "certificate_chain": lazy_gettext("The certificate comes from a trusted TEST CA"),
    "signer_not_ca": lazy_gettext("The certificate is a person's or a facility's, not a CA's"),
    "signer_key": lazy_gettext("The signer's key is of an allowed kind and size"),
    "key_usage": lazy_gettext("The certificate may be used for signing"),
    "extended_key_usage": lazy_gettext("The certificate may be used for documents"),
    "certificate_policy": lazy_gettext("The certificate has the right TEST policy"),
    "signer_identity": lazy_gettext("The certificate names the signer's IIN or BIN"),
    "validity_period": lazy_gettext("The certificate was valid at the time of receipt"),
    "signing_time": lazy_gettext("The claimed signing time is plausible"),
    "revocation": lazy_gettext("The certificate is not revoked"),
    "signer_certificate": lazy_gettext("The signer's certificate is in the signature"),
    "late_registration": lazy_gettext("The application came after the registration deadline"),
    "late_reason": lazy_gettext("The parent gives the reason for the late application"),
}

#: What a failed dossier-level check means, where "✗ <what it looks at>" would read awkwardly.
FAILED_LABELS: Final[dict[str, LazyProxy]] = {
    "facility_binding": lazy_gettext("The seal is not the facility's named on the record"),
    "medical_record_binding": lazy_gettext("The application names another medical record"),
    "mother_binding": lazy_gettext("The application's mother is not the mother on the record"),
    "mother_signature": lazy_gettext("The mother on the record has not signed the application"),
    "father_signature": lazy_gettext("A joint application needs the father's signature"),
    "signers_named": lazy_gettext("Someone the application does not name signed it"),
    "late_reason": lazy_gettext("The late application gives no reason for being late"),
}

DOCUMENT_LABELS: Final[dict[str, LazyProxy]] = {
    "medical_record": lazy_gettext("Medical birth record"),
    "application": lazy_gettext("Registration application"),
}

ROLE_LABELS: Final[dict[str, LazyProxy]] = {
    "facility": lazy_gettext("Facility seal"),
    "mother": lazy_gettext("Mother"),
    "father": lazy_gettext("Father"),
}

INDICATION_LABELS: Final[dict[str, LazyProxy]] = {
    "TOTAL_PASSED": lazy_gettext("Valid"),
    "TOTAL_FAILED": lazy_gettext("Failed"),
    "INDETERMINATE": lazy_gettext("Indeterminate"),
}

#: RFC 5280 revocation reasons, as the report names them.
REVOCATION_REASONS: Final[dict[str, LazyProxy]] = {
    "unspecified": lazy_gettext("no reason given"),
    "key_compromise": lazy_gettext("key compromised"),
    "ca_compromise": lazy_gettext("CA compromised"),
    "affiliation_changed": lazy_gettext("affiliation changed"),
    "superseded": lazy_gettext("superseded"),
    "cessation_of_operation": lazy_gettext("no longer used"),
    "certificate_hold": lazy_gettext("on hold"),
    "privilege_withdrawn": lazy_gettext("privilege withdrawn"),
}

#: What each ETSI sub-indication means, for a clerk (`%(date)s` where the report gives a time).
SUB_INDICATIONS: Final[dict[str, LazyProxy]] = {
    "FORMAT_FAILURE": lazy_gettext("The signature is damaged or not in a form the registry reads."),
    "HASH_FAILURE": lazy_gettext(
        "The document was changed after signing: it is not what was signed."
    ),
    "SIG_CRYPTO_FAILURE": lazy_gettext(
        "The signature does not match the document and the signer's key: it is forged or broken."
    ),
    "REVOKED": lazy_gettext("The certificate was revoked."),
    "EXPIRED": lazy_gettext("The certificate had expired."),
    "NOT_YET_VALID": lazy_gettext("The certificate was not yet valid."),
    "SIG_CONSTRAINTS_FAILURE": lazy_gettext(
        "The claimed signing time is outside the certificate's validity or in the future."
    ),
    "CHAIN_CONSTRAINTS_FAILURE": lazy_gettext(
        "The certificate is not meant for signing this document (its usage, policy or "
        "identity is wrong)."
    ),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": lazy_gettext(
        "The certificate's status could not be established: the CA does not know it, or it "
        "names no revocation service."
    ),
    "CRYPTO_CONSTRAINTS_FAILURE": lazy_gettext(
        "The signature uses an algorithm or a key size that is not allowed."
    ),
    "NO_SIGNING_CERTIFICATE_FOUND": lazy_gettext("The signature carries no signer certificate."),
    "NO_CERTIFICATE_CHAIN_FOUND": lazy_gettext(
        "The certificate does not come from a certification authority the registry trusts."
    ),
    "REVOKED_NO_POE": lazy_gettext(
        "The certificate was revoked; the signature claims an earlier time, but nothing proves it."
    ),
    "OUT_OF_BOUNDS_NO_POE": lazy_gettext(
        "The certificate had expired, and nothing proves the signature was made before."
    ),
    "TRY_LATER": lazy_gettext(
        "The revocation status could not be checked just now: try again later."
    ),
    "SIGNED_DATA_NOT_FOUND": lazy_gettext("The signed document was not found."),
    "GENERIC": lazy_gettext("The signature could not be verified."),
}
#: The same, with the moment the report gives.
SUB_INDICATIONS_AT: Final[dict[str, LazyProxy]] = {
    "REVOKED": lazy_gettext("The certificate was revoked on %(date)s (%(reason)s)."),
    "REVOKED_NO_POE": lazy_gettext(
        "The certificate was revoked on %(date)s (%(reason)s); the signature claims an earlier "
        "time, but nothing proves it."
    ),
    "EXPIRED": lazy_gettext("The certificate expired on %(date)s."),
    "OUT_OF_BOUNDS_NO_POE": lazy_gettext(
        "The certificate expired on %(date)s, and nothing proves the signature was made before."
    ),
    "NOT_YET_VALID": lazy_gettext("The certificate is valid only from %(date)s."),
}


def _subject(rfc4514: str) -> dict[str, str]:
    """The parts of a certificate subject a clerk reads: name, organisation, IIN/BIN."""
    try:
        name = x509.Name.from_rfc4514_string(rfc4514)
    except ValueError:
        return {"name": rfc4514}
    parts: dict[str, str] = {}
    for key, oid in (
        ("name", x509.NameOID.COMMON_NAME),
        ("organisation", x509.NameOID.ORGANIZATION_NAME),
    ):
        values = name.get_attributes_for_oid(oid)
        if values:
            parts[key] = str(values[0].value)
    return parts or {"name": rfc4514}


def _explanation(signature: Mapping[str, Any]) -> str:
    sub = signature.get("sub_indication")
    if not sub:
        return ""
    revocation = signature.get("revocation") or {}
    chain = signature.get("chain") or []
    leaf = chain[0] if chain else {}
    moment: datetime | None = None
    if sub in ("REVOKED", "REVOKED_NO_POE"):
        moment = moment_of(revocation.get("revoked_at"))
    elif sub in ("EXPIRED", "OUT_OF_BOUNDS_NO_POE"):
        moment = moment_of(leaf.get("not_after"))
    elif sub == "NOT_YET_VALID":
        moment = moment_of(leaf.get("not_before"))
    if moment is not None and sub in SUB_INDICATIONS_AT:
        reason = str(revocation.get("reason") or "unspecified")
        return str(SUB_INDICATIONS_AT[sub]) % {
            "date": i18n.format_datetime(moment, "short"),
            "reason": str(REVOCATION_REASONS.get(reason, reason)),
        }
    return str(SUB_INDICATIONS.get(sub, SUB_INDICATIONS["GENERIC"]))


def _label(name: str, passed: bool) -> str:
    """What a check says: its own sentence when it failed and has one, else what it looks at."""
    if not passed and name in FAILED_LABELS:
        return str(FAILED_LABELS[name])
    return str(CHECK_LABELS.get(name, lazy_gettext("Another check")))


def _checks(checks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": str(check.get("name", "")),
            "label": _label(str(check.get("name", "")), bool(check.get("passed"))),
            "passed": bool(check.get("passed")),
            "detail": str(check.get("detail", "")),
        }
        for check in checks
    ]


def _revocation(revocation: Mapping[str, Any]) -> str:
    state = revocation.get("state")
    source = str(revocation.get("source") or "")
    kind = "OCSP" if source.lower().startswith("ocsp") else "CRL"
    if state == "good":
        return gettext("Not revoked (checked with the CA's %(kind)s).") % {"kind": kind}
    if state == "revoked":
        at = moment_of(revocation.get("revoked_at"))
        reason = str(revocation.get("reason") or "unspecified")
        return gettext("Revoked on %(date)s (%(reason)s).") % {
            "date": i18n.format_datetime(at, "short") if at else "?",
            "reason": str(REVOCATION_REASONS.get(reason, reason)),
        }
    if state == "unknown":
        return gettext("The CA does not know this certificate.")
    return gettext("Not checked.")


def signature_view(signature: Mapping[str, Any]) -> dict[str, Any]:
    """One signature's report for people: who, with which certificate, the verdict and why."""
    signer = signature.get("signer") or {}
    chain = [entry for entry in signature.get("chain") or [] if isinstance(entry, Mapping)]
    leaf = chain[0] if chain else {}
    issuer = _subject(str(chain[1].get("subject", ""))) if len(chain) > 1 else {}
    role = str(signature.get("role") or "")
    indication = str(signature.get("indication") or "TOTAL_FAILED")
    name = person_name(str(signer.get("subject") or ""))
    return {
        "signer_name": name,
        "signer_label": signer_label(name, role),
        "format": str(signature.get("format") or "").upper(),
        "role": role,
        "role_label": str(ROLE_LABELS.get(role, lazy_gettext("Signer not named on the dossier"))),
        "subject": _subject(str(signer.get("subject"))) if signer.get("subject") else {},
        "iin": signer.get("iin"),
        "bin": signer.get("bin"),
        "serial": signer.get("serial"),
        "issuer": issuer.get("name") or issuer.get("organisation") or "",
        "not_before": moment_of(leaf.get("not_before")),
        "not_after": moment_of(leaf.get("not_after")),
        "signing_time": moment_of(signature.get("signing_time")),
        "algorithm": str(signature.get("algorithm") or ""),
        "indication": indication,
        "indication_label": str(INDICATION_LABELS.get(indication, indication)),
        "badge": {"TOTAL_PASSED": "registered", "INDETERMINATE": "locked"}.get(
            indication, "revoked"
        ),
        "sub_indication": signature.get("sub_indication"),
        "explanation": _explanation(signature),
        "revocation": _revocation(signature.get("revocation") or {}),
        "checks": _checks(signature.get("checks") or []),
    }


def report_view(report: Mapping[str, Any]) -> dict[str, Any]:
    """The whole report for the template (the same for stored dossiers and the check page)."""
    documents = []
    for document in report.get("documents") or []:
        kind = str(document.get("kind", ""))
        documents.append(
            {
                "kind": kind,
                "label": str(DOCUMENT_LABELS.get(kind, kind)),
                "id": document.get("id"),
                "sha256": document.get("sha256"),
                "passed": bool(document.get("passed")),
                "checks": _checks(document.get("checks") or []),
                "signatures": [signature_view(s) for s in document.get("signatures") or []],
            }
        )
    indication = str(report.get("indication") or "TOTAL_FAILED")
    return {
        "passed": bool(report.get("passed")),
        "indication": indication,
        "indication_label": str(INDICATION_LABELS.get(indication, indication)),
        "validation_time": moment_of(report.get("validation_time")),
        "checks": _checks(report.get("checks") or []),
        "documents": documents,
    }


def moment_of(value: Any) -> datetime | None:
    """An aware datetime from the report's ISO text, or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
