"""What the registry's pages share: rendering, flashes, refusals in plain words, the posted form.

Forms carry the session's CSRF token (checked by `ClerkStaff` before a route runs). A refusal from
the service is shown on the page it came from, translated, with the service's status; nothing is
changed then (the session is rolled back before the page is rendered).

Flashes after a redirect are a fixed message *key* in the query (`?flash=registered`): no personal
data in URLs, and a forged link can only show one of our own sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

from babel.support import LazyProxy
from fastapi import Depends, Request
from fastapi.responses import Response

from birthreg import i18n
from birthreg.i18n import gettext, lazy_gettext
from birthreg.registry.schemas import MAX_REASON_LENGTH
from signing.dossier import MAX_DOSSIER_BYTES

NO_STORE: Final = {"Cache-Control": "no-store"}

#: Messages after a redirect, by the key in `?flash=`.
FLASHES: Final[dict[str, LazyProxy]] = {
    "registered": lazy_gettext("The birth is registered and the certificate is issued."),
    "rejected": lazy_gettext("The dossier is rejected. The mother will read your reason."),
    "late_approved": lazy_gettext("The late registration is approved: it may be registered now."),
    "duplicate_decided": lazy_gettext("The decision on the likely duplicate is recorded."),
    "correction_requested": lazy_gettext("The correction is requested: a registrar decides."),
    "correction_approved": lazy_gettext(
        "The correction is approved: the corrected certificate is issued, the old one superseded."
    ),
    "correction_rejected": lazy_gettext("The correction is rejected."),
    "copy_issued": lazy_gettext("The copy is issued: print it for the collector."),
}

#: What people read for a refusal, by its machine code.
MESSAGES: Final[dict[str, LazyProxy]] = {
    "submission_not_found": lazy_gettext("There is no such dossier."),
    "invalid_state": lazy_gettext(
        "This dossier has been decided already, or its birth is registered through another "
        "dossier: it cannot be registered or rejected now."
    ),
    "signer_revoked": lazy_gettext(
        "A signer's certificate has been revoked since this dossier arrived: it cannot be "
        "registered. The parents sign again with a new key, or reject it with that reason."
    ),
    "revocation_unavailable": lazy_gettext(
        "Whether the signers' certificates still stand cannot be checked at the moment. Nothing "
        "was registered: try again in a minute."
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
    # Decisions before registration (birthreg.registry.decisions).
    "late_unapproved": lazy_gettext(
        "This application is late: a registrar approves it before it is registered."
    ),
    "not_late": lazy_gettext("This dossier is not a late application waiting for approval."),
    "duplicate_undecided": lazy_gettext(
        "Decide first, for each likely duplicate, whether this dossier is a duplicate of it."
    ),
    "decided_duplicate": lazy_gettext(
        "This dossier was decided to be a duplicate of another: reject it instead."
    ),
    "not_a_candidate": lazy_gettext("That dossier is not a likely duplicate of this one."),
    "decision_required": lazy_gettext("Choose whether this dossier is a duplicate."),
    "certificate_not_found": lazy_gettext("There is no such certificate."),
    "correction_not_found": lazy_gettext("There is no such correction."),
    "certificate_not_current": lazy_gettext(
        "This certificate has been superseded: correct the one in force."
    ),
    "correction_pending": lazy_gettext(
        "A correction of this record is waiting for a registrar already."
    ),
    "not_correctable": lazy_gettext(
        "Medical facts cannot be corrected here: only a new sealed medical record changes them."
    ),
    "invalid_value": lazy_gettext("Write names with letters only."),
    "no_change": lazy_gettext("Change at least one field: the certificate says that already."),
    "own_request": lazy_gettext("Nobody approves their own request: another registrar decides."),
    "registrar_required": lazy_gettext("Only a registrar approves."),
    "identity_not_checked": lazy_gettext(
        "Tick the box once you have checked the collector's identity document."
    ),
    "invalid_iin": lazy_gettext("This is not a valid IIN: check the 12 digits."),
    "collector_name_required": lazy_gettext("Write the collector's full name."),
    "invalid_query": lazy_gettext(
        "Search for an IIN, an act record or certificate number, a tracking number, or the "
        "start of a surname."
    ),
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


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    return i18n.templates.TemplateResponse(
        request, template, dict(context), status_code=status_code, headers=NO_STORE
    )


def flashes(flash: str | None) -> list[tuple[str, str]]:
    message = FLASHES.get(flash or "")
    return [("ok", str(message))] if message is not None else []


async def _form(request: Request) -> dict[str, Any]:
    """The posted form (the CSRF check has read it already; Starlette keeps it)."""
    form = await request.form()
    return dict(form.items())


FormFields = Annotated[dict[str, Any], Depends(_form)]
