"""Where a parent's application stands: what the registry says about it (through the one
registry client), and the timeline her pages show from it, in her language, with what happens
next and by when.

The registry answers `received`, `in_review`, `late` (after the registration deadline, waiting
for a registrar's approval), `rejected` (with the clerk's reason) or `registered` (with the
certificate). Before it is sent, the application's own state says where it is: not signed yet,
waiting for the father, or signed but not accepted yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import httpx
from fastapi import Request
from sqlmodel import Session

from birthreg.i18n import DISPLAY_TIMEZONE, gettext
from birthreg.models import ApplicationState
from birthreg.parents.submission import note_registered
from birthreg.parents.views import ApplicationView
from birthreg.registry.client import RegistryClient
from birthreg.ward.service import note_rejected

#: Working days in which the registry undertakes to decide on an application it received, and
#: a registrar to approve a late one (the dates the timeline promises are counted from these).
REVIEW_WORKING_DAYS = 2
LATE_APPROVAL_WORKING_DAYS = 5

StepState = Literal["done", "current", "upcoming", "refused"]


@dataclass(frozen=True)
class RegistryView:
    """What the registry says about a submission (from its status API, through the client)."""

    reachable: bool
    status: str | None = None
    rejection_reason: str | None = None
    certificate: dict[str, Any] | None = None
    tracking_number: str | None = None
    received_at: datetime | None = None
    decided_at: datetime | None = None

    @property
    def certificate_id(self) -> str | None:
        """The registered certificate's id, when it has a QR code to show."""
        certificate = self.certificate or {}
        return str(certificate["id"]) if certificate.get("id") and certificate.get("qr") else None

    @property
    def certificate_issued_at(self) -> datetime | None:
        """When the registry issued the certificate (as its JSON says)."""
        return _moment((self.certificate or {}).get("issued_at"))


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def registry_view(request: Request, submission_id: str) -> RegistryView:
    """Ask the registry (the caller's session holds no transaction: see the client's notes)."""
    try:
        with RegistryClient.for_app(request.app) as registry:
            status = registry.status(submission_id)
            if not status.found:
                return RegistryView(reachable=False)
            certificate = None
            if status.status == "registered" and status.certificate_id:
                certificate = registry.certificate(status.certificate_id)
    except httpx.HTTPError:
        return RegistryView(reachable=False)
    return RegistryView(
        reachable=True,
        status=status.status,
        rejection_reason=status.rejection_reason,
        tracking_number=status.tracking_number,
        certificate=certificate,
        received_at=_moment(status.body.get("received_at")),
        decided_at=_moment(status.body.get("decided_at")),
    )


def add_working_days(moment: datetime, days: int) -> date:
    """The local (Almaty) date `days` working days (Monday to Friday) after moment's."""
    day = moment.astimezone(DISPLAY_TIMEZONE).date()
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


@dataclass(frozen=True)
class Step:
    """One line of the timeline: what, whether it happened, when, and a word more."""

    key: str
    title: str
    state: StepState
    at: datetime | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Timeline:
    application_id: str
    steps: tuple[Step, ...]
    next_step: str
    expected_by: date | None = None
    registry: RegistryView | None = None


def _signing_steps(application: ApplicationView) -> list[Step]:
    draft = application.state == ApplicationState.DRAFT
    steps = [
        Step("filled", gettext("Application filled in"), "done", application.created_at),
        Step(
            "mother_signed",
            gettext("Signed by the mother"),
            "done" if application.mother_signed else ("current" if draft else "upcoming"),
        ),
    ]
    if application.joint:
        waiting = application.state == ApplicationState.AWAITING_FATHER
        steps.append(
            Step(
                "father_signed",
                gettext("Signed by the father"),
                "done" if application.father_signed else ("current" if waiting else "upcoming"),
            )
        )
    return steps


def _registry_steps(
    application: ApplicationView, registry: RegistryView | None
) -> list[Step]:
    status = registry.status if registry and registry.reachable else None
    received_at = (registry.received_at if registry else None) or application.submitted_at
    decided = status in ("registered", "rejected")
    steps = [
        Step(
            "received",
            gettext("Received by the registry"),
            "done" if application.submission_id else (
                "current" if application.state == ApplicationState.READY else "upcoming"
            ),
            received_at if application.submission_id else None,
            registry.tracking_number if registry else None,
        ),
        Step(
            "in_review",
            gettext("Check by a registry clerk"),
            "current" if status in ("received", "in_review") else (
                "done" if decided or status == "late" else "upcoming"
            ),
        ),
    ]
    if status == "late":
        steps.append(Step("late", gettext("Late: waiting for a registrar's approval"), "current"))
    if status == "rejected":
        steps.append(
            Step(
                "rejected", gettext("Returned for correction"), "refused",
                registry.decided_at if registry else None,
                registry.rejection_reason if registry else None,
            )
        )
    else:
        steps.append(
            Step(
                "registered", gettext("Registered"),
                "done" if status == "registered" else "upcoming",
                registry.decided_at if registry and status == "registered" else None,
            )
        )
    return steps


def _next_step(
    application: ApplicationView, registry: RegistryView | None, is_mother: bool
) -> tuple[str, date | None]:
    """What happens next, and the date by which the registry undertakes to do it."""
    state = application.state
    if state == ApplicationState.SUPERSEDED:
        return gettext("A newer application replaced this one."), None
    if state == ApplicationState.DRAFT:
        if is_mother:
            return gettext("Check every line and sign it with your key."), None
        return gettext("The mother signs first."), None
    if state == ApplicationState.AWAITING_FATHER:
        return gettext(
            "The father signs on his own phone with the invitation link; the application then "
            "goes to the registry by itself."
        ), None
    if state == ApplicationState.READY or registry is None:
        return gettext(
            "Every signature is there, but the registry has not accepted it yet: send it again."
        ), None
    if not registry.reachable:
        return gettext("The registry cannot be reached just now. Look again later."), None
    received_at = registry.received_at or application.submitted_at or application.created_at
    if registry.status == "late":
        return gettext(
            "It came after the deadline for registration, so a registrar approves it first; "
            "then a clerk registers it. You will get a message."
        ), add_working_days(received_at, LATE_APPROVAL_WORKING_DAYS)
    if registry.status == "rejected":
        if is_mother:
            return gettext(
                "Correct what the clerk wrote and sign again: the corrected application goes to "
                "the registry like the first one."
            ), None
        return gettext("The mother corrects the application; then you sign it again."), None
    if registry.status == "registered":
        return gettext(
            "The birth is registered. Download the certificate (PDF) or show its QR code: "
            "anyone can check it."
        ), None
    return gettext(
        "A registry clerk checks the signatures and the details and registers the birth or "
        "returns the application with a reason. You will get a message."
    ), add_working_days(received_at, REVIEW_WORKING_DAYS)


def timeline(
    application: ApplicationView, registry: RegistryView | None, *, is_mother: bool
) -> Timeline:
    """The application's timeline and next step (texts in the current language)."""
    steps = _signing_steps(application) + _registry_steps(application, registry)
    next_step, expected_by = _next_step(application, registry, is_mother)
    return Timeline(application.id, tuple(steps), next_step, expected_by, registry)



def where_it_stands(
    request: Request, session: Session, application: ApplicationView, *, is_mother: bool
) -> tuple[RegistryView | None, Timeline]:
    """Ask the registry about a sent application (ending the session's transaction first: in
    one process the registry's request needs the database) and build its timeline; a birth the
    registry registered is marked so on the ward's list."""
    registry = None
    if application.submission_id:
        session.commit()
        registry = registry_view(request, application.submission_id)
        if registry.status == "registered":
            note_registered(session, application.birth_id, registry.certificate_issued_at)
        elif registry.status == "rejected":
            note_rejected(session, application.birth_id)  # the ward's list shows it
    return registry, timeline(application, registry, is_mother=is_mother)
