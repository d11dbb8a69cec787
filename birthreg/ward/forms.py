"""What the ward's pages share: the messages people read for a refusal, the posted form, the
rendering, and the banner that counts a form's errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

from babel.support import LazyProxy
from fastapi import Depends, Request
from fastapi.responses import Response

from birthreg import i18n
from birthreg.i18n import gettext, lazy_gettext
from birthreg.ward import service
from signing.medical_record import (
    LENGTH_RANGE_CM,
    MAX_PLURALITY,
    MAX_RECORDING_DELAY,
    WEIGHT_RANGE_G,
)

NO_STORE: Final = {"Cache-Control": "no-store"}
#: Form text longer than this is refused before it reaches the service (its schemas allow 256).
MAX_TEXT: Final = 256
UUID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WHOLE_NUMBER: Final = re.compile(r"^[0-9]{1,6}$")

#: The birth form's fields, in the order of the page.
BIRTH_FIELDS: Final = (
    "mother_iin",
    "mother_surname",
    "mother_given_name",
    "mother_patronymic",
    "child_sex",
    "born_date",
    "born_time",
    "child_weight_g",
    "child_length_cm",
    "child_plurality",
    "child_birth_order",
    "attendant",
)
FATHER_FIELDS: Final = ("father_iin", "father_surname", "father_given_name", "father_patronymic")
REVOCATION_REASONS: Final = tuple(service.STAFF_REVOCATION_REASONS)

#: Messages after a redirect, by the key in `?flash=`.
FLASHES: Final[dict[str, LazyProxy]] = {
    "birth_recorded": lazy_gettext("The birth is recorded and sealed by the facility."),
    "revoked": lazy_gettext(
        "The key is revoked: from now on nothing signed with it is accepted. "
        "Start a new enrollment to give its holder a new key."
    ),
}

#: What people read for a refusal, by its machine code (service codes and this module's own).
MESSAGES: Final[dict[str, LazyProxy]] = {
    "required": lazy_gettext("Fill in this field."),
    "too_long": lazy_gettext("This is too long."),
    "not_a_number": lazy_gettext("Enter a whole number."),
    "invalid_date": lazy_gettext("Enter a date."),
    "invalid_time": lazy_gettext("Enter a time: hours and minutes."),
    "invalid_sex": lazy_gettext("Choose the child's sex."),
    "invalid_iin": lazy_gettext("This is not a valid IIN: check the 12 digits."),
    "iin_sex_mismatch": lazy_gettext("This IIN does not match the person's sex (its 7th digit)."),
    "invalid_name": lazy_gettext(
        "Use Kazakh, Russian or Latin letters, a hyphen, an apostrophe and single spaces."
    ),
    "birth_in_future": lazy_gettext("The time of birth is in the future."),
    "invalid_attendant": lazy_gettext("Enter who attended the birth (up to 200 characters)."),
    "id_not_checked": lazy_gettext("Check his identity document, then tick this box."),
    "weak_password": lazy_gettext(
        "The password needs at least 10 characters and no control characters."
    ),
    "password_mismatch": lazy_gettext("The two passwords are not the same."),
    "enrollment_not_found": lazy_gettext("There is no such enrollment at this facility."),
    "code_used": lazy_gettext("A key has already been issued for this enrollment."),
    "code_expired": lazy_gettext("This enrollment has expired: start a new one."),
    "code_locked": lazy_gettext("This enrollment is locked after wrong codes: start a new one."),
    "invalid_reason": lazy_gettext("Choose a reason."),
    "revocation_not_confirmed": lazy_gettext("Tick this box to confirm the revocation."),
    "invalid_serial": lazy_gettext("This ward issued no certificate with that serial."),
    "certificate_not_found": lazy_gettext("This ward issued no certificate with that serial."),
    "already_revoked": lazy_gettext("This certificate is already revoked."),
    "no_facility": lazy_gettext("Your account is not attached to a maternity facility."),
    "birth_not_found": lazy_gettext("There is no such birth at this facility."),
}


def message_for(code: str, field: str | None = None) -> str:
    """The translated sentence for a refusal (some codes need the field or the limits)."""
    if code == "weight_out_of_range":
        return gettext("The weight is between %(low)s and %(high)s g.") % {
            "low": i18n.format_number(WEIGHT_RANGE_G[0]),
            "high": i18n.format_number(WEIGHT_RANGE_G[1]),
        }
    if code == "length_out_of_range":
        return gettext("The length is between %(low)s and %(high)s cm.") % {
            "low": LENGTH_RANGE_CM[0],
            "high": LENGTH_RANGE_CM[1],
        }
    if code == "invalid_birth_order":
        if field == "child.plurality":
            return gettext("The number of babies born is between 1 and %(max)s.") % {
                "max": MAX_PLURALITY
            }
        return gettext("The birth order is between 1 and the number of babies born.")
    if code == "birth_too_old":
        return gettext("A birth is recorded within %(days)s days.") % {
            "days": MAX_RECORDING_DELAY.days
        }
    message = MESSAGES.get(code)
    if message is not None:
        return str(message)
    return gettext("This could not be done (%(code)s).") % {"code": code}


def form_field(service_field: str | None, prefix: str = "") -> str | None:
    """The page's field name for the service's (`mother.iin` → `mother_iin`)."""
    if service_field is None:
        return None
    if service_field == "child.born_at":
        return "born_date"
    name = service_field.replace(".", "_")
    return name if name.startswith(prefix) else None


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields (the CSRF check has read it already; Starlette keeps it)."""
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


FormFields = Annotated[dict[str, str], Depends(_form)]


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return i18n.templates.TemplateResponse(
        request, template, dict(context), status_code=status_code, headers=dict(headers or {})
    )


def flashes(flash: str | None) -> list[tuple[str, str]]:
    message = FLASHES.get(flash or "")
    return [("ok", str(message))] if message is not None else []


def initials(person: Mapping[str, Any]) -> str:
    """ "Surname G. P." for a list (names are fine on staff pages, never in logs)."""
    parts = [str(person.get("surname", ""))]
    for key in ("given_name", "patronymic"):
        name = person.get(key)
        if name:
            parts.append(f"{str(name)[0]}.")
    return " ".join(parts)


def full_name(person: Mapping[str, Any]) -> str:
    return " ".join(
        str(person[key]) for key in ("surname", "given_name", "patronymic") if person.get(key)
    )


def error_banner(errors: Mapping[str, str]) -> list[tuple[str, str]]:
    """Said once at the top (role="alert"), for whoever does not see the fields' colours: how
    many fields need correcting; the page's script moves the focus to the first of them."""
    if not errors:
        return []
    return [
        (
            "error",
            gettext("Fields to correct: %(count)s. See the message under each.")
            % {"count": len(errors)},
        )
    ]
