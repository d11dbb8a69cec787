"""The clerk's pages: the queue, a dossier with its verification report in plain words, register
and reject, and a check of a dossier that stores nothing; and the certificate's printable page
(its holder's: anyone with the certificate's unguessable id).

Thin routes over `birthreg.registry.service`, the same functions the JSON API calls. Forms carry
the session's CSRF token (checked by `ClerkStaff` before a route runs). A refusal from the service
is shown on the page it came from, translated, with the service's status; nothing is changed then
(the session is rolled back before the page is rendered).

Flashes after a redirect are a fixed message *key* in the query (`?flash=registered`): no personal
data in URLs, and a forged link can only show one of our own sentences.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from babel.support import LazyProxy
from cryptography import x509
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from birthreg import i18n
from birthreg.auth import ClerkStaff, actor_of
from birthreg.dates import InvalidDate, parse_day
from birthreg.db import SessionDep
from birthreg.errors import DomainError
from birthreg.i18n import gettext, lazy_gettext
from birthreg.models import StaffUser, SubmissionStatus, now
from birthreg.registry import service
from birthreg.registry.certificate import get_certificate
from birthreg.registry.certificate_pdf import render_certificate_html
from birthreg.registry.schemas import MAX_REASON_LENGTH, RejectRequest, SubmissionDetail
from signing.dossier import (
    MAX_DOSSIER_BYTES,
    DossierError,
    DossierTooLarge,
    parse_dossier,
    verify_dossier,
)

router = APIRouter(prefix="/registry", include_in_schema=False)

NO_STORE: Final = {"Cache-Control": "no-store"}
_BIN: Final = re.compile(r"^[0-9]{12}$")

#: Messages after a redirect, by the key in `?flash=`.
FLASHES: Final[dict[str, LazyProxy]] = {
    "registered": lazy_gettext("The birth is registered and the certificate is issued."),
    "rejected": lazy_gettext("The dossier is rejected. The mother will read your reason."),
}

#: What people read for a refusal, by its machine code.
MESSAGES: Final[dict[str, LazyProxy]] = {
    "submission_not_found": lazy_gettext("There is no such dossier."),
    "invalid_state": lazy_gettext(
        "This dossier has been decided already, or its birth is registered through another "
        "dossier: it cannot be registered or rejected now."
    ),
    "iin_range_exhausted": lazy_gettext(
        "No child IIN is left for this date of birth. Tell the service administrator."
    ),
    "invalid_cursor": lazy_gettext(
        "This page link is not valid any more: start from the first page."
    ),
    "not_confirmed": lazy_gettext("Tick the box to confirm that you have checked the dossier."),
    "reason_required": lazy_gettext("Write the reason: the mother will read it."),
    "reason_too_long": lazy_gettext("The reason may have at most %(max)s characters."),
    "reason_not_plain": lazy_gettext("Write the reason as plain text."),
    "invalid_bin": lazy_gettext("A BIN has 12 digits."),
    "invalid_date": lazy_gettext("Enter a date."),
    "invalid_status": lazy_gettext("Choose a status from the list."),
    "dossier_required": lazy_gettext("Paste the dossier's JSON or choose its file."),
    "dossier_too_large": lazy_gettext("A dossier may have at most %(kib)s KiB."),
    "malformed_dossier": lazy_gettext(
        "This is not a dossier the registry can read: it must be a JSON object (UTF-8)."
    ),
}

# -- plain words for the verification report ------------------------------------------------------

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


def message_for(code: str) -> str:
    """The translated sentence for a refusal by its machine code."""
    if code == "reason_too_long":
        return gettext("The reason may have at most %(max)s characters.") % {
            "max": MAX_REASON_LENGTH
        }
    if code == "dossier_too_large":
        return gettext("A dossier may have at most %(kib)s KiB.") % {
            "kib": MAX_DOSSIER_BYTES // 1024
        }
    message = MESSAGES.get(code)
    if message is not None:
        return str(message)
    return gettext("This could not be done (%(code)s).") % {"code": code}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


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
        moment = _time(revocation.get("revoked_at"))
    elif sub in ("EXPIRED", "OUT_OF_BOUNDS_NO_POE"):
        moment = _time(leaf.get("not_after"))
    elif sub == "NOT_YET_VALID":
        moment = _time(leaf.get("not_before"))
    if moment is not None and sub in SUB_INDICATIONS_AT:
        reason = str(revocation.get("reason") or "unspecified")
        return str(SUB_INDICATIONS_AT[sub]) % {
            "date": i18n.format_datetime(moment, "short"),
            "reason": str(REVOCATION_REASONS.get(reason, reason)),
        }
    return str(SUB_INDICATIONS.get(sub, SUB_INDICATIONS["GENERIC"]))


def _checks(checks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": str(check.get("name", "")),
            "label": str(CHECK_LABELS.get(str(check.get("name", "")), check.get("name", ""))),
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
        at = _time(revocation.get("revoked_at"))
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
    return {
        "format": str(signature.get("format") or "").upper(),
        "role": role,
        "role_label": str(ROLE_LABELS.get(role, lazy_gettext("Signer not named on the dossier"))),
        "subject": _subject(str(signer.get("subject"))) if signer.get("subject") else {},
        "iin": signer.get("iin"),
        "bin": signer.get("bin"),
        "serial": signer.get("serial"),
        "issuer": issuer.get("name") or issuer.get("organisation") or "",
        "not_before": _time(leaf.get("not_before")),
        "not_after": _time(leaf.get("not_after")),
        "signing_time": _time(signature.get("signing_time")),
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
        "validation_time": _time(report.get("validation_time")),
        "checks": _checks(report.get("checks") or []),
        "documents": documents,
    }


# -- rendering ----------------------------------------------------------------------------------


def _render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    return i18n.templates.TemplateResponse(
        request, template, dict(context), status_code=status_code, headers=NO_STORE
    )


def _flashes(flash: str | None) -> list[tuple[str, str]]:
    message = FLASHES.get(flash or "")
    return [("ok", str(message))] if message is not None else []


async def _form(request: Request) -> dict[str, Any]:
    """The posted form (the CSRF check has read it already; Starlette keeps it)."""
    form = await request.form()
    return dict(form.items())


FormFields = Annotated[dict[str, Any], Depends(_form)]


# -- the queue ----------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    status: Annotated[str, Query(max_length=16)] = "",
    facility: Annotated[str, Query(max_length=32)] = "",
    date_from: Annotated[str, Query(max_length=32)] = "",
    date_to: Annotated[str, Query(max_length=32)] = "",
    after: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = service.DEFAULT_PAGE_SIZE,
) -> Response:
    """The queue of received dossiers, oldest first, with filters and keyset pages."""
    values = {
        "status": status,
        "facility": facility.strip(),
        "date_from": date_from,
        "date_to": date_to,
    }
    errors: dict[str, str] = {}
    chosen_status: SubmissionStatus | None = None
    if status:
        try:
            chosen_status = SubmissionStatus(status)
        except ValueError:
            errors["status"] = message_for("invalid_status")
    if values["facility"] and not _BIN.match(values["facility"]):
        errors["facility"] = message_for("invalid_bin")
    days: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        days[name] = None
        if values[name]:
            try:
                days[name] = parse_day(values[name])
            except InvalidDate:
                errors[name] = message_for("invalid_date")
    flashes: list[tuple[str, str]] = []
    items: list[Any] = []
    next_cursor: str | None = None
    status_code = 200
    if errors:
        status_code = 400
    else:
        try:
            page = service.list_submissions(
                session,
                status=chosen_status,
                facility=values["facility"] or None,
                date_from=days["date_from"],
                date_to=days["date_to"],
                after=after,
                limit=limit,
            )
        except DomainError as error:
            flashes.append(("error", message_for(error.code)))
            status_code = error.status
        else:
            items, next_cursor = page.items, page.next
    filters: dict[str, Any] = {name: value for name, value in values.items() if value}
    if limit != service.DEFAULT_PAGE_SIZE:
        filters["limit"] = limit
    return _render(
        request,
        "registry/queue.html",
        {
            "items": items,
            "values": values,
            "errors": errors,
            "flashes": flashes,
            "statuses": [s.value for s in SubmissionStatus],
            "next_url": "/registry?" + urlencode({**filters, "after": next_cursor})
            if next_cursor
            else None,
            "first_url": "/registry" + ("?" + urlencode(filters) if filters else "")
            if after
            else None,
        },
        status_code=status_code,
    )


# -- one dossier --------------------------------------------------------------------------------


def _staff_names(session: Session, detail: SubmissionDetail) -> dict[str, str]:
    """Usernames for the `staff:<id>` actors of the history (and the registering clerk)."""
    ids = {
        int(entry.actor.split(":", 1)[1])
        for entry in detail.history
        if entry.actor.startswith("staff:") and entry.actor.split(":", 1)[1].isdigit()
    }
    if detail.registration and detail.registration.registered_by is not None:
        ids.add(detail.registration.registered_by)
    if not ids:
        return {}
    rows = session.exec(
        select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(ids))
    ).all()
    return {f"staff:{user_id}": username for user_id, username in rows}


def _who(actor: str, staff_names: Mapping[str, str]) -> str:
    """Who did something, as the history shows it."""
    if actor in staff_names:
        return staff_names[actor]
    kind, _, value = actor.partition(":")
    if kind == "holder" and value:
        return gettext("the holder of certificate %(serial)s") % {"serial": value}
    if actor == "system":
        return gettext("the service")
    if actor == "anonymous":
        return gettext("the sender")
    return actor


def _dossier_page(
    request: Request,
    session: Session,
    staff: StaffUser,
    submission_id: str,
    *,
    status_code: int = 200,
    flashes: list[tuple[str, str]] | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    detail = service.open_submission(
        session, submission_id, actor=actor_of(staff), role=staff.role
    )
    dossier = detail.dossier
    record = dossier["medical_record"]["document"]
    application = dossier["application"]["document"]
    staff_names = _staff_names(session, detail)
    return _render(
        request,
        "registry/dossier.html",
        {
            "detail": detail,
            "record": record,
            "application": application,
            "born_at": _time(record.get("child", {}).get("born_at")),
            "recorded_at": _time(record.get("recorded_at")),
            "report": report_view(detail.report),
            "received_at": _time(detail.receipt.get("received_at")) or detail.received_at,
            "staff_names": staff_names,
            "history": [
                {"at": entry.at, "action": entry.action, "role": entry.role,
                 "who": _who(entry.actor, staff_names)}
                for entry in detail.history
            ],
            "pending": detail.status in service.PENDING,
            "flashes": flashes or [],
            "errors": errors or {},
            "values": values or {},
            "max_reason": MAX_REASON_LENGTH,
        },
        status_code=status_code,
    )


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def dossier_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    submission_id: str,
    flash: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A dossier: the documents, each signature's report, duplicates, history (opens it)."""
    return _dossier_page(request, session, staff, submission_id, flashes=_flashes(flash))


def _refused(
    request: Request, session: Session, staff: StaffUser, submission_id: str, error: DomainError,
    **form: Any,
) -> Response:
    session.rollback()
    return _dossier_page(
        request,
        session,
        staff,
        submission_id,
        status_code=error.status,
        flashes=[("error", message_for(error.code))],
        **form,
    )


@router.post("/submissions/{submission_id}/register", response_class=HTMLResponse)
def register_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    submission_id: str,
    form: FormFields,
) -> Response:
    """Register: act record number, child IIN and certificate; back to the dossier."""
    if form.get("confirm") != "yes":
        return _dossier_page(
            request, session, staff, submission_id, status_code=400,
            errors={"confirm": message_for("not_confirmed")},
        )
    try:
        service.register_submission(
            session,
            service.registry_for(request.app),
            submission_id,
            actor=actor_of(staff),
            role=staff.role,
            staff_id=staff.id,
        )
    except DomainError as error:
        if error.status == 404:
            raise
        return _refused(request, session, staff, submission_id, error)
    return RedirectResponse(
        f"/registry/submissions/{submission_id}?flash=registered", status_code=303
    )


def _reason_error(error: ValidationError) -> str:
    for problem in error.errors():
        if problem.get("type") == "string_too_long":
            return "reason_too_long"
        if "control characters" in str(problem.get("msg", "")):
            return "reason_not_plain"
    return "reason_required"


@router.post("/submissions/{submission_id}/reject", response_class=HTMLResponse)
def reject_page(
    request: Request,
    session: SessionDep,
    staff: ClerkStaff,
    submission_id: str,
    form: FormFields,
) -> Response:
    """Reject with a reason the mother will read; back to the dossier."""
    raw = form.get("reason")
    reason = raw if isinstance(raw, str) else ""
    # Browsers send a textarea's line breaks as CRLF; the mother reads plain lines.
    reason = reason.replace("\r\n", "\n").replace("\r", "\n")
    try:
        rejection = RejectRequest(reason=reason)
    except ValidationError as error:
        return _dossier_page(
            request, session, staff, submission_id, status_code=400,
            errors={"reason": message_for(_reason_error(error))},
            values={"reason": reason[: MAX_REASON_LENGTH * 2]},
        )
    try:
        service.reject_submission(
            session,
            submission_id,
            rejection.reason,
            actor=actor_of(staff),
            role=staff.role,
            staff_id=staff.id,
        )
    except DomainError as error:
        if error.status == 404:
            raise
        return _refused(request, session, staff, submission_id, error, values={"reason": reason})
    return RedirectResponse(
        f"/registry/submissions/{submission_id}?flash=rejected", status_code=303
    )


# -- checking a dossier without storing it ----------------------------------------------------


@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request, staff: ClerkStaff) -> Response:
    """A form to verify a dossier (pasted or uploaded) and read its report; nothing is stored."""
    return _render(request, "registry/check.html", {"report": None, "errors": {}, "values": {}})


async def _dossier_bytes(form: FormFields) -> bytes:
    upload = form.get("dossier_file")
    if isinstance(upload, UploadFile) and upload.filename:
        return await upload.read(MAX_DOSSIER_BYTES + 1)
    text = form.get("dossier")
    return text.encode("utf-8") if isinstance(text, str) else b""


DossierBytes = Annotated[bytes, Depends(_dossier_bytes)]


@router.post("/check", response_class=HTMLResponse)
def check_dossier(
    request: Request, session: SessionDep, staff: ClerkStaff, body: DossierBytes
) -> Response:
    """Verify a dossier now, exactly as intake would, and show the report; nothing is stored."""
    pasted = body.decode("utf-8", "replace") if len(body) <= MAX_DOSSIER_BYTES else ""

    def refused(code: str, status: int) -> Response:
        return _render(
            request,
            "registry/check.html",
            {
                "report": None,
                "errors": {"dossier": message_for(code)},
                "values": {"dossier": pasted},
            },
            status_code=status,
        )

    if len(body) > MAX_DOSSIER_BYTES:
        return refused("dossier_too_large", 413)
    if not body.strip():
        return refused("dossier_required", 400)
    try:
        parsed = parse_dossier(body)
        body.decode("utf-8")
    except DossierTooLarge:
        return refused("dossier_too_large", 413)
    except (DossierError, UnicodeDecodeError):
        return refused("malformed_dossier", 400)
    # Revocation data is read in a session of its own: on SQLite this request's transaction
    # (BEGIN IMMEDIATE) must not hold the write lock meanwhile.
    session.rollback()
    registry = service.registry_for(request.app)
    report = verify_dossier(parsed, validator=registry.validator, moment=now())
    return _render(
        request,
        "registry/check.html",
        {
            "report": report_view(report.to_json()),
            "errors": {},
            "values": {"dossier": pasted},
        },
    )


__all__ = ["report_view", "router", "signature_view"]


# -- the certificate ----------------------------------------------------------------------------


@router.get("/certificates/{certificate_id}/print", response_class=HTMLResponse)
def certificate_print(
    request: Request,
    session: SessionDep,
    certificate_id: Annotated[str, Path(min_length=1, max_length=80)],
) -> Response:
    """The printable certificate (the same template as the PDF)."""
    certificate = get_certificate(session, certificate_id)
    html = render_certificate_html(
        json.loads(certificate.fields),
        certificate.qr,
        for_pdf=False,
        static_url=str(request.url_for("static", path="")),
        pdf_url=f"/api/v1/registry/certificates/{certificate.id}.pdf",
    )
    return HTMLResponse(html, headers={"Cache-Control": "private, no-store"})
