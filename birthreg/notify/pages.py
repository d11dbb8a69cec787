"""The staff page of messages to parents: /notify/outbox (clerks and administrators).

It lists the outbox (what each event's message is doing: sent, waiting for a retry, refused) and,
in development, the sink: the messages as the parents would have read them, since `make run`
sends nothing out. It holds parents' addresses, so only staff who see dossiers anyway (clerks)
or run the service (administrators) may open it.
"""

from __future__ import annotations

from typing import Annotated, Final

from babel.support import LazyProxy
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from birthreg import i18n
from birthreg.auth import require_role
from birthreg.db import SessionDep
from birthreg.i18n import lazy_gettext
from birthreg.models import EventKind, Role, StaffUser
from birthreg.notify.sender import channel_status
from birthreg.notify.service import outbox_listing
from birthreg.notify.tracking import InvalidTrackingNumber
from birthreg.services import services

router = APIRouter(prefix="/notify", include_in_schema=False)

NotifyStaff = Annotated[StaffUser, Depends(require_role(Role.CLERK, Role.REGISTRAR, Role.ADMIN))]

KIND_LABELS: Final[dict[str, LazyProxy]] = {
    EventKind.RECEIVED.value: lazy_gettext("Received"),
    EventKind.LATE.value: lazy_gettext("Late, awaiting approval"),
    EventKind.REJECTED.value: lazy_gettext("Rejected"),
    EventKind.REGISTERED.value: lazy_gettext("Registered"),
    EventKind.CORRECTION_APPROVED.value: lazy_gettext("Correction approved"),
    EventKind.CORRECTION_REJECTED.value: lazy_gettext("Correction not approved"),
    EventKind.COPY_ISSUED.value: lazy_gettext("Copy issued"),
}


@router.get("/outbox", response_class=HTMLResponse)
def outbox_page(
    request: Request,
    session: SessionDep,
    staff: NotifyStaff,
    tracking: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Messages to parents and their delivery; the development sink's messages."""
    error = None
    try:
        listing = outbox_listing(session, tracking)
    except InvalidTrackingNumber:
        error = str(lazy_gettext("This is not a tracking number: check it and type it again."))
        listing = outbox_listing(session)
    return i18n.templates.TemplateResponse(
        request,
        "notify/outbox.html",
        {
            "listing": listing,
            "tracking": tracking,
            "error": error,
            "kind_labels": KIND_LABELS,
            "channels": channel_status(services(request).settings),
            "staff": staff,
        },
        status_code=400 if error else 200,
        headers={"Cache-Control": "no-store"},
    )
