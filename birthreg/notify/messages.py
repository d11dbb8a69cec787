"""What the parents read: a subject, an e-mail text and an SMS text for every kind of event, in the
application's language (Kazakh, Russian or English, through the service's catalogs).

A message names nobody and carries no identity number: the tracking number says which
application it is about. Free text that a clerk or registrar wrote (a reason) is passed on with
any 12-digit number and any name from the dossier replaced by "…", since the reason may quote
them. Links go only to pages that ask for more than the link: the parent's own page (she signs
in with her key) and the certificate page (its id is unguessable).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from babel.support import LazyProxy

from birthreg.i18n import DEFAULT_LANGUAGE, LANGUAGES, lazy_gettext, use_language
from birthreg.models import EventKind

#: What replaces an identity number or a name in free text.
HIDDEN: Final = "…"
#: Twelve digits in a row (an IIN or a BIN), however spaced or dashed.
_TWELVE_DIGITS: Final = re.compile(r"(?<!\d)\d(?:[\s-]?\d){11}(?!\d)")


@dataclass(frozen=True)
class Texts:
    subject: LazyProxy
    body: LazyProxy
    sms: LazyProxy


#: The texts of each kind. Placeholders: %(tracking)s, %(status_url)s, %(certificate_url)s,
#: %(number)s and %(year)s (the act record), %(reason)s.
TEXTS: Final[dict[EventKind, Texts]] = {
    EventKind.RECEIVED: Texts(
        lazy_gettext("Application %(tracking)s received"),
        lazy_gettext(
            "The registry has received your application to register your child's birth. A clerk "
            "will check it, and you will get another message when it is decided."
        ),
        lazy_gettext(
            "birthreg TEST: the registry received application %(tracking)s. Status: "
            "%(status_url)s"
        ),
    ),
    EventKind.LATE: Texts(
        lazy_gettext("Application %(tracking)s awaits approval"),
        lazy_gettext(
            "Your application arrived after the registration deadline. It is not refused: a "
            "registrar will read your reason and approve it, and you will get a message then."
        ),
        lazy_gettext(
            "birthreg TEST: application %(tracking)s arrived after the deadline and awaits a "
            "registrar's approval. Status: %(status_url)s"
        ),
    ),
    EventKind.REJECTED: Texts(
        lazy_gettext("Application %(tracking)s needs correcting"),
        lazy_gettext(
            "The clerk could not register your application. The clerk's reason: %(reason)s\n\n"
            "Correct the application on your page and sign it again."
        ),
        lazy_gettext(
            "birthreg TEST: application %(tracking)s was returned for correcting. The reason "
            "and what to do: %(status_url)s"
        ),
    ),
    EventKind.REGISTERED: Texts(
        lazy_gettext("Birth registered (application %(tracking)s)"),
        lazy_gettext(
            "Your child's birth is registered: act record No. %(number)s of %(year)s. The birth "
            "certificate: %(certificate_url)s"
        ),
        lazy_gettext(
            "birthreg TEST: birth registered, act record No. %(number)s of %(year)s "
            "(application %(tracking)s). Certificate: %(certificate_url)s"
        ),
    ),
    EventKind.CORRECTION_APPROVED: Texts(
        lazy_gettext("Correction approved (application %(tracking)s)"),
        lazy_gettext(
            "The correction of the birth record is approved and a new birth certificate is "
            "issued: %(certificate_url)s The earlier certificate is no longer valid."
        ),
        lazy_gettext(
            "birthreg TEST: correction approved (application %(tracking)s). New certificate: "
            "%(certificate_url)s"
        ),
    ),
    EventKind.CORRECTION_REJECTED: Texts(
        lazy_gettext("Correction not approved (application %(tracking)s)"),
        lazy_gettext(
            "The correction of the birth record was not approved. The registrar's reason: "
            "%(reason)s"
        ),
        lazy_gettext(
            "birthreg TEST: the correction was not approved (application %(tracking)s). "
            "Details: %(status_url)s"
        ),
    ),
    EventKind.COPY_ISSUED: Texts(
        lazy_gettext("Copy of the birth certificate issued (application %(tracking)s)"),
        lazy_gettext(
            "A repeat birth certificate was issued for your child's birth record: "
            "%(certificate_url)s If you did not ask for it, call the registry and give the "
            "tracking number."
        ),
        lazy_gettext(
            "birthreg TEST: a repeat birth certificate was issued (application %(tracking)s). "
            "Not you? Call the registry."
        ),
    ),
}

GREETING: Final = lazy_gettext("Hello,")
TRACKING_LINE: Final = lazy_gettext(
    "Tracking number: %(tracking)s. Give it when you call the registry."
)
STATUS_LINE: Final = lazy_gettext(
    "Where your application stands (sign in with your key): %(status_url)s"
)
FOOTER: Final = lazy_gettext(
    "birthreg is a TEST service: this message has no legal force. Do not reply to it."
)


@dataclass(frozen=True)
class Message:
    """One event's message in one language: the e-mail's subject and text, and the SMS text."""

    language: str
    subject: str
    text: str
    sms: str


def language_of(application: Mapping[str, Any]) -> str:
    """The application's language, or the service's default for one it does not support."""
    language = application.get("language")
    return language if isinstance(language, str) and language in LANGUAGES else DEFAULT_LANGUAGE


def hide(text: str, names: Iterable[str]) -> str:
    """Free text with 12-digit numbers and the given names (any case) replaced by "…"."""
    text = _TWELVE_DIGITS.sub(HIDDEN, text)
    for name in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len,
                       reverse=True):
        text = re.sub(re.escape(name), HIDDEN, text, flags=re.IGNORECASE)
    return text


def render(
    kind: EventKind,
    language: str,
    *,
    tracking_number: str,
    params: Mapping[str, Any],
    status_url: str,
    certificate_url: str | None,
    hidden_names: Iterable[str] = (),
) -> Message:
    """The message of an event. `tracking_number` is the grouped form; `params` are the event's
    (act record `act_record_number` and `year`, `reason`); `hidden_names` are taken out of the
    reason."""
    texts = TEXTS[EventKind(kind)]
    values = {
        "tracking": tracking_number,
        "status_url": status_url,
        "certificate_url": certificate_url or status_url,
        "number": params.get("act_record_number", ""),
        "year": params.get("year", ""),
        "reason": hide(str(params.get("reason") or ""), hidden_names),
    }
    with use_language(language if language in LANGUAGES else DEFAULT_LANGUAGE) as chosen:
        text = "\n\n".join(
            (
                str(GREETING),
                str(texts.body) % values,
                str(TRACKING_LINE) % values + "\n" + str(STATUS_LINE) % values,
                "-- \n" + str(FOOTER),
            )
        )
        return Message(
            language=chosen,
            subject=str(texts.subject) % values,
            text=text,
            sms=str(texts.sms) % values,
        )
