"""What the staff page of messages shows: the outbox's events with their delivery, and what the
development sink took (the messages as the parents would have read them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from birthreg.models import OutboxMessage, SinkMessage, Submission
from birthreg.notify.tracking import format_tracking_number, parse_tracking_number

#: How many events and sink messages the page shows (newest first).
PAGE_SIZE = 50


@dataclass(frozen=True)
class EventLine:
    event_id: str
    kind: str
    tracking_number: str
    created_at: datetime
    state: str
    email: str | None
    sms: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class SinkLine:
    event_id: str
    tracking_number: str
    channel: str
    recipient: str
    language: str
    subject: str
    text: str
    delivered_at: datetime


@dataclass(frozen=True)
class Listing:
    events: list[EventLine]
    sink: list[SinkLine]


def outbox_listing(session: Session, tracking: str = "", *, limit: int = PAGE_SIZE) -> Listing:
    """The newest events and sink messages, of one submission when `tracking` (typed by a
    person: case, spaces and dashes do not matter) is given. Raises InvalidTrackingNumber."""
    events = (
        select(OutboxMessage, Submission.tracking_number)
        .join(Submission, col(Submission.id) == col(OutboxMessage.submission_id))
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.event_id))
        .limit(limit)
    )
    sink = (
        select(SinkMessage, Submission.tracking_number)
        .join(OutboxMessage, col(OutboxMessage.event_id) == col(SinkMessage.event_id))
        .join(Submission, col(Submission.id) == col(OutboxMessage.submission_id))
        .order_by(col(SinkMessage.delivered_at).desc(), col(SinkMessage.id).desc())
        .limit(limit)
    )
    if tracking.strip():
        compact = parse_tracking_number(tracking)
        events = events.where(Submission.tracking_number == compact)
        sink = sink.where(Submission.tracking_number == compact)
    return Listing(
        events=[
            EventLine(
                event_id=row.event_id,
                kind=row.kind,
                tracking_number=format_tracking_number(number),
                created_at=row.created_at,
                state=row.state,
                email=row.email,
                sms=row.sms,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at if row.state == "pending" else None,
                last_error=row.last_error,
            )
            for row, number in session.exec(events).all()
        ],
        sink=[
            SinkLine(
                event_id=message.event_id,
                tracking_number=format_tracking_number(number),
                channel=message.channel,
                recipient=message.recipient,
                language=message.language,
                subject=message.subject,
                text=message.text,
                delivered_at=message.delivered_at,
            )
            for message, number in session.exec(sink).all()
        ],
    )
